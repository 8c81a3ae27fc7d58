package tensorproto

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/bigconv/bigconv/internal/tfproto"
	"github.com/bigconv/bigconv/tensor"
)

// Data returns the tensor's bytes in C order as an io.ReaderAt safe for
// concurrent use. With tensor_content it is a section of r; with typed
// values they are decoded on the first ReadAt (at most MaxDecoded bytes)
// and the last value is repeated, without materialising the broadcast.
func (h *Header) Data(r io.ReaderAt) io.ReaderAt {
	if h.HasContent {
		return io.NewSectionReader(r, h.ContentOff, h.ContentLen)
	}
	elems := h.Elements()
	if elems == 0 {
		return bytes.NewReader(nil)
	}
	return &valReader{h: *h, r: r, size: elems * int64(h.DType.Size())}
}

// valReader decodes typed values once and serves them repeated.
type valReader struct {
	h    Header
	r    io.ReaderAt
	size int64

	once sync.Once
	rep  repeat
	err  error
}

func (v *valReader) ReadAt(p []byte, off int64) (int, error) {
	v.once.Do(func() {
		head, err := v.h.decode(v.r)
		if err != nil {
			v.err = err
			return
		}
		v.rep = newRepeat(head, v.h.DType.Size(), v.size)
	})
	if v.err != nil {
		return 0, v.err
	}
	return v.rep.ReadAt(p, off)
}

// repeat serves head, then its last item (or zeros) up to size bytes.
type repeat struct {
	head []byte
	last []byte
	size int64
}

func newRepeat(head []byte, isz int, size int64) repeat {
	last := make([]byte, isz)
	if len(head) >= isz {
		copy(last, head[len(head)-isz:])
	}
	return repeat{head: head, last: last, size: size}
}

func (r *repeat) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("tensorproto: negative offset %d", off)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	var eof error
	if int64(len(p)) > r.size-off {
		p = p[:r.size-off]
		eof = io.EOF
	}
	n := 0
	if off < int64(len(r.head)) {
		n = copy(p, r.head[off:])
	}
	if n < len(p) {
		isz := int64(len(r.last))
		start := n
		phase := (off + int64(n)) % isz
		n += copy(p[n:], r.last[phase:])
		n += copy(p[n:], r.last[:phase])
		// p[start:n] is one period; double it forward
		for n < len(p) {
			n += copy(p[n:], p[start:n])
		}
	}
	return n, eof
}

// decode reads the typed values that fill the tensor: min(ValCount,
// elements) items, each DType.Size() bytes, little-endian.
func (h *Header) decode(r io.ReaderAt) ([]byte, error) {
	isz := int64(h.DType.Size())
	used := min(h.ValCount, h.Elements())
	if used <= 0 || h.ValField == 0 {
		return nil, nil
	}
	field := protowire.Number(h.ValField)
	wire, perElem := wireOf(h.ValField)
	unit := isz / perElem
	need := used * perElem // values to read
	out := make([]byte, 0, used*isz)
	s := tfproto.NewScanner(r, h.Off, h.Len)
	fail := func(err error) ([]byte, error) {
		return nil, wrap(err, "", s.Pos(), "decoding %s", fieldNames[h.ValField])
	}
	var got int64
	var f8Off, f8Len int64 = -1, 0
	for !s.Done() && (got < need || h.ValField == fieldFloat8Val) {
		num, typ, err := s.Tag()
		if err != nil {
			return fail(err)
		}
		if num != field {
			if err := s.SkipValue(typ); err != nil {
				return fail(err)
			}
			continue
		}
		switch {
		case h.ValField == fieldFloat8Val: // singular bytes: last wins
			l, err := s.Len()
			if err != nil {
				return fail(err)
			}
			f8Off, f8Len = s.Pos(), l
			if err := s.Skip(l); err != nil {
				return fail(err)
			}
		case h.ValField == fieldStringVal:
			l, err := s.Len()
			if err != nil {
				return fail(err)
			}
			if l > isz {
				return fail(fmt.Errorf("string of %d bytes is wider than %d: %w", l, isz, tensor.ErrCorrupt))
			}
			b, err := s.Bytes(l)
			if err != nil {
				return fail(err)
			}
			out = append(out, b...)
			out = append(out, make([]byte, isz-l)...)
			got++
		case typ == protowire.BytesType: // packed
			l, err := s.Len()
			if err != nil {
				return fail(err)
			}
			end := s.Pos() + l
			for s.Pos() < end && got < need {
				if out, err = appendValue(out, s, wire, unit, h.ValField == fieldBoolVal); err != nil {
					return fail(err)
				}
				got++
			}
			if err := s.Skip(end - s.Pos()); err != nil {
				return fail(err)
			}
		default:
			if out, err = appendValue(out, s, wire, unit, h.ValField == fieldBoolVal); err != nil {
				return fail(err)
			}
			got++
		}
	}
	if h.ValField == fieldFloat8Val && f8Off >= 0 {
		n := min(f8Len, used)
		b, err := tfproto.NewScanner(r, f8Off, n).Bytes(n)
		if err != nil {
			return fail(err)
		}
		out, got = b, n
	}
	if got < need {
		return fail(fmt.Errorf("found %d of %d values: %w", got, need, tensor.ErrCorrupt))
	}
	return out[:used*isz], nil
}

// appendValue reads one value of wire type wire and appends its low
// unit bytes, little-endian (a bool as 0 or 1).
func appendValue(out []byte, s *tfproto.Scanner, wire protowire.Type, unit int64, boolean bool) ([]byte, error) {
	switch wire {
	case protowire.Fixed32Type:
		v, err := s.Fixed32()
		return binary.LittleEndian.AppendUint32(out, v), err
	case protowire.Fixed64Type:
		v, err := s.Fixed64()
		return binary.LittleEndian.AppendUint64(out, v), err
	}
	v, err := s.Varint()
	if err != nil {
		return out, err
	}
	if boolean && v != 0 {
		v = 1
	}
	switch unit {
	case 1:
		return append(out, byte(v)), nil
	case 2:
		return binary.LittleEndian.AppendUint16(out, uint16(v)), nil
	case 4:
		return binary.LittleEndian.AppendUint32(out, uint32(v)), nil
	}
	return binary.LittleEndian.AppendUint64(out, v), nil
}
