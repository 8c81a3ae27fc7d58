package cast

import (
	"math"
	"math/bits"
	"unsafe"
)

// The element loops. Each works on native (little-endian) values, takes
// typed slices, allocates nothing and calls no function values, so that a
// caller may hand it a buffer on its own stack. A nil *Stats means "do not
// count" (the cast is safe, or the caller does not care); loops then skip
// the counting work where they can.
//
// They are written for a scalar CPU that runs a few instructions per
// cycle: four elements a step (s[i:i+4:i+4], so that the compiler drops
// the bounds checks), conditions turned into SETcc/CMOV (b2i, one-line
// ifs on 64-bit values) instead of branches that mixed data would
// mispredict, and the rare cases (NaN, ±inf, out of range) found by a
// cheap test over a chunk before any element is looked at twice.
// Unrolling also makes a loop's speed less a matter of where the linker
// happens to place it: the same one-element-a-step loop measured 1.7 to 2
// times faster or slower from one build to another; four a step did not
// move.

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

// bytesOf is the inverse of view.
func bytesOf[T any](s []T) []byte {
	var z T
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(z)))
}

func sizeOf[T any]() int {
	var z T
	return int(unsafe.Sizeof(z))
}

func isSigned[T number]() bool {
	var z T
	z--
	return z < 0
}

// b2i is 1 for true and 0 for false; the compiler makes it a SETcc.
func b2i(b bool) int {
	var i int
	if b {
		i = 1
	}
	return i
}

// convSlice is Go's conversion, which is NumPy's wherever it is lossless
// or rounds (int → float32/64, float32 → float64, int widening), or wraps
// (int narrowing).
func convSlice[S, T number](d []T, s []S) {
	d = d[:len(s)]
	i := 0
	for ; i <= len(s)-4; i += 4 {
		s4, d4 := s[i:i+4:i+4], d[i:i+4:i+4]
		d4[0], d4[1], d4[2], d4[3] = T(s4[0]), T(s4[1]), T(s4[2]), T(s4[3])
	}
	for ; i < len(s); i++ {
		d[i] = T(s[i])
	}
}

// intToInt wraps, counting values that changed.
func intToInt[S number, T integer](d []T, s []S, st *Stats) {
	d = d[:len(s)]
	if st == nil {
		convSlice(d, s)
		return
	}
	if sizeOf[S]() == sizeOf[T]() {
		if sizeOf[S]() <= 2 {
			// Same bits, only a sign change: a copy, and a value
			// changed when its top bit is set (negative or too big).
			// Several values a word.
			copy(bytesOf(d), bytesOf(s))
			st.OutOfRange += int64(countTopBits(bytesOf(s), sizeOf[S]()))
			return
		}
		top := uint(8*sizeOf[S]()-1) & 63
		n := 0
		i := 0
		for ; i <= len(s)-4; i += 4 {
			s4, d4 := s[i:i+4:i+4], d[i:i+4:i+4]
			d4[0], d4[1], d4[2], d4[3] = T(s4[0]), T(s4[1]), T(s4[2]), T(s4[3])
			n += int(uint64(s4[0])>>top&1 + uint64(s4[1])>>top&1 + uint64(s4[2])>>top&1 + uint64(s4[3])>>top&1)
		}
		for ; i < len(s); i++ {
			d[i] = T(s[i])
			n += int(uint64(s[i]) >> top & 1)
		}
		st.OutOfRange += int64(n)
		return
	}
	if sizeOf[S]() < sizeOf[T]() {
		// Widening is lossy only from signed to unsigned, for negative
		// values: count the sign bits (uint64 sign-extends).
		if !isSigned[S]() || isSigned[T]() {
			convSlice(d, s)
			return
		}
		n := 0
		i := 0
		for ; i <= len(s)-4; i += 4 {
			s4, d4 := s[i:i+4:i+4], d[i:i+4:i+4]
			d4[0], d4[1], d4[2], d4[3] = T(s4[0]), T(s4[1]), T(s4[2]), T(s4[3])
			n += int(uint64(s4[0])>>63 + uint64(s4[1])>>63 + uint64(s4[2])>>63 + uint64(s4[3])>>63)
		}
		for ; i < len(s); i++ {
			d[i] = T(s[i])
			n += int(uint64(s[i]) >> 63)
		}
		st.OutOfRange += int64(n)
		return
	}
	// Narrowing: a value changed if it does not widen back to itself
	// (uint64 sign-extends signed types) or its sign changed (a uint64
	// and its signed result may have the same 64 bits: 2^64-1 → -1):
	// without a branch.
	n := 0
	i := 0
	for ; i <= len(s)-4; i += 4 {
		s4, d4 := s[i:i+4:i+4], d[i:i+4:i+4]
		t0, t1, t2, t3 := T(s4[0]), T(s4[1]), T(s4[2]), T(s4[3])
		d4[0], d4[1], d4[2], d4[3] = t0, t1, t2, t3
		n += narrowed(t0, s4[0]) + narrowed(t1, s4[1]) + narrowed(t2, s4[2]) + narrowed(t3, s4[3])
	}
	for ; i < len(s); i++ {
		t := T(s[i])
		d[i] = t
		n += narrowed(t, s[i])
	}
	st.OutOfRange += int64(n)
}

