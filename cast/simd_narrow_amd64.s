//go:build !purego

#include "textflag.h"

// Narrowing float → float vector routines for simd_narrow_amd64.go, with
// AVX-512 (F, DQ, BW, VL). Each has the Go signature
//
//	func(d, s *byte, n int) (nan, inf, out, im int)
//
// converts n items (a multiple of its step) from s to d and counts what
// the Go kernel counts: NaN, ±inf, finite values that overflow, and
// non-zero imaginary parts dropped. Nothing branches on the data: NaN,
// inf and overflow are converted in the vector code (the hardware's
// conversion where it is NumPy's, blended exact bits where it is not)
// and counted by masked adds of 1 into dword count lanes, summed at the
// end:
//
//	Z24  NaN sources (complex → complex: values with a NaN part)
//	Z25  NaN or ±inf sources (a part NaN or ±inf)
//	Z26  results NaN or ±inf (a part)
//	Z27  non-zero (or NaN) imaginary parts
//
// so nan = Σ Z24, inf = Σ Z25 - nan, out = Σ Z26 - Σ Z25.
//
// Registers: DI d, SI s, CX items left; Z0-Z14 data, K1-K6 masks;
// Z15 dwords of 1, Z28 zero, Z29 the qword indexes of real parts, K7
// the imaginary qword lanes 0xaa; Z16-Z23, Z30, Z31 constants of D2HX.

// The qword indexes of the real parts of eight complex128 in two
// registers (VPERMT2Q), as bytes for VPMOVZXBQ.
DATA narrowEvenQ<>+0(SB)/8, $0x0e0c0a0806040200
GLOBL narrowEvenQ<>(SB), RODATA|NOPTR, $8

#define NCONST \
	MOVL         $1, AX; \
	VPBROADCASTD AX, Z15; \
	VPXORD       Z24, Z24, Z24; \
	VPXORD       Z25, Z25, Z25; \
	VPXORD       Z26, Z26, Z26; \
	VPXORD       Z27, Z27, Z27; \
	VPXORQ       Z28, Z28, Z28; \
	MOVL         $0xaa, AX; \
	KMOVW        AX, K7; \
	VPMOVZXBQ    narrowEvenQ<>(SB), Z29

// HSUM(z, y, r) sets r to the sum of the 16 dwords of z (y: its low
// half). Clobbers Z4, Z5.
#define HSUM(z, y, r) \
	VEXTRACTI64X4 $1, z, Y4; \
	VPMOVZXDQ     Y4, Z4; \
	VPMOVZXDQ     y, Z5; \
	VPADDQ        Z4, Z5, Z4; \
	VEXTRACTI64X4 $1, Z4, Y5; \
	VPADDQ        Y4, Y5, Y4; \
	VEXTRACTI128  $1, Y4, X5; \
	VPADDQ        X4, X5, X4; \
	VPSHUFD       $0x4e, X4, X5; \
	VPADDQ        X4, X5, X4; \
	VMOVQ         X4, r

// NRET stores the results from the count lanes and returns.
#define NRET \
	HSUM(Z24, Y24, R8); \
	HSUM(Z25, Y25, R9); \
	HSUM(Z26, Y26, R10); \
	HSUM(Z27, Y27, R11); \
	VZEROUPPER; \
	SUBQ R9, R10; \
	SUBQ R8, R9; \
	MOVQ R8, nan+24(FP); \
	MOVQ R9, inf+32(FP); \
	MOVQ R10, out+40(FP); \
	MOVQ R11, im+48(FP); \
	RET

// CNT(k, acc) adds 1 to the lanes k of acc.
#define CNT(k, acc) VPADDD Z15, acc, k, acc

// PAIR(k) turns k, a mask of eight qword parts, into a mask of the four
// complex values (pairs) with a part in it. Clobbers Y4.
#define PAIR(k) \
	VPMOVM2D k, Y4; \
	VPTESTMQ Y4, Y4, k

// IMAGQ(z) counts the non-zero (or NaN) imaginary parts of the four
// complex128 in z. Clobbers K6.
#define IMAGQ(z) \
	VCMPPD $4, Z28, z, K7, K6; \
	CNT(K6, Z27)

// REALQ(a, b) leaves the real parts of the eight complex128 in a, b in a.
#define REALQ(a, b) VPERMT2Q b, Z29, a

