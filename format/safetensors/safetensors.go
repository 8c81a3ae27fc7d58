// Package safetensors reads Hugging Face .safetensors files as bigconv
// inputs. It reads the JSON header only; each tensor's data is described
// as a section of the file, never loaded.
//
// File layout (huggingface/safetensors, safetensors/src/tensor.rs):
//
//	offset 0      N                  uint64 little-endian, the header length (at most 100,000,000)
//	offset 8      header             N bytes of UTF-8 JSON, padded with spaces:
//	                                 {"NAME": {"dtype": "F32", "shape": [2, 3], "data_offsets": [BEGIN, END]},
//	                                  ..., "__metadata__": {"KEY": "VALUE", ...}}
//	offset 8+N    data section       each tensor's bytes at [BEGIN, END) of the section,
//	                                 little-endian, C order
//	              end of file        = 8 + N + the last END
//
// As the reference implementation does, Open sorts the tensors by their
// offsets and requires them to tile the data section exactly: the first
// begins at 0, each begins where the previous ends (no overlap, no hole),
// END-BEGIN is elements × bits / 8 of its dtype, and the last ends at the
// end of the file. Anything else is tensor.ErrCorrupt.
//
// Every dtype of the format is recognised (its size checked): BOOL, U8,
// I8, I16, U16, I32, U32, I64, U64, F16, F32, F64, C64, BF16, F8_E5M2,
// F8_E4M3 (torch's float8_e4m3fn), F8_E4M3FNUZ and F8_E5M2FNUZ are
// converted; F8_E8M0, F6_E2M3, F6_E3M2 and F4, which have no bigconv (or
// NumPy) type, and dtype names the format did not know when this was written are
// listed with Tensor.Unsupported set, so that inspect shows them and a
// whole-file conversion skips them with the reason.
//
// The "__metadata__" map (string to string, as the format requires) is
// kept in File.Metadata for library callers; it is not copied to the
// tensors or to the output.
//
//	f, err := safetensors.Open(r, size, "model.safetensors")
//	for _, t := range f.Tensors {
//		fmt.Println(t.Describe()) // t.Data reads the tensor's bytes
//	}
//
// A File is immutable once opened; every tensor's Data is safe for
// concurrent ReadAt calls. Errors start with "safetensors: " and wrap
// tensor.ErrFormat, ErrCorrupt or ErrUnsupported with the file, tensor and
// byte offset.
package safetensors

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/format/hfindex"
	"github.com/bigconv/bigconv/tensor"
)

// MaxHeaderLen is the format's cap on the JSON header (MAX_HEADER_SIZE in
// the reference implementation), which also caps what Open allocates.
const MaxHeaderLen = 100_000_000

// maxRank is the most dimensions a tensor may have to be written to .npy
// (NumPy's NPY_MAXDIMS).
const maxRank = 64

func init() {
	format.Register(format.Format{
		Name:    "safetensors",
		Exts:    []string{".safetensors", ".safetensors.index.json"},
		Sniff:   Sniff,
		Resolve: resolveIndex,
		Open: func(src format.Source, _ format.Options) (*format.Input, error) {
			if src.R == nil {
				return nil, fmt.Errorf("safetensors: %s: a safetensors file cannot be read from a stream: %w", src.Name, tensor.ErrUnsupported)
			}
			if strings.HasSuffix(strings.ToLower(src.Name), ".index.json") {
				ts, err := OpenIndex(src.R, src.Size, src.Name, src.Sibling)
				if err != nil {
					return nil, err
				}
				return &format.Input{Format: "safetensors-index", Tensors: ts, Collection: true}, nil
			}
			f, err := Open(src.R, src.Size, src.Name)
			if err != nil {
				return nil, err
			}
			return &format.Input{Format: "safetensors", Tensors: f.Tensors, Collection: true}, nil
		},
	})
}

// IndexName is the name Hugging Face gives a sharded safetensors model's
// index.
const IndexName = "model.safetensors.index.json"

// OpenIndex reads a sharded model: the index r (model.safetensors.index.json,
// size bytes, at path name) and every shard its weight_map names, opened
// beside it with sibling (format/hfindex). It returns the shards'
// tensors in shard order, each with Extra["shard"].
func OpenIndex(r io.ReaderAt, size int64, name string, sibling func(string) (io.ReaderAt, int64, error)) ([]*tensor.Tensor, error) {
	ts, _, err := hfindex.Open(r, size, name, sibling, func(r io.ReaderAt, size int64, path string) ([]*tensor.Tensor, error) {
		f, err := Open(r, size, path)
		if err != nil {
			return nil, err
		}
		return f.Tensors, nil
	})
	return ts, err
}

