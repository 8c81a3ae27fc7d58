package tfproto

import (
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/bigconv/bigconv/tensor"
)

// Scanner walks protobuf wire format inside a byte range of an
// io.ReaderAt with small buffered reads, so that a message much larger
// than memory (a TensorProto with a multi-GiB tensor_content) can be
// parsed field by field and its large fields skipped without reading
// them. It never reads outside [off, off+n).
//
// A Scanner is not safe for concurrent use; make one per goroutine.
//
//	s := tfproto.NewScanner(r, off, n)
//	for !s.Done() {
//		num, typ, err := s.Tag()
//		...
//		err = s.SkipValue(typ) // or Varint, Bytes, Skip
//	}
type Scanner struct {
	r      io.ReaderAt
	pos    int64
	end    int64
	buf    []byte
	bufOff int64
}

// scanBuf is the read-ahead window of a Scanner.
const scanBuf = 4096

// NewScanner scans the n bytes of r that start at off.
func NewScanner(r io.ReaderAt, off, n int64) *Scanner {
	return &Scanner{r: r, pos: off, end: off + n, buf: make([]byte, 0, scanBuf), bufOff: -1}
}

// Pos is the absolute offset of the next byte to be read.
func (s *Scanner) Pos() int64 { return s.pos }

// End is the absolute offset just past the scanned range.
func (s *Scanner) End() int64 { return s.end }

// Done reports whether the whole range has been consumed.
func (s *Scanner) Done() bool { return s.pos >= s.end }

// Remaining is the number of bytes left in the range.
func (s *Scanner) Remaining() int64 { return s.end - s.pos }

// errAt reports malformed wire data at off, wrapping tensor.ErrCorrupt.
func errAt(off int64, format string, args ...any) error {
	return fmt.Errorf("offset %d: %s: %w", off, fmt.Sprintf(format, args...), tensor.ErrCorrupt)
}

// peek returns the buffered bytes from pos on, holding at least
// min(want, Remaining()) bytes (want must be ≤ scanBuf).
func (s *Scanner) peek(want int) ([]byte, error) {
	rem := s.end - s.pos
	if int64(want) > rem {
		want = int(rem)
	}
	if s.bufOff >= 0 && s.pos >= s.bufOff && s.pos+int64(want) <= s.bufOff+int64(len(s.buf)) {
		return s.buf[s.pos-s.bufOff:], nil
	}
	m := int64(cap(s.buf))
	if m > rem {
		m = rem
	}
	s.buf = s.buf[:m]
	k, err := s.r.ReadAt(s.buf, s.pos)
	s.buf = s.buf[:k]
	s.bufOff = s.pos
	if k < want {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, errAt(s.pos+int64(k), "unexpected end of file")
		}
		return nil, fmt.Errorf("offset %d: %w", s.pos, err)
	}
	return s.buf, nil
}

// Varint reads a base-128 varint.
func (s *Scanner) Varint() (uint64, error) {
	if s.pos >= s.end {
		return 0, errAt(s.pos, "unexpected end of message")
	}
	b, err := s.peek(binaryMaxVarint)
	if err != nil {
		return 0, err
	}
	v, n := protowire.ConsumeVarint(b)
	if n < 0 {
		return 0, errAt(s.pos, "bad varint")
	}
	s.pos += int64(n)
	return v, nil
}

const binaryMaxVarint = 10

// Tag reads a field tag.
func (s *Scanner) Tag() (protowire.Number, protowire.Type, error) {
	at := s.pos
	v, err := s.Varint()
	if err != nil {
		return 0, 0, err
	}
	num, typ := protowire.DecodeTag(v)
	if num < protowire.MinValidNumber || num > protowire.MaxValidNumber {
		return 0, 0, errAt(at, "bad field number %d", int64(v>>3))
	}
	return num, typ, nil
}

// Fixed32 reads a little-endian 32-bit value.
func (s *Scanner) Fixed32() (uint32, error) {
	b, err := s.peek(4)
	if err != nil {
		return 0, err
	}
	v, n := protowire.ConsumeFixed32(b)
	if n < 0 {
		return 0, errAt(s.pos, "truncated fixed32")
	}
	s.pos += 4
	return v, nil
}

// Fixed64 reads a little-endian 64-bit value.
func (s *Scanner) Fixed64() (uint64, error) {
	b, err := s.peek(8)
	if err != nil {
		return 0, err
	}
	v, n := protowire.ConsumeFixed64(b)
	if n < 0 {
		return 0, errAt(s.pos, "truncated fixed64")
	}
	s.pos += 8
	return v, nil
}

// Len reads the length prefix of a bytes field and checks that that many
// bytes remain in the range.
func (s *Scanner) Len() (int64, error) {
	at := s.pos
	v, err := s.Varint()
	if err != nil {
		return 0, err
	}
	if v > uint64(s.end-s.pos) {
		return 0, errAt(at, "length %d runs past the end of the message (%d bytes left)", v, s.end-s.pos)
	}
	return int64(v), nil
}

// Skip moves n bytes forward without reading them.
func (s *Scanner) Skip(n int64) error {
	if n < 0 || n > s.end-s.pos {
		return errAt(s.pos, "skip of %d bytes runs past the end of the message", n)
	}
	s.pos += n
	return nil
}

// Bytes returns a copy of the next n bytes. Callers cap n.
func (s *Scanner) Bytes(n int64) ([]byte, error) {
	if n < 0 || n > s.end-s.pos {
		return nil, errAt(s.pos, "%d bytes run past the end of the message", n)
	}
	out := make([]byte, n)
	if n <= scanBuf {
		b, err := s.peek(int(n))
		if err != nil {
			return nil, err
		}
		copy(out, b[:n])
		s.pos += n
		return out, nil
	}
	k, err := s.r.ReadAt(out, s.pos)
	if int64(k) < n {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, errAt(s.pos+int64(k), "unexpected end of file")
		}
		return nil, fmt.Errorf("offset %d: %w", s.pos, err)
	}
	s.pos += n
	return out, nil
}

// SkipValue skips the value of a field of wire type typ. Groups are
// refused: no message bigconv reads uses them.
func (s *Scanner) SkipValue(typ protowire.Type) error {
	switch typ {
	case protowire.VarintType:
		_, err := s.Varint()
		return err
	case protowire.Fixed32Type:
		return s.Skip(4)
	case protowire.Fixed64Type:
		return s.Skip(8)
	case protowire.BytesType:
		n, err := s.Len()
		if err != nil {
			return err
		}
		return s.Skip(n)
	}
	return errAt(s.pos, "unsupported wire type %d", typ)
}
