package tfrecord

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format/tensorproto"
	"github.com/bigconv/bigconv/tensor"
)

// NotTensorsError is returned by Open and OpenStream when the records
// are not serialized TensorProtos and no feature was asked for
// (TensorBoard event files, tf.train.Example files). It wraps
// tensor.ErrUnsupported; inspect can show Records.
type NotTensorsError struct {
	File    string
	Records int64 // records in the file, all CRCs checked (-1 if unknown)
	// Features lists some feature names when the first record is a
	// tf.train.Example.
	Features []string
	Cause    error // why record 0 is not a TensorProto
}

func (e *NotTensorsError) Error() string {
	var b strings.Builder
	b.WriteString("tfrecord: ")
	if e.File != "" {
		b.WriteString(e.File + ": ")
	}
	switch {
	case e.Records == 1:
		b.WriteString("1 record, ")
	case e.Records >= 0:
		fmt.Fprintf(&b, "%d records, ", e.Records)
	}
	b.WriteString("but they are not serialized tensors (tf.io.serialize_tensor)")
	if e.Features != nil {
		fmt.Fprintf(&b, "; they are tf.train.Example records with features %s: pick one with --feature NAME",
			strings.Join(e.Features, ", "))
	} else {
		b.WriteString(" (TensorBoard events or other protos?)")
	}
	b.WriteString(": ")
	b.WriteString(tensor.ErrUnsupported.Error())
	return b.String()
}

func (e *NotTensorsError) Unwrap() error { return tensor.ErrUnsupported }

// recErr wraps err with the record it concerns.
func recErr(file string, rec Record, err error) error {
	return fmt.Errorf("tfrecord: %s: record %d at offset %d: %w", file, rec.Index, rec.Offset, err)
}

// offsets stores one offset per record, 8 bytes each, or just a start
// and a stride while the records are evenly spaced (same-size records).
type offsets struct {
	first, stride, n int64
	list             []int64
}

func (o *offsets) add(off int64) {
	switch {
	case o.list != nil:
		o.list = append(o.list, off)
	case o.n == 0:
		o.first = off
	case o.n == 1:
		o.stride = off - o.first
	case off != o.first+o.n*o.stride:
		o.list = make([]int64, o.n, o.n+o.n/2+1)
		for i := range o.list {
			o.list[i] = o.first + int64(i)*o.stride
		}
		o.list = append(o.list, off)
	}
	o.n++
}

func (o *offsets) at(i int64) int64 {
	if o.list != nil {
		return o.list[i]
	}
	return o.first + i*o.stride
}

