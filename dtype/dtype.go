// Package dtype describes tensor element types and shapes: NumPy type
// strings ("<f4", ">i8", "|b1", "float32", "bfloat16"), byte order, item
// sizes, checked shape arithmetic and NumPy's casting rules (np.can_cast).
//
// It is a leaf package: it does no I/O and imports nothing of bigconv.
// Every value type here is immutable and safe for concurrent use.
//
//	dt, err := dtype.Parse("<i8")          // int64, little-endian
//	to, _ := dtype.Parse("float32")
//	ok := dtype.CanCast(dt, to, dtype.SameKind) // true: int → float is same_kind
package dtype

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sentinel errors. Errors returned by this package wrap one of these.
var (
	// ErrDType reports a type string that names no supported type.
	ErrDType = errors.New("dtype: unknown or unsupported dtype")
	// ErrShape reports a malformed shape or one whose size overflows int64.
	ErrShape = errors.New("dtype: invalid shape")
)

// Type is an element type, independent of byte order.
type Type uint8

// The element types. NumPy has a type for each up to Complex128; BFloat16,
// Float8E4M3FN, Float8E5M2, Float8E4M3FNUZ and Float8E5M2FNUZ are
// TensorFlow/ONNX/ml_dtypes types that NumPy lacks and that bigconv reads
// as sources only.
const (
	Invalid Type = iota
	Bool
	Int8
	Int16
	Int32
	Int64
	Uint8
	Uint16
	Uint32
	Uint64
	Float16
	Float32
	Float64
	Complex64
	Complex128
	BFloat16
	Float8E4M3FN
	Float8E5M2
	// Float8E4M3FNUZ and Float8E5M2FNUZ are ONNX's (and ml_dtypes')
	// float8 kinds with exponent bias 8 and 16, no infinities, no negative
	// zero and 0x80 as the only NaN.
	Float8E4M3FNUZ
	Float8E5M2FNUZ
	// Bytes is NumPy's fixed-width byte string "|S<n>"; its width is in
	// DType.Width. bigconv writes TensorFlow string tensors as Bytes.
	Bytes
	numTypes
)

// Types lists every valid Type in declaration order.
// Bytes is left out: it needs a width.
func Types() []Type {
	ts := make([]Type, 0, numTypes-1)
	for t := Bool; t < Bytes; t++ {
		ts = append(ts, t)
	}
	return ts
}

// Kind is NumPy's type kind character class, in NumPy's same_kind order.
type Kind uint8

// The kinds, ordered as NumPy orders them for same_kind casting.
const (
	KindBool Kind = iota
	KindUint
	KindInt
	KindFloat
	KindComplex
	kindBytes // not numeric: casts only to itself
)

type typeInfo struct {
	name  string // NumPy (or ml_dtypes) name
	char  byte   // NumPy kind character in a type string
	size  int
	kind  Kind
	numpy bool // has a NumPy type (can be written to .npy)
}

var infos = [numTypes]typeInfo{
	Bool:           {"bool", 'b', 1, KindBool, true},
	Int8:           {"int8", 'i', 1, KindInt, true},
	Int16:          {"int16", 'i', 2, KindInt, true},
	Int32:          {"int32", 'i', 4, KindInt, true},
	Int64:          {"int64", 'i', 8, KindInt, true},
	Uint8:          {"uint8", 'u', 1, KindUint, true},
	Uint16:         {"uint16", 'u', 2, KindUint, true},
	Uint32:         {"uint32", 'u', 4, KindUint, true},
	Uint64:         {"uint64", 'u', 8, KindUint, true},
	Float16:        {"float16", 'f', 2, KindFloat, true},
	Float32:        {"float32", 'f', 4, KindFloat, true},
	Float64:        {"float64", 'f', 8, KindFloat, true},
	Complex64:      {"complex64", 'c', 8, KindComplex, true},
	Complex128:     {"complex128", 'c', 16, KindComplex, true},
	BFloat16:       {"bfloat16", 0, 2, KindFloat, false},
	Float8E4M3FN:   {"float8_e4m3fn", 0, 1, KindFloat, false},
	Float8E5M2:     {"float8_e5m2", 0, 1, KindFloat, false},
	Float8E4M3FNUZ: {"float8_e4m3fnuz", 0, 1, KindFloat, false},
	Float8E5M2FNUZ: {"float8_e5m2fnuz", 0, 1, KindFloat, false},
	Bytes:          {"bytes", 'S', 0, kindBytes, true},
}

// Valid reports whether t is one of the defined types.
func (t Type) Valid() bool { return t > Invalid && t < numTypes }

// Size is the item size in bytes (0 for Invalid and for Bytes, whose
// width is in DType.Width).
func (t Type) Size() int {
	if !t.Valid() {
		return 0
	}
	return infos[t].size
}

// Kind is the NumPy kind of t.
func (t Type) Kind() Kind { return infos[t].kind }

// NumPy reports whether NumPy has this type, so that it can be written to
// a .npy file as such. BFloat16 and the float8 types cannot.
func (t Type) NumPy() bool { return t.Valid() && infos[t].numpy }

// String is the NumPy (or ml_dtypes) name, e.g. "float32", "bfloat16".
func (t Type) String() string {
	if !t.Valid() {
		return fmt.Sprintf("dtype.Type(%d)", uint8(t))
	}
	return infos[t].name
}

