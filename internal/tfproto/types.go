// Package tfproto decodes the few TensorFlow protobuf messages bigconv
// needs (DataType, TensorShapeProto) with protowire, field by field,
// without generated code. Every decoder checks lengths and caps.
package tfproto

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/tensor"
)

// DataType is TensorFlow's types.proto DataType enum.
type DataType int32

// DataType values (tensorflow/core/framework/types.proto).
const (
	DTInvalid    DataType = 0
	DTFloat      DataType = 1
	DTDouble     DataType = 2
	DTInt32      DataType = 3
	DTUint8      DataType = 4
	DTInt16      DataType = 5
	DTInt8       DataType = 6
	DTString     DataType = 7
	DTComplex64  DataType = 8
	DTInt64      DataType = 9
	DTBool       DataType = 10
	DTQint8      DataType = 11
	DTQuint8     DataType = 12
	DTQint32     DataType = 13
	DTBfloat16   DataType = 14
	DTQint16     DataType = 15
	DTQuint16    DataType = 16
	DTUint16     DataType = 17
	DTComplex128 DataType = 18
	DTHalf       DataType = 19
	DTResource   DataType = 20
	DTVariant    DataType = 21
	DTUint32     DataType = 22
	DTUint64     DataType = 23
	DTFloat8E5M2 DataType = 24
	DTFloat8E4M3 DataType = 25
	// DTFloat8E4M3FNUZ and DTFloat8E5M2FNUZ as types.proto numbers them
	// (27 is float8_e4m3b11fnuz, which bigconv does not read).
	DTFloat8E4M3FNUZ DataType = 26
	DTFloat8E5M2FNUZ DataType = 28
)

var dtNames = map[DataType]string{
	1: "float", 2: "double", 3: "int32", 4: "uint8", 5: "int16", 6: "int8", 7: "string",
	8: "complex64", 9: "int64", 10: "bool", 11: "qint8", 12: "quint8", 13: "qint32",
	14: "bfloat16", 15: "qint16", 16: "quint16", 17: "uint16", 18: "complex128",
	19: "half", 20: "resource", 21: "variant", 22: "uint32", 23: "uint64",
	24: "float8_e5m2", 25: "float8_e4m3fn", 26: "float8_e4m3fnuz",
	27: "float8_e4m3b11fnuz", 28: "float8_e5m2fnuz", 29: "int4", 30: "uint4",
}

func (t DataType) String() string {
	base := t
	ref := ""
	if t > 100 {
		base, ref = t-100, "_ref"
	}
	if n, ok := dtNames[base]; ok {
		return n + ref
	}
	return fmt.Sprintf("DataType(%d)", int32(t))
}

var numeric = map[DataType]dtype.Type{
	DTFloat: dtype.Float32, DTDouble: dtype.Float64, DTInt32: dtype.Int32,
	DTUint8: dtype.Uint8, DTInt16: dtype.Int16, DTInt8: dtype.Int8,
	DTComplex64: dtype.Complex64, DTInt64: dtype.Int64, DTBool: dtype.Bool,
	DTQint8: dtype.Int8, DTQuint8: dtype.Uint8, DTQint32: dtype.Int32,
	DTBfloat16: dtype.BFloat16, DTQint16: dtype.Int16, DTQuint16: dtype.Uint16,
	DTUint16: dtype.Uint16, DTComplex128: dtype.Complex128, DTHalf: dtype.Float16,
	DTUint32: dtype.Uint32, DTUint64: dtype.Uint64,
	DTFloat8E5M2: dtype.Float8E5M2, DTFloat8E4M3: dtype.Float8E4M3FN,
	DTFloat8E4M3FNUZ: dtype.Float8E4M3FNUZ, DTFloat8E5M2FNUZ: dtype.Float8E5M2FNUZ,
}

// ErrDataType reports a DataType with no bigconv element type.
var ErrDataType = errors.New("tfproto: data type has no numeric element type")

// Numeric maps a numeric DataType (or its _REF twin) to its element type,
// little-endian. Quantized types map to their storage integer type.
// String, resource, variant and the types NumPy and bigconv lack return
// an error wrapping ErrDataType and tensor.ErrUnsupported.
func (t DataType) Numeric() (dtype.DType, error) {
	base := t
	if base > 100 {
		base -= 100
	}
	if ty, ok := numeric[base]; ok {
		return dtype.Of(ty), nil
	}
	return dtype.DType{}, fmt.Errorf("%w: %v: %w", ErrDataType, t, tensor.ErrUnsupported)
}

// Known reports whether t is a DataType value TensorFlow defines.
func (t DataType) Known() bool {
	base := t
	if base > 100 {
		base -= 100
	}
	_, ok := dtNames[base]
	return ok
}

// MaxRank caps the number of dimensions a shape may have (TensorFlow's
// own limit is 254).
const MaxRank = 254

// Shape decodes a TensorShapeProto: dim=2 {size=1, name=2}, unknown_rank=3.
// A dimension of -1 (unknown) or an unknown rank is an ErrCorrupt error:
// stored tensors always have full shapes.
func Shape(b []byte) (dtype.Shape, error) {
	sh := dtype.Shape{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("tfproto: TensorShapeProto: bad tag: %w", tensor.ErrCorrupt)
		}
		b = b[n:]
		switch {
		case num == 2 && typ == protowire.BytesType:
			dim, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, fmt.Errorf("tfproto: TensorShapeProto: bad dim: %w", tensor.ErrCorrupt)
			}
			b = b[n:]
			size, err := dimSize(dim)
			if err != nil {
				return nil, err
			}
			if len(sh) >= MaxRank {
				return nil, fmt.Errorf("tfproto: TensorShapeProto: more than %d dimensions: %w", MaxRank, tensor.ErrCorrupt)
			}
			sh = append(sh, size)
		case num == 3 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, fmt.Errorf("tfproto: TensorShapeProto: bad unknown_rank: %w", tensor.ErrCorrupt)
			}
			b = b[n:]
			if v != 0 {
				return nil, fmt.Errorf("tfproto: TensorShapeProto: unknown rank: %w", tensor.ErrCorrupt)
			}
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return nil, fmt.Errorf("tfproto: TensorShapeProto: bad field %d: %w", num, tensor.ErrCorrupt)
			}
			b = b[n:]
		}
	}
	if _, err := sh.NumElements(); err != nil {
		return nil, fmt.Errorf("tfproto: TensorShapeProto: %w: %w", err, tensor.ErrCorrupt)
	}
	return sh, nil
}

func dimSize(b []byte) (int64, error) {
	var size int64
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, fmt.Errorf("tfproto: Dim: bad tag: %w", tensor.ErrCorrupt)
		}
		b = b[n:]
		if num == 1 && typ == protowire.VarintType {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return 0, fmt.Errorf("tfproto: Dim: bad size: %w", tensor.ErrCorrupt)
			}
			b = b[n:]
			size = int64(v)
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return 0, fmt.Errorf("tfproto: Dim: bad field %d: %w", num, tensor.ErrCorrupt)
		}
		b = b[n:]
	}
	if size < 0 {
		return 0, fmt.Errorf("tfproto: Dim: size %d is not a known length: %w", size, tensor.ErrCorrupt)
	}
	return size, nil
}
