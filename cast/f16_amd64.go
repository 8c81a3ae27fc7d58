//go:build !purego

package cast

import (
	"unsafe"

	"github.com/bigconv/bigconv/dtype"
	"golang.org/x/sys/cpu"
)

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

// With AVX-512 (F, BW, VL) and F16C, float32 → float16 and bfloat16 →
// float16 are vector kernels that need no Go fallback: NaN, ±inf and
// values that overflow are converted (NaN payloads as NumPy keeps them)
// and counted in the vector code. The Go kernels do the last len%16
// values.
func init() {
	x := &cpu.X86
	if !haveF16C || !x.HasAVX512F || !x.HasAVX512BW || !x.HasAVX512VL || !x.HasPOPCNT {
		return
	}
	registerSIMD(dtype.Float32, dtype.Float16, func(dst, src []byte, st *Stats) {
		d, s := view[uint16](dst), view[float32](src)
		m := len(s) &^ 15
		if m > 0 {
			nan, inf, out, _ := f32ToHalfAVX512(unsafe.SliceData(d), unsafe.SliceData(s), m)
			addHalfCounts(st, nan, inf, out)
		}
		f32ToHalfSliceGo(d[m:len(s)], s[m:], st)
	})
	registerSIMD(dtype.BFloat16, dtype.Float16, func(dst, src []byte, st *Stats) {
		d, s := view[uint16](dst), view[uint16](src)
		m := len(s) &^ 15
		if m > 0 {
			nan, inf, out, _ := bf16ToHalfAVX512(unsafe.SliceData(d), unsafe.SliceData(s), m)
			addHalfCounts(st, nan, inf, out)
		}
		bf16ToHalfSliceGo(d[m:len(s)], s[m:], st)
	})
}

func addHalfCounts(st *Stats, nan, inf, out int) {
	if st != nil {
		st.NaN += int64(nan)
		st.Inf += int64(inf)
		st.OutOfRange += int64(out)
	}
}

// f32ToHalfAVX512 rounds n (a multiple of 16) float32 values at s to
// float16 bits at d as f32ToHalf does, and counts the NaN, ±inf and
// finite values that overflow.
//
//go:noescape
func f32ToHalfAVX512(d *uint16, s *float32, n int) (nan, inf, out, im int)

// bf16ToHalfAVX512 is f32ToHalfAVX512 for bfloat16 values.
//
//go:noescape
func bf16ToHalfAVX512(d *uint16, s *uint16, n int) (nan, inf, out, im int)

// c64ToHalfAVX512 is f32ToHalfAVX512 on the real parts of n complex64
// values, also counting the non-zero imaginary parts (a narrowBlock).
//
//go:noescape
func c64ToHalfAVX512(d, s *byte, n int) (nan, inf, out, im int)
