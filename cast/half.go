package cast

import (
	"math"
	"sync"
)

// Scalar conversions for the 16- and 8-bit float formats. They follow
// NumPy's npy_floatbits_to_halfbits, npy_doublebits_to_halfbits,
// npy_halfbits_to_floatbits and npy_halfbits_to_doublebits: round to
// nearest even, and a NaN keeps its sign and the top of its payload
// without being quieted (a payload that would shift out to zero becomes 1).

// f32ToHalf rounds the float32 with bits f to float16 bits. Hot loops
// inline the common case themselves (the inliner will not: it calls
// f32ToHalfRare) with f32ToHalfNormal.
func f32ToHalf(f uint32) uint16 {
	if f&0x7fffffff-0x38800000 < 0x0f000000 {
		return f32ToHalfNormal(f)
	}
	return f32ToHalfRare(f)
}

// f32ToHalfNormal is f32ToHalf for 2^-14 <= |x| < 65536 (f&0x7fffffff -
// 0x38800000 < 0x0f000000). It drops 13 mantissa bits rounding to nearest
// even; a carry runs into the exponent, up to 0x7c00 (inf) for
// 65520 <= |x| < 65536.
func f32ToHalfNormal(f uint32) uint16 {
	a := f & 0x7fffffff
	a += 0xfff + (a>>13)&1
	return uint16(f>>16)&0x8000 | uint16(a>>13-112<<10)
}

// f32ToHalfRare handles zero, subnormal results, inf, NaN and overflow.
//
//go:noinline
func f32ToHalfRare(f uint32) uint16 {
	sign := uint16(f>>16) & 0x8000
	a := f & 0x7fffffff
	if a >= 0x47800000 { // |x| >= 65536: inf, NaN or overflow
		if a > 0x7f800000 { // NaN
			h := uint16(0x7c00 | (a&0x007fffff)>>13)
			if h == 0x7c00 {
				h = 0x7c01
			}
			return sign | h
		}
		return sign | 0x7c00
	}
	// |x| < 2^-14: the result is subnormal or zero. Adding 0.5, whose ulp
	// is 2^-24 (the float16 subnormal step), makes the FPU round to
	// nearest even for us.
	v := math.Float32bits(math.Float32frombits(a) + 0.5)
	return sign | uint16(v-0x3f000000)
}

// f64ToHalf rounds the float64 with bits d to float16 bits directly (one
// rounding, as npy_doublebits_to_halfbits).
func f64ToHalf(d uint64) uint16 {
	sign := uint16(d>>48) & 0x8000
	a := d &^ (1 << 63)
	if a >= 0x40f0000000000000 { // |x| >= 65536
		if a > 0x7ff0000000000000 { // NaN
			h := uint16(0x7c00 | (a&0x000fffffffffffff)>>42)
			if h == 0x7c00 {
				h = 0x7c01
			}
			return sign | h
		}
		return sign | 0x7c00
	}
	if a < 0x3f10000000000000 { // |x| < 2^-14
		// 2^28 has a float64 ulp of 2^-24.
		v := math.Float64bits(math.Float64frombits(a) + 0x1p28)
		return sign | uint16(v-0x41b0000000000000)
	}
	a += 0x1ffffffffff + (a>>42)&1
	return sign | uint16(a>>42-1008<<10)
}

// halfToF32 widens float16 bits to float32 bits exactly. Hot loops
// inline the common case (a normal number) themselves.
func halfToF32(h uint16) uint32 {
	if e := h & 0x7c00; e != 0 && e != 0x7c00 {
		return halfToF32Normal(h)
	}
	return halfToF32Rare(h)
}

// halfToF32Normal is halfToF32 for normal numbers: rebias 15 → 127.
func halfToF32Normal(h uint16) uint32 {
	return uint32(h&0x8000)<<16 | (uint32(h&0x7fff)<<13 + 112<<23)
}

// halfToF32Rare handles zero, subnormals, inf and NaN.
//
//go:noinline
func halfToF32Rare(h uint16) uint32 {
	o := uint32(h&0x7fff)<<13 + 112<<23
	if h&0x7c00 == 0x7c00 { // inf or NaN: keep the payload
		o += 112 << 23
	} else { // zero or subnormal: renormalise with the FPU
		o = math.Float32bits(math.Float32frombits(o+1<<23) - 0x1p-14)
	}
	return o | uint32(h&0x8000)<<16
}

