//go:build !purego

package cast

import (
	"unsafe"

	"github.com/bigconv/bigconv/dtype"
	"golang.org/x/sys/cpu"
)

// Vector kernels for integer ↔ integer casts, bool ↔ number casts and
// byte swaps (simd_int_amd64.s). Each assembly function does k whole
// units of work; vecKernel hands the items left over (fewer than a unit)
// to the Go kernel.
//
//	widening          AVX2        VPMOVSX*/VPMOVZX*, negatives counted
//	                              (VPMOVMSKB) for signed → unsigned
//	narrowing         AVX-512F/BW VPMOV{WB,DB,DW,QB,QW,QD}, values that
//	                              do not fit counted (VPTESTM, POPCNT)
//	same size         AVX2        a copy, set top bits counted
//	bool ↔ 1-byte     AVX2        VPMINUB
//	bool → wider      AVX2        VPCMPEQB, VPMOVSXB*, VPANDN
//	wider int → bool  AVX-512F/BW VPMINU*, VPMOV*B
//	byte swap         AVX2        VPSHUFB

var (
	haveIntAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasPOPCNT
	haveIntAVX512 = haveIntAVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW
)

// A blockFn converts k units of items from s to d and returns what it
// counted.
type blockFn func(d, s *byte, k int) int

// vecKernel runs f on the whole units of src (unit items each) and the
// Go kernel tail on the rest. count says whether f's count is the
// kernel's Stats.OutOfRange.
func vecKernel(fs, ts, unit int, count bool, f blockFn, tail rawKernel) rawKernel {
	return func(dst, src []byte, st *Stats) {
		n := len(src) / fs
		dst = dst[:n*ts]
		if k := n / unit; k > 0 {
			c := f(unsafe.SliceData(dst), unsafe.SliceData(src), k)
			if st != nil && count {
				st.OutOfRange += int64(c)
			}
			m := k * unit
			dst, src = dst[m*ts:], src[m*fs:]
		}
		if len(src) > 0 {
			tail(dst, src, st)
		}
	}
}

var intTypes = [...]dtype.Type{dtype.Int8, dtype.Int16, dtype.Int32, dtype.Int64, dtype.Uint8, dtype.Uint16, dtype.Uint32, dtype.Uint64}

func signed(t dtype.Type) bool { return t.Kind() == dtype.KindInt }

func init() {
	if !haveIntAVX2 {
		return
	}
	for _, from := range intTypes {
		for _, to := range intTypes {
			if from != to {
				if k := intKernel(from, to); k != nil {
					registerSIMD(from, to, k)
				}
			}
		}
		if k := toBoolKernel(from); k != nil {
			registerSIMD(from, dtype.Bool, k)
		}
	}
	for _, to := range append(intTypes[:], dtype.Float16, dtype.Float32, dtype.Float64) {
		registerSIMD(dtype.Bool, to, boolKernel(to))
	}
}

// widenFns are the widening functions by source and target size (log2),
// sign- and zero-extending.
var widenFns = [4][4][2]blockFn{
	0: {1: {sx8to16, zx8to16}, 2: {sx8to32, zx8to32}, 3: {sx8to64, zx8to64}},
	1: {2: {sx16to32, zx16to32}, 3: {sx16to64, zx16to64}},
	2: {3: {sx32to64, zx32to64}},
}

// narrowFns are the narrowing functions by source and target size
// (log2).
var narrowFns = [4][4]func(d, s *byte, k int, bias, shift uint64) int{
	1: {0: narrow16to8},
	2: {0: narrow32to8, 1: narrow32to16},
	3: {0: narrow64to8, 1: narrow64to16, 2: narrow64to32},
}

func log2(size int) int {
	switch size {
	case 1:
		return 0
	case 2:
		return 1
	case 4:
		return 2
	}
	return 3
}

// intKernel is the vector kernel for one integer type to another, or nil
// when the CPU lacks what it needs.
func intKernel(from, to dtype.Type) rawKernel {
	fs, ts := from.Size(), to.Size()
	tail := goNative(from, to)
	switch {
	case fs == ts:
		// A copy; a value changed when its top bit is set.
		mask := [...]uint32{0xffffffff, 0xaaaaaaaa, 0x88888888, 0x80808080}[log2(fs)]
		k := vecKernel(fs, ts, 64/fs, true, func(d, s *byte, k int) int { return copyTopBits(d, s, k, mask) }, tail)
		return func(dst, src []byte, st *Stats) {
			if st == nil {
				copy(dst, src)
				return
			}
			k(dst, src, st)
		}
	case fs < ts:
		// Lossy only from signed to unsigned, for negative values.
		if signed(from) {
			return vecKernel(fs, ts, 64/ts, !signed(to), widenFns[log2(fs)][log2(ts)][0], tail)
		}
		return vecKernel(fs, ts, 64/ts, false, widenFns[log2(fs)][log2(ts)][1], tail)
	}
	if !haveIntAVX512 {
		return nil
	}
	// A value x does not fit when (x + bias) >> shift != 0 (unsigned,
	// in the source width): signed → signed, x + 2^(tb-1) ≥ 2^tb;
	// unsigned → signed, x ≥ 2^(tb-1); → unsigned, x ≥ 2^tb (negative
	// values are huge unsigned).
	tb := uint64(8 * ts)
	bias, shift := uint64(0), tb
	switch {
	case signed(to) && signed(from):
		bias = 1 << (tb - 1)
	case signed(to):
		shift = tb - 1
	}
	f := narrowFns[log2(fs)][log2(ts)]
	return vecKernel(fs, ts, 128/fs, true, func(d, s *byte, k int) int { return f(d, s, k, bias, shift) }, tail)
}