// narrowed is 1 if t, the narrowing conversion of s, is not the same
// number as s, else 0.
func narrowed[S number, T integer](t T, s S) int {
	return b2i(uint64(t) != uint64(s)) | b2i((t < 0) != (s < 0))
}

// countTopBits counts the elements of b (size bytes each, little-endian)
// whose top bit is set.
func countTopBits(b []byte, size int) int {
	var mask uint64
	for i := size - 1; i < 8; i += size {
		mask |= 0x80 << (8 * i)
	}
	w := view[uint64](b)
	n := 0
	i := 0
	for ; i <= len(w)-4; i += 4 {
		w4 := w[i : i+4 : i+4]
		n += bits.OnesCount64(w4[0]&mask) + bits.OnesCount64(w4[1]&mask) + bits.OnesCount64(w4[2]&mask) + bits.OnesCount64(w4[3]&mask)
	}
	for ; i < len(w); i++ {
		n += bits.OnesCount64(w[i] & mask)
	}
	for i := len(w)*8 + size - 1; i < len(b); i += size {
		n += int(b[i] >> 7)
	}
	return n
}

// floatFit describes, for one integer target, which float values are in
// range: the value with bits b and magnitude bits a = b with the sign
// cleared truncates into the target when a < pos (b non-negative) or
// a < neg (b negative). U is uint32 for float32 sources, uint64 for
// float64.
type floatFit[U uint32 | uint64, T integer] struct {
	pos, neg   U
	minT, maxT T
}

func makeFit[U uint32 | uint64, T integer]() floatFit[U, T] {
	tb := 8 * sizeOf[T]()
	prec := 24 // significand bits of U's float type
	bitsOf := func(x float64) U { return U(math.Float32bits(float32(x))) }
	if sizeOf[U]() == 8 {
		prec = 53
		bitsOf = func(x float64) U { return U(math.Float64bits(x)) }
	}
	var f floatFit[U, T]
	if !isSigned[T]() { // in range: -1 < v < 2^tb
		f.maxT = ^T(0)
		f.pos, f.neg = bitsOf(math.Ldexp(1, tb)), bitsOf(1)
		return f
	}
	// in range: -2^(tb-1) - 1 < v < 2^(tb-1). When 2^(tb-1) + 1 is not a
	// float, the next float above 2^(tb-1) (bits + 1) bounds it.
	f.minT = T(1) << (tb - 1)
	f.maxT = ^f.minT
	f.pos = bitsOf(math.Ldexp(1, tb-1))
	f.neg = f.pos + 1
	if tb-1 < prec {
		f.neg = bitsOf(math.Ldexp(1, tb-1) + 1)
	}
	return f
}