// DType is an element type with its byte order as stored.
type DType struct {
	Type      Type
	BigEndian bool // meaningful only when Type.Size() > 1
	Width     int  // item size of a Bytes type ("|S<Width>"); 0 otherwise
}

// Of returns the little-endian DType of t.
func Of(t Type) DType { return DType{Type: t} }

// Size is the item size in bytes.
func (d DType) Size() int {
	if d.Type == Bytes {
		return d.Width
	}
	return d.Type.Size()
}

// BytesOf returns the fixed-width byte string type "|S<width>".
func BytesOf(width int) DType { return DType{Type: Bytes, Width: width} }

// Swapped reports whether values must be byte-swapped to be read as
// little-endian (the native order of every machine bigconv supports).
func (d DType) Swapped() bool { return d.BigEndian && d.Type.Size() > 1 }

// Native returns d in little-endian order.
func (d DType) Native() DType { return DType{Type: d.Type, Width: d.Width} }

// Descr is the NumPy type string as written in a .npy header ("<f4",
// "|b1", ">c16"). Types NumPy lacks have no descr and return their name.
func (d DType) Descr() string {
	if !d.Type.NumPy() {
		return d.Type.String()
	}
	info := infos[d.Type]
	if d.Type == Bytes {
		return fmt.Sprintf("|S%d", d.Width)
	}
	order := byte('<')
	switch {
	case info.size == 1:
		order = '|'
	case d.BigEndian:
		order = '>'
	}
	return fmt.Sprintf("%c%c%d", order, info.char, info.size)
}

// String is Descr for NumPy types, with a byte order prefix for the
// others when big-endian (">bfloat16").
func (d DType) String() string {
	if !d.Type.NumPy() && d.Swapped() {
		return ">" + d.Type.String()
	}
	return d.Descr()
}

// Equal reports whether d and e are the same type in the same byte order
// (byte order is ignored for one-byte types).
func (d DType) Equal(e DType) bool {
	return d.Type == e.Type && d.Swapped() == e.Swapped() && d.Width == e.Width
}

// single-character NumPy codes (np.dtype("f") etc.); 'l'/'L' are the C
// long of LP64 platforms.
var charCodes = map[string]Type{
	"?": Bool, "b": Int8, "B": Uint8, "h": Int16, "H": Uint16,
	"i": Int32, "I": Uint32, "l": Int64, "L": Uint64, "q": Int64, "Q": Uint64,
	"p": Int64, "P": Uint64,
	"e": Float16, "f": Float32, "d": Float64, "F": Complex64, "D": Complex128,
}

var aliases = map[string]Type{
	"bool_": Bool, "half": Float16, "single": Float32, "double": Float64,
	"float": Float64, "int": Int64, "complex": Complex128,
	"csingle": Complex64, "cdouble": Complex128,
	"byte": Int8, "ubyte": Uint8, "short": Int16, "ushort": Uint16,
	"intc": Int32, "uintc": Uint32, "longlong": Int64, "ulonglong": Uint64,
	"float8_e4m3": Float8E4M3FN, "f8e4m3fn": Float8E4M3FN, "f8e5m2": Float8E5M2,
	"f8e4m3fnuz": Float8E4M3FNUZ, "f8e5m2fnuz": Float8E5M2FNUZ,
	"bf16": BFloat16,
}

// Parse reads a NumPy type string: a descr with byte order ("<f4", ">i8",
// "|b1", "=u2"), a kind and size ("f4", "c16", "b1"), a one-character code
// ("f", "d", "e", "?"), or a name ("float32", "complex64", "bool",
// "bfloat16", "float8_e4m3fn", "float8_e5m2"). Without an explicit order
// the type is little-endian.
func Parse(s string) (DType, error) {
	orig := s
	s = strings.TrimSpace(s)
	var d DType
	if s != "" {
		switch s[0] {
		case '<', '=', '|':
			s = s[1:]
		case '>', '!':
			d.BigEndian = true
			s = s[1:]
		}
	}
	if t, ok := charCodes[s]; ok {
		d.Type = t
		return d, nil
	}
	low := strings.ToLower(s)
	if t, ok := aliases[low]; ok {
		d.Type = t
		return d, nil
	}
	for t := Bool; t < Bytes; t++ {
		if infos[t].name == low {
			d.Type = t
			return d, nil
		}
	}
	if len(s) >= 2 && s[0] == 'S' {
		if w, err := strconv.Atoi(s[1:]); err == nil && w > 0 && strconv.Itoa(w) == s[1:] {
			return BytesOf(w), nil
		}
	}
	if len(s) >= 2 {
		var size int
		if _, err := fmt.Sscanf(s[1:], "%d", &size); err == nil && fmt.Sprint(size) == s[1:] {
			for t := Bool; t < Bytes; t++ {
				if infos[t].char == s[0] && infos[t].size == size {
					d.Type = t
					return d, nil
				}
			}
		}
	}
	return DType{}, fmt.Errorf("%w: %q", ErrDType, orig)
}

// MustParse is Parse that panics on error, for constants in tests and
// examples.
func MustParse(s string) DType {
	d, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return d
}