// halfToF64 widens float16 bits to float64 bits exactly, keeping a NaN's
// payload unquieted as npy_halfbits_to_doublebits does (going through
// float32 would quiet it).
func halfToF64(h uint16) uint64 {
	if h&0x7c00 == 0x7c00 {
		return uint64(h&0x8000)<<48 | 0x7ff0000000000000 | uint64(h&0x03ff)<<42
	}
	return math.Float64bits(float64(math.Float32frombits(halfToF32(h))))
}

// e4m3ToF32 decodes float8_e4m3fn (1 sign, 4 exponent bits with bias 7,
// 3 mantissa bits; no inf; S.1111.111 is NaN; subnormals) to float32 bits.
func e4m3ToF32(b uint8) uint32 {
	sign := uint32(b&0x80) << 24
	e, m := uint32(b>>3&0xf), uint32(b&7)
	switch {
	case e == 15 && m == 7:
		return sign | 0x7fc00000
	case e == 0: // m × 2^-9
		return sign | math.Float32bits(float32(m)*0x1p-9)
	}
	return sign | (e+127-7)<<23 | m<<20
}

// e4m3Table and e4m3HalfTable decode every float8_e4m3fn byte; they are
// built once and only read.
var e4m3Table, e4m3HalfTable = func() (t [256]uint32, h [256]uint16) {
	for i := range t {
		t[i] = e4m3ToF32(uint8(i))
		h[i] = f32ToHalf(t[i])
	}
	return
}()

// e5m2Table decodes every float8_e5m2 byte (the upper byte of a float16).
var e5m2Table = func() (t [256]uint32) {
	for i := range t {
		t[i] = halfToF32(uint16(i) << 8)
	}
	return
}()

// e4m3fnuzTable and e5m2fnuzTable decode every float8_e4m3fnuz and
// float8_e5m2fnuz byte (ONNX's float8 spec: exponent bias 8 / 16, no
// infinities, no negative zero, 0x80 the only NaN, read as float32's quiet
// NaN 0x7fc00000 as onnx's reference decoder gives it).
var e4m3fnuzTable, e5m2fnuzTable = func() (a, b [256]uint32) {
	for i := range a {
		a[i] = fnuzToF32(uint8(i), 3, 8)
		b[i] = fnuzToF32(uint8(i), 2, 16)
	}
	return
}()

// fnuzToF32 decodes an FNUZ float8 byte with mbits mantissa bits.
func fnuzToF32(p uint8, mbits uint, bias int) uint32 {
	if p == 0x80 {
		return 0x7fc00000
	}
	e := int(p&0x7f) >> mbits
	m := float64(p & (1<<mbits - 1))
	var v float64
	if e == 0 {
		v = math.Ldexp(m, 1-bias-int(mbits))
	} else {
		v = math.Ldexp(1+m/float64(int(1)<<mbits), e-bias)
	}
	if p&0x80 != 0 {
		v = -v
	}
	return math.Float32bits(float32(v))
}

// halfTable maps every float16 bit pattern to its float32 bits (256 KiB,
// built on first use): a lookup beats the branchy bit manipulation on
// data with mixed exponents (BenchmarkKernel from=float16/to=float32:
// 1.4 → 3.2 GB/s on the 2-core dev VM, copy() 21 GB/s in the same run).
var halfTable = sync.OnceValue(func() *[1 << 16]uint32 {
	t := new([1 << 16]uint32)
	for i := range t {
		t[i] = halfToF32(uint16(i))
	}
	return t
})

func halfToF32Slice(d []uint32, s []uint16) {
	d = d[:len(s)]
	t := halfTable()
	i := 0
	for ; i <= len(s)-4; i += 4 {
		s4, d4 := s[i:i+4:i+4], d[i:i+4:i+4]
		d4[0], d4[1], d4[2], d4[3] = t[s4[0]], t[s4[1]], t[s4[2]], t[s4[3]]
	}
	for ; i < len(s); i++ {
		d[i] = t[s[i]]
	}
}