// resolveIndex turns a directory holding a sharded model's index (a
// Hugging Face model directory) into the index's path.
func resolveIndex(path string) (string, error) {
	p := filepath.Join(path, IndexName)
	if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
		return p, nil
	}
	return "", nil
}

// File is an opened safetensors file.
type File struct {
	// Tensors in the order of their data in the file.
	Tensors []*tensor.Tensor
	// Metadata is the header's "__metadata__" map (nil when absent).
	Metadata map[string]string
	// DataOffset is where the data section starts (8 + header length).
	DataOffset int64
}

// stType is what bigconv knows of one safetensors dtype name.
type stType struct {
	bits int
	dt   dtype.DType // the zero DType when bigconv has no such type
}

var stTypes = map[string]stType{
	"BOOL":        {8, dtype.Of(dtype.Bool)},
	"U8":          {8, dtype.Of(dtype.Uint8)},
	"I8":          {8, dtype.Of(dtype.Int8)},
	"I16":         {16, dtype.Of(dtype.Int16)},
	"U16":         {16, dtype.Of(dtype.Uint16)},
	"I32":         {32, dtype.Of(dtype.Int32)},
	"U32":         {32, dtype.Of(dtype.Uint32)},
	"I64":         {64, dtype.Of(dtype.Int64)},
	"U64":         {64, dtype.Of(dtype.Uint64)},
	"F16":         {16, dtype.Of(dtype.Float16)},
	"F32":         {32, dtype.Of(dtype.Float32)},
	"F64":         {64, dtype.Of(dtype.Float64)},
	"C64":         {64, dtype.Of(dtype.Complex64)},
	"BF16":        {16, dtype.Of(dtype.BFloat16)},
	"F8_E5M2":     {8, dtype.Of(dtype.Float8E5M2)},
	"F8_E4M3":     {8, dtype.Of(dtype.Float8E4M3FN)}, // torch.float8_e4m3fn
	"F8_E8M0":     {8, dtype.DType{}},
	"F8_E4M3FNUZ": {8, dtype.Of(dtype.Float8E4M3FNUZ)},
	"F8_E5M2FNUZ": {8, dtype.Of(dtype.Float8E5M2FNUZ)},
	"F6_E2M3":     {6, dtype.DType{}},
	"F6_E3M2":     {6, dtype.DType{}},
	"F4":          {4, dtype.DType{}},
}