// f32ToInt truncates float32 values in range and applies the package rule
// to the rest: NaN → 0, below range → min, above range → max. It works in
// chunks: a first pass converts and notes, without branching, whether any
// value may be out of range or special; only then is the chunk redone by
// f32ToIntSlow, which is exact and counts.
func f32ToInt[T integer](d []T, s []float32, st *Stats) {
	f := makeFit[uint32, T]()
	// The quick test flags a >= pos (any sign) and negative a >= neg,
	// in bit 31 of (a + k1) | (a + k2) & b. For signed targets neg >
	// pos, so the second term is dropped (k2 = 0).
	k1, k2 := 1<<31-f.pos, uint32(0)
	if !isSigned[T]() {
		k2 = 1<<31 - f.neg
	}
	d = d[:len(s)]
	var c Stats
	fast := true
	for len(s) > 0 {
		n := min(len(s), 256)
		k := 0
		if fast {
			k = f32ToIntFast(d[:n], s[:n], k1, k2)
		}
		if k < n {
			out, special := f32ToIntSlow(d[k:n], s[k:n], &f)
			if special {
				nan, inf := nanInf32(d[k:n], s[k:n])
				c.NaN += int64(nan)
				c.Inf += int64(inf)
				out -= nan + inf
			}
			c.OutOfRange += int64(out)
			// Data that was out of range tends to stay so: skip the
			// quick pass until a chunk is clean again.
			fast = out == 0 && !special
		}
		d, s = d[n:], s[n:]
	}
	if st != nil {
		st.Add(c)
	}
}

// f32ToIntFast converts s, 32 values at a time, while a test over the
// 32 finds all in range and not NaN; it returns how many it converted.
func f32ToIntFast[T integer](d []T, s []float32, k1, k2 uint32) int {
	n := len(s) &^ 31
	d = d[:len(s)]
	for j := 0; j < n; j += 32 {
		var acc uint32
		if k2 == 0 {
			acc = f32Block((*[32]T)(d[j:j+32]), (*[32]float32)(s[j:j+32]), k1)
		} else {
			acc = f32BlockU((*[32]T)(d[j:j+32]), (*[32]float32)(s[j:j+32]), k1, k2)
		}
		if acc>>31 != 0 {
			return j
		}
	}
	return n
}

// f32Block converts 32 values and returns the test's bits. It is a
// function of its own so that the compiler has registers to spare, and
// the test for negative values is in f32BlockU, for unsigned targets.
func f32Block[T integer](d *[32]T, s *[32]float32, k1 uint32) (acc uint32) {
	for i := 0; i < 32; i += 4 {
		a0, a1 := math.Float32bits(s[i])&0x7fffffff, math.Float32bits(s[i+1])&0x7fffffff
		a2, a3 := math.Float32bits(s[i+2])&0x7fffffff, math.Float32bits(s[i+3])&0x7fffffff
		acc |= (a0 + k1) | (a1 + k1) | (a2 + k1) | (a3 + k1)
		d[i], d[i+1], d[i+2], d[i+3] = T(s[i]), T(s[i+1]), T(s[i+2]), T(s[i+3])
	}
	return acc
}

func f32BlockU[T integer](d *[32]T, s *[32]float32, k1, k2 uint32) (acc uint32) {
	for i := 0; i < 32; i += 4 {
		b0, b1, b2, b3 := math.Float32bits(s[i]), math.Float32bits(s[i+1]), math.Float32bits(s[i+2]), math.Float32bits(s[i+3])
		a0, a1, a2, a3 := b0&0x7fffffff, b1&0x7fffffff, b2&0x7fffffff, b3&0x7fffffff
		acc |= (a0 + k1) | (a1 + k1) | (a2 + k1) | (a3 + k1) | (a0+k2)&b0 | (a1+k2)&b1 | (a2+k2)&b2 | (a3+k2)&b3
		d[i], d[i+1], d[i+2], d[i+3] = T(s[i]), T(s[i+1]), T(s[i+2]), T(s[i+3])
	}
	return acc
}

