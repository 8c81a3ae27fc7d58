package tfrecord

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format/tensorproto"
	"github.com/bigconv/bigconv/tensor"
)

// OpenStream reads a TFRecord stream (already decompressed) in one pass.
// It reads the first record to learn the row's dtype and shape, and
// returns a tensor whose Stream yields the C-order bytes of each record's
// row as records are read; Shape[0] is 0 (unknown until the end). Modes
// are as for Open, except that bytes_list features are refused (their
// width is not known until the end). Every CRC is checked; a bad record
// surfaces as an error from Read naming the record and its offset in
// the uncompressed stream. Only one record is held in memory.
func OpenStream(r io.Reader, name, feature string) (*tensor.Tensor, error) {
	st := &stream{rr: NewReader(r, name), name: name, feature: feature}
	data, err := st.rr.Next()
	if errors.Is(err, io.EOF) {
		return nil, errf(tensor.ErrUnsupported, name, 0, "the stream holds no records: nothing to convert")
	}
	if err != nil {
		return nil, err
	}
	rec := st.rr.Record()
	t := &tensor.Tensor{File: name, Stream: st, Extra: map[string]string{"records": "unknown until read (stream)"}}
	if feature == "" {
		h, err := tensorproto.Locate(bytes.NewReader(data), 0, int64(len(data)))
		if err != nil {
			if errors.Is(err, tensor.ErrFormat) {
				nt := &NotTensorsError{File: name, Records: 1, Cause: err,
					Features: featureNames(bytes.NewReader(data), 0, int64(len(data)), 20)}
				for {
					if _, err := st.rr.Next(); err != nil {
						if !errors.Is(err, io.EOF) {
							return nil, err
						}
						break
					}
					nt.Records++
				}
				return nil, nt
			}
			return nil, recErr(name, rec, err)
		}
		if err := stackable(h); err != nil {
			return nil, recErr(name, rec, err)
		}
		st.first = h
		t.DType = h.DType
		t.Shape = append(dtype.Shape{0}, h.Shape...)
		t.Extra["tf_dtype"] = h.DataType.String()
	} else {
		ref, info, err := streamFeature(data, feature)
		if err != nil {
			return nil, recErr(name, rec, err)
		}
		if ref.kind == 0 {
			return nil, recErr(name, rec, fmt.Errorf("feature %q has no list: %w", feature, tensor.ErrUnsupported))
		}
		switch ref.kind {
		case FloatList:
			t.DType = dtype.Of(dtype.Float32)
		case Int64List:
			t.DType = dtype.Of(dtype.Int64)
		default:
			return nil, recErr(name, rec, fmt.Errorf("feature %q is a bytes_list: its width is not known until the end of a stream; "+
				"decompress the file first: %w", feature, tensor.ErrUnsupported))
		}
		st.kind, st.k = ref.kind, info.count
		t.Name = feature
		t.Shape = dtype.Shape{0, info.count}
		t.Extra["feature"] = feature
		t.Extra["list"] = ref.kind.String()
	}
	if err := st.setRow(data); err != nil {
		return nil, err
	}
	return t, nil
}

// streamFeature finds and counts a feature in one in-memory record.
func streamFeature(data []byte, feature string) (featureRef, listInfo, error) {
	br := bytes.NewReader(data)
	ref, err := findFeature(br, 0, int64(len(data)), feature)
	if err != nil {
		if errors.Is(err, notExample) {
			err = fmt.Errorf("record is not a tf.train.Example (--feature needs Example records): %w", err)
		}
		return ref, listInfo{}, err
	}
	if !ref.found {
		hint := ""
		if names := featureNames(br, 0, int64(len(data)), 20); len(names) > 0 {
			hint = fmt.Sprintf(" (it has %v)", names)
		}
		return ref, listInfo{}, fmt.Errorf("no feature %q%s: %w", feature, hint, tensor.ErrUnsupported)
	}
	info, err := scanList(br, ref, int64(len(data)))
	return ref, info, err
}

