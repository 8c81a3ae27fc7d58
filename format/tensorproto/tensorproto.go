// Package tensorproto reads a serialized TensorFlow TensorProto — the
// file that tf.io.write_file(path, tf.io.serialize_tensor(t)) writes —
// as one tensor, without reading its data.
//
// Layout (tensorflow/core/framework/tensor.proto), fields in number order:
//
//	1 dtype          varint  DataType
//	2 tensor_shape   bytes   TensorShapeProto {dim=2 {size=1, name=2}, unknown_rank=3}
//	3 version_number varint
//	4 tensor_content bytes   raw little-endian values, row-major  ← serialize_tensor
//	5..18 *_val      typed values (float_val, int_val, string_val, …);
//	                 fewer values than elements repeat the last one
//
// Locate scans a message with small reads and skips tensor_content;
// Open exposes tensor_content as a section of the file, or decodes
// typed values (at most MaxDecoded bytes) and broadcasts them lazily.
// String tensors become fixed-width byte strings (|S<longest>).
//
//	t, err := tensorproto.Open(f, size, "x.pb")
//	// t.DType, t.Shape; t.Data.ReadAt(p, off) reads C-order bytes
//
// Concurrency: Locate and Open may be called from any goroutine; the
// Data of a returned tensor is safe for concurrent ReadAt calls when
// the underlying io.ReaderAt is (an *os.File is).
package tensorproto

import (
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/internal/onnxproto"
	"github.com/bigconv/bigconv/internal/tfproto"
	"github.com/bigconv/bigconv/tensor"
)

func init() {
	format.Register(format.Format{
		Name:  "tensorproto",
		Exts:  []string{".pb", ".tensorproto"},
		Sniff: Sniff,
		Open:  openSource,
	})
}

func openSource(src format.Source, _ format.Options) (*format.Input, error) {
	if src.R == nil {
		return nil, errf(tensor.ErrUnsupported, src.Name, -1,
			"a TensorProto must be read from a seekable file, not a stream (save it to a file first)")
	}
	t, err := Open(src.R, src.Size, src.Name)
	if err != nil {
		return nil, onnxHint(src, err)
	}
	return &format.Input{Format: "tensorproto", Tensors: []*tensor.Tensor{t}}, nil
}

// onnxHint adds to a failure to read src as TensorFlow's TensorProto
// that it reads as ONNX, when it does (a .pb file forced or found by
// its extension).
func onnxHint(src format.Source, err error) error {
	if !errors.Is(err, tensor.ErrFormat) && !errors.Is(err, tensor.ErrCorrupt) {
		return err
	}
	head := make([]byte, min(src.Size, format.SniffLen))
	n, _ := src.R.ReadAt(head, 0)
	head = head[:n]
	if onnxproto.SniffTensor(head) || onnxproto.SniffModel(head) {
		return fmt.Errorf("%w (the file reads as an ONNX TensorProto or model, not TensorFlow's: use --format onnx)", err)
	}
	return err
}

// Open describes the TensorProto that makes up the whole of r (size
// bytes); name is used in messages. It reads only the message's small
// fields (and typed values lazily, on the first ReadAt of Data).
func Open(r io.ReaderAt, size int64, name string) (*tensor.Tensor, error) {
	h, err := locate(r, 0, size, name)
	if err != nil {
		return nil, err
	}
	t := &tensor.Tensor{
		DType: h.DType,
		Shape: h.Shape,
		Data:  h.Data(r),
		File:  name,
		Extra: map[string]string{
			"tf_dtype": h.DataType.String(),
			"encoding": h.Encoding(),
		},
	}
	if h.HasContent {
		t.Contiguous = true
		t.Offset = h.ContentOff
	}
	return t, nil
}

// Sniff reports whether head (the start of a file) looks like a
// serialized TensorFlow TensorProto: a known dtype first, then a
// TensorShapeProto that holds only shape fields, then fields a
// TensorProto may have, and a tensor_content whose length matches the
// shape. A SavedModel's saved_model.pb (schema version 1, then a
// MetaGraphDef) fails it.
//
// ONNX's TensorProto shares field numbers 1 and 2 with other meanings:
// its field 2 is the varint data_type where TensorFlow's is a
// TensorShapeProto message, and an ONNX ModelProto's field 2 is a
// producer name in text where a TensorShapeProto starts with a tag byte
// below 0x20. So no head reads both ways, and format/onnx's Sniff and
// this one each decide on their own schema; the fuzz targets of both
// packages assert that they never agree.
func Sniff(head []byte) bool {
	b := head
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || num != fieldDType || typ != protowire.VarintType {
		return false
	}
	b = b[n:]
	v, n := protowire.ConsumeVarint(b)
	if n < 0 || v == 0 || v > 1000 || !tfproto.DataType(v).Known() {
		return false
	}
	dt := tfproto.DataType(v)
	b = b[n:]
	num, typ, n = protowire.ConsumeTag(b)
	if n < 0 || num != fieldShape || typ != protowire.BytesType {
		return false
	}
	b = b[n:]
	l, n := protowire.ConsumeVarint(b)
	if n < 0 || l > maxShapeProtoBytes {
		return false
	}
	b = b[n:]
	if l > 0 && len(b) > 0 && b[0] == 0x0a { // a MetaGraphDef's meta_info_def
		return false
	}
	if l > uint64(len(b)) {
		return checkShape(b, true)
	}
	if !checkShape(b[:l], false) {
		return false
	}
	sh, err := tfproto.Shape(b[:l])
	if err != nil {
		return false
	}
	b = b[l:]
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return len(b) < 3 // cut at the end of head
		}
		if num < fieldVersion || num > maxKnownField || !fieldWireOK(int(num), typ) {
			return false
		}
		b = b[n:]
		if num == fieldContent {
			l, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return len(b) < 10
			}
			dt, err := dt.Numeric()
			if err != nil {
				return false
			}
			want, err := sh.NumBytes(dt.Size())
			return err == nil && uint64(want) == l
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return true // cut at the end of head
		}
		b = b[n:]
	}
	return true
}

// String is for debugging.
func (h Header) String() string {
	return fmt.Sprintf("%v %v %s", h.DataType, h.Shape, h.Encoding())
}