// halfToF64Slice widens through the float32 table; a NaN, whose payload
// the float32 → float64 conversion would quiet, takes halfToF64.
func halfToF64Slice(d []uint64, s []uint16) {
	d = d[:len(s)]
	t := halfTable()
	var maxA uint16
	i := 0
	for ; i <= len(s)-4; i += 4 {
		s4, d4 := s[i:i+4:i+4], d[i:i+4:i+4]
		h0, h1, h2, h3 := s4[0], s4[1], s4[2], s4[3]
		d4[0] = math.Float64bits(float64(math.Float32frombits(t[h0])))
		d4[1] = math.Float64bits(float64(math.Float32frombits(t[h1])))
		d4[2] = math.Float64bits(float64(math.Float32frombits(t[h2])))
		d4[3] = math.Float64bits(float64(math.Float32frombits(t[h3])))
		maxA = max(maxA, h0&0x7fff, h1&0x7fff, h2&0x7fff, h3&0x7fff)
	}
	for ; i < len(s); i++ {
		d[i] = halfToF64(s[i])
	}
	if maxA > 0x7c00 {
		for i, h := range s {
			if h&0x7fff > 0x7c00 {
				d[i] = halfToF64(h)
			}
		}
	}
}

func bf16ToF32Slice(d []uint32, s []uint16) {
	d = d[:len(s)]
	i := 0
	for ; i <= len(s)-4; i += 4 {
		s4, d4 := s[i:i+4:i+4], d[i:i+4:i+4]
		d4[0], d4[1], d4[2], d4[3] = uint32(s4[0])<<16, uint32(s4[1])<<16, uint32(s4[2])<<16, uint32(s4[3])<<16
	}
	for ; i < len(s); i++ {
		d[i] = uint32(s[i]) << 16
	}
}

func e4m3ToF32Slice(d []uint32, s []uint8)     { byteLookup(d, s, &e4m3Table) }
func e4m3ToHalfSlice(d []uint16, s []uint8)    { byteLookup(d, s, &e4m3HalfTable) }
func e5m2ToF32Slice(d []uint32, s []uint8)     { byteLookup(d, s, &e5m2Table) }
func e4m3fnuzToF32Slice(d []uint32, s []uint8) { byteLookup(d, s, &e4m3fnuzTable) }
func e5m2fnuzToF32Slice(d []uint32, s []uint8) { byteLookup(d, s, &e5m2fnuzTable) }

func e5m2ToHalfSlice(d []uint16, s []uint8) {
	d = d[:len(s)]
	i := 0
	for ; i <= len(s)-4; i += 4 {
		s4, d4 := s[i:i+4:i+4], d[i:i+4:i+4]
		d4[0], d4[1], d4[2], d4[3] = uint16(s4[0])<<8, uint16(s4[1])<<8, uint16(s4[2])<<8, uint16(s4[3])<<8
	}
	for ; i < len(s); i++ {
		d[i] = uint16(s[i]) << 8
	}
}

// int8HalfTable and uint8HalfTable hold the float16 bits of every int8
// and uint8 value (all exact).
var int8HalfTable, uint8HalfTable = func() (i, u [256]uint16) {
	for b := range 256 {
		i[b] = f32ToHalf(math.Float32bits(float32(int8(b))))
		u[b] = f32ToHalf(math.Float32bits(float32(b)))
	}
	return
}()

// byteLookup maps each byte of s through the table t into d.
func byteLookup[D uint16 | uint32](d []D, s []uint8, t *[256]D) {
	d = d[:len(s)]
	i := 0
	for ; i <= len(s)-4; i += 4 {
		s4, d4 := s[i:i+4:i+4], d[i:i+4:i+4]
		d4[0], d4[1], d4[2], d4[3] = t[s4[0]], t[s4[1]], t[s4[2]], t[s4[3]]
	}
	for ; i < len(s); i++ {
		d[i] = t[s[i]]
	}
}

// halfMag rounds float32 magnitude bits a (sign cleared) to float16
// magnitude bits, to nearest even, without branching. It is exact when
// a rounds to zero (a <= 0x33000000, |x| <= 2^-25), to a normal number,
// or overflows (to 0x7c00, inf, as ±inf itself does): always for the
// float32 of an integer. NaN and subnormal results need f32ToHalfRare.
func halfMag(a uint32) uint32 {
	x := (a + 0xfff + (a>>13)&1) >> 13
	return min(max(x, 112<<10)-112<<10, 0x7c00)
}

