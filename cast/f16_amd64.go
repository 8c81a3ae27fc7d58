//go:build !purego

package cast

import "golang.org/x/sys/cpu"

// haveF16C reports whether f32ToHalfBlock can use VCVTPS2PH (F16C, with
// the OS saving the AVX registers).
var haveF16C = cpu.X86.HasAVX && cpu.X86.HasF16C

// f32ToHalfBlock is f32ToHalfBlockGo with F16C, for len(s) a multiple of
// 8 (at least 8) and len(d) >= len(s). Call it only if haveF16C.
func f32ToHalfBlock(d []uint16, s []float32) (special bool) {
	d = d[:len(s)]
	return f32ToHalfF16C(&d[0], &s[0], len(s))
}

// f32ToHalfF16C converts n (a multiple of 8) float32 values at s to
// float16 at d; see f32ToHalfBlockGo.
//
//go:noescape
func f32ToHalfF16C(d *uint16, s *float32, n int) (special bool)

// bf16ToHalfBlock is bf16ToHalfBlockGo with F16C, for len(s) a multiple
// of 8 (at least 8) and len(d) >= len(s). Call it only if haveF16C.
func bf16ToHalfBlock(d []uint16, s []uint16) (special bool) {
	d = d[:len(s)]
	return bf16ToHalfF16C(&d[0], &s[0], len(s))
}

// bf16ToHalfF16C converts n (a multiple of 8) bfloat16 values at s to
// float16 at d; see bf16ToHalfBlockGo.
//
//go:noescape
func bf16ToHalfF16C(d *uint16, s *uint16, n int) (special bool)

// f32ToHalfAVX512 rounds n (a multiple of 16) float32 values at s to
// float16 bits at d as f32ToHalf does, and counts the NaN, ±inf and
// finite values that overflow (im is 0): a narrowBlock, registered in
// simd_narrow_amd64.go. NaN, inf and overflow are converted in the
// vector code, so nothing goes back to Go.
//
//go:noescape
func f32ToHalfAVX512(d, s *byte, n int) (nan, inf, out, im int)

// bf16ToHalfAVX512 is f32ToHalfAVX512 for bfloat16 values.
//
//go:noescape
func bf16ToHalfAVX512(d, s *byte, n int) (nan, inf, out, im int)

// c64ToHalfAVX512 is f32ToHalfAVX512 on the real parts of n complex64
// values, also counting the non-zero imaginary parts.
//
//go:noescape
func c64ToHalfAVX512(d, s *byte, n int) (nan, inf, out, im int)
