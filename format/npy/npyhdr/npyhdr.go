// Package npyhdr reads and writes the header of NumPy's .npy format.
//
// File layout (numpy/lib/format.py):
//
//	offset 0   "\x93NUMPY"            magic, 6 bytes
//	offset 6   major, minor            version: 1.0, 2.0 or 3.0
//	offset 8   header length           uint16 LE (v1) or uint32 LE (v2, v3)
//	offset 10/12 header text           Python dict literal, latin-1 (v1, v2) or UTF-8 (v3):
//	                                   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
//	                                   padded with spaces and a final '\n'
//	DataOffset  array data             C or Fortran order, item by item
//
// Encode writes exactly what NumPy ≥ 1.14 writes: keys sorted, 21 spare
// spaces so the growth axis can be rewritten in place, the whole preamble
// padded to a multiple of 64. Parse accepts any key order, old
// 16-byte-aligned headers, Python 2 long literals ("(2L,)"), trailing
// commas, and caps the header size. It does no I/O beyond Read's one
// io.ReaderAt call, and is safe for concurrent use.
package npyhdr

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/tensor"
)

// Magic is the first six bytes of every .npy file.
const Magic = "\x93NUMPY"

// MaxHeaderLen caps the header text we accept. NumPy's own default limit
// (max_header_size) is 10000; we accept more for files written with a
// raised limit, but never allocate beyond this.
const MaxHeaderLen = 1 << 20

// Align is the alignment NumPy gives the data offset.
const Align = 64

// MaxRank caps the number of dimensions (NumPy's NPY_MAXDIMS is 64 since
// NumPy 2.0, 32 before): a header with more was not written by NumPy.
const MaxRank = 64

// growthAxisMaxDigits is NumPy's GROWTH_AXIS_MAX_DIGITS: spare spaces left
// so the first axis can grow to any int64 without moving the data.
const growthAxisMaxDigits = 21

// Header is a parsed .npy header.
type Header struct {
	// Descr is the type string as written ("<f4", "|O", "<U3", …).
	Descr string
	// DType is Descr parsed; the zero DType when Descr is not a type
	// bigconv converts (then Unsupported says why).
	DType dtype.DType
	// Fortran reports column-major data.
	Fortran bool
	Shape   dtype.Shape
	// Major and Minor are the format version.
	Major, Minor byte
	// DataOffset is where the array data starts.
	DataOffset int64
	// Unsupported, when non-empty, says why the array cannot be streamed
	// (object arrays, structured, unicode, datetime dtypes).
	Unsupported string
}

// DataLen is the number of data bytes the header promises.
func (h *Header) DataLen() (int64, error) { return h.Shape.NumBytes(h.DType.Size()) }

// Sniff reports whether b starts with the .npy magic.
func Sniff(b []byte) bool { return bytes.HasPrefix(b, []byte(Magic)) }

// Read reads and parses the header at the start of r (of the given size).
// Errors wrap tensor.ErrFormat (not a .npy), tensor.ErrCorrupt (damaged
// header) or tensor.ErrUnsupported (a version we do not know).
func Read(r io.ReaderAt, size int64) (*Header, error) {
	var pre [12]byte
	n, err := r.ReadAt(pre[:], 0)
	if n < 10 {
		if err == nil || err == io.EOF {
			if n >= 6 && string(pre[:6]) == Magic || n < 6 && strings.HasPrefix(Magic, string(pre[:n])) && n > 0 {
				return nil, fmt.Errorf("npyhdr: file is %d bytes, shorter than a .npy preamble: %w", size, tensor.ErrCorrupt)
			}
			return nil, fmt.Errorf("npyhdr: no .npy magic: %w", tensor.ErrFormat)
		}
		return nil, fmt.Errorf("npyhdr: read preamble: %w", err)
	}
	if string(pre[:6]) != Magic {
		return nil, fmt.Errorf("npyhdr: no .npy magic: %w", tensor.ErrFormat)
	}
	major, minor := pre[6], pre[7]
	var hlen, start int64
	switch major {
	case 1:
		hlen, start = int64(binary.LittleEndian.Uint16(pre[8:10])), 10
	case 2, 3:
		if n < 12 {
			return nil, fmt.Errorf("npyhdr: file is %d bytes, shorter than a v%d preamble: %w", size, major, tensor.ErrCorrupt)
		}
		hlen, start = int64(binary.LittleEndian.Uint32(pre[8:12])), 12
	default:
		return nil, fmt.Errorf("npyhdr: format version %d.%d: %w", major, minor, tensor.ErrUnsupported)
	}
	if minor != 0 { // NumPy knows 1.0, 2.0 and 3.0 only
		return nil, fmt.Errorf("npyhdr: format version %d.%d: %w", major, minor, tensor.ErrUnsupported)
	}
	if hlen > MaxHeaderLen {
		return nil, fmt.Errorf("npyhdr: header length %d exceeds the %d-byte cap: %w", hlen, MaxHeaderLen, tensor.ErrCorrupt)
	}
	if start+hlen > size {
		return nil, fmt.Errorf("npyhdr: header of %d bytes runs past the end of the %d-byte file: %w", hlen, size, tensor.ErrCorrupt)
	}
	text := make([]byte, hlen)
	if n, err := r.ReadAt(text, start); n < len(text) { // a full read may come with io.EOF
		if err == nil || err == io.EOF {
			return nil, fmt.Errorf("npyhdr: header of %d bytes: file ends after %d: %w", hlen, n, tensor.ErrCorrupt)
		}
		return nil, fmt.Errorf("npyhdr: read header: %w", err)
	}
	h, err := Parse(text, major)
	if err != nil {
		return nil, err
	}
	h.Major, h.Minor = major, minor
	h.DataOffset = start + hlen
	return h, nil
}