// stream yields the rows of a TFRecord stream. Not safe for concurrent
// use (it is an io.Reader).
type stream struct {
	rr      *Reader
	name    string
	feature string
	first   tensorproto.Header // tensor mode
	kind    Kind               // feature mode
	k       int64
	row     []byte
	pos     int
	dec     []byte // decode buffer (feature mode)
	err     error
}

// setRow checks one record against the first and makes its row current.
func (s *stream) setRow(data []byte) error {
	rec := s.rr.Record()
	s.pos = 0
	if s.feature == "" {
		h, err := tensorproto.Locate(bytes.NewReader(data), 0, int64(len(data)))
		if err != nil {
			return recErr(s.name, rec, err)
		}
		if h.DataType != s.first.DataType || !h.Shape.Equal(s.first.Shape) {
			return recErr(s.name, rec, fmt.Errorf("tensor is %v %v, but record 0 is %v %v: records must agree to stack: %w",
				h.DataType, h.Shape, s.first.DataType, s.first.Shape, tensor.ErrUnsupported))
		}
		if err := stackable(h); err != nil {
			return recErr(s.name, rec, err)
		}
		s.row = data[h.ContentOff : h.ContentOff+h.ContentLen]
		return nil
	}
	ref, info, err := streamFeature(data, s.feature)
	if err != nil {
		return recErr(s.name, rec, err)
	}
	if ref.kind != s.kind || info.count != s.k {
		return recErr(s.name, rec, fmt.Errorf("feature %q is a %v of %d values, but in record 0 a %v of %d: records must agree to stack: %w",
			s.feature, ref.kind, info.count, s.kind, s.k, tensor.ErrUnsupported))
	}
	size := int(s.k) * 8
	if s.kind == FloatList {
		size = int(s.k) * 4
	}
	if info.simple {
		s.row = data[info.dataOff+ref.listOff : info.dataOff+ref.listOff+int64(size)]
		return nil
	}
	if cap(s.dec) < size {
		s.dec = make([]byte, size)
	}
	s.row = s.dec[:size]
	if err := decodeRow(bytes.NewReader(data), s.kind, ref.listOff, int64(len(data)), s.k, 0, s.row); err != nil {
		return recErr(s.name, rec, err)
	}
	return nil
}

func (s *stream) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if s.pos < len(s.row) {
			k := copy(p[n:], s.row[s.pos:])
			s.pos += k
			n += k
			continue
		}
		if s.err != nil {
			break
		}
		data, err := s.rr.Next()
		if err != nil {
			s.err, s.row = err, nil
			break
		}
		if err := s.setRow(data); err != nil {
			s.err, s.row = err, nil
			break
		}
	}
	if n > 0 {
		return n, nil
	}
	return 0, s.err
}

// countable is the Stream of a compressed file (not stdin): besides
// being read once, it can count the file's records apart from itself.
type countable struct {
	*stream
	src  io.ReaderAt
	size int64
	comp string
}

func countableStream(st io.Reader, src io.ReaderAt, size int64, comp string) io.Reader {
	return &countable{stream: st.(*stream), src: src, size: size, comp: comp}
}

// Rows counts the records of the file by decompressing it once more,
// on its own reader (the stream is not touched), each record's CRCs and
// the compressed stream's own checksum checked: the first axis the
// stream will yield, for a caller that must know it before reading (a
// stack writes each input at a known offset). It holds one record in
// memory and may run while other files are read. A cancelled ctx stops
// it between records with ctx.Err().
func (c *countable) Rows(ctx context.Context) (int64, error) {
	d, err := Decompress(io.NewSectionReader(c.src, 0, c.size), c.comp, c.name)
	if err != nil {
		return 0, err
	}
	rr := NewReader(bufio.NewReaderSize(d, 1<<16), c.name)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if _, err := rr.Next(); err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
		n++
	}
}
