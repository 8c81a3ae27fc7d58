package tfgen

import (
	"encoding/binary"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/tfproto"
)

// DataTypeOf is the TensorFlow DataType that stores t.
func DataTypeOf(t dtype.Type) (tfproto.DataType, error) {
	switch t {
	case dtype.Float32:
		return tfproto.DTFloat, nil
	case dtype.Float64:
		return tfproto.DTDouble, nil
	case dtype.Int32:
		return tfproto.DTInt32, nil
	case dtype.Uint8:
		return tfproto.DTUint8, nil
	case dtype.Int16:
		return tfproto.DTInt16, nil
	case dtype.Int8:
		return tfproto.DTInt8, nil
	case dtype.Complex64:
		return tfproto.DTComplex64, nil
	case dtype.Int64:
		return tfproto.DTInt64, nil
	case dtype.Bool:
		return tfproto.DTBool, nil
	case dtype.BFloat16:
		return tfproto.DTBfloat16, nil
	case dtype.Uint16:
		return tfproto.DTUint16, nil
	case dtype.Complex128:
		return tfproto.DTComplex128, nil
	case dtype.Float16:
		return tfproto.DTHalf, nil
	case dtype.Uint32:
		return tfproto.DTUint32, nil
	case dtype.Uint64:
		return tfproto.DTUint64, nil
	case dtype.Float8E5M2:
		return tfproto.DTFloat8E5M2, nil
	case dtype.Float8E4M3FN:
		return tfproto.DTFloat8E4M3, nil
	case dtype.Float8E4M3FNUZ:
		return tfproto.DTFloat8E4M3FNUZ, nil
	case dtype.Float8E5M2FNUZ:
		return tfproto.DTFloat8E5M2FNUZ, nil
	case dtype.Bytes:
		return tfproto.DTString, nil
	}
	return 0, fmt.Errorf("tfgen: no TensorFlow DataType for %v", t)
}

// AppendShape appends a TensorShapeProto's bytes (dim {size}…) to b.
func AppendShape(b []byte, shape dtype.Shape) []byte {
	for _, d := range shape {
		var dim []byte
		if d != 0 {
			dim = protowire.AppendTag(dim, 1, protowire.VarintType)
			dim = protowire.AppendVarint(dim, uint64(d))
		}
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, dim)
	}
	return b
}

// tensorProtoHead is dtype and tensor_shape, as serialize_tensor writes
// them first.
func tensorProtoHead(dt dtype.DType, shape dtype.Shape) ([]byte, error) {
	tdt, err := DataTypeOf(dt.Type)
	if err != nil {
		return nil, err
	}
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(tdt))
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, AppendShape(nil, shape))
	return b, nil
}

// TensorProtoSize is the number of bytes WriteTensorProto writes.
func TensorProtoSize(dt dtype.DType, shape dtype.Shape) (int64, error) {
	head, err := tensorProtoHead(dt, shape)
	if err != nil {
		return 0, err
	}
	n, err := shape.NumBytes(dt.Size())
	if err != nil {
		return 0, err
	}
	size := int64(len(head))
	if n > 0 {
		size += int64(protowire.SizeTag(4)+protowire.SizeVarint(uint64(n))) + n
	}
	return size, nil
}

// blockSize is how many bytes of a tensor a writer asks fill for at once.
const blockSize = 1 << 16

// WriteTensorProto writes a TensorProto as tf.io.serialize_tensor does for
// numeric tensors: dtype, tensor_shape, then tensor_content (left out
// when empty). fill(off, p) must fill p with the little-endian C-order
// bytes of the tensor that start at byte off; it is called block by
// block, so the tensor is never held in memory.
func WriteTensorProto(w io.Writer, dt dtype.DType, shape dtype.Shape, fill func(off int64, p []byte)) error {
	head, err := tensorProtoHead(dt, shape)
	if err != nil {
		return err
	}
	n, err := shape.NumBytes(dt.Size())
	if err != nil {
		return err
	}
	if n > 0 {
		head = protowire.AppendTag(head, 4, protowire.BytesType)
		head = protowire.AppendVarint(head, uint64(n))
	}
	if _, err := w.Write(head); err != nil {
		return err
	}
	return writeBlocks(w, n, fill)
}