// toBoolKernel is the vector kernel for an integer type to bool, or nil.
func toBoolKernel(from dtype.Type) rawKernel {
	tail := goNative(from, dtype.Bool)
	fs := from.Size()
	if fs == 1 {
		return vecKernel(1, 1, 64, false, func(d, s *byte, k int) int { bytesNonZero(d, s, k); return 0 }, tail)
	}
	if !haveIntAVX512 {
		return nil
	}
	var f func(d, s *byte, k int)
	switch fs {
	case 2:
		f = bool16
	case 4:
		f = bool32
	default:
		f = bool64
	}
	return vecKernel(fs, 1, 128/fs, false, func(d, s *byte, k int) int { f(d, s, k); return 0 }, tail)
}

// boolKernel is the vector kernel for bool to an integer or float type.
func boolKernel(to dtype.Type) rawKernel {
	tail := goNative(dtype.Bool, to)
	ts := to.Size()
	if ts == 1 {
		return vecKernel(1, 1, 64, false, func(d, s *byte, k int) int { bytesNonZero(d, s, k); return 0 }, tail)
	}
	one := uint64(1)
	switch to {
	case dtype.Float16:
		one = 0x3c00
	case dtype.Float32:
		one = 0x3f800000
	case dtype.Float64:
		one = 0x3ff0000000000000
	}
	var f func(d, s *byte, k int, one uint64)
	switch ts {
	case 2:
		f = fromBool16
	case 4:
		f = fromBool32
	default:
		f = fromBool64
	}
	return vecKernel(1, ts, 64/ts, false, func(d, s *byte, k int) int { f(d, s, k, one); return 0 }, tail)
}

// The VPSHUFB tables that reverse each 2-, 4- and 8-byte item of a
// 16-byte lane (twice: for both lanes of a YMM register).
var (
	swapTable2 = [32]byte{1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14}
	swapTable4 = [32]byte{3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12}
	swapTable8 = [32]byte{7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8}
)

// swapVector reverses the bytes of each size-byte item (2, 4, 8, or 16
// as two 8-byte halves) of the longest prefix of src that is a whole
// number of 64-byte units, into dst (same length as src; the same slice
// or not overlapping), and returns that prefix's length: 0 without
// AVX2.
func swapVector(dst, src []byte, size int) int {
	k := len(src) / 64
	if !haveIntAVX2 || k == 0 {
		return 0
	}
	_ = dst[:k*64]
	tbl := &swapTable8
	switch size {
	case 2:
		tbl = &swapTable2
	case 4:
		tbl = &swapTable4
	}
	swapBytes(unsafe.SliceData(dst), unsafe.SliceData(src), k, tbl)
	return k * 64
}

// The assembly functions; see simd_int_amd64.s.

//go:noescape
func sx8to16(d, s *byte, k int) (count int)

//go:noescape
func sx8to32(d, s *byte, k int) (count int)

//go:noescape
func sx8to64(d, s *byte, k int) (count int)

//go:noescape
func sx16to32(d, s *byte, k int) (count int)

//go:noescape
func sx16to64(d, s *byte, k int) (count int)

//go:noescape
func sx32to64(d, s *byte, k int) (count int)

//go:noescape
func zx8to16(d, s *byte, k int) (count int)

//go:noescape
func zx8to32(d, s *byte, k int) (count int)

//go:noescape
func zx8to64(d, s *byte, k int) (count int)

//go:noescape
func zx16to32(d, s *byte, k int) (count int)

//go:noescape
func zx16to64(d, s *byte, k int) (count int)

//go:noescape
func zx32to64(d, s *byte, k int) (count int)

//go:noescape
func narrow16to8(d, s *byte, k int, bias, shift uint64) (count int)

//go:noescape
func narrow32to8(d, s *byte, k int, bias, shift uint64) (count int)

//go:noescape
func narrow32to16(d, s *byte, k int, bias, shift uint64) (count int)

//go:noescape
func narrow64to8(d, s *byte, k int, bias, shift uint64) (count int)

//go:noescape
func narrow64to16(d, s *byte, k int, bias, shift uint64) (count int)

//go:noescape
func narrow64to32(d, s *byte, k int, bias, shift uint64) (count int)

//go:noescape
func bool16(d, s *byte, k int)

//go:noescape
func bool32(d, s *byte, k int)

//go:noescape
func bool64(d, s *byte, k int)

//go:noescape
func fromBool16(d, s *byte, k int, one uint64)

//go:noescape
func fromBool32(d, s *byte, k int, one uint64)

//go:noescape
func fromBool64(d, s *byte, k int, one uint64)

//go:noescape
func bytesNonZero(d, s *byte, k int)

//go:noescape
func copyTopBits(d, s *byte, k int, mask uint32) (count int)

//go:noescape
func swapBytes(d, s *byte, k int, tbl *[32]byte)