// Open reads a seekable, uncompressed TFRecord file as one tensor. With
// feature == "", every record must be a serialized TensorProto
// (tensor_content) of one dtype and shape S, and the tensor is [N, S…].
// Otherwise every record must be a tf.train.Example whose feature holds
// k values (the same k in every record), and the tensor is [N, k]:
// float32 (float_list), int64 (int64_list) or |S<longest> (bytes_list).
//
// Open reads the whole file once, checking every CRC and indexing the
// records (8 bytes per record at most); Data then reads records in place.
func Open(r io.ReaderAt, size int64, name, feature string) (*tensor.Tensor, error) {
	if feature != "" {
		return openFeature(r, size, name, feature)
	}
	var (
		first tensorproto.Header
		offs  offsets
	)
	err := Walk(r, size, name, func(rec Record, ra io.ReaderAt) error {
		h, err := tensorproto.Locate(ra, rec.DataOffset(), rec.Len)
		if err != nil {
			if rec.Index == 0 && errors.Is(err, tensor.ErrFormat) {
				return &NotTensorsError{File: name, Records: -1,
					Features: featureNames(ra, rec.DataOffset(), rec.Len, 20), Cause: err}
			}
			return recErr(name, rec, err)
		}
		if rec.Index == 0 {
			if err := stackable(h); err != nil {
				return recErr(name, rec, err)
			}
			first = h
		} else if h.DataType != first.DataType || !h.Shape.Equal(first.Shape) {
			return recErr(name, rec, fmt.Errorf("tensor is %v %v, but record 0 is %v %v: records must agree to stack: %w",
				h.DataType, h.Shape, first.DataType, first.Shape, tensor.ErrUnsupported))
		} else if err := stackable(h); err != nil {
			return recErr(name, rec, err)
		}
		offs.add(h.ContentOff)
		return nil
	})
	var nt *NotTensorsError
	if errors.As(err, &nt) {
		nt.Records, err = Count(r, size)
		if err != nil {
			return nil, err
		}
		return nil, nt
	}
	if err != nil {
		return nil, err
	}
	if offs.n == 0 {
		return nil, errf(tensor.ErrUnsupported, name, -1, "the file holds no records: nothing to convert")
	}
	rowBytes := first.ContentLen
	t := &tensor.Tensor{
		DType: first.DType,
		Shape: append(dtype.Shape{offs.n}, first.Shape...),
		Data:  &segReader{r: r, offs: &offs, row: rowBytes, n: offs.n, name: name},
		File:  name,
		Extra: map[string]string{
			"records":  fmt.Sprint(offs.n),
			"tf_dtype": first.DataType.String(),
			"encoding": "tensor_content",
		},
	}
	t.Offset = offs.at(0)
	if offs.n == 1 { // one range of the file
		t.Contiguous = true
	}
	return t, nil
}

// stackable checks that a record's tensor can be read in place.
func stackable(h tensorproto.Header) error {
	if h.DType.Type == dtype.Bytes {
		return fmt.Errorf("string tensors (%v) in TFRecord files are not supported: %w", h.DataType, tensor.ErrUnsupported)
	}
	if !h.HasContent && h.Elements() > 0 {
		return fmt.Errorf("tensor values are in typed fields (%s), not tensor_content; "+
			"only tf.io.serialize_tensor's tensor_content is supported in TFRecord files: %w", h.Encoding(), tensor.ErrUnsupported)
	}
	return nil
}

// segReader maps the stacked tensor's bytes onto each record's content:
// row i is row bytes at offs.at(i)+delta. Safe for concurrent use.
type segReader struct {
	r     io.ReaderAt
	offs  *offsets
	delta int64
	row   int64
	n     int64
	name  string
}

func (s *segReader) ReadAt(p []byte, off int64) (int, error) {
	return readRows(p, off, s.row, s.n, func(i, in int64, dst []byte) (int, error) {
		at := s.offs.at(i) + s.delta + in
		k, err := s.r.ReadAt(dst, at)
		if k < len(dst) {
			if err == nil || errors.Is(err, io.EOF) {
				err = errf(tensor.ErrCorrupt, s.name, at+int64(k), "record %d: file ends early", i)
			}
			return k, err
		}
		return k, nil
	})
}

// readRows serves ReadAt(p, off) for a tensor of n rows of row bytes:
// it clips p to the tensor and has fill write each row's part of it
// (row i from byte in of the row into dst), stopping at the first error.
func readRows(p []byte, off, row, n int64, fill func(i, in int64, dst []byte) (int, error)) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("tfrecord: negative offset %d", off)
	}
	size := row * n
	if off >= size {
		return 0, io.EOF
	}
	var eof error
	if int64(len(p)) > size-off {
		p, eof = p[:size-off], io.EOF
	}
	total := 0
	for len(p) > 0 {
		i, in := off/row, off%row
		m := min(int64(len(p)), row-in)
		k, err := fill(i, in, p[:m])
		total += k
		if err != nil {
			return total, err
		}
		p, off = p[m:], off+m
	}
	return total, eof
}

