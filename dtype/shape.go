package dtype

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Shape is a tensor's dimensions, outermost first. A nil or empty Shape is
// a scalar with one element.
type Shape []int64

// ParseShape reads a comma-separated shape such as "3000000,1024" or
// "(2, 3)"; "" and "()" are a scalar.
func ParseShape(s string) (Shape, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "("), ")")
	s = strings.TrimSpace(s)
	if s == "" {
		return Shape{}, nil
	}
	parts := strings.Split(s, ",")
	if strings.TrimSpace(parts[len(parts)-1]) == "" { // trailing comma
		parts = parts[:len(parts)-1]
	}
	sh := make(Shape, 0, len(parts))
	for _, p := range parts {
		n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%w: %q: dimension %q is not a non-negative integer", ErrShape, s, strings.TrimSpace(p))
		}
		sh = append(sh, n)
	}
	if _, err := sh.NumElements(); err != nil {
		return nil, err
	}
	return sh, nil
}

// NumElements is the product of the dimensions, or an ErrShape error if a
// dimension is negative or the product overflows int64.
func (s Shape) NumElements() (int64, error) {
	n := uint64(1)
	for _, d := range s {
		if d < 0 {
			return 0, fmt.Errorf("%w: negative dimension %d in %v", ErrShape, d, s)
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, fmt.Errorf("%w: %v has more than 2^63-1 elements", ErrShape, s)
		}
		n = lo
	}
	return int64(n), nil
}

// NumBytes is NumElements times itemSize, checked for overflow.
func (s Shape) NumBytes(itemSize int) (int64, error) {
	n, err := s.NumElements()
	if err != nil {
		return 0, err
	}
	return MulCheck(n, int64(itemSize))
}

// MulCheck multiplies two non-negative int64 values, or returns an ErrShape
// error on overflow.
func MulCheck(a, b int64) (int64, error) {
	if a < 0 || b < 0 {
		return 0, fmt.Errorf("%w: negative size %d×%d", ErrShape, a, b)
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi != 0 || lo > math.MaxInt64 {
		return 0, fmt.Errorf("%w: size %d×%d overflows int64", ErrShape, a, b)
	}
	return int64(lo), nil
}

// RowElements is the number of elements in one step of the first axis
// (1 for a scalar or a 1-D shape).
func (s Shape) RowElements() int64 {
	n := int64(1)
	for i := 1; i < len(s); i++ {
		n *= s[i]
	}
	return n
}

// Rows is the length of the first axis (1 for a scalar).
func (s Shape) Rows() int64 {
	if len(s) == 0 {
		return 1
	}
	return s[0]
}

// Equal reports whether both shapes have the same dimensions.
func (s Shape) Equal(t Shape) bool {
	if len(s) != len(t) {
		return false
	}
	for i := range s {
		if s[i] != t[i] {
			return false
		}
	}
	return true
}

// Clone returns a copy of s that does not share its backing array.
func (s Shape) Clone() Shape { return append(Shape{}, s...) }

// String prints the shape as a Python tuple, as NumPy does: "()", "(5,)",
// "(2, 3)".
func (s Shape) String() string {
	var b strings.Builder
	b.WriteByte('(')
	for i, d := range s {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.FormatInt(d, 10))
	}
	if len(s) == 1 {
		b.WriteByte(',')
	}
	b.WriteByte(')')
	return b.String()
}
