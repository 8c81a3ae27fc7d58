//go:build !purego

package cast

import (
	"unsafe"

	"github.com/bigconv/bigconv/dtype"
	"golang.org/x/sys/cpu"
)

// Float → integer and float → bool kernels with AVX-512, for float32,
// float64, float16, complex64 and complex128 sources (the real parts of
// complex values).
//
// The assembly (simd_ftoi_amd64.s) converts whole vectors of 16 or 8
// values: in-range values are truncated (VCVTTPS2DQ and friends, then a
// truncating move such as VPMOVDB to narrow), values below or above
// range (±inf among them) are saturated to the target's min or max with
// masked moves and counted (VCMPPS into mask registers, KMOVW + POPCNT),
// NaN lanes (VFPCLASSPS) are set to 0 and counted, ±inf counted apart,
// and non-zero imaginary parts are counted as out of range are. So the
// results and counts are the Go kernel's (f32ToInt, f64ToInt, toBool,
// complexToBool), with no data that sends a vector back to Go; the Go
// kernel does only the tail that does not fill a vector.

// ftoiConst holds an assembly kernel's bounds, in the layout the
// assembly reads: a value x is below range when x <= lo and above range
// when x >= hi (lo and hi are float32 or float64 bits), and is then
// replaced by min or max (sign-extended to 64 bits).
type ftoiConst struct {
	lo, hi, min, max uint64
}