// f32ToHalfSlice rounds float32 values to float16 bits, counting NaN,
// ±inf and finite values that overflow.
//
// With F16C (haveF16C) it converts a chunk at a time with f32ToHalfBlock,
// which also reports whether the chunk holds a NaN, an inf or a value
// that overflows (|x| >= 65520); such a chunk is converted again by
// f32ToHalfSliceGo, which counts them and keeps a signalling NaN
// signalling as NumPy does (VCVTPS2PH would quiet it). Chunks without
// one have nothing to count. Without F16C, and for the last len(s)%8
// values, f32ToHalfSliceGo does all the work.
//
// This is the Go kernel for float32 → float16 (the reference of the
// tests). With AVX-512 the registered kernel is f32ToHalfAVX512
// (simd_narrow_amd64.go), which converts and counts NaN, inf and
// overflow in the vector code and so needs no second pass.
func f32ToHalfSlice(d []uint16, s []float32, st *Stats) {
	d = d[:len(s)]
	if haveF16C {
		for len(s) >= 8 {
			m := min(len(s), chunk) &^ 7
			if f32ToHalfBlock(d[:m], s[:m]) {
				f32ToHalfSliceGo(d[:m], s[:m], st)
			}
			d, s = d[m:], s[m:]
		}
	}
	f32ToHalfSliceGo(d, s, st)
}

// f32ToHalfBlockGo is the pure-Go twin of the F16C f32ToHalfBlock: it
// rounds len(s) float32 values to float16 bits as VCVTPS2PH with
// rounding to nearest even does, which is f32ToHalf except that a NaN is
// quieted (sign | 0x7e00 | the top 9 bits of its payload), and reports
// whether any value was a NaN or had |x| >= 65520 (inf, or finite and
// overflowing to inf), the values f32ToHalfSlice has to look at again.
func f32ToHalfBlockGo(d []uint16, s []float32) (special bool) {
	d = d[:len(s)]
	var maxA uint32
	for i, v := range s {
		f := math.Float32bits(v)
		a := f & 0x7fffffff
		h := f32ToHalf(f)
		if a > 0x7f800000 {
			h = uint16(f>>16)&0x8000 | 0x7e00 | uint16(a>>13)&0x3ff
		}
		d[i] = h
		maxA = max(maxA, a)
	}
	return maxA >= 0x477ff000
}

// bf16ToHalfSlice rounds bfloat16 values to float16 bits through their
// (exact) float32 values, counting as f32ToHalfSlice, and in the same
// way: with F16C a chunk at a time by bf16ToHalfBlock, again in Go when a
// chunk holds a NaN, an inf or a value that overflows.
func bf16ToHalfSlice(d []uint16, s []uint16, st *Stats) {
	d = d[:len(s)]
	if haveF16C {
		for len(s) >= 8 {
			m := min(len(s), chunk) &^ 7
			if bf16ToHalfBlock(d[:m], s[:m]) {
				bf16ToHalfSliceGo(d[:m], s[:m], st)
			}
			d, s = d[m:], s[m:]
		}
	}
	bf16ToHalfSliceGo(d, s, st)
}

// bf16ToHalfSliceGo is bf16ToHalfSlice in Go alone: widen a chunk to
// float32 on the stack, then f32ToHalfSliceGo.
func bf16ToHalfSliceGo(d []uint16, s []uint16, st *Stats) {
	var buf [chunk]uint32
	for len(s) > 0 {
		m := min(len(s), chunk)
		bf16ToF32Slice(buf[:m], s[:m])
		f32ToHalfSliceGo(d[:m], view[float32](bytesOf(buf[:m])), st)
		d, s = d[m:], s[m:]
	}
}

// bf16ToHalfBlockGo is the pure-Go twin of the F16C bf16ToHalfBlock:
// f32ToHalfBlockGo on the float32 values of the bfloat16 s.
func bf16ToHalfBlockGo(d []uint16, s []uint16) (special bool) {
	var buf [chunk]uint32
	for len(s) > 0 {
		m := min(len(s), chunk)
		bf16ToF32Slice(buf[:m], s[:m])
		special = f32ToHalfBlockGo(d[:m], view[float32](bytesOf(buf[:m]))) || special
		d, s = d[m:], s[m:]
	}
	return special
}

