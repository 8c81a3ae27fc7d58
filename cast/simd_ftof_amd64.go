//go:build !purego

package cast

import (
	"unsafe"

	"github.com/bigconv/bigconv/dtype"
	"golang.org/x/sys/cpu"
)

// Vector kernels between the float types (float16, bfloat16, float8,
// float32, float64), the complex types and bool → complex.
//
// Each assembly routine (ftofBlock) converts n items, n a multiple of its
// step, and returns a word: bit 63 set when the block holds something the
// vector code does not get right or does not count (a NaN where NumPy
// keeps a payload the hardware would quiet, a float16 result that is
// subnormal, inf or NaN, a float32 result that is inf or NaN), and below
// it the number of non-zero imaginary parts dropped (complex → real). The
// Go side (ftofRun) calls it a chunk at a time and has the Go kernel
// redo a chunk that raised the flag; the Go kernel also does the last
// n % step items. So every result and every count is the Go kernel's.
//
// Where AVX-512 is there (narrowOK), the narrowing pairs whose chunks
// would be redone for NaN, inf or overflow (float64 and complex128 →
// float32, complex64, float16; complex64 → float16) are left to the
// kernels of simd_narrow_amd64.go, which need no Go fallback.

// ftofBlock is the signature of the assembly routines.
type ftofBlock func(d, s *byte, n int) uint64

// ftofFlag is the "redo this chunk" bit of an ftofBlock result.
const ftofFlag = 1 << 63

// ftofChunk is how many items ftofRun hands the assembly at a time: a
// chunk that raises the flag is converted twice.
const ftofChunk = 512

// ftofKernel describes one registered pair.
type ftofKernel struct {
	from, to dtype.Type
	step     int       // the routine converts multiples of step items
	block    ftofBlock // the vector routine
	// exact: when st is nil, a flagged chunk is already right (the flag
	// only means "something to count"), so it need not be redone.
	exact bool
	ok    bool // the CPU has what block needs
	// superseded: simd_narrow_amd64.go registers a kernel without Go
	// fallback for the pair on this CPU; block stays in ftofKernels, for
	// the tests, but is not registered.
	superseded bool
}

func init() {
	avx2 := cpu.X86.HasAVX && cpu.X86.HasAVX2
	f16c := avx2 && cpu.X86.HasF16C
	avx512 := avx2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512VL && cpu.X86.HasPOPCNT
	vbmi := avx512 && cpu.X86.HasAVX512VBMI && f8Symmetric()

	ks := []ftofKernel{
		{dtype.BFloat16, dtype.Float32, 32, bf16ToF32AVX2, false, avx2, false},
		{dtype.Float32, dtype.Float64, 16, f32ToF64AVX, false, avx2, false},
		{dtype.Complex64, dtype.Complex128, 8, c64ToC128AVX, false, avx2, false},
		{dtype.Float64, dtype.Float32, 16, f64ToF32AVX, true, avx2, narrowOK},
		{dtype.Complex128, dtype.Complex64, 8, c128ToC64AVX, true, avx2, narrowOK},
		{dtype.Float16, dtype.Float32, 32, f16ToF32F16C, false, f16c, false},
		{dtype.Float16, dtype.Float64, 16, f16ToF64F16C, false, f16c, false},
		{dtype.Float16, dtype.Complex64, 16, f16ToC64F16C, false, f16c, false},
		{dtype.Float16, dtype.Complex128, 16, f16ToC128F16C, false, f16c, false},
		{dtype.Float32, dtype.Complex64, 16, f32ToC64AVX2, false, avx2, false},
		{dtype.Float32, dtype.Complex128, 16, f32ToC128AVX, false, avx2, false},
		{dtype.Float64, dtype.Complex128, 16, f64ToC128AVX, false, avx2, false},
		{dtype.Float64, dtype.Complex64, 16, f64ToC64AVX2, true, avx2, narrowOK},
		{dtype.Float64, dtype.Float16, 32, f64ToF16AVX512, false, avx512, narrowOK},
		{dtype.Complex128, dtype.Float16, 16, c128ToF16AVX512, false, avx512, narrowOK},
		{dtype.Complex64, dtype.Float32, 32, c64ToF32AVX512, false, avx512, false},
		{dtype.Complex64, dtype.Float64, 32, c64ToF64AVX512, false, avx512, false},
		{dtype.Complex64, dtype.Float16, 32, c64ToF16AVX512, false, avx512 && f16c, narrowOK && haveF16C},
		{dtype.Complex128, dtype.Float64, 16, c128ToF64AVX512, false, avx512, false},
		{dtype.Complex128, dtype.Float32, 16, c128ToF32AVX512, true, avx512, narrowOK},
		{dtype.Float8E5M2, dtype.Float16, 64, e5m2ToF16AVX2, false, avx2, false},
		{dtype.Float8E4M3FN, dtype.Float16, 64, e4m3ToF16VBMI, false, vbmi, false},
		{dtype.Float8E4M3FN, dtype.Float32, 64, e4m3ToF32VBMI, false, vbmi, false},
		{dtype.Float8E5M2, dtype.Float32, 64, e5m2ToF32VBMI, false, vbmi, false},
		{dtype.Bool, dtype.Complex64, 64, boolToC64AVX512, false, avx512, false},
		{dtype.Bool, dtype.Complex128, 64, boolToC128AVX512, false, avx512 && cpu.X86.HasBMI2, false},
	}
	for _, k := range ks {
		if k.ok {
			ftofKernels = append(ftofKernels, k)
		}
	}
	// The Go kernels, made before any of ours is registered (the
	// two-step Go kernels look their first step up in native).
	gos := make([]rawKernel, len(ftofKernels))
	for i, k := range ftofKernels {
		gos[i] = goNative(k.from, k.to)
	}
	for i, k := range ftofKernels {
		if !k.superseded {
			registerSIMD(k.from, k.to, ftofRun(k, gos[i]))
		}
	}
}

