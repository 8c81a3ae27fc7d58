package dtype

import "fmt"

// promoteOrder is the order ResultType searches for a common type: the
// integer kinds by size, then floats, then complex, as NumPy's
// promotion table picks the smallest type both operands cast to safely.
var promoteOrder = []Type{Int8, Int16, Int32, Int64, Uint8, Uint16, Uint32, Uint64,
	Float16, Float32, Float64, Complex64, Complex128}

// ResultType is the type np.result_type gives for arrays of the dtypes
// ds: the smallest NumPy type every one of them casts to safely (int8
// and uint8 give int16, int64 and uint64 give float64, int32 and
// float32 give float64). The result is native (little-endian). Byte
// strings promote only among themselves, to the widest. Types NumPy has
// no type for (bfloat16, float8) are an error: the caller decides what
// they become first.
func ResultType(ds ...DType) (DType, error) {
	if len(ds) == 0 {
		return DType{}, fmt.Errorf("%w: result type of no dtypes", ErrDType)
	}
	var num []Type
	width := -1
	for _, d := range ds {
		switch {
		case !d.Type.NumPy():
			return DType{}, fmt.Errorf("%w: %s has no NumPy type to promote (convert it to float32 first)", ErrDType, d)
		case d.Type == Bytes:
			width = max(width, d.Width)
		default:
			num = append(num, d.Type)
		}
	}
	switch {
	case width >= 0 && len(num) > 0:
		return DType{}, fmt.Errorf("%w: byte strings and %s have no common type", ErrDType, Of(num[0]))
	case width >= 0:
		return BytesOf(width), nil
	}
	t, ok := promote(num)
	if !ok {
		return DType{}, fmt.Errorf("%w: %v have no common type", ErrDType, ds)
	}
	return Of(t), nil
}

// promote is the first type of ts every one of them casts to safely,
// looked for among ts themselves and then in promoteOrder: NumPy
// promotes a sequence as a whole (int8, uint8, float16 give float16,
// though int8 and uint8 alone give int16).
func promote(ts []Type) (Type, bool) {
	all := func(to Type) bool {
		for _, t := range ts {
			if !IsSafe(t, to) {
				return false
			}
		}
		return true
	}
	for _, t := range ts {
		if all(t) {
			return t, true
		}
	}
	for _, t := range promoteOrder {
		if all(t) {
			return t, true
		}
	}
	return Invalid, false
}