// D2S(z, y) rounds the eight float64 in z to float32 in y (VCVTPD2PS is
// Go's float32(float64) and NumPy's cast: to nearest even, overflow to
// ±inf, NaN quieted) and counts them. Clobbers K1-K3.
#define D2S(z, y) \
	VCVTPD2PS   z, y; \
	VFPCLASSPDZ $0x81, z, K1; \
	VFPCLASSPDZ $0x99, z, K2; \
	VFPCLASSPSY $0x99, y, K3; \
	CNT(K1, Z24); \
	CNT(K2, Z25); \
	CNT(K3, Z26)

// func narrowF64F32(d, s *byte, n int) (nan, inf, out, im int) (step 8)
TEXT ·narrowF64F32(SB), NOSPLIT, $0-56
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	NCONST
	TESTQ CX, CX
	JZ   f64f32_done

f64f32_loop:
	VMOVUPD (SI), Z0
	D2S(Z0, Y1)
	VMOVUPS Y1, (DI)
	ADDQ    $64, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     f64f32_loop

f64f32_done:
	NRET

// func narrowF64C64(d, s *byte, n int) (nan, inf, out, im int) (step 8)
//
// narrowF64F32, each float32 then widened to a (re, 0) pair.
TEXT ·narrowF64C64(SB), NOSPLIT, $0-56
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	NCONST
	TESTQ CX, CX
	JZ   f64c64_done

f64c64_loop:
	VMOVUPD   (SI), Z0
	D2S(Z0, Y1)
	VPMOVZXDQ Y1, Z2
	VMOVDQU64 Z2, (DI)
	ADDQ      $64, SI
	ADDQ      $64, DI
	SUBQ      $8, CX
	JNZ       f64c64_loop

f64c64_done:
	NRET

// func narrowC128C64(d, s *byte, n int) (nan, inf, out, im int) (step 4)
//
// Both parts narrowed; counted per complex value as c128ToC64 does: NaN
// when a part is NaN, else inf when a part is ±inf, else out of range
// when a part overflows.
TEXT ·narrowC128C64(SB), NOSPLIT, $0-56
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	NCONST
	TESTQ CX, CX
	JZ   c128c64_done

c128c64_loop:
	VMOVUPD     (SI), Z0
	VCVTPD2PS   Z0, Y1
	VMOVUPS     Y1, (DI)
	VFPCLASSPDZ $0x81, Z0, K1
	VFPCLASSPDZ $0x99, Z0, K2
	VFPCLASSPSY $0x99, Y1, K3
	PAIR(K1)
	PAIR(K2)
	PAIR(K3)
	CNT(K1, Z24)
	CNT(K2, Z25)
	CNT(K3, Z26)
	ADDQ        $64, SI
	ADDQ        $32, DI
	SUBQ        $4, CX
	JNZ         c128c64_loop

c128c64_done:
	NRET

// func narrowC128F32(d, s *byte, n int) (nan, inf, out, im int) (step 8)
TEXT ·narrowC128F32(SB), NOSPLIT, $0-56
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	NCONST
	TESTQ CX, CX
	JZ   c128f32_done

c128f32_loop:
	VMOVUPD (SI), Z0
	VMOVUPD 64(SI), Z2
	IMAGQ(Z0)
	IMAGQ(Z2)
	REALQ(Z0, Z2)
	D2S(Z0, Y1)
	VMOVUPS Y1, (DI)
	ADDQ    $128, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     c128f32_loop

c128f32_done:
	NRET