// ftofKernels lists the routines the CPU can run, registered or
// superseded, for the tests.
var ftofKernels []ftofKernel

// ftofRun makes the kernel for k: whole chunks by k.block, a flagged
// chunk and the tail by the Go kernel g.
func ftofRun(k ftofKernel, g rawKernel) rawKernel {
	fs, ts, step, block, exact := k.from.Size(), k.to.Size(), k.step, k.block, k.exact
	return func(dst, src []byte, st *Stats) {
		n := len(src) / fs
		m := n &^ (step - 1)
		var im int64
		for i := 0; i < m; {
			c := min(ftofChunk, m-i)
			d, s := dst[i*ts:(i+c)*ts], src[i*fs:(i+c)*fs]
			r := block(unsafe.SliceData(d), unsafe.SliceData(s), c)
			switch {
			case r&ftofFlag == 0:
				im += int64(r)
			case st != nil || !exact:
				g(d, s, st)
			}
			i += c
		}
		if st != nil {
			st.Imaginary += im
		}
		if m < n {
			g(dst[m*ts:n*ts], src[m*fs:], st)
		}
	}
}

// f8Tab holds, for a float8 type, the bytes of its decoding table split
// into planes for VPERMI2B (7-bit index: the table for b and b|0x80 is
// the same but for the sign bit, which the routine copies), and the
// byte shuffles that interleave the planes into results.
type f8Tab struct {
	hi, lo [128]byte // the top byte (without sign) and the byte below it
}

// f8Shuffle holds VPERMI2B indexes: f32[q] builds dwords 16q..16q+15 of
// a 64-item block (bytes 2 and 3 from lo and hi, bytes 0, 1 zeroed by a
// mask), f16[q] words 32q..32q+31.
type f8Shuffle struct {
	f32 [4][64]byte
	f16 [2][64]byte
}

var (
	e4m3F32Tab, e4m3F16Tab, e5m2F32Tab f8Tab
	f8Shuf                             f8Shuffle
)