// ftoiAsm is the signature of the assembly kernels: convert n values (a
// multiple of the kernel's vector length) from s to d; return how many
// were saturated (out of range or ±inf; 0 for bool), had a non-zero
// imaginary part, were NaN and were ±inf (for complex → bool: had a NaN
// part, else an inf part).
type ftoiAsm func(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

func init() {
	x := &cpu.X86
	if !x.HasAVX512F || !x.HasAVX512BW || !x.HasAVX512DQ || !x.HasAVX512VL {
		return
	}
	type asms struct {
		i8, i16, i32, u32, i64, u64, b ftoiAsm // i8 and i16 serve the unsigned types too
	}
	f32Like := []struct {
		from dtype.Type
		a    asms
	}{
		{dtype.Float32, asms{ftoiF32D8, ftoiF32D16, ftoiF32I32, ftoiF32U32, ftoiF32I64, ftoiF32U64, ftoiF32B}},
		{dtype.Float16, asms{ftoiF16D8, ftoiF16D16, ftoiF16I32, ftoiF16U32, ftoiF16I64, ftoiF16U64, ftoiF16B}},
		{dtype.Complex64, asms{ftoiC64D8, ftoiC64D16, ftoiC64I32, ftoiC64U32, ftoiC64I64, ftoiC64U64, ftoiC64B}},
	}
	for _, s := range f32Like {
		reg := func(to dtype.Type, lanes int, a ftoiAsm, c ftoiConst) {
			registerSIMD(s.from, to, ftoiKernel(s.from, to, lanes, a, c))
		}
		reg(dtype.Int8, 16, s.a.i8, ftoiBounds32[int8]())
		reg(dtype.Uint8, 16, s.a.i8, ftoiBounds32[uint8]())
		reg(dtype.Int16, 16, s.a.i16, ftoiBounds32[int16]())
		reg(dtype.Uint16, 16, s.a.i16, ftoiBounds32[uint16]())
		reg(dtype.Int32, 16, s.a.i32, ftoiBounds32[int32]())
		reg(dtype.Uint32, 16, s.a.u32, ftoiBounds32[uint32]())
		reg(dtype.Int64, 8, s.a.i64, ftoiBounds32[int64]())
		reg(dtype.Uint64, 8, s.a.u64, ftoiBounds32[uint64]())
		reg(dtype.Bool, 16, s.a.b, ftoiConst{})
	}
	f64Like := []struct {
		from dtype.Type
		a    asms
	}{
		{dtype.Float64, asms{ftoiF64Q8, ftoiF64Q16, ftoiF64Q32, ftoiF64Q32, ftoiF64I64, ftoiF64U64, ftoiF64B}},
		{dtype.Complex128, asms{ftoiC128Q8, ftoiC128Q16, ftoiC128Q32, ftoiC128Q32, ftoiC128I64, ftoiC128U64, ftoiC128B}},
	}
	for _, s := range f64Like {
		reg := func(to dtype.Type, a ftoiAsm, c ftoiConst) {
			registerSIMD(s.from, to, ftoiKernel(s.from, to, 8, a, c))
		}
		reg(dtype.Int8, s.a.i8, ftoiBounds64[int8]())
		reg(dtype.Uint8, s.a.i8, ftoiBounds64[uint8]())
		reg(dtype.Int16, s.a.i16, ftoiBounds64[int16]())
		reg(dtype.Uint16, s.a.i16, ftoiBounds64[uint16]())
		reg(dtype.Int32, s.a.i32, ftoiBounds64[int32]())
		reg(dtype.Uint32, s.a.u32, ftoiBounds64[uint32]())
		reg(dtype.Int64, s.a.i64, ftoiBounds64[int64]())
		reg(dtype.Uint64, s.a.u64, ftoiBounds64[uint64]())
		reg(dtype.Bool, s.a.b, ftoiConst{})
	}
}

// ftoiBounds32 turns makeFit's thresholds on magnitude bits into float32
// bounds: below range is a negative value whose magnitude reaches neg,
// x <= -float(neg); above range is x >= float(pos).
func ftoiBounds32[T integer]() ftoiConst {
	f := makeFit[uint32, T]()
	return ftoiConst{lo: uint64(f.neg | 1<<31), hi: uint64(f.pos), min: uint64(f.minT), max: uint64(f.maxT)}
}

func ftoiBounds64[T integer]() ftoiConst {
	f := makeFit[uint64, T]()
	return ftoiConst{lo: f.neg | 1<<63, hi: f.pos, min: uint64(f.minT), max: uint64(f.maxT)}
}

// ftoiKernel runs the assembly a over the whole vectors and the Go
// kernel for from → to (taken before registering, so it is the one
// native would give without vector kernels) over the rest.
func ftoiKernel(from, to dtype.Type, lanes int, a ftoiAsm, c0 ftoiConst) rawKernel {
	slow := goNative(from, to)
	fs, ts := from.Size(), to.Size()
	return func(dst, src []byte, st *Stats) {
		n := len(src) / fs
		m := n - n%lanes
		_ = dst[:n*ts]
		var c Stats
		for i := 0; i < m; {
			j := i + min(m-i, simdMaxRun)
			out, im, nan, inf := a(unsafe.Pointer(&dst[i*ts]), unsafe.Pointer(&src[i*fs]), j-i, &c0)
			if to != dtype.Bool {
				out -= inf // saturated, but counted as inf
			}
			c.OutOfRange += int64(out)
			c.Imaginary += int64(im)
			c.NaN += int64(nan)
			c.Inf += int64(inf)
			i = j
		}
		if st != nil {
			st.Add(c)
		}
		if m < n {
			slow(dst[m*ts:n*ts], src[m*fs:], st)
		}
	}
}

// The assembly kernels (ftoiAsm), by source and result: D8 and D16
// narrow float32 values through int32 to 8 and 16 bits, Q8, Q16 and Q32
// float64 values through int64; B is → bool.

//go:noescape
func ftoiF32D8(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

//go:noescape
func ftoiF32D16(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

//go:noescape
func ftoiF32I32(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

//go:noescape
func ftoiF32U32(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

//go:noescape
func ftoiF32I64(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

//go:noescape
func ftoiF32U64(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

//go:noescape
func ftoiF32B(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

//go:noescape
func ftoiF16D8(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

//go:noescape
func ftoiF16D16(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

//go:noescape
func ftoiF16I32(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

//go:noescape
func ftoiF16U32(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

//go:noescape
func ftoiF16I64(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

//go:noescape
func ftoiF16U64(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

//go:noescape
func ftoiF16B(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

//go:noescape
func ftoiC64D8(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

//go:noescape
func ftoiC64D16(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

//go:noescape
func ftoiC64I32(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

//go:noescape
func ftoiC64U32(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

//go:noescape
func ftoiC64I64(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

//go:noescape
func ftoiC64U64(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

//go:noescape
func ftoiC64B(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

//go:noescape
func ftoiF64Q8(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

//go:noescape
func ftoiF64Q16(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

//go:noescape
func ftoiF64Q32(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

//go:noescape
func ftoiF64I64(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

//go:noescape
func ftoiF64U64(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

//go:noescape
func ftoiF64B(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

//go:noescape
func ftoiC128Q8(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

//go:noescape
func ftoiC128Q16(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

//go:noescape
func ftoiC128Q32(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

//go:noescape
func ftoiC128I64(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

//go:noescape
func ftoiC128U64(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)

//go:noescape
func ftoiC128B(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)
