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
// the imaginary qword lanes 0xaa; Z16-Z20 constants of D2H16.

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

// PAIR16(k) turns k, a mask of 16 parts, into a mask of the eight
// complex values (pairs) with a part in it. Clobbers Z4.
#define PAIR16(k) \
	VPMOVM2D k, Z4; \
	VPTESTMQ Z4, Z4, k

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

// func narrowC128C64(d, s *byte, n int) (nan, inf, out, im int) (step 8)
//
// Both parts narrowed; counted per complex value as c128ToC64 does: NaN
// when a part is NaN, else inf when a part is ±inf, else out of range
// when a part overflows. The part masks of 8 values (16 parts: NaN from
// the float32 results, which are NaN exactly when the source is; ±inf
// from the sources) are widened to dwords and tested as qwords, one per
// value.
TEXT ·narrowC128C64(SB), NOSPLIT, $0-56
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	NCONST
	TESTQ CX, CX
	JZ   c128c64_done

c128c64_loop:
	VMOVUPD      (SI), Z0
	VMOVUPD      64(SI), Z2
	VCVTPD2PS    Z0, Y1
	VCVTPD2PS    Z2, Y3
	VINSERTF32X8 $1, Y3, Z1, Z1
	VMOVUPS      Z1, (DI)
	VFPCLASSPSZ  $0x81, Z1, K1
	VFPCLASSPSZ  $0x99, Z1, K3
	VFPCLASSPDZ  $0x18, Z0, K2
	VFPCLASSPDZ  $0x18, Z2, K4
	KUNPCKBW     K2, K4, K2
	KORW         K1, K2, K2
	PAIR16(K1)
	PAIR16(K2)
	PAIR16(K3)
	CNT(K1, Z24)
	CNT(K2, Z25)
	CNT(K3, Z26)
	ADDQ         $128, SI
	ADDQ         $64, DI
	SUBQ         $8, CX
	JNZ          c128c64_loop

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

// D2H16(a, b) rounds the 16 float64 in a and b (in order) to float16
// bits in Y6, as f64ToHalfSlice does (one rounding, as
// npy_doublebits_to_halfbits), and counts them. It rounds to odd into
// float32 (VCVTPD2PS toward zero, then the lowest bit set where that was
// inexact), which has more than two bits beyond float16's precision, so
// that VCVTPS2PH's rounding to nearest even is the one correct rounding
// of the float64 (subnormal float16 results, overflow to inf and ties
// included). NaNs come out quieted; only when a NaN is there (K3), the
// rare path d2hnan puts in the bits NumPy keeps. The float32 values
// (rounded toward zero, so never inf unless the source was) classify
// the sources: NaN (|f| > inf, K3), NaN or ±inf (|f| >= inf, K4);
// |f| >= 65520 the results that are inf or NaN (K5). Constants: Z15 dwords
// of 1, Z16 dwords of 0x7fffffff, Z17 dwords of 0x477ff000 (65520, the
// least magnitude that rounds to inf), Z18 words of 0x8000, Z19 words
// of 0x3ff, Z20 words of 1, Z21 dwords of 0x7f800000 (inf). Clobbers Z1, Z3-Z5, Z7, K1-K5.
#define D2H16(a, b) \
	VCVTPD2PS.RZ_SAE a, Y1; \
	VCVTPD2PS.RZ_SAE b, Y3; \
	VCVTPS2PD        Y1, Z4; \
	VCVTPS2PD        Y3, Z5; \
	VCMPPD           $4, Z4, a, K1; \
	VCMPPD           $4, Z5, b, K2; \
	KUNPCKBW         K1, K2, K1; \
	VINSERTF32X8     $1, Y3, Z1, Z1; \
	VPORD            Z15, Z1, K1, Z1; \
	VCVTPS2PH        $0, Z1, Y6; \
	VPANDD           Z16, Z1, Z7; \
	VPCMPUD          $6, Z21, Z7, K3; \
	VPCMPUD          $5, Z21, Z7, K4; \
	VPCMPUD          $5, Z17, Z7, K5; \
	CNT(K3, Z24); \
	CNT(K4, Z25); \
	CNT(K5, Z26); \
	KORTESTW         K3, K3; \
	JNZ              d2hnan; \
d2hback:

// D2HNAN(a, b) is D2H16's rare path: the NaN lanes K3 of Y6 get sign |
// 0x7c00 | the top ten payload bits (x >> 42), or | 1 when those are zero
// (a signalling NaN stays signalling). The sign is VCVTPS2PH's, the rest
// the low word of x >> 42 (0xfc00 | payload for a NaN). Clobbers Z8, Z9,
// K6.
#define D2HNAN(a, b) \
d2hnan: \
	VPSRLQ      $42, a, Z8; \
	VPSRLQ      $42, b, Z9; \
	VPMOVQW     Z8, X8; \
	VPMOVQW     Z9, X9; \
	VINSERTI128 $1, X9, Y8, Y8; \
	VPTERNLOGD  $0xb8, Y6, Y18, Y8; \
	VPTESTNMW   Y19, Y8, K6; \
	VPADDW      Y20, Y8, K6, Y8; \
	VMOVDQU16   Y8, K3, Y6; \
	JMP         d2hback

// D2HCONST loads D2H16's constants.
#define D2HCONST \
	MOVL         $0x7fffffff, AX; \
	VPBROADCASTD AX, Z16; \
	MOVL         $0x477ff000, AX; \
	VPBROADCASTD AX, Z17; \
	MOVL         $0x80008000, AX; \
	VPBROADCASTD AX, Z18; \
	MOVL         $0x03ff03ff, AX; \
	VPBROADCASTD AX, Z19; \
	MOVL         $0x00010001, AX; \
	VPBROADCASTD AX, Z20; \
	MOVL         $0x7f800000, AX; \
	VPBROADCASTD AX, Z21

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
	VMOVUPD 64(SI), Z2
	D2H16(Z0, Z2)
	VMOVDQU Y6, (DI)
	ADDQ    $128, SI
	ADDQ    $32, DI
	SUBQ    $16, CX
	JNZ     f64f16_loop

f64f16_done:
	NRET
	D2HNAN(Z0, Z2)

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
	VMOVUPD 128(SI), Z2
	VMOVUPD 192(SI), Z11
	IMAGQ(Z0)
	IMAGQ(Z10)
	IMAGQ(Z2)
	IMAGQ(Z11)
	REALQ(Z0, Z10)
	REALQ(Z2, Z11)
	D2H16(Z0, Z2)
	VMOVDQU Y6, (DI)
	ADDQ    $256, SI
	ADDQ    $32, DI
	SUBQ    $16, CX
	JNZ     c128f16_loop

c128f16_done:
	NRET
	D2HNAN(Z0, Z2)
