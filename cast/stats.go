package cast

import (
	"strconv"
	"strings"
)

// Stats counts what a lossy cast met. Kernels count only for casts that
// are not safe (dtype.IsSafe false); a safe cast leaves Stats untouched.
// A Stats is a plain value: give each goroutine its own and Add them.
type Stats struct {
	NaN int64 // NaN inputs met (float and complex sources)
	Inf int64 // ±inf inputs met
	// OutOfRange counts finite values the target cannot hold: float → int
	// beyond the target's range, int → narrower int that wraps, a finite
	// float that overflows to ±inf (float64 → float32/float16, float32 →
	// float16, int → float16).
	OutOfRange int64
	// Imaginary counts complex → real values whose imaginary part was
	// non-zero (including NaN) and was dropped.
	Imaginary int64
}

// Add adds o's counts to s.
func (s *Stats) Add(o Stats) {
	s.NaN += o.NaN
	s.Inf += o.Inf
	s.OutOfRange += o.OutOfRange
	s.Imaginary += o.Imaginary
}

// Lost reports whether any count is non-zero.
func (s Stats) Lost() bool {
	return s.NaN != 0 || s.Inf != 0 || s.OutOfRange != 0 || s.Imaginary != 0
}

// String lists the non-zero counts, e.g. "3 NaN, 1 inf, 12 out of range",
// or "nothing lost".
func (s Stats) String() string {
	var parts []string
	add := func(n int64, what string) {
		if n != 0 {
			parts = append(parts, strconv.FormatInt(n, 10)+" "+what)
		}
	}
	add(s.NaN, "NaN")
	add(s.Inf, "inf")
	add(s.OutOfRange, "out of range")
	add(s.Imaginary, "imaginary dropped")
	if len(parts) == 0 {
		return "nothing lost"
	}
	return strings.Join(parts, ", ")
}
