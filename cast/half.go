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
	for i, h := range s {
		d[i] = t[h]
	}
}

func halfToF64Slice(d []uint64, s []uint16) {
	d = d[:len(s)]
	for i, h := range s {
		d[i] = halfToF64(h)
	}
}

func bf16ToF32Slice(d []uint32, s []uint16) {
	d = d[:len(s)]
	for i, h := range s {
		d[i] = uint32(h) << 16
	}
}

func e4m3ToF32Slice(d []uint32, s []uint8) {
	d = d[:len(s)]
	for i, b := range s {
		d[i] = e4m3Table[b]
	}
}

func e4m3ToHalfSlice(d []uint16, s []uint8) {
	d = d[:len(s)]
	for i, b := range s {
		d[i] = e4m3HalfTable[b]
	}
}

func e5m2ToF32Slice(d []uint32, s []uint8) {
	d = d[:len(s)]
	for i, b := range s {
		d[i] = e5m2Table[b]
	}
}

func e5m2ToHalfSlice(d []uint16, s []uint8) {
	d = d[:len(s)]
	for i, b := range s {
		d[i] = uint16(b) << 8
	}
}