// f8Symmetric builds the f8 tables and reports whether the float8
// tables are what the VBMI routines assume: the value of b|0x80 is that
// of b with the sign bit set, and float32 results have zero low halves.
func f8Symmetric() bool {
	for b := range 128 {
		for _, t := range []*[256]uint32{&e4m3Table, &e5m2Table} {
			if t[b|0x80] != t[b]|0x80000000 || t[b]&0x8000ffff != 0 {
				return false
			}
		}
		if e4m3HalfTable[b|0x80] != e4m3HalfTable[b]|0x8000 || e4m3HalfTable[b]&0x8000 != 0 {
			return false
		}
		e4m3F32Tab.hi[b], e4m3F32Tab.lo[b] = byte(e4m3Table[b]>>24), byte(e4m3Table[b]>>16)
		e5m2F32Tab.hi[b], e5m2F32Tab.lo[b] = byte(e5m2Table[b]>>24), byte(e5m2Table[b]>>16)
		e4m3F16Tab.hi[b], e4m3F16Tab.lo[b] = byte(e4m3HalfTable[b]>>8), byte(e4m3HalfTable[b])
	}
	for q := range 4 {
		for i := range 16 {
			f8Shuf.f32[q][4*i+2] = byte(16*q + i)
			f8Shuf.f32[q][4*i+3] = byte(64 + 16*q + i)
		}
	}
	for q := range 2 {
		for i := range 32 {
			f8Shuf.f16[q][2*i] = byte(32*q + i)
			f8Shuf.f16[q][2*i+1] = byte(64 + 32*q + i)
		}
	}
	return true
}

func e4m3ToF32VBMI(d, s *byte, n int) uint64 { return f8ToF32VBMI(d, s, n, &e4m3F32Tab, &f8Shuf) }
func e5m2ToF32VBMI(d, s *byte, n int) uint64 { return f8ToF32VBMI(d, s, n, &e5m2F32Tab, &f8Shuf) }
func e4m3ToF16VBMI(d, s *byte, n int) uint64 { return f8ToF16VBMI(d, s, n, &e4m3F16Tab, &f8Shuf) }

// The assembly routines, in simd_ftof_amd64.s. Each converts n items (a
// multiple of the step given in init) from s to d; see ftofBlock.

//go:noescape
func bf16ToF32AVX2(d, s *byte, n int) uint64

//go:noescape
func f32ToF64AVX(d, s *byte, n int) uint64

//go:noescape
func f64ToF32AVX(d, s *byte, n int) uint64

// c64ToC128AVX is f32ToF64AVX on the 2n parts.
func c64ToC128AVX(d, s *byte, n int) uint64 { return f32ToF64AVX(d, s, 2*n) }

// c128ToC64AVX is f64ToF32AVX on the 2n parts: the Go kernel counts per
// complex value, so a flagged chunk is redone when counting.
func c128ToC64AVX(d, s *byte, n int) uint64 { return f64ToF32AVX(d, s, 2*n) }

//go:noescape
func f16ToF32F16C(d, s *byte, n int) uint64

//go:noescape
func f16ToF64F16C(d, s *byte, n int) uint64

//go:noescape
func f16ToC64F16C(d, s *byte, n int) uint64

//go:noescape
func f16ToC128F16C(d, s *byte, n int) uint64

//go:noescape
func f32ToC64AVX2(d, s *byte, n int) uint64

//go:noescape
func f32ToC128AVX(d, s *byte, n int) uint64

//go:noescape
func f64ToC128AVX(d, s *byte, n int) uint64

//go:noescape
func f64ToC64AVX2(d, s *byte, n int) uint64

//go:noescape
func f64ToF16AVX512(d, s *byte, n int) uint64

//go:noescape
func c128ToF16AVX512(d, s *byte, n int) uint64

//go:noescape
func c64ToF32AVX512(d, s *byte, n int) uint64

//go:noescape
func c64ToF64AVX512(d, s *byte, n int) uint64

//go:noescape
func c64ToF16AVX512(d, s *byte, n int) uint64

//go:noescape
func c128ToF64AVX512(d, s *byte, n int) uint64

//go:noescape
func c128ToF32AVX512(d, s *byte, n int) uint64

//go:noescape
func e5m2ToF16AVX2(d, s *byte, n int) uint64

//go:noescape
func f8ToF32VBMI(d, s *byte, n int, t *f8Tab, sh *f8Shuffle) uint64

//go:noescape
func f8ToF16VBMI(d, s *byte, n int, t *f8Tab, sh *f8Shuffle) uint64

//go:noescape
func boolToC64AVX512(d, s *byte, n int) uint64

//go:noescape
func boolToC128AVX512(d, s *byte, n int) uint64