// Parse parses the header text (the dict literal with its padding).
func Parse(text []byte, major byte) (*Header, error) {
	s := string(text)
	if major < 3 {
		// latin-1: every byte is a code point
		var b strings.Builder
		for _, c := range text {
			b.WriteRune(rune(c))
		}
		s = b.String()
	}
	p := &parser{s: s}
	v, err := p.value(0)
	if err != nil {
		return nil, fmt.Errorf("npyhdr: header %q: %w: %w", clip(s), err, tensor.ErrCorrupt)
	}
	p.space()
	if p.i != len(p.s) {
		return nil, fmt.Errorf("npyhdr: header %q: trailing text after the dict: %w", clip(s), tensor.ErrCorrupt)
	}
	d, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("npyhdr: header %q is not a dict: %w", clip(s), tensor.ErrCorrupt)
	}
	_, hasDescr := d["descr"]
	_, hasFortran := d["fortran_order"]
	_, hasShape := d["shape"]
	if len(d) != 3 || !hasDescr || !hasFortran || !hasShape {
		return nil, fmt.Errorf("npyhdr: header has keys %v, want exactly descr, fortran_order, shape: %w", keys(d), tensor.ErrCorrupt)
	}
	h := &Header{}
	fo, ok := d["fortran_order"].(bool)
	if !ok {
		return nil, fmt.Errorf("npyhdr: fortran_order is %v, not True or False: %w", d["fortran_order"], tensor.ErrCorrupt)
	}
	h.Fortran = fo
	tup, ok := d["shape"].(tuple)
	if !ok {
		return nil, fmt.Errorf("npyhdr: shape is %v, not a tuple: %w", d["shape"], tensor.ErrCorrupt)
	}
	if len(tup) > MaxRank {
		return nil, fmt.Errorf("npyhdr: shape has %d dimensions, more than NumPy's %d: %w", len(tup), MaxRank, tensor.ErrCorrupt)
	}
	h.Shape = dtype.Shape{}
	for _, e := range tup {
		n, ok := e.(int64)
		if !ok || n < 0 {
			return nil, fmt.Errorf("npyhdr: shape %v has a dimension that is not a non-negative integer: %w", tup, tensor.ErrCorrupt)
		}
		h.Shape = append(h.Shape, n)
	}
	if _, err := h.Shape.NumElements(); err != nil {
		return nil, fmt.Errorf("npyhdr: %w: %w", err, tensor.ErrCorrupt)
	}
	switch descr := d["descr"].(type) {
	case string:
		h.Descr = descr
		h.DType, h.Unsupported = parseDescr(descr)
	case []any:
		h.Descr = fmt.Sprint(descr)
		h.Unsupported = "structured (record) dtype " + clip(h.Descr) + " has named fields; bigconv converts plain numeric arrays"
	default:
		return nil, fmt.Errorf("npyhdr: descr %v is not a type string: %w", d["descr"], tensor.ErrCorrupt)
	}
	if h.Unsupported == "" {
		if _, err := h.DataLen(); err != nil {
			return nil, fmt.Errorf("npyhdr: %w: %w", err, tensor.ErrCorrupt)
		}
	}
	return h, nil
}