// D2HX(z, t1, t2, t3, t4) rounds the eight float64 in z to float16 bits in the low words
// of its qwords, as f64ToHalfSlice does, and counts them. From a = |x|:
// the fast path h = min(max((a + 0x1ffffffffff + (a>>42 & 1)) >> 42,
// 1008<<10) - 1008<<10, 0x7c00) (exact for normal results, zero and
// overflow to inf); for 2^-25 < |x| < 2^-14 (subnormal results, K2)
// the FPU's rounding of a + 2^28, whose ulp is float16's subnormal step
// 2^-24, minus 2^28's bits; for NaN (K1) 0x7c00 | the top ten payload
// bits, or 1 when those are zero (npy_doublebits_to_halfbits: a
// signalling NaN stays signalling). Then the sign. Constants: Z16 |·|
// mask, Z17 0x1ffffffffff, Z18 1, Z19 1008<<10, Z20 0x7c00, Z21 0x8000,
// Z22 0x3e60000000000001, Z23 0x3f10000000000000-0x3e60000000000001,
// Z30 2^28, Z31 0x3ff. Clobbers t1-t4, K1-K5.
#define D2HX(z, t1, t2, t3, t4) \
	VPANDQ      Z16, z, t1; \
	VPSRLQ      $42, t1, t4; \
	VPANDQ      Z18, t4, t2; \
	VPADDQ      Z17, t1, t3; \
	VPADDQ      t2, t3, t3; \
	VPSRLQ      $42, t3, t3; \
	VPMAXUQ     Z19, t3, t3; \
	VPSUBQ      Z19, t3, t3; \
	VPMINUQ     Z20, t3, t3; \
	VPCMPEQQ    Z20, t3, K3; \
	VPSUBQ      Z22, t1, t2; \
	VPCMPUQ     $1, Z23, t2, K2; \
	VADDPD      Z30, t1, t2; \
	VPSUBQ      Z30, t2, K2, t3; \
	VFPCLASSPDZ $0x81, z, K1; \
	VFPCLASSPDZ $0x99, z, K5; \
	VPTESTNMQ   Z31, t4, K4; \
	VPTERNLOGQ  $0xea, Z20, Z31, t4; \
	VPORQ       Z18, t4, K4, t4; \
	VMOVDQA64   t4, K1, t3; \
	CNT(K1, Z24); \
	CNT(K5, Z25); \
	CNT(K3, Z26); \
	VPSRLQ      $48, z, z; \
	VPTERNLOGQ  $0xea, t3, Z21, z

// D2HCONST loads D2HX's constants.
#define D2HCONST \
	MOVQ         $0x7fffffffffffffff, AX; \
	VPBROADCASTQ AX, Z16; \
	MOVQ         $0x1ffffffffff, AX; \
	VPBROADCASTQ AX, Z17; \
	MOVQ         $1, AX; \
	VPBROADCASTQ AX, Z18; \
	MOVQ         $0xfc000, AX; \
	VPBROADCASTQ AX, Z19; \
	MOVQ         $0x7c00, AX; \
	VPBROADCASTQ AX, Z20; \
	MOVQ         $0x8000, AX; \
	VPBROADCASTQ AX, Z21; \
	MOVQ         $0x3e60000000000001, AX; \
	VPBROADCASTQ AX, Z22; \
	MOVQ         $0x00afffffffffffff, AX; \
	VPBROADCASTQ AX, Z23; \
	MOVQ         $0x41b0000000000000, AX; \
	VPBROADCASTQ AX, Z30; \
	MOVQ         $0x3ff, AX; \
	VPBROADCASTQ AX, Z31

// func narrowF64F16(d, s *byte, n int) (nan, inf, out, im int) (step 16)
TEXT ·narrowF64F16(SB), NOSPLIT, $0-56
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	NCONST
	D2HCONST
	TESTQ CX, CX
	JZ   f64f16_done

f64f16_loop:
	VMOVUPD (SI), Z0
	VMOVUPD 64(SI), Z6
	D2HX(Z0, Z1, Z2, Z3, Z4)
	D2HX(Z6, Z7, Z8, Z9, Z5)
	VPMOVQW Z0, X0
	VPMOVQW Z6, X6
	VMOVDQU X0, (DI)
	VMOVDQU X6, 16(DI)
	ADDQ    $128, SI
	ADDQ    $32, DI
	SUBQ    $16, CX
	JNZ     f64f16_loop

f64f16_done:
	NRET

// func narrowC128F16(d, s *byte, n int) (nan, inf, out, im int) (step 16)
TEXT ·narrowC128F16(SB), NOSPLIT, $0-56
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	NCONST
	D2HCONST
	TESTQ CX, CX
	JZ   c128f16_done

c128f16_loop:
	VMOVUPD (SI), Z0
	VMOVUPD 64(SI), Z10
	VMOVUPD 128(SI), Z6
	VMOVUPD 192(SI), Z11
	IMAGQ(Z0)
	IMAGQ(Z10)
	IMAGQ(Z6)
	IMAGQ(Z11)
	REALQ(Z0, Z10)
	REALQ(Z6, Z11)
	D2HX(Z0, Z1, Z2, Z3, Z4)
	D2HX(Z6, Z7, Z8, Z9, Z5)
	VPMOVQW Z0, X0
	VPMOVQW Z6, X6
	VMOVDQU X0, (DI)
	VMOVDQU X6, 16(DI)
	ADDQ    $256, SI
	ADDQ    $32, DI
	SUBQ    $16, CX
	JNZ     c128f16_loop

c128f16_done:
	NRET