// f32ToIntSlow converts exactly, without branching on the data, except
// that NaN is saturated like any value out of range (nanInf32 then sets
// it to 0). It returns how many values were not in range (NaN and ±inf
// included) and whether any was NaN or ±inf.
func f32ToIntSlow[T integer](d []T, s []float32, f *floatFit[uint32, T]) (out int, special bool) {
	d = d[:len(s)]
	// Thresholds and saturated values by sign bit; the selection is made
	// on 64-bit values, which the compiler turns into a CMOV (it
	// branches for narrower types).
	thrs := [2]uint32{f.pos, f.neg}
	sats := [2]uint64{uint64(f.maxT), uint64(f.minT)}
	var maxA uint32
	for i, v := range s {
		b := math.Float32bits(v)
		a, sg := b&0x7fffffff, b>>31
		thr, sat := thrs[sg], sats[sg]
		x := uint64(T(v))
		if a >= thr {
			x = sat
		}
		d[i] = T(x)
		out += b2i(a >= thr)
		maxA = max(maxA, a)
	}
	return out, maxA >= 0x7f800000
}

// nanInf32 counts the NaN and ±inf values in s, and sets the results
// of NaNs, which f32ToIntSlow saturated, to 0.
func nanInf32[T integer](d []T, s []float32) (nan, inf int) {
	d = d[:len(s)]
	for i, v := range s {
		a := math.Float32bits(v) & 0x7fffffff
		if a > 0x7f800000 {
			d[i] = 0
			nan++
		}
		inf += b2i(a == 0x7f800000)
	}
	return nan, inf
}

// f64ToInt is f32ToInt for float64 sources.
func f64ToInt[T integer](d []T, s []float64, st *Stats) {
	f := makeFit[uint64, T]()
	k1, k2 := 1<<63-f.pos, uint64(0)
	if !isSigned[T]() {
		k2 = 1<<63 - f.neg
	}
	d = d[:len(s)]
	var c Stats
	fast := true
	for len(s) > 0 {
		n := min(len(s), 256)
		k := 0
		if fast {
			k = f64ToIntFast(d[:n], s[:n], k1, k2)
		}
		if k < n {
			out, special := f64ToIntSlow(d[k:n], s[k:n], &f)
			if special {
				nan, inf := nanInf64(d[k:n], s[k:n])
				c.NaN += int64(nan)
				c.Inf += int64(inf)
				out -= nan + inf
			}
			c.OutOfRange += int64(out)
			fast = out == 0 && !special
		}
		d, s = d[n:], s[n:]
	}
	if st != nil {
		st.Add(c)
	}
}

// f64ToIntFast is f32ToIntFast for float64 values.
func f64ToIntFast[T integer](d []T, s []float64, k1, k2 uint64) int {
	n := len(s) &^ 31
	d = d[:len(s)]
	for j := 0; j < n; j += 32 {
		var acc uint64
		if k2 == 0 {
			acc = f64Block((*[32]T)(d[j:j+32]), (*[32]float64)(s[j:j+32]), k1)
		} else {
			acc = f64BlockU((*[32]T)(d[j:j+32]), (*[32]float64)(s[j:j+32]), k1, k2)
		}
		if acc>>63 != 0 {
			return j
		}
	}
	return n
}

// f64Block converts 32 values and returns the test's bits. It is a
// function of its own so that the compiler has registers to spare, and
// the test for negative values is in f64BlockU, for unsigned targets.
func f64Block[T integer](d *[32]T, s *[32]float64, k1 uint64) (acc uint64) {
	for i := 0; i < 32; i += 4 {
		a0, a1 := math.Float64bits(s[i])&^(1<<63), math.Float64bits(s[i+1])&^(1<<63)
		a2, a3 := math.Float64bits(s[i+2])&^(1<<63), math.Float64bits(s[i+3])&^(1<<63)
		acc |= (a0 + k1) | (a1 + k1) | (a2 + k1) | (a3 + k1)
		d[i], d[i+1], d[i+2], d[i+3] = T(s[i]), T(s[i+1]), T(s[i+2]), T(s[i+3])
	}
	return acc
}

func f64BlockU[T integer](d *[32]T, s *[32]float64, k1, k2 uint64) (acc uint64) {
	for i := 0; i < 32; i += 4 {
		b0, b1, b2, b3 := math.Float64bits(s[i]), math.Float64bits(s[i+1]), math.Float64bits(s[i+2]), math.Float64bits(s[i+3])
		a0, a1, a2, a3 := b0&^(1<<63), b1&^(1<<63), b2&^(1<<63), b3&^(1<<63)
		acc |= (a0 + k1) | (a1 + k1) | (a2 + k1) | (a3 + k1) | (a0+k2)&b0 | (a1+k2)&b1 | (a2+k2)&b2 | (a3+k2)&b3
		d[i], d[i+1], d[i+2], d[i+3] = T(s[i]), T(s[i+1]), T(s[i+2]), T(s[i+3])
	}
	return acc
}