func parseDescr(descr string) (dtype.DType, string) {
	body := strings.TrimLeft(descr, "<>|=")
	if body != "" {
		switch body[0] {
		case 'O':
			return dtype.DType{}, "object array (descr " + descr + "): its data is a Python pickle, which bigconv never loads"
		case 'U':
			return dtype.DType{}, "unicode string dtype " + descr + " is not converted (only numeric and |S byte strings)"
		case 'V':
			return dtype.DType{}, "void dtype " + descr + " (raw bytes, e.g. an ml_dtypes array saved by NumPy) has no element type; convert the raw data with --format raw --in-dtype"
		case 'M', 'm':
			return dtype.DType{}, "datetime/timedelta dtype " + descr + " is not converted"
		}
	}
	dt, err := dtype.Parse(descr)
	if err != nil || !dt.Type.NumPy() {
		return dtype.DType{}, "dtype " + descr + " is not supported (e.g. long double)"
	}
	return dt, ""
}

func keys(d map[string]any) []string {
	var ks []string
	for k := range d {
		ks = append(ks, k)
	}
	return ks
}

func clip(s string) string {
	s = strings.TrimRight(s, " \n")
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

// Encode returns the complete preamble and header NumPy writes for an
// array of this dtype, shape and order: the smallest version that fits
// (1.0, else 2.0; 3.0 is never needed for numeric descrs), padded so the
// data starts at a multiple of 64.
func Encode(dt dtype.DType, shape dtype.Shape, fortran bool) ([]byte, error) {
	dict := dictText(dt, shape, fortran)
	growth := 0
	if len(shape) > 0 {
		axis := shape[0]
		if fortran {
			axis = shape[len(shape)-1]
		}
		growth = growthAxisMaxDigits - len(fmt.Sprint(axis))
		if growth < 0 {
			growth = 0
		}
	}
	dict += strings.Repeat(" ", growth)
	for _, v := range []byte{1, 2} {
		pre := 10
		if v == 2 {
			pre = 12
		}
		hlen := len(dict) + 1
		pad := Align - (pre+hlen)%Align
		if v == 1 && hlen+pad > 0xffff {
			continue
		}
		out := make([]byte, 0, pre+hlen+pad)
		out = append(out, Magic...)
		out = append(out, v, 0)
		if v == 1 {
			out = binary.LittleEndian.AppendUint16(out, uint16(hlen+pad))
		} else {
			out = binary.LittleEndian.AppendUint32(out, uint32(hlen+pad))
		}
		out = append(out, dict...)
		out = append(out, bytes.Repeat([]byte{' '}, pad)...)
		out = append(out, '\n')
		return out, nil
	}
	return nil, errors.New("npyhdr: header too large") // unreachable for valid shapes
}

// EncodeLen returns a header for dt/shape/fortran padded to exactly total
// bytes (preamble included), so that a header written earlier (with a
// placeholder first axis) can be rewritten in place. It fails if the new
// header does not fit.
func EncodeLen(dt dtype.DType, shape dtype.Shape, fortran bool, total int) ([]byte, error) {
	ref, err := Encode(dt, shape, fortran)
	if err != nil {
		return nil, err
	}
	pre := 10
	if ref[6] == 2 {
		pre = 12
	}
	dict := dictText(dt, shape, fortran)
	hlen := total - pre
	if len(dict)+1 > hlen || (pre == 10 && hlen > 0xffff) {
		return nil, fmt.Errorf("npyhdr: header for shape %v needs %d bytes, only %d reserved", shape, pre+len(dict)+1, total)
	}
	out := make([]byte, 0, total)
	out = append(out, ref[:pre]...)
	if pre == 10 {
		binary.LittleEndian.PutUint16(out[8:10], uint16(hlen))
	} else {
		binary.LittleEndian.PutUint32(out[8:12], uint32(hlen))
	}
	out = append(out, dict...)
	out = append(out, bytes.Repeat([]byte{' '}, total-len(out)-1)...)
	out = append(out, '\n')
	return out, nil
}

func dictText(dt dtype.DType, shape dtype.Shape, fortran bool) string {
	fo := "False"
	if fortran {
		fo = "True"
	}
	return fmt.Sprintf("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", dt.Descr(), fo, shape.String())
}
