package tfgen

import (
	"compress/gzip"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/crc32c"
)

// RecordWriter writes TFRecord framing (record_writer.cc): for each
// record, the uint64 LE length, the masked CRC-32C of those 8 bytes,
// the data, and the masked CRC-32C of the data. It streams: a record's
// data may be written piece by piece. Not safe for concurrent use.
type RecordWriter struct {
	w io.Writer
	c io.Closer // the compressor, if any
}

// NewRecordWriter writes records to w. compression is "", "none",
// "gzip" or "zlib"; with compression, Close must be called to flush the
// compressed stream (it does not close w).
func NewRecordWriter(w io.Writer, compression string) (*RecordWriter, error) {
	switch compression {
	case "", "none":
		return &RecordWriter{w: w}, nil
	case "gzip":
		z := gzip.NewWriter(w)
		return &RecordWriter{w: z, c: z}, nil
	case "zlib":
		z := zlib.NewWriter(w)
		return &RecordWriter{w: z, c: z}, nil
	}
	return nil, fmt.Errorf("tfgen: unknown compression %q", compression)
}

// Write writes one whole record.
func (rw *RecordWriter) Write(rec []byte) error {
	return rw.WriteFunc(int64(len(rec)), func(w io.Writer) error {
		_, err := w.Write(rec)
		return err
	})
}

// WriteFunc writes a record of n bytes whose data body writes to w.
func (rw *RecordWriter) WriteFunc(n int64, body func(w io.Writer) error) error {
	var hdr [12]byte
	binary.LittleEndian.PutUint64(hdr[:8], uint64(n))
	binary.LittleEndian.PutUint32(hdr[8:], crc32c.Mask(crc32c.Checksum(hdr[:8])))
	if _, err := rw.w.Write(hdr[:]); err != nil {
		return err
	}
	cw := &crcWriter{w: rw.w}
	if err := body(cw); err != nil {
		return err
	}
	if cw.n != n {
		return fmt.Errorf("tfgen: record body wrote %d bytes, announced %d", cw.n, n)
	}
	var ftr [4]byte
	binary.LittleEndian.PutUint32(ftr[:], crc32c.Mask(cw.crc))
	_, err := rw.w.Write(ftr[:])
	return err
}

// Close flushes the compressor, if any.
func (rw *RecordWriter) Close() error {
	if rw.c != nil {
		return rw.c.Close()
	}
	return nil
}

type crcWriter struct {
	w   io.Writer
	crc uint32
	n   int64
}

func (c *crcWriter) Write(p []byte) (int, error) {
	c.crc = crc32c.Update(c.crc, p)
	c.n += int64(len(p))
	return c.w.Write(p)
}

// WriteTensorRecords writes n records, each a serialized TensorProto
// (tensor_content) of dtype dt and shape row: the TFRecord that
// tf.data.Dataset.map(tf.io.serialize_tensor) and TFRecordWriter make.
// fill(rec, off, p) fills p with bytes off… of record rec's tensor.
func WriteTensorRecords(w io.Writer, compression string, n int, dt dtype.DType, row dtype.Shape,
	fill func(rec int, off int64, p []byte)) error {
	rw, err := NewRecordWriter(w, compression)
	if err != nil {
		return err
	}
	size, err := TensorProtoSize(dt, row)
	if err != nil {
		return err
	}
	for i := range n {
		err := rw.WriteFunc(size, func(w io.Writer) error {
			return WriteTensorProto(w, dt, row, func(off int64, p []byte) { fill(i, off, p) })
		})
		if err != nil {
			return err
		}
	}
	return rw.Close()
}

// Feature is one entry of a tf.train.Example's feature map; set one of
// the lists.
type Feature struct {
	Name   string
	Floats []float32
	Int64s []int64
	Bytes  [][]byte
	// Unpacked writes numeric values one tag each instead of packed.
	Unpacked bool
}

// AppendExample appends a serialized tf.train.Example holding feats
// (example.proto, feature.proto) to b.
func AppendExample(b []byte, feats ...Feature) []byte {
	var fs []byte
	for _, f := range feats {
		var list []byte
		var kind protowire.Number
		switch {
		case f.Floats != nil:
			kind = 2
			if f.Unpacked {
				for _, v := range f.Floats {
					list = protowire.AppendTag(list, 1, protowire.Fixed32Type)
					list = protowire.AppendFixed32(list, math.Float32bits(v))
				}
			} else if len(f.Floats) > 0 {
				var p []byte
				for _, v := range f.Floats {
					p = protowire.AppendFixed32(p, math.Float32bits(v))
				}
				list = protowire.AppendTag(list, 1, protowire.BytesType)
				list = protowire.AppendBytes(list, p)
			}
		case f.Int64s != nil:
			kind = 3
			if f.Unpacked {
				for _, v := range f.Int64s {
					list = protowire.AppendTag(list, 1, protowire.VarintType)
					list = protowire.AppendVarint(list, uint64(v))
				}
			} else if len(f.Int64s) > 0 {
				var p []byte
				for _, v := range f.Int64s {
					p = protowire.AppendVarint(p, uint64(v))
				}
				list = protowire.AppendTag(list, 1, protowire.BytesType)
				list = protowire.AppendBytes(list, p)
			}
		default:
			kind = 1
			for _, v := range f.Bytes {
				list = protowire.AppendTag(list, 1, protowire.BytesType)
				list = protowire.AppendBytes(list, v)
			}
		}
		var feat []byte
		feat = protowire.AppendTag(feat, kind, protowire.BytesType)
		feat = protowire.AppendBytes(feat, list)
		var entry []byte
		entry = protowire.AppendTag(entry, 1, protowire.BytesType)
		entry = protowire.AppendString(entry, f.Name)
		entry = protowire.AppendTag(entry, 2, protowire.BytesType)
		entry = protowire.AppendBytes(entry, feat)
		fs = protowire.AppendTag(fs, 1, protowire.BytesType)
		fs = protowire.AppendBytes(fs, entry)
	}
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	return protowire.AppendBytes(b, fs)
}

// WriteExamples writes n tf.train.Example records, record i holding the
// features feats(i) returns.
func WriteExamples(w io.Writer, compression string, n int, feats func(rec int) []Feature) error {
	rw, err := NewRecordWriter(w, compression)
	if err != nil {
		return err
	}
	var buf []byte
	for i := range n {
		buf = AppendExample(buf[:0], feats(i)...)
		if err := rw.Write(buf); err != nil {
			return err
		}
	}
	return rw.Close()
}