func writeBlocks(w io.Writer, n int64, fill func(off int64, p []byte)) error {
	buf := make([]byte, min(n, blockSize))
	for off := int64(0); off < n; {
		p := buf[:min(int64(len(buf)), n-off)]
		fill(off, p)
		if _, err := w.Write(p); err != nil {
			return err
		}
		off += int64(len(p))
	}
	return nil
}

// TensorProtoVals returns a TensorProto whose values are in the typed
// field TensorFlow uses for dt (float_val, int_val, half_val, …), as
// tensor.AsProtoField writes them. elems holds k little-endian values of
// dt (k may be less than the shape's elements: TensorFlow repeats the
// last one). With packed unset, repeated numeric fields are written one
// tag per value, as old writers did.
func TensorProtoVals(dt dtype.DType, shape dtype.Shape, elems []byte, packed bool) ([]byte, error) {
	b, err := tensorProtoHead(dt, shape)
	if err != nil {
		return nil, err
	}
	isz := dt.Size()
	if isz == 0 || len(elems)%isz != 0 {
		return nil, fmt.Errorf("tfgen: %d value bytes are not whole %v values", len(elems), dt)
	}
	var field protowire.Number
	var wire protowire.Type
	unit := isz
	switch dt.Type {
	case dtype.Float32:
		field, wire = 5, protowire.Fixed32Type
	case dtype.Float64:
		field, wire = 6, protowire.Fixed64Type
	case dtype.Int32, dtype.Int16, dtype.Int8, dtype.Uint8, dtype.Uint16:
		field, wire = 7, protowire.VarintType
	case dtype.Complex64:
		field, wire, unit = 9, protowire.Fixed32Type, 4
	case dtype.Int64:
		field, wire = 10, protowire.VarintType
	case dtype.Bool:
		field, wire = 11, protowire.VarintType
	case dtype.Complex128:
		field, wire, unit = 12, protowire.Fixed64Type, 8
	case dtype.Float16, dtype.BFloat16:
		field, wire = 13, protowire.VarintType
	case dtype.Uint32:
		field, wire = 16, protowire.VarintType
	case dtype.Uint64:
		field, wire = 17, protowire.VarintType
	case dtype.Float8E4M3FN, dtype.Float8E5M2, dtype.Float8E4M3FNUZ, dtype.Float8E5M2FNUZ:
		b = protowire.AppendTag(b, 18, protowire.BytesType)
		return protowire.AppendBytes(b, elems), nil
	default:
		return nil, fmt.Errorf("tfgen: no typed field for %v", dt)
	}
	var vals []byte
	for i := 0; i+unit <= len(elems); i += unit {
		u := elems[i : i+unit]
		if !packed {
			vals = protowire.AppendTag(vals, field, wire)
		}
		switch wire {
		case protowire.Fixed32Type:
			vals = append(vals, u...)
		case protowire.Fixed64Type:
			vals = append(vals, u...)
		default:
			vals = protowire.AppendVarint(vals, varintOf(dt.Type, u))
		}
	}
	if packed && len(vals) > 0 {
		b = protowire.AppendTag(b, field, protowire.BytesType)
		return protowire.AppendBytes(b, vals), nil
	}
	return append(b, vals...), nil
}

// varintOf is the varint TensorFlow stores for one value: int32 fields
// sign-extend, unsigned fields do not.
func varintOf(t dtype.Type, u []byte) uint64 {
	switch t {
	case dtype.Int8:
		return uint64(int64(int8(u[0])))
	case dtype.Int16:
		return uint64(int64(int16(binary.LittleEndian.Uint16(u))))
	case dtype.Int32:
		return uint64(int64(int32(binary.LittleEndian.Uint32(u))))
	case dtype.Uint8, dtype.Bool:
		return uint64(u[0])
	case dtype.Uint16, dtype.Float16, dtype.BFloat16:
		return uint64(binary.LittleEndian.Uint16(u))
	case dtype.Uint32:
		return uint64(binary.LittleEndian.Uint32(u))
	}
	return binary.LittleEndian.Uint64(u)
}

// TensorProtoStrings returns a DT_STRING TensorProto with string_val, as
// tf.io.serialize_tensor writes string tensors.
func TensorProtoStrings(shape dtype.Shape, strs [][]byte) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(tfproto.DTString))
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, AppendShape(nil, shape))
	for _, s := range strs {
		b = protowire.AppendTag(b, 8, protowire.BytesType)
		b = protowire.AppendBytes(b, s)
	}
	return b
}