// f32ToHalfSliceGo is f32ToHalfSlice in Go alone, one value at a time.
// The branch to the rare cases is predictable on most data.
func f32ToHalfSliceGo(d []uint16, s []float32, st *Stats) {
	d = d[:len(s)]
	var flag uint16 // bit 15 set when a result is inf or NaN
	for i, v := range s {
		f := math.Float32bits(v)
		var h uint16
		if f&0x7fffffff-0x38800000 < 0x0f000000 {
			h = f32ToHalfNormal(f)
		} else {
			h = f32ToHalfRare(f)
		}
		d[i] = h
		flag |= h&0x7c00 + 0x400
	}
	if st == nil || flag&0x8000 == 0 {
		return
	}
	countHalfSpecial(d, s, st)
}

// countHalfSpecial counts the sources of the float16 results d that are
// inf or NaN.
func countHalfSpecial[S float32 | float64](d []uint16, s []S, st *Stats) {
	var c Stats
	for i, v := range s[:len(d)] {
		if d[i]&0x7c00 == 0x7c00 {
			countSpecial(&c, float64(v))
		}
	}
	st.Add(c)
}

// f64ToHalfSlice rounds float64 values to float16 bits directly (one
// rounding), counting as f32ToHalfSlice.
func f64ToHalfSlice(d []uint16, s []float64, st *Stats) {
	d = d[:len(s)]
	var flag uint32
	for i, v := range s {
		f := math.Float64bits(v)
		a := f &^ (1 << 63)
		x := uint32((a + 0x1ffffffffff + (a>>42)&1) >> 42)
		h := min(max(x, 1008<<10)-1008<<10, 0x7c00)
		// exact unless NaN or rounding to a non-zero subnormal
		// (2^-25 < |x| < 2^-14), as halfMag
		if b2i(a-0x3e60000000000001 < 0x3f10000000000000-0x3e60000000000001)|b2i(a > 0x7ff0000000000000) != 0 {
			h = uint32(f64ToHalf(a))
		}
		flag |= h + 0x400
		d[i] = uint16(f>>48)&0x8000 | uint16(h)
	}
	if st == nil || flag&0x8000 == 0 {
		return
	}
	countHalfSpecial(d, s, st)
}

// intToHalf rounds integers to float16 through float32, as NumPy does,
// counting values that overflow to ±inf. An integer's float32 is zero or
// at least 1, where halfMag is exact.
func intToHalf[S number](d []uint16, s []S, st *Stats) {
	d = d[:len(s)]
	n := 0
	for i, v := range s {
		f := math.Float32bits(float32(v))
		h := halfMag(f & 0x7fffffff)
		n += b2i(h == 0x7c00)
		d[i] = uint16(f>>16)&0x8000 | uint16(h)
	}
	if st != nil {
		st.OutOfRange += int64(n)
	}
}

// int16HalfTable and uint16HalfTable hold the float16 bits of every int16
// and uint16 value (128 KiB each, built on first use).
var int16HalfTable, uint16HalfTable = sync.OnceValue(func() *[1 << 16]uint16 {
	t := new([1 << 16]uint16)
	for i := range t {
		t[i] = f32ToHalf(math.Float32bits(float32(int16(i))))
	}
	return t
}), sync.OnceValue(func() *[1 << 16]uint16 {
	t := new([1 << 16]uint16)
	for i := range t {
		t[i] = f32ToHalf(math.Float32bits(float32(i)))
	}
	return t
})

// shortToHalfSlice looks 16-bit integers up in t, counting results that
// overflowed to inf (uint16 values from 65520 up).
func shortToHalfSlice(d []uint16, s []uint16, t *[1 << 16]uint16, st *Stats) {
	d = d[:len(s)]
	n := 0
	i := 0
	for ; i <= len(s)-4; i += 4 {
		s4, d4 := s[i:i+4:i+4], d[i:i+4:i+4]
		d4[0], d4[1], d4[2], d4[3] = t[s4[0]], t[s4[1]], t[s4[2]], t[s4[3]]
		n += b2i(s4[0] >= 65520) + b2i(s4[1] >= 65520) + b2i(s4[2] >= 65520) + b2i(s4[3] >= 65520)
	}
	for ; i < len(s); i++ {
		d[i] = t[s[i]]
		n += b2i(s[i] >= 65520)
	}
	if st != nil && t == uint16HalfTable() {
		st.OutOfRange += int64(n)
	}
}

