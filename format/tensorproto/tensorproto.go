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
	if ok, _ := onnxproto.SniffTensor(head); ok || onnxproto.SniffModel(head) {
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
// ONNX's TensorProto shares field numbers 1 and 2 with other meanings
// (dims, then data_type as a varint where TensorFlow has a shape
// message), so one head rarely reads both ways; when it does, the reading
// that accounts for its data (tensor_content or raw_data exactly as long
// as the dtype and shape need) wins, and ONNX wins a tie it is consistent
// in. format/onnx's Sniff is the complement, so at most one of the two
// is ever true.
func Sniff(head []byte) bool {
	ok, consistent := sniffTF(head)
	if !ok || onnxproto.SniffModel(head) {
		return false
	}
	if onnxOK, onnxConsistent := onnxproto.SniffTensor(head); onnxOK && onnxConsistent && !consistent {
		return false
	}
	return true
}

// sniffTF reads head as a TensorFlow TensorProto; consistent is set when
// tensor_content was reached and its length matches dtype and shape.
func sniffTF(head []byte) (ok, consistent bool) {
	b := head
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || num != fieldDType || typ != protowire.VarintType {
		return false, false
	}
	b = b[n:]
	v, n := protowire.ConsumeVarint(b)
	if n < 0 || v == 0 || v > 1000 || !tfproto.DataType(v).Known() {
		return false, false
	}
	dt := tfproto.DataType(v)
	b = b[n:]
	num, typ, n = protowire.ConsumeTag(b)
	if n < 0 || num != fieldShape || typ != protowire.BytesType {
		return false, false
	}
	b = b[n:]
	l, n := protowire.ConsumeVarint(b)
	if n < 0 || l > maxShapeProtoBytes {
		return false, false
	}
	b = b[n:]
	if l > 0 && len(b) > 0 && b[0] == 0x0a { // a MetaGraphDef's meta_info_def
		return false, false
	}
	if l > uint64(len(b)) {
		return checkShape(b, true), false
	}
	if !checkShape(b[:l], false) {
		return false, false
	}
	sh, err := tfproto.Shape(b[:l])
	if err != nil {
		return false, false
	}
	b = b[l:]
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return len(b) < 3, false // cut at the end of head
		}
		if num < fieldVersion || num > maxKnownField || !fieldWireOK(int(num), typ) {
			return false, false
		}
		b = b[n:]
		if num == fieldContent {
			l, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return len(b) < 10, false
			}
			dt, err := dt.Numeric()
			if err != nil {
				return false, false
			}
			want, err := sh.NumBytes(dt.Size())
			ok := err == nil && uint64(want) == l
			return ok, ok
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return true, false // cut at the end of head
		}
		b = b[n:]
	}
	return true, false
}

// String is for debugging.
func (h Header) String() string {
	return fmt.Sprintf("%v %v %s", h.DataType, h.Shape, h.Encoding())
}
