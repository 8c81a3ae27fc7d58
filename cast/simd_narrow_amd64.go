//go:build !purego

package cast

import (
	"unsafe"

	"github.com/bigconv/bigconv/dtype"
	"golang.org/x/sys/cpu"
)

// Narrowing float → float vector kernels with AVX-512: float64 and
// complex128 to float32, complex64 and float16 (simd_narrow_amd64.s);
// float32, bfloat16 and complex64 to float16 (f16_amd64.s, with F16C).
// Unlike the ftof routines they never hand a chunk back to Go: NaN, ±inf
// and values that overflow are converted and counted in the vector code,
// so data full of them runs as fast as any other. The Go kernel does
// only the last n % step items.

// narrowBlock is the signature of the assembly routines: convert n
// items (a multiple of the step) and count what the Go kernel counts.
type narrowBlock func(d, s *byte, n int) (nan, inf, out, im int)

// narrowKernel describes one registered pair.
type narrowKernel struct {
	from, to dtype.Type
	step     int
	block    narrowBlock
}

// narrowKernels lists the pairs registered, for the tests.
var narrowKernels []narrowKernel

// narrowOK reports whether the CPU has what the routines need (set
// before any init runs: the ftof kernels defer to these).
var narrowOK = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512VL

func init() {
	if !narrowOK {
		return
	}
	narrowKernels = []narrowKernel{
		{dtype.Float64, dtype.Float32, 8, narrowF64F32},
		{dtype.Float64, dtype.Complex64, 8, narrowF64C64},
		{dtype.Complex128, dtype.Complex64, 8, narrowC128C64},
		{dtype.Complex128, dtype.Float32, 8, narrowC128F32},
		{dtype.Float64, dtype.Float16, 16, narrowF64F16},
		{dtype.Complex128, dtype.Float16, 16, narrowC128F16},
	}
	if haveF16C {
		narrowKernels = append(narrowKernels,
			narrowKernel{dtype.Float32, dtype.Float16, 16, f32ToHalfAVX512},
			narrowKernel{dtype.BFloat16, dtype.Float16, 16, bf16ToHalfAVX512},
			narrowKernel{dtype.Complex64, dtype.Float16, 16, c64ToHalfAVX512})
	}
	for _, k := range narrowKernels {
		registerSIMD(k.from, k.to, narrowRun(k, goNative(k.from, k.to)))
	}
}

// simdMaxRun bounds the items of one call of a routine that counts in
// 32-bit vector lanes (narrowBlock, ftoiAsm): a lane gets at most one
// add per vector of 4 or more items, so it cannot wrap.
const simdMaxRun = 1 << 28

// narrowRun makes the kernel for k: the whole steps by k.block, the
// rest by the Go kernel g.
func narrowRun(k narrowKernel, g rawKernel) rawKernel {
	fs, ts, step, block := k.from.Size(), k.to.Size(), k.step, k.block
	return func(dst, src []byte, st *Stats) {
		n := len(src) / fs
		m := n - n%step
		_ = dst[:n*ts]
		var c Stats
		for i := 0; i < m; {
			j := i + min(m-i, simdMaxRun)
			nan, inf, out, im := block(unsafe.SliceData(dst[i*ts:]), unsafe.SliceData(src[i*fs:]), j-i)
			c.NaN += int64(nan)
			c.Inf += int64(inf)
			c.OutOfRange += int64(out)
			c.Imaginary += int64(im)
			i = j
		}
		if st != nil {
			st.Add(c)
		}
		if m < n {
			g(dst[m*ts:n*ts], src[m*fs:], st)
		}
	}
}

//go:noescape
func narrowF64F32(d, s *byte, n int) (nan, inf, out, im int)

//go:noescape
func narrowF64C64(d, s *byte, n int) (nan, inf, out, im int)

//go:noescape
func narrowC128C64(d, s *byte, n int) (nan, inf, out, im int)

//go:noescape
func narrowC128F32(d, s *byte, n int) (nan, inf, out, im int)

//go:noescape
func narrowF64F16(d, s *byte, n int) (nan, inf, out, im int)

//go:noescape
func narrowC128F16(d, s *byte, n int) (nan, inf, out, im int)