func f64ToIntSlow[T integer](d []T, s []float64, f *floatFit[uint64, T]) (out int, special bool) {
	d = d[:len(s)]
	thrs := [2]uint64{f.pos, f.neg}
	sats := [2]uint64{uint64(f.maxT), uint64(f.minT)}
	var maxA uint64
	for i, v := range s {
		b := math.Float64bits(v)
		a, sg := b&^(1<<63), b>>63
		thr, sat := thrs[sg], sats[sg]
		x := uint64(T(v))
		if a >= thr {
			x = sat
		}
		d[i] = T(x)
		out += b2i(a >= thr)
		maxA = max(maxA, a)
	}
	return out, maxA >= 0x7ff0000000000000
}

// nanInf64 counts the NaN and ±inf values in s, and sets the results
// of NaNs, which f64ToIntSlow saturated, to 0.
func nanInf64[T integer](d []T, s []float64) (nan, inf int) {
	d = d[:len(s)]
	for i, v := range s {
		a := math.Float64bits(v) &^ (1 << 63)
		if a > 0x7ff0000000000000 {
			d[i] = 0
			nan++
		}
		inf += b2i(a == 0x7ff0000000000000)
	}
	return nan, inf
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
	var flag uint32 // bit 31 set when a result is inf or NaN
	i := 0
	for ; i <= len(s)-4; i += 4 {
		s4, d4 := s[i:i+4:i+4], d[i:i+4:i+4]
		r0, r1, r2, r3 := float32(s4[0]), float32(s4[1]), float32(s4[2]), float32(s4[3])
		d4[0], d4[1], d4[2], d4[3] = r0, r1, r2, r3
		flag |= (math.Float32bits(r0)&0x7fffffff + 0x00800000) | (math.Float32bits(r1)&0x7fffffff + 0x00800000) |
			(math.Float32bits(r2)&0x7fffffff + 0x00800000) | (math.Float32bits(r3)&0x7fffffff + 0x00800000)
	}
	for ; i < len(s); i++ {
		r := float32(s[i])
		d[i] = r
		flag |= math.Float32bits(r)&0x7fffffff + 0x00800000
	}
	if flag>>31 == 0 {
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

// toBool is v != 0 (NaN is true); float sources count NaN and ±inf.
func toBool[S number](d []uint8, s []S, st *Stats) {
	switch f := any(s).(type) {
	case []float32:
		f32ToBool(d, f, st)
		return
	case []float64:
		f64ToBool(d, f, st)
		return
	}
	d = d[:len(s)]
	i := 0
	for ; i <= len(s)-4; i += 4 {
		s4, d4 := s[i:i+4:i+4], d[i:i+4:i+4]
		d4[0], d4[1], d4[2], d4[3] = uint8(b2i(s4[0] != 0)), uint8(b2i(s4[1] != 0)), uint8(b2i(s4[2] != 0)), uint8(b2i(s4[3] != 0))
	}
	for ; i < len(s); i++ {
		d[i] = uint8(b2i(s[i] != 0))
	}
}

// f32ToBool tests the magnitude bits (-0 is false, NaN true) and notes
// whether any is inf or NaN before counting.
func f32ToBool(d []uint8, s []float32, st *Stats) {
	d = d[:len(s)]
	var maxA uint32
	i := 0
	for ; i <= len(s)-4; i += 4 {
		s4, d4 := s[i:i+4:i+4], d[i:i+4:i+4]
		a0, a1 := math.Float32bits(s4[0])&0x7fffffff, math.Float32bits(s4[1])&0x7fffffff
		a2, a3 := math.Float32bits(s4[2])&0x7fffffff, math.Float32bits(s4[3])&0x7fffffff
		d4[0], d4[1], d4[2], d4[3] = uint8(b2i(a0 != 0)), uint8(b2i(a1 != 0)), uint8(b2i(a2 != 0)), uint8(b2i(a3 != 0))
		maxA = max(maxA, a0, a1, a2, a3)
	}
	for ; i < len(s); i++ {
		a := math.Float32bits(s[i]) & 0x7fffffff
		d[i] = uint8(b2i(a != 0))
		maxA = max(maxA, a)
	}
	if st != nil && maxA >= 0x7f800000 {
		var c Stats
		for _, v := range s {
			if f := float64(v); f-f != 0 {
				countSpecial(&c, f)
			}
		}
		st.Add(c)
	}
}

func f64ToBool(d []uint8, s []float64, st *Stats) {
	d = d[:len(s)]
	var maxA uint64
	i := 0
	for ; i <= len(s)-4; i += 4 {
		s4, d4 := s[i:i+4:i+4], d[i:i+4:i+4]
		a0, a1 := math.Float64bits(s4[0])&^(1<<63), math.Float64bits(s4[1])&^(1<<63)
		a2, a3 := math.Float64bits(s4[2])&^(1<<63), math.Float64bits(s4[3])&^(1<<63)
		d4[0], d4[1], d4[2], d4[3] = uint8(b2i(a0 != 0)), uint8(b2i(a1 != 0)), uint8(b2i(a2 != 0)), uint8(b2i(a3 != 0))
		maxA = max(maxA, a0, a1, a2, a3)
	}
	for ; i < len(s); i++ {
		a := math.Float64bits(s[i]) &^ (1 << 63)
		d[i] = uint8(b2i(a != 0))
		maxA = max(maxA, a)
	}
	if st != nil && maxA >= 0x7ff0000000000000 {
		var c Stats
		for _, v := range s {
			if v-v != 0 {
				countSpecial(&c, v)
			}
		}
		st.Add(c)
	}
}

// bytesToBool is toBool for 1-byte sources, eight at a time.
func bytesToBool(d, s []uint8) {
	d = d[:len(s)]
	i := 0
	for ; i <= len(s)-8; i += 8 {
		v := le64(s[i : i+8 : i+8])
		put64(d[i:i+8:i+8], nonZeroBytes(v))
	}
	for ; i < len(s); i++ {
		d[i] = min(s[i], 1)
	}
}

// nonZeroBytes sets each byte of v to 1 if it is non-zero, else 0.
func nonZeroBytes(v uint64) uint64 {
	const lo7, ones = 0x7f7f7f7f7f7f7f7f, 0x0101010101010101
	return ((v&lo7 + lo7) | v) >> 7 & ones
}

func le64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

func put64(b []byte, v uint64) {
	_ = b[7]
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	b[4], b[5], b[6], b[7] = byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56)
}

// fromBool is 1 for any non-zero byte: eight bytes are made 0 or 1 at
// once (nonZeroBytes, without branches, which random bools would
// mispredict), then spread out.
func fromBool[T number](d []T, s []uint8) {
	d = d[:len(s)]
	i := 0
	for ; i <= len(s)-8; i += 8 {
		w := nonZeroBytes(le64(s[i : i+8 : i+8]))
		d8 := d[i : i+8 : i+8]
		d8[0], d8[1], d8[2], d8[3] = T(w&1), T(w>>8&1), T(w>>16&1), T(w>>24&1)
		d8[4], d8[5], d8[6], d8[7] = T(w>>32&1), T(w>>40&1), T(w>>48&1), T(w>>56)
	}
	for ; i < len(s); i++ {
		d[i] = T(b2i(s[i] != 0))
	}
}

func fromBoolHalf(d []uint16, s []uint8) {
	d = d[:len(s)]
	i := 0
	for ; i <= len(s)-8; i += 8 {
		w := nonZeroBytes(le64(s[i:i+8:i+8])) * 0x3c // 0x3c in each byte that was non-zero
		d8 := d[i : i+8 : i+8]
		d8[0], d8[1], d8[2], d8[3] = uint16(w)<<8, uint16(w>>8&0xff)<<8, uint16(w>>16&0xff)<<8, uint16(w>>24&0xff)<<8
		d8[4], d8[5], d8[6], d8[7] = uint16(w>>32&0xff)<<8, uint16(w>>40&0xff)<<8, uint16(w>>48&0xff)<<8, uint16(w>>56)<<8
	}
	for ; i < len(s); i++ {
		d[i] = uint16(b2i(s[i] != 0)) * 0x3c00
	}
}

// realParts gathers the real parts of n complex values (2n parts in s),
// counting non-zero imaginary parts.
func realParts[M float32 | float64](d []M, s []M, st *Stats) {
	s = s[:2*len(d)]
	var im int
	i := 0
	for ; i <= len(d)-4; i += 4 {
		p, q := s[2*i:2*i+8:2*i+8], d[i:i+4:i+4]
		q[0], q[1], q[2], q[3] = p[0], p[2], p[4], p[6]
		im += b2i(p[1] != 0) + b2i(p[3] != 0) + b2i(p[5] != 0) + b2i(p[7] != 0)
	}
	for ; i < len(d); i++ {
		d[i] = s[2*i]
		im += b2i(s[2*i+1] != 0)
	}
	if st != nil {
		st.Imaginary += int64(im)
	}
}

// complexToBool is true when either part is non-zero. It tests the parts'
// bits (-0 is zero, NaN is not) and notes, without branching, whether any
// part is inf or NaN before counting.
func complexToBool[M float32 | float64](d []uint8, s []M, st *Stats) {
	s = s[:2*len(d)]
	var special uint64
	if p32, ok := any(s).([]float32); ok {
		for i := range d {
			p := p32[2*i : 2*i+2 : 2*i+2]
			re, im := math.Float32bits(p[0])&0x7fffffff, math.Float32bits(p[1])&0x7fffffff
			d[i] = uint8(b2i(re|im != 0))
			special |= uint64(re+0x00800000) | uint64(im+0x00800000) // bit 31: inf or NaN
		}
		special >>= 31
	} else {
		p64 := any(s).([]float64)
		for i := range d {
			p := p64[2*i : 2*i+2 : 2*i+2]
			re, im := math.Float64bits(p[0])&^(1<<63), math.Float64bits(p[1])&^(1<<63)
			d[i] = uint8(b2i(re|im != 0))
			special |= (re + 1<<52) | (im + 1<<52) // bit 63: inf or NaN
		}
		special >>= 63
	}
	if st == nil || special == 0 {
		return
	}
	var c Stats
	for i := range d {
		if re, im := s[2*i], s[2*i+1]; (re-re)+(im-im) != 0 {
			countComplex(&c, float64(re), float64(im))
		}
	}
	st.Add(c)
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
	var flag uint32 // bit 31 set when a part is inf or NaN
	for i := 0; i+1 < len(d); i += 2 {
		p, q := s[i:i+2:i+2], d[i:i+2:i+2]
		re, im := float32(p[0]), float32(p[1])
		q[0], q[1] = re, im
		flag |= (math.Float32bits(re)&0x7fffffff + 0x00800000) | (math.Float32bits(im)&0x7fffffff + 0x00800000)
	}
	if flag>>31 == 0 {
		return
	}
	var c Stats
	for i := 0; i+1 < len(d); i += 2 {
		re, im := d[i], d[i+1]
		if (re-re)+(im-im) != 0 { // NaN: a part is inf or NaN
			countComplex(&c, s[i], s[i+1])
		}
	}
	st.Add(c)
}

// spread turns the n reals in the second half of d (2n parts) into n
// complex values with zero imaginary parts, in place, working forwards:
// part i of the second half is read before anything is written there.
func spread[M float32 | float64](d []M) {
	n := len(d) / 2
	r := d[n : 2*n : 2*n]
	d = d[:2*len(r)]
	i := 0
	for ; i <= n-4; i += 4 {
		r4 := r[i : i+4 : i+4]
		v0, v1, v2, v3 := r4[0], r4[1], r4[2], r4[3] // all read before d[2i:2i+8] is written
		p := d[2*i : 2*i+8 : 2*i+8]
		p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7] = v0, 0, v1, 0, v2, 0, v3, 0
	}
	for ; i < n; i++ {
		v := r[i]
		d[2*i], d[2*i+1] = v, 0
	}
}
