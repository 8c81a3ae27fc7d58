package dtype

import (
	"errors"
	"fmt"
	"strings"
)

// ErrCast reports a cast that the casting policy does not allow.
var ErrCast = errors.New("dtype: cast not allowed")

// Casting is a casting policy, as NumPy's casting= argument.
type Casting uint8

// The policies. The zero value is SameKind, NumPy's default for
// np.can_cast-style checks and bigconv's default.
const (
	SameKind Casting = iota // safe, or within a kind / to a higher kind
	No                      // identical types only
	Equiv                   // byte order may change
	Safe                    // every value is preserved
	Unsafe                  // anything, values may be lost
)

// Castings lists the policies from strictest to loosest.
var Castings = []Casting{No, Equiv, Safe, SameKind, Unsafe}

var castingNames = [...]string{SameKind: "same_kind", No: "no", Equiv: "equiv", Safe: "safe", Unsafe: "unsafe"}

func (c Casting) String() string {
	if int(c) < len(castingNames) {
		return castingNames[c]
	}
	return fmt.Sprintf("Casting(%d)", uint8(c))
}

// ParseCasting reads "no", "equiv", "safe", "same_kind" or "unsafe".
func ParseCasting(s string) (Casting, error) {
	for i, n := range castingNames {
		if strings.EqualFold(strings.ReplaceAll(s, "-", "_"), n) {
			return Casting(i), nil
		}
	}
	return 0, fmt.Errorf("dtype: unknown casting %q (want no, equiv, safe, same_kind or unsafe)", s)
}

// safeTo lists, for each type, the types it converts to without loss, as
// np.can_cast(from, to, "safe") says (numpy 1.24). For the ml_dtypes
// source types it follows ml_dtypes: each widens exactly to float32.
var safeTo = map[Type][]Type{
	Int8:         {Int8, Int16, Int32, Int64, Float16, Float32, Float64, Complex64, Complex128},
	Int16:        {Int16, Int32, Int64, Float32, Float64, Complex64, Complex128},
	Int32:        {Int32, Int64, Float64, Complex128},
	Int64:        {Int64, Float64, Complex128},
	Uint8:        {Int16, Int32, Int64, Uint8, Uint16, Uint32, Uint64, Float16, Float32, Float64, Complex64, Complex128},
	Uint16:       {Int32, Int64, Uint16, Uint32, Uint64, Float32, Float64, Complex64, Complex128},
	Uint32:       {Int64, Uint32, Uint64, Float64, Complex128},
	Uint64:       {Uint64, Float64, Complex128},
	Float16:      {Float16, Float32, Float64, Complex64, Complex128},
	Float32:      {Float32, Float64, Complex64, Complex128},
	Float64:      {Float64, Complex128},
	Complex64:    {Complex64, Complex128},
	Complex128:   {Complex128},
	BFloat16:     {BFloat16, Float32, Float64, Complex64, Complex128},
	Float8E4M3FN: {Float8E4M3FN, Float16, BFloat16, Float32, Float64, Complex64, Complex128},
	Float8E5M2:   {Float8E5M2, Float16, BFloat16, Float32, Float64, Complex64, Complex128},
	// The FNUZ kinds: no -0 and no inf, so every value is exact in float16
	// (e4m3fnuz: 2^-10 … 240; e5m2fnuz: 2^-17 … 57344, subnormal in
	// float16 where float16 is) and bfloat16.
	Float8E4M3FNUZ: {Float8E4M3FNUZ, Float16, BFloat16, Float32, Float64, Complex64, Complex128},
	Float8E5M2FNUZ: {Float8E5M2FNUZ, Float16, BFloat16, Float32, Float64, Complex64, Complex128},
}

// IsSafe reports whether every value of from is exactly representable in to.
func IsSafe(from, to Type) bool {
	if from == Bytes || to == Bytes {
		return from == to
	}
	if from == Bool {
		return to.Valid()
	}
	for _, t := range safeTo[from] {
		if t == to {
			return true
		}
	}
	return false
}

// CanCast reports whether policy c allows casting from → to, with the same
// answers as np.can_cast for NumPy's types.
func CanCast(from, to DType, c Casting) bool {
	if !from.Type.Valid() || !to.Type.Valid() {
		return false
	}
	if from.Type == Bytes || to.Type == Bytes {
		// byte strings are copied, never cast
		return from.Type == to.Type && from.Width <= to.Width
	}
	switch c {
	case No:
		return from.Equal(to)
	case Equiv:
		return from.Type == to.Type
	case Safe:
		return IsSafe(from.Type, to.Type)
	case SameKind:
		return IsSafe(from.Type, to.Type) || from.Type.Kind() <= to.Type.Kind()
	case Unsafe:
		return true
	}
	return false
}

// MinCasting is the strictest policy that allows from → to.
func MinCasting(from, to DType) Casting {
	for _, c := range Castings {
		if CanCast(from, to, c) {
			return c
		}
	}
	return Unsafe
}

// CheckCast returns nil if policy c allows from → to, or an ErrCast error
// naming the pair and the policy that would allow it.
func CheckCast(from, to DType, c Casting) error {
	if CanCast(from, to, c) {
		return nil
	}
	need := MinCasting(from, to)
	return fmt.Errorf("%w: %s → %s is not %s; it needs --casting %s (values may change)",
		ErrCast, from, to, c, need)
}
