// Package onnxproto holds what two readers need to know of ONNX's
// protobuf schema (onnx/onnx.proto): TensorProto's field numbers and data
// types, and sniffers for a TensorProto and a ModelProto from a file's
// first bytes. format/onnx reads ONNX files with it; format/tensorproto
// uses the sniffers so that TensorFlow's and ONNX's TensorProto (which
// share field numbers 1 and 2 with different meanings) are never confused.
//
// Everything here is pure functions over byte slices, safe for concurrent use.
package onnxproto

import (
	"fmt"

	"github.com/bigconv/bigconv/dtype"
)

// TensorProto field numbers.
const (
	FieldDims         = 1  // repeated int64 (varint, or packed)
	FieldDataType     = 2  // int32 varint
	FieldSegment      = 3  // Segment {begin=1, end=2}
	FieldFloatData    = 4  // repeated float, packed
	FieldInt32Data    = 5  // repeated int32, packed
	FieldStringData   = 6  // repeated bytes
	FieldInt64Data    = 7  // repeated int64, packed
	FieldName         = 8  // string
	FieldRawData      = 9  // bytes
	FieldDoubleData   = 10 // repeated double, packed
	FieldUint64Data   = 11 // repeated uint64, packed
	FieldDocString    = 12 // string
	FieldExternalData = 13 // repeated StringStringEntryProto {key=1, value=2}
	FieldDataLocation = 14 // enum: 0 DEFAULT, 1 EXTERNAL
	FieldMetadata     = 16 // repeated StringStringEntryProto (IR 10)
)

// DataType is TensorProto.DataType.
type DataType int32

// The data types (onnx.proto TensorProto.DataType).
const (
	Undefined      DataType = 0
	Float          DataType = 1
	Uint8          DataType = 2
	Int8           DataType = 3
	Uint16         DataType = 4
	Int16          DataType = 5
	Int32          DataType = 6
	Int64          DataType = 7
	String         DataType = 8
	Bool           DataType = 9
	Float16        DataType = 10
	Double         DataType = 11
	Uint32         DataType = 12
	Uint64         DataType = 13
	Complex64      DataType = 14
	Complex128     DataType = 15
	BFloat16       DataType = 16
	Float8E4M3FN   DataType = 17
	Float8E4M3FNUZ DataType = 18
	Float8E5M2     DataType = 19
	Float8E5M2FNUZ DataType = 20
	Uint4          DataType = 21
	Int4           DataType = 22
	Float4E2M1     DataType = 23
	Float8E8M0     DataType = 24
	maxDataType    DataType = 24
)

var names = [...]string{"UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64",
	"STRING", "BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16",
	"FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "UINT4", "INT4", "FLOAT4E2M1",
	"FLOAT8E8M0"}

func (t DataType) String() string {
	if t >= 0 && t <= maxDataType {
		return names[t]
	}
	return fmt.Sprintf("DataType(%d)", int32(t))
}

// Known reports whether t is a data type ONNX defines (UNDEFINED is not).
func (t DataType) Known() bool { return t > Undefined && t <= maxDataType }

// Info says how a data type is stored and what bigconv makes of it.
type Info struct {
	// Stored is the element type of raw_data items as bigconv reads them
	// (Uint8 for the FNUZ float8 kinds and the 4-bit types, whose bits the
	// reader turns into Out). Invalid when bigconv cannot read the type.
	Stored dtype.DType
	// Out is the element type bigconv presents: Stored, except float32 for
	// the FNUZ float8 kinds and int8/uint8 for INT4/UINT4.
	Out dtype.DType
	// Nibbles is set for the 4-bit types: two elements per stored byte,
	// low nibble first.
	Nibbles bool
	// Field is the typed field that holds values when raw_data is absent.
	Field int
}

// Lookup describes t. ok is false for types bigconv does not convert
// (STRING is handled by the caller; UNDEFINED, FLOAT4E2M1, FLOAT8E8M0
// and unknown values).
func Lookup(t DataType) (Info, bool) {
	le := func(ty dtype.Type) dtype.DType { return dtype.Of(ty) }
	switch t {
	case Float:
		return Info{Stored: le(dtype.Float32), Out: le(dtype.Float32), Field: FieldFloatData}, true
	case Uint8:
		return Info{Stored: le(dtype.Uint8), Out: le(dtype.Uint8), Field: FieldInt32Data}, true
	case Int8:
		return Info{Stored: le(dtype.Int8), Out: le(dtype.Int8), Field: FieldInt32Data}, true
	case Uint16:
		return Info{Stored: le(dtype.Uint16), Out: le(dtype.Uint16), Field: FieldInt32Data}, true
	case Int16:
		return Info{Stored: le(dtype.Int16), Out: le(dtype.Int16), Field: FieldInt32Data}, true
	case Int32:
		return Info{Stored: le(dtype.Int32), Out: le(dtype.Int32), Field: FieldInt32Data}, true
	case Int64:
		return Info{Stored: le(dtype.Int64), Out: le(dtype.Int64), Field: FieldInt64Data}, true
	case Bool:
		return Info{Stored: le(dtype.Bool), Out: le(dtype.Bool), Field: FieldInt32Data}, true
	case Float16:
		return Info{Stored: le(dtype.Float16), Out: le(dtype.Float16), Field: FieldInt32Data}, true
	case Double:
		return Info{Stored: le(dtype.Float64), Out: le(dtype.Float64), Field: FieldDoubleData}, true
	case Uint32:
		return Info{Stored: le(dtype.Uint32), Out: le(dtype.Uint32), Field: FieldUint64Data}, true
	case Uint64:
		return Info{Stored: le(dtype.Uint64), Out: le(dtype.Uint64), Field: FieldUint64Data}, true
	case Complex64:
		return Info{Stored: le(dtype.Complex64), Out: le(dtype.Complex64), Field: FieldFloatData}, true
	case Complex128:
		return Info{Stored: le(dtype.Complex128), Out: le(dtype.Complex128), Field: FieldDoubleData}, true
	case BFloat16:
		return Info{Stored: le(dtype.BFloat16), Out: le(dtype.BFloat16), Field: FieldInt32Data}, true
	case Float8E4M3FN:
		return Info{Stored: le(dtype.Float8E4M3FN), Out: le(dtype.Float8E4M3FN), Field: FieldInt32Data}, true
	case Float8E5M2:
		return Info{Stored: le(dtype.Float8E5M2), Out: le(dtype.Float8E5M2), Field: FieldInt32Data}, true
	case Float8E4M3FNUZ:
		return Info{Stored: le(dtype.Float8E4M3FNUZ), Out: le(dtype.Float8E4M3FNUZ), Field: FieldInt32Data}, true
	case Float8E5M2FNUZ:
		return Info{Stored: le(dtype.Float8E5M2FNUZ), Out: le(dtype.Float8E5M2FNUZ), Field: FieldInt32Data}, true
	case Uint4:
		return Info{Stored: le(dtype.Uint8), Out: le(dtype.Uint8), Nibbles: true, Field: FieldInt32Data}, true
	case Int4:
		return Info{Stored: le(dtype.Uint8), Out: le(dtype.Int8), Nibbles: true, Field: FieldInt32Data}, true
	}
	return Info{}, false
}

// StoredBytes is the size of n elements of i as stored: n × item size,
// or ⌈n/2⌉ for 4-bit types. ok is false on overflow.
func (i Info) StoredBytes(n int64) (int64, bool) {
	if n < 0 {
		return 0, false
	}
	if i.Nibbles {
		return n/2 + n%2, true
	}
	b, err := dtype.MulCheck(n, int64(i.Stored.Size()))
	return b, err == nil
}
