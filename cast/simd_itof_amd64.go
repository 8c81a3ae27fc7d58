//go:build !purego

package cast

import (
	"github.com/bigconv/bigconv/dtype"
	"golang.org/x/sys/cpu"
)

// Vector kernels for integer → float32, float64, float16, complex64 and
// complex128 (simd_itof_amd64.s). The loops need AVX2; float16 targets
// also F16C; uint32 sources AVX-512 F and VL (VCVTUDQ2PS/PD); int64 and
// uint64 sources AVX-512 DQ and VL (VCVT[U]QQ2PS/PD).

// itofLoop converts n items from s to d, n a positive multiple of the
// loop's unit, and returns how many float16 results overflowed to ±inf
// (0 for other targets).
type itofLoop func(d, s *byte, n int) (over int)

// itofMaxRun bounds the items of one loop call, so that the per-lane
// float16 overflow counters (32 bits) cannot wrap.
const itofMaxRun = 1 << 28

func init() {
	if !cpu.X86.HasAVX2 {
		return
	}
	f16c := cpu.X86.HasF16C
	vl := cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL
	dq := vl && cpu.X86.HasAVX512DQ
	type loops struct {
		from                     dtype.Type
		ok                       bool // the CPU has what the source's loops use
		f32, f64, f16, c64, c128 itofLoop
	}
	for _, l := range []loops{
		{dtype.Int8, true, itofI8F32, itofI8F64, itofI8F16, itofI8C64, itofI8C128},
		{dtype.Uint8, true, itofU8F32, itofU8F64, itofU8F16, itofU8C64, itofU8C128},
		{dtype.Int16, true, itofI16F32, itofI16F64, itofI16F16, itofI16C64, itofI16C128},
		{dtype.Uint16, true, itofU16F32, itofU16F64, itofU16F16, itofU16C64, itofU16C128},
		{dtype.Int32, true, itofI32F32, itofI32F64, itofI32F16, itofI32C64, itofI32C128},
		{dtype.Uint32, vl, itofU32F32, itofU32F64, itofU32F16, itofU32C64, itofU32C128},
		{dtype.Int64, dq, itofI64F32, itofI64F64, itofI64F16, itofI64C64, itofI64C128},
		{dtype.Uint64, dq, itofU64F32, itofU64F64, itofU64F16, itofU64C64, itofU64C128},
	} {
		if !l.ok {
			continue
		}
		// The Go kernels, for the tails, before any of these is
		// registered (to complex, native goes through the float kernel).
		kf32 := itofKernel(l.from, dtype.Float32, 32, l.f32)
		kf64 := itofKernel(l.from, dtype.Float64, 16, l.f64)
		kc64 := itofKernel(l.from, dtype.Complex64, 16, l.c64)
		kc128 := itofKernel(l.from, dtype.Complex128, 8, l.c128)
		var kf16 rawKernel
		if f16c {
			kf16 = itofKernel(l.from, dtype.Float16, 32, l.f16)
		}
		registerSIMD(l.from, dtype.Float32, kf32)
		registerSIMD(l.from, dtype.Float64, kf64)
		registerSIMD(l.from, dtype.Complex64, kc64)
		registerSIMD(l.from, dtype.Complex128, kc128)
		if kf16 != nil {
			registerSIMD(l.from, dtype.Float16, kf16)
		}
	}
}

// itofKernel runs loop over the whole units of items (unit a power of
// two) and the Go kernel for from → to over the rest.
func itofKernel(from, to dtype.Type, unit int, loop itofLoop) rawKernel {
	tail := goNative(from, to)
	fs, ts := from.Size(), to.Size()
	return func(dst, src []byte, st *Stats) {
		n := len(src) / fs
		dst = dst[:n*ts]
		over := 0
		for m := n &^ (unit - 1); m > 0; {
			k := min(m, itofMaxRun)
			over += loop(&dst[0], &src[0], k)
			dst, src, m, n = dst[k*ts:], src[k*fs:], m-k, n-k
		}
		if st != nil {
			st.OutOfRange += int64(over)
		}
		if n > 0 {
			tail(dst, src, st)
		}
	}
}

// The loops of simd_itof_amd64.s, by source and target.

//go:noescape
func itofI8F32(d, s *byte, n int) (over int)

//go:noescape
func itofU8F32(d, s *byte, n int) (over int)

//go:noescape
func itofI16F32(d, s *byte, n int) (over int)

//go:noescape
func itofU16F32(d, s *byte, n int) (over int)

//go:noescape
func itofI32F32(d, s *byte, n int) (over int)

//go:noescape
func itofU32F32(d, s *byte, n int) (over int)

//go:noescape
func itofI64F32(d, s *byte, n int) (over int)

//go:noescape
func itofU64F32(d, s *byte, n int) (over int)

//go:noescape
func itofI8F64(d, s *byte, n int) (over int)

//go:noescape
func itofU8F64(d, s *byte, n int) (over int)

//go:noescape
func itofI16F64(d, s *byte, n int) (over int)

//go:noescape
func itofU16F64(d, s *byte, n int) (over int)

//go:noescape
func itofI32F64(d, s *byte, n int) (over int)

//go:noescape
func itofU32F64(d, s *byte, n int) (over int)

//go:noescape
func itofI64F64(d, s *byte, n int) (over int)

//go:noescape
func itofU64F64(d, s *byte, n int) (over int)

//go:noescape
func itofI8F16(d, s *byte, n int) (over int)

//go:noescape
func itofU8F16(d, s *byte, n int) (over int)

//go:noescape
func itofI16F16(d, s *byte, n int) (over int)

//go:noescape
func itofU16F16(d, s *byte, n int) (over int)

//go:noescape
func itofI32F16(d, s *byte, n int) (over int)

//go:noescape
func itofU32F16(d, s *byte, n int) (over int)

//go:noescape
func itofI64F16(d, s *byte, n int) (over int)

//go:noescape
func itofU64F16(d, s *byte, n int) (over int)

//go:noescape
func itofI8C64(d, s *byte, n int) (over int)

//go:noescape
func itofU8C64(d, s *byte, n int) (over int)

//go:noescape
func itofI16C64(d, s *byte, n int) (over int)

//go:noescape
func itofU16C64(d, s *byte, n int) (over int)

//go:noescape
func itofI32C64(d, s *byte, n int) (over int)

//go:noescape
func itofU32C64(d, s *byte, n int) (over int)

//go:noescape
func itofI64C64(d, s *byte, n int) (over int)

//go:noescape
func itofU64C64(d, s *byte, n int) (over int)

//go:noescape
func itofI8C128(d, s *byte, n int) (over int)

//go:noescape
func itofU8C128(d, s *byte, n int) (over int)

//go:noescape
func itofI16C128(d, s *byte, n int) (over int)

//go:noescape
func itofU16C128(d, s *byte, n int) (over int)

//go:noescape
func itofI32C128(d, s *byte, n int) (over int)

//go:noescape
func itofU32C128(d, s *byte, n int) (over int)

//go:noescape
func itofI64C128(d, s *byte, n int) (over int)

//go:noescape
func itofU64C128(d, s *byte, n int) (over int)