// Sniff reports whether head looks like the start of a safetensors file:
// a header length no larger than the format allows, then '{' and '"' or
// '}' (the reference writer puts no space there), and no control bytes in
// what head holds of the header.
func Sniff(head []byte) bool {
	if len(head) < 10 {
		return false
	}
	n := binary.LittleEndian.Uint64(head)
	if n < 2 || n > MaxHeaderLen || head[8] != '{' || head[9] != '"' && head[9] != '}' {
		return false
	}
	for _, c := range head[8:min(uint64(len(head)), 8+n)] {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

func errorf(sentinel error, file, name string, off int64, format string, args ...any) error {
	return fmt.Errorf("safetensors: %w", tensor.Errorf(sentinel, file, name, off, format, args...))
}

// entry is one tensor of the header, before its offsets are checked.
type entry struct {
	name       string
	stName     string
	st         stType
	known      bool
	shape      dtype.Shape
	begin, end uint64
}

// Open reads the header of the safetensors file r of the given size and
// describes its tensors.
func Open(r io.ReaderAt, size int64, name string) (*File, error) {
	if size == 0 {
		return nil, errorf(tensor.ErrFormat, name, "", 0, "empty file")
	}
	if size < 8 {
		return nil, errorf(tensor.ErrCorrupt, name, "", 0, "file is %d bytes, shorter than the 8-byte header length", size)
	}
	var pre [8]byte
	if err := readFull(r, pre[:], 0); err != nil {
		return nil, errorf(tensor.ErrCorrupt, name, "", 0, "read header length: %v", err)
	}
	n := binary.LittleEndian.Uint64(pre[:])
	if n > MaxHeaderLen {
		return nil, errorf(tensor.ErrCorrupt, name, "", 0, "header length %d exceeds the format's limit of %d bytes", n, MaxHeaderLen)
	}
	if 8+int64(n) > size {
		return nil, errorf(tensor.ErrCorrupt, name, "", 8, "truncated: header of %d bytes runs past the end of the %d-byte file", n, size)
	}
	text := make([]byte, n)
	if err := readFull(r, text, 8); err != nil {
		return nil, errorf(tensor.ErrCorrupt, name, "", 8, "read header: %v", err)
	}
	entries, meta, err := parseHeader(text, name)
	if err != nil {
		return nil, err
	}
	f := &File{Metadata: meta, DataOffset: 8 + int64(n)}
	dataLen := uint64(size - f.DataOffset)

	slices.SortStableFunc(entries, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.begin, b.begin), cmp.Compare(a.end, b.end))
	})
	var at uint64 // where the next tensor must begin
	prev := ""
	for i, e := range entries {
		off := f.DataOffset + int64(min(e.begin, dataLen))
		if e.end < e.begin {
			return nil, errorf(tensor.ErrCorrupt, name, e.name, off, "data_offsets [%d, %d] end before they begin", e.begin, e.end)
		}
		if e.end > dataLen {
			return nil, errorf(tensor.ErrCorrupt, name, e.name, off,
				"truncated: data_offsets [%d, %d] run past the end of the %d-byte data section (file is %d bytes)", e.begin, e.end, dataLen, size)
		}
		switch {
		case e.begin < at:
			return nil, errorf(tensor.ErrCorrupt, name, e.name, off, "data_offsets [%d, %d] overlap tensor %q, which ends at %d", e.begin, e.end, prev, at)
		case e.begin > at && i == 0:
			return nil, errorf(tensor.ErrCorrupt, name, e.name, off, "data_offsets [%d, %d] leave %d bytes unused at the start of the data section", e.begin, e.end, e.begin)
		case e.begin > at:
			return nil, errorf(tensor.ErrCorrupt, name, e.name, off, "data_offsets [%d, %d] leave a hole of %d bytes after tensor %q", e.begin, e.end, e.begin-at, prev)
		}
		at, prev = e.end, e.name
		t := &tensor.Tensor{Name: e.name, DType: e.st.dt, Shape: e.shape, File: name, Offset: off,
			Extra: map[string]string{"dtype": e.stName}}
		f.Tensors = append(f.Tensors, t)
		if !e.known {
			t.Unsupported = fmt.Sprintf("dtype %q is not one of the safetensors dtypes bigconv knows", e.stName)
			continue
		}
		elems, err := e.shape.NumElements()
		if err != nil {
			return nil, errorf(tensor.ErrCorrupt, name, e.name, off, "shape %v: %v", e.shape, err)
		}
		if elems > math.MaxInt64/int64(e.st.bits) {
			return nil, errorf(tensor.ErrCorrupt, name, e.name, off, "shape %v of %s: size overflows int64", e.shape, e.stName)
		}
		bits := elems * int64(e.st.bits)
		if bits%8 != 0 {
			return nil, errorf(tensor.ErrCorrupt, name, e.name, off, "shape %v of %s is %d bits, not a whole number of bytes", e.shape, e.stName, bits)
		}
		if want := uint64(bits / 8); e.end-e.begin != want {
			return nil, errorf(tensor.ErrCorrupt, name, e.name, off,
				"data_offsets [%d, %d] hold %d bytes, but %s %v needs %d", e.begin, e.end, e.end-e.begin, e.stName, e.shape, want)
		}
		switch {
		case !e.st.dt.Type.Valid():
			t.Unsupported = fmt.Sprintf("safetensors dtype %s has no NumPy or bigconv equivalent", e.stName)
		case len(e.shape) > maxRank:
			t.Unsupported = fmt.Sprintf("%d dimensions, more than NumPy's %d", len(e.shape), maxRank)
		default:
			t.Data = io.NewSectionReader(r, off, int64(e.end-e.begin))
			t.Contiguous = true
		}
	}
	if at != dataLen {
		return nil, errorf(tensor.ErrCorrupt, name, prev, f.DataOffset+int64(at),
			"%d bytes after the last tensor's data: the offsets must cover the data section up to the end of the file", dataLen-at)
	}
	return f, nil
}