// halfToBool is h != ±0 (NaN is true), counting NaN and ±inf.
func halfToBool(d []uint8, s []uint16, st *Stats) {
	d = d[:len(s)]
	var maxA uint16
	i := 0
	for ; i <= len(s)-4; i += 4 {
		s4, d4 := s[i:i+4:i+4], d[i:i+4:i+4]
		a0, a1, a2, a3 := s4[0]&0x7fff, s4[1]&0x7fff, s4[2]&0x7fff, s4[3]&0x7fff
		d4[0], d4[1], d4[2], d4[3] = uint8(b2i(a0 != 0)), uint8(b2i(a1 != 0)), uint8(b2i(a2 != 0)), uint8(b2i(a3 != 0))
		maxA = max(maxA, a0, a1, a2, a3)
	}
	for ; i < len(s); i++ {
		a := s[i] & 0x7fff
		d[i] = uint8(b2i(a != 0))
		maxA = max(maxA, a)
	}
	if st != nil && maxA >= 0x7c00 {
		nan, inf := halfNaNInf(s)
		st.NaN += int64(nan)
		st.Inf += int64(inf)
	}
}

func halfNaNInf(s []uint16) (nan, inf int) {
	for _, h := range s {
		nan += b2i(h&0x7fff > 0x7c00)
		inf += b2i(h&0x7fff == 0x7c00)
	}
	return nan, inf
}

// halfToInt converts float16 to the small integer types by looking each
// value up in a table of results (built on first use, with the package
// rule for NaN and values out of range), and counts without branching:
// a value is out of range when its magnitude bits reach the threshold
// for its sign.
func halfToInt[T int8 | uint8 | int16 | uint16](d []T, s []uint16, st *Stats) {
	ht := halfIntTable[T]()
	t, thrs := &ht.t, ht.thr
	d = d[:len(s)]
	out := 0
	var maxA uint16
	i := 0
	for ; i <= len(s)-4; i += 4 {
		s4, d4 := s[i:i+4:i+4], d[i:i+4:i+4]
		h0, h1, h2, h3 := s4[0], s4[1], s4[2], s4[3]
		d4[0], d4[1], d4[2], d4[3] = t[h0], t[h1], t[h2], t[h3]
		a0, a1, a2, a3 := h0&0x7fff, h1&0x7fff, h2&0x7fff, h3&0x7fff
		out += b2i(a0 >= thrs[h0>>15]) + b2i(a1 >= thrs[h1>>15]) + b2i(a2 >= thrs[h2>>15]) + b2i(a3 >= thrs[h3>>15])
		maxA = max(maxA, a0, a1, a2, a3)
	}
	for ; i < len(s); i++ {
		h := s[i]
		d[i] = t[h]
		out += b2i(h&0x7fff >= thrs[h>>15])
		maxA = max(maxA, h&0x7fff)
	}
	if st == nil {
		return
	}
	if maxA >= 0x7c00 {
		nan, inf := halfNaNInf(s)
		st.NaN += int64(nan)
		st.Inf += int64(inf)
		out -= nan + inf
	}
	st.OutOfRange += int64(out)
}

type halfInt[T int8 | uint8 | int16 | uint16] struct {
	t   [1 << 16]T
	thr [2]uint16 // by sign bit: magnitude bits from which a value is out of range
}

var halfIntTables = [4]func() any{
	sync.OnceValue(func() any { return makeHalfInt[int8]() }),
	sync.OnceValue(func() any { return makeHalfInt[uint8]() }),
	sync.OnceValue(func() any { return makeHalfInt[int16]() }),
	sync.OnceValue(func() any { return makeHalfInt[uint16]() }),
}

func halfIntTable[T int8 | uint8 | int16 | uint16]() *halfInt[T] {
	i := 2*(sizeOf[T]()-1) + 1 - b2i(isSigned[T]())
	return halfIntTables[i]().(*halfInt[T])
}

func makeHalfInt[T int8 | uint8 | int16 | uint16]() *halfInt[T] {
	ht := new(halfInt[T])
	var f [1 << 16]float32
	for h := range f {
		f[h] = math.Float32frombits(halfToF32(uint16(h)))
	}
	f32ToInt(ht.t[:], f[:], nil)
	// A float16 is in range when its float32 is; the magnitudes are
	// ordered, so the threshold is the first that is not.
	fit := makeFit[uint32, T]()
	for sg, thr := range [2]uint32{fit.pos, fit.neg} {
		ht.thr[sg] = 0x7fff
		for a := range 0x7c01 {
			if halfToF32(uint16(a)) >= thr {
				ht.thr[sg] = uint16(a)
				break
			}
		}
	}
	return ht
}
