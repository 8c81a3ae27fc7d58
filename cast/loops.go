package cast

import (
	"math"
	"unsafe"
)

// The element loops. Each works on native (little-endian) values, takes
// typed slices, allocates nothing and calls no function values, so that a
// caller may hand it a buffer on its own stack. A nil *Stats means "do not
// count" (the cast is safe, or the caller does not care); loops then skip
// the counting work where they can.

type integer interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

type number interface {
	integer | ~float32 | ~float64
}

// view reinterprets b as a slice of T. b must be aligned for T (all our
// buffers are item-aligned; amd64 and arm64 tolerate less anyway).
func view[T any](b []byte) []T {
	var z T
	n := len(b) / int(unsafe.Sizeof(z))
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

func isFloat[S number]() bool {
	one := S(1)
	return one/2 != 0
}

// convSlice is Go's conversion, which is NumPy's wherever it is lossless
// or rounds (int → float32/64, float32 → float64, int widening).
func convSlice[S, T number](d []T, s []S) {
	d = d[:len(s)]
	for i, v := range s {
		d[i] = T(v)
	}
}

// intToInt wraps, counting values that changed.
func intToInt[S number, T integer](d []T, s []S, st *Stats) {
	if st == nil {
		convSlice(d, s)
		return
	}
	d = d[:len(s)]
	var oor int64
	for i, v := range s {
		t := T(v)
		d[i] = t
		if S(t) != v || (v < 0) != (t < 0) {
			oor++
		}
	}
	st.OutOfRange += oor
}

// intRange gives the float64 interval [lo, hi) of values whose truncation
// fits in T, and T's extremes.
func intRange[T integer]() (lo, hi float64, minT, maxT T) {
	var z T
	bits := int(unsafe.Sizeof(z)) * 8
	if ^z < 0 { // signed
		hi = math.Ldexp(1, bits-1)
		lo = -hi - 1 // v > -2^(n-1) - 1 truncates into range
		if lo == -hi {
			lo = -hi // int64: -2^63-1 is not a float64; v >= -2^63
		} else {
			lo = math.Nextafter(lo, 0)
		}
		minT = T(1) << (bits - 1)
		maxT = ^minT
		return
	}
	return math.Nextafter(-1, 0), math.Ldexp(1, bits), 0, ^z
}

// floatToInt truncates in-range values and applies the package rule to
// the rest: NaN → 0, below range → min, above range → max.
func floatToInt[S number, T integer](d []T, s []S, st *Stats) {
	lo, hi, minT, maxT := intRange[T]()
	d = d[:len(s)]
	var c Stats
	for i, v := range s {
		f := float64(v)
		if f >= lo && f < hi {
			d[i] = T(v)
			continue
		}
		switch {
		case f != f:
			d[i] = 0
			c.NaN++
			continue
		case f < 0:
			d[i] = minT
		default:
			d[i] = maxT
		}
		if math.IsInf(f, 0) {
			c.Inf++
		} else {
			c.OutOfRange++
		}
	}
	if st != nil {
		st.Add(c)
	}
}

// countSpecial classifies a float input whose result overflowed or was
// special: NaN, ±inf, or a finite value out of range.
func countSpecial(c *Stats, f float64) {
	switch {
	case f != f:
		c.NaN++
	case math.IsInf(f, 0):
		c.Inf++
	default:
		c.OutOfRange++
	}
}

// f64ToF32 narrows, counting NaN, inf and finite values that overflow.
// The first pass only notes (without branching) whether any result has
// an all-ones exponent; only then does a second pass classify.
func f64ToF32(d []float32, s []float64, st *Stats) {
	if st == nil {
		convSlice(d, s)
		return
	}
	d = d[:len(s)]
	clean := uint32(0x7f800000) // becomes 0 when a result is inf or NaN
	for i, v := range s {
		r := float32(v)
		d[i] = r
		clean = min(clean, ^math.Float32bits(r)&0x7f800000)
	}
	if clean != 0 {
		return
	}
	var c Stats
	for i, v := range s {
		if r := d[i]; r-r != 0 {
			countSpecial(&c, v)
		}
	}
	st.Add(c)
}

// toHalf rounds to float16 bits: float64 directly, everything else
// through float32 as NumPy does.
func toHalf[S number](d []uint16, s []S, st *Stats) {
	d = d[:len(s)]
	var c Stats
	if f64, ok := any(s).([]float64); ok {
		for i, v := range f64 {
			h := f64ToHalf(math.Float64bits(v))
			d[i] = h
			if h&0x7c00 == 0x7c00 {
				countSpecial(&c, v)
			}
		}
	} else {
		for i, v := range s {
			var h uint16
			if f := math.Float32bits(float32(v)); f&0x7fffffff-0x38800000 < 0x0f000000 {
				h = f32ToHalfNormal(f)
			} else {
				h = f32ToHalfRare(f)
			}
			d[i] = h
			if h&0x7c00 == 0x7c00 {
				countSpecial(&c, float64(v))
			}
		}
	}
	if st != nil {
		st.Add(c)
	}
}

// toBool is v != 0 (NaN is true).
func toBool[S number](d []uint8, s []S, st *Stats) {
	d = d[:len(s)]
	for i, v := range s {
		var b uint8
		if v != 0 {
			b = 1
		}
		d[i] = b
	}
	if st != nil && isFloat[S]() {
		var c Stats
		for _, v := range s {
			if f := float64(v); f-f != 0 {
				countSpecial(&c, f)
			}
		}
		st.Add(c)
	}
}

// fromBool is 1 for any non-zero byte.
func fromBool[T number](d []T, s []uint8) {
	d = d[:len(s)]
	for i, v := range s {
		d[i] = T(min(v, 1)) // branch-free: random bools defeat prediction
	}
}

func fromBoolHalf(d []uint16, s []uint8) {
	d = d[:len(s)]
	for i, v := range s {
		d[i] = uint16(min(v, 1)) * 0x3c00
	}
}

// realParts gathers the real parts of n complex values (2n parts in s),
// counting non-zero imaginary parts.
func realParts[M float32 | float64](d []M, s []M, st *Stats) {
	s = s[:2*len(d)]
	var im int64
	for i := range d {
		d[i] = s[2*i]
		if s[2*i+1] != 0 {
			im++
		}
	}
	if st != nil {
		st.Imaginary += im
	}
}

// complexToBool is true when either part is non-zero.
func complexToBool[M float32 | float64](d []uint8, s []M, st *Stats) {
	s = s[:2*len(d)]
	var c Stats
	for i := range d {
		re, im := s[2*i], s[2*i+1]
		var b uint8
		if re != 0 || im != 0 {
			b = 1
		}
		d[i] = b
		if st != nil {
			if f := float64(re-re) + float64(im-im); f != 0 { // NaN: a part is inf or NaN
				countComplex(&c, float64(re), float64(im))
			}
		}
	}
	if st != nil {
		st.Add(c)
	}
}

// countComplex counts one complex value with a special part: NaN if
// either part is NaN, else inf if either is infinite, else out of range.
func countComplex(c *Stats, re, im float64) {
	switch {
	case re != re || im != im:
		c.NaN++
	case math.IsInf(re, 0) || math.IsInf(im, 0):
		c.Inf++
	default:
		c.OutOfRange++
	}
}

// c128ToC64 narrows both parts, counting per complex value.
func c128ToC64(d []float32, s []float64, st *Stats) {
	if st == nil {
		convSlice(d, s)
		return
	}
	s = s[:len(d)]
	var c Stats
	for i := 0; i+1 < len(d); i += 2 {
		re, im := float32(s[i]), float32(s[i+1])
		d[i], d[i+1] = re, im
		if (re-re)+(im-im) != 0 { // NaN: a part is inf or NaN
			countComplex(&c, s[i], s[i+1])
		}
	}
	st.Add(c)
}

// spread turns n reals at the start of d into n complex values (2n parts)
// with zero imaginary parts, working backwards in place.
func spread[M float32 | float64](d []M, n int) {
	d = d[:2*n]
	for i := n - 1; i >= 0; i-- {
		d[2*i] = d[i]
		d[2*i+1] = 0
	}
}