// openFeature indexes a file of tf.train.Example records.
func openFeature(r io.ReaderAt, size int64, name, feature string) (*tensor.Tensor, error) {
	var (
		kind   Kind
		k      int64
		maxLen int64
		simple = true
		delta  int64
		offs   offsets
	)
	err := Walk(r, size, name, func(rec Record, ra io.ReaderAt) error {
		end := rec.DataOffset() + rec.Len
		ref, err := findFeature(ra, rec.DataOffset(), rec.Len, feature)
		if err != nil {
			if errors.Is(err, notExample) {
				return recErr(name, rec, fmt.Errorf("record is not a tf.train.Example (--feature needs Example records): %w", err))
			}
			return recErr(name, rec, err)
		}
		if !ref.found {
			var hint string
			if rec.Index == 0 {
				if names := featureNames(ra, rec.DataOffset(), rec.Len, 20); len(names) > 0 {
					hint = " (it has " + strings.Join(names, ", ") + ")"
				}
			}
			return recErr(name, rec, fmt.Errorf("no feature %q%s: %w", feature, hint, tensor.ErrUnsupported))
		}
		info, err := scanList(ra, ref, end)
		if err != nil {
			return recErr(name, rec, err)
		}
		if rec.Index == 0 {
			kind, k, delta = ref.kind, info.count, info.dataOff
			if kind == 0 {
				return recErr(name, rec, fmt.Errorf("feature %q has no list: %w", feature, tensor.ErrUnsupported))
			}
		} else if ref.kind != kind || info.count != k {
			return recErr(name, rec, fmt.Errorf("feature %q is a %v of %d values, but in record 0 a %v of %d: records must agree to stack: %w",
				feature, ref.kind, info.count, kind, k, tensor.ErrUnsupported))
		}
		maxLen = max(maxLen, info.maxLen)
		if !info.simple || info.dataOff != delta {
			simple = false
		}
		offs.add(ref.listOff)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if offs.n == 0 {
		return nil, errf(tensor.ErrUnsupported, name, -1, "the file holds no records: nothing to convert")
	}
	t := &tensor.Tensor{
		Name:  feature,
		Shape: dtype.Shape{offs.n, k},
		File:  name,
		Extra: map[string]string{"records": fmt.Sprint(offs.n), "feature": feature, "list": kind.String()},
	}
	var width int
	switch kind {
	case FloatList:
		t.DType = dtype.Of(dtype.Float32)
	case Int64List:
		t.DType = dtype.Of(dtype.Int64)
	default:
		width = int(max(maxLen, 1))
		t.DType = dtype.BytesOf(width)
	}
	row, err := dtype.MulCheck(k, int64(t.DType.Size()))
	if err == nil {
		_, err = dtype.MulCheck(row, offs.n)
	}
	if err != nil {
		return nil, errf(tensor.ErrUnsupported, name, -1, "feature %q: %d records of %d values of %v: %v", feature, offs.n, k, t.DType, err)
	}
	if kind == FloatList && simple && k > 0 {
		t.Data = &segReader{r: r, offs: &offs, delta: delta, row: row, n: offs.n, name: name}
		t.Offset = offs.at(0) + delta
	} else {
		t.Data = &decodeReader{r: r, size: size, offs: &offs, kind: kind, k: k, width: width, row: row, n: offs.n, name: name}
	}
	return t, nil
}

// decodeReader decodes each touched record's list on ReadAt (int64
// varints, bytes values, unpacked floats). Safe for concurrent use.
type decodeReader struct {
	r     io.ReaderAt
	size  int64
	offs  *offsets
	kind  Kind
	k     int64
	width int
	row   int64
	n     int64
	name  string
}

func (d *decodeReader) ReadAt(p []byte, off int64) (int, error) {
	buf := make([]byte, d.row)
	return readRows(p, off, d.row, d.n, func(i, in int64, dst []byte) (int, error) {
		if err := decodeRow(d.r, d.kind, d.offs.at(i), d.size, d.k, d.width, buf); err != nil {
			return 0, fmt.Errorf("tfrecord: %s: record %d: %w", d.name, i, err)
		}
		return copy(dst, buf[in:]), nil
	})
}