// parseHeader decodes the JSON header: one object whose members are
// tensors, plus "__metadata__". Duplicate names are refused.
func parseHeader(text []byte, file string) ([]entry, map[string]string, error) {
	corrupt := func(name string, at int64, format string, args ...any) error {
		return errorf(tensor.ErrCorrupt, file, name, 8+at, format, args...)
	}
	for i := 0; i < len(text); {
		r, n := utf8.DecodeRune(text[i:])
		if r == utf8.RuneError && n <= 1 {
			return nil, nil, corrupt("", int64(i), "header is not valid UTF-8")
		}
		i += n
	}
	if i := bytes.IndexFunc(text, func(r rune) bool { return !isSpace(r) }); i < 0 || text[i] != '{' {
		return nil, nil, errorf(tensor.ErrFormat, file, "", 8, "header %q is not a JSON object", clip(text))
	}
	dec := json.NewDecoder(bytes.NewReader(text))
	if _, err := dec.Token(); err != nil { // '{'
		return nil, nil, corrupt("", dec.InputOffset(), "header: %v", err)
	}
	var entries []entry
	var meta map[string]string
	seen := map[string]bool{}
	for dec.More() {
		at := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, corrupt("", at, "header: %v", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, nil, corrupt("", at, "header: object key is %v", tok)
		}
		if seen[key] {
			return nil, nil, corrupt(key, at, "header names %q twice", key)
		}
		seen[key] = true
		at = dec.InputOffset()
		if key == "__metadata__" {
			if err := dec.Decode(&meta); err != nil {
				return nil, nil, corrupt("", at, "__metadata__ is not a map of strings to strings: %v", jsonErr(err))
			}
			continue
		}
		var raw map[string]json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, corrupt(key, at, "tensor entry is not a JSON object: %v", jsonErr(err))
		}
		if raw == nil {
			return nil, nil, corrupt(key, at, "tensor entry is null")
		}
		e := entry{name: key}
		if err := json.Unmarshal(raw["dtype"], &e.stName); err != nil || raw["dtype"] == nil || string(raw["dtype"]) == "null" {
			return nil, nil, corrupt(key, at, "dtype is %s, not a string", show(raw["dtype"]))
		}
		e.st, e.known = stTypes[e.stName]
		dims, err := uints(raw["shape"], -1)
		if err != nil {
			return nil, nil, corrupt(key, at, "shape is %s: %v", show(raw["shape"]), err)
		}
		e.shape = dtype.Shape{}
		for _, d := range dims {
			if d > math.MaxInt64 {
				return nil, nil, corrupt(key, at, "shape %s: dimension %d overflows int64", show(raw["shape"]), d)
			}
			e.shape = append(e.shape, int64(d))
		}
		offs, err := uints(raw["data_offsets"], 2)
		if err != nil {
			return nil, nil, corrupt(key, at, "data_offsets is %s: %v", show(raw["data_offsets"]), err)
		}
		e.begin, e.end = offs[0], offs[1]
		entries = append(entries, e)
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, nil, corrupt("", dec.InputOffset(), "header: %v", jsonErr(err))
	}
	rest := text[dec.InputOffset():]
	if i := bytes.IndexFunc(rest, func(r rune) bool { return !isSpace(r) }); i >= 0 {
		return nil, nil, corrupt("", dec.InputOffset()+int64(i), "header has %q after its JSON object", clip(rest[i:]))
	}
	return entries, meta, nil
}

// uints decodes a JSON array of non-negative integers; n >= 0 requires
// exactly n of them.
func uints(raw json.RawMessage, n int) ([]uint64, error) {
	var nums []json.RawMessage
	if raw == nil || string(raw) == "null" {
		return nil, errors.New("missing")
	}
	if err := json.Unmarshal(raw, &nums); err != nil {
		return nil, errors.New("not an array of integers")
	}
	if n >= 0 && len(nums) != n {
		return nil, fmt.Errorf("has %d values, want %d", len(nums), n)
	}
	out := make([]uint64, len(nums))
	for i, s := range nums {
		v, err := strconv.ParseUint(string(s), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s is not a non-negative integer below 2^64", s)
		}
		out[i] = v
	}
	return out, nil
}

func jsonErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("header ends inside the JSON object")
	}
	return err
}

func show(raw json.RawMessage) string {
	if raw == nil {
		return "missing"
	}
	return clip(raw)
}

func clip(b []byte) string {
	if len(b) > 60 {
		return string(b[:60]) + "…"
	}
	return string(b)
}

func isSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }

// readFull reads len(p) bytes at off; a full read may come with io.EOF.
func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}
