//go:build !purego

#include "textflag.h"

// Vector routines for simd_ftof_amd64.go. Each converts n items from s to
// d, n a multiple of its step (> 0 or 0), and returns bit 63 set when the
// Go kernel has to redo the block, else the number of non-zero imaginary
// parts dropped (0 for non-complex sources). Unaligned loads and stores
// throughout.
//
// Register use: DI = d, SI = s, CX = items left, R8 = count, AX = flag.

// FLAGRET sets DX to the result: 1<<63 if AX != 0, else R8. (The
// caller stores it: go vet does not look into macros.)
#define FLAGRET \
	MOVQ    $0x8000000000000000, DX; \
	TESTQ   AX, AX; \
	CMOVQEQ R8, DX

// SPREAD64 stores the four float64 in y as (y[i], 0) pairs at off(DI),
// 64 bytes; Y15 must be zero. Clobbers Y10-Y12.
#define SPREAD64(y, off) \
	VUNPCKLPD  Y15, y, Y10; \
	VUNPCKHPD  Y15, y, Y11; \
	VPERM2F128 $0x20, Y11, Y10, Y12; \
	VPERM2F128 $0x31, Y11, Y10, Y10; \
	VMOVUPD    Y12, off(DI); \
	VMOVUPD    Y10, off+32(DI)

// func bf16ToF32AVX2(d, s *byte, n int) uint64 (step 32)
TEXT ·bf16ToF32AVX2(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	TESTQ CX, CX
	JZ   bf_done

bf_loop:
	VPMOVZXWD 0(SI), Y0
	VPMOVZXWD 16(SI), Y1
	VPMOVZXWD 32(SI), Y2
	VPMOVZXWD 48(SI), Y3
	VPSLLD    $16, Y0, Y0
	VPSLLD    $16, Y1, Y1
	VPSLLD    $16, Y2, Y2
	VPSLLD    $16, Y3, Y3
	VMOVDQU   Y0, 0(DI)
	VMOVDQU   Y1, 32(DI)
	VMOVDQU   Y2, 64(DI)
	VMOVDQU   Y3, 96(DI)
	ADDQ      $64, SI
	ADDQ      $128, DI
	SUBQ      $32, CX
	JNZ       bf_loop

bf_done:
	VZEROUPPER
	MOVQ $0, ret+24(FP)
	RET

// func f32ToF64AVX(d, s *byte, n int) uint64 (step 16)
//
// VCVTPS2PD is Go's float64(float32) (CVTSS2SD), NaNs quieted alike.
TEXT ·f32ToF64AVX(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	TESTQ CX, CX
	JZ   sd_done

sd_loop:
	VCVTPS2PD 0(SI), Y0
	VCVTPS2PD 16(SI), Y1
	VCVTPS2PD 32(SI), Y2
	VCVTPS2PD 48(SI), Y3
	VMOVUPD   Y0, 0(DI)
	VMOVUPD   Y1, 32(DI)
	VMOVUPD   Y2, 64(DI)
	VMOVUPD   Y3, 96(DI)
	ADDQ      $64, SI
	ADDQ      $128, DI
	SUBQ      $16, CX
	JNZ       sd_loop

sd_done:
	VZEROUPPER
	MOVQ $0, ret+24(FP)
	RET

// F32SPECIAL(x) ORs into Y13 (bit 31 of each lane) whether a float32 in
// x (X or Y register, clobbered) is inf or NaN: |x| + 2^23 in the
// exponent overflows into the sign. Y14 = 0x7fffffff, Y15 = 0x00800000.
#define F32SPECIAL(x) \
	VPAND  Y14, x, x; \
	VPADDD Y15, x, x; \
	VPOR   x, Y13, Y13

// func f64ToF32AVX(d, s *byte, n int) uint64 (step 16)
//
// VCVTPD2PS is Go's float32(float64). Flags a block with an inf or NaN
// result (NaN, ±inf or overflow: what f64ToF32 counts).
TEXT ·f64ToF32AVX(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ R8, R8
	MOVL $0x7fffffff, AX
	MOVQ AX, X14
	VPBROADCASTD X14, Y14
	MOVL $0x00800000, AX
	MOVQ AX, X15
	VPBROADCASTD X15, Y15
	VPXOR Y13, Y13, Y13
	TESTQ CX, CX
	JZ   ds_done

ds_loop:
	VCVTPD2PSY 0(SI), X0
	VCVTPD2PSY 32(SI), X1
	VCVTPD2PSY 64(SI), X2
	VCVTPD2PSY 96(SI), X3
	VMOVUPS    X0, 0(DI)
	VMOVUPS    X1, 16(DI)
	VMOVUPS    X2, 32(DI)
	VMOVUPS    X3, 48(DI)
	VINSERTI128 $1, X1, Y0, Y0
	VINSERTI128 $1, X3, Y2, Y2
	F32SPECIAL(Y0)
	F32SPECIAL(Y2)
	ADDQ       $128, SI
	ADDQ       $64, DI
	SUBQ       $16, CX
	JNZ        ds_loop

ds_done:
	VMOVMSKPS Y13, AX
	VZEROUPPER
	FLAGRET
	MOVQ DX, ret+24(FP)
	RET

// func f64ToC64AVX2(d, s *byte, n int) uint64 (step 16)
//
// f64ToF32AVX, each float32 then widened to a (re, 0) pair.
TEXT ·f64ToC64AVX2(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ R8, R8
	MOVL $0x7fffffff, AX
	MOVQ AX, X14
	VPBROADCASTD X14, Y14
	MOVL $0x00800000, AX
	MOVQ AX, X15
	VPBROADCASTD X15, Y15
	VPXOR Y13, Y13, Y13
	TESTQ CX, CX
	JZ   dc_done

dc_loop:
	VCVTPD2PSY 0(SI), X0
	VCVTPD2PSY 32(SI), X1
	VCVTPD2PSY 64(SI), X2
	VCVTPD2PSY 96(SI), X3
	VPMOVZXDQ  X0, Y4
	VPMOVZXDQ  X1, Y5
	VPMOVZXDQ  X2, Y6
	VPMOVZXDQ  X3, Y7
	VMOVDQU    Y4, 0(DI)
	VMOVDQU    Y5, 32(DI)
	VMOVDQU    Y6, 64(DI)
	VMOVDQU    Y7, 96(DI)
	VINSERTI128 $1, X1, Y0, Y0
	VINSERTI128 $1, X3, Y2, Y2
	F32SPECIAL(Y0)
	F32SPECIAL(Y2)
	ADDQ       $128, SI
	ADDQ       $128, DI
	SUBQ       $16, CX
	JNZ        dc_loop

dc_done:
	VMOVMSKPS Y13, AX
	VZEROUPPER
	FLAGRET
	MOVQ DX, ret+24(FP)
	RET

// H2SNAN(y) ORs into Y13 whether a float32 in y is NaN: the float16 it
// came from was a NaN, whose payload VCVTPH2PS would have quieted.
// Clobbers Y9.
#define H2SNAN(y) \
	VCMPPS $3, y, y, Y9; \
	VORPS  Y9, Y13, Y13

// func f16ToF32F16C(d, s *byte, n int) uint64 (step 32)
//
// VCVTPH2PS is exact but for NaNs (quieted): those blocks are flagged.
TEXT ·f16ToF32F16C(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ R8, R8
	VXORPS Y13, Y13, Y13
	TESTQ CX, CX
	JZ   hs_done

hs_loop:
	VCVTPH2PS 0(SI), Y0
	VCVTPH2PS 16(SI), Y1
	VCVTPH2PS 32(SI), Y2
	VCVTPH2PS 48(SI), Y3
	VMOVUPS   Y0, 0(DI)
	VMOVUPS   Y1, 32(DI)
	VMOVUPS   Y2, 64(DI)
	VMOVUPS   Y3, 96(DI)
	H2SNAN(Y0)
	H2SNAN(Y1)
	H2SNAN(Y2)
	H2SNAN(Y3)
	ADDQ      $64, SI
	ADDQ      $128, DI
	SUBQ      $32, CX
	JNZ       hs_loop

hs_done:
	VMOVMSKPS Y13, AX
	VZEROUPPER
	FLAGRET
	MOVQ DX, ret+24(FP)
	RET

// func f16ToF64F16C(d, s *byte, n int) uint64 (step 16)
TEXT ·f16ToF64F16C(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ R8, R8
	VXORPS Y13, Y13, Y13
	TESTQ CX, CX
	JZ   hd_done

hd_loop:
	VCVTPH2PS    0(SI), Y0
	VCVTPH2PS    16(SI), Y1
	H2SNAN(Y0)
	H2SNAN(Y1)
	VCVTPS2PD    X0, Y2
	VEXTRACTF128 $1, Y0, X0
	VCVTPS2PD    X0, Y3
	VCVTPS2PD    X1, Y4
	VEXTRACTF128 $1, Y1, X1
	VCVTPS2PD    X1, Y5
	VMOVUPD      Y2, 0(DI)
	VMOVUPD      Y3, 32(DI)
	VMOVUPD      Y4, 64(DI)
	VMOVUPD      Y5, 96(DI)
	ADDQ         $32, SI
	ADDQ         $128, DI
	SUBQ         $16, CX
	JNZ          hd_loop

hd_done:
	VMOVMSKPS Y13, AX
	VZEROUPPER
	FLAGRET
	MOVQ DX, ret+24(FP)
	RET

// func f16ToC64F16C(d, s *byte, n int) uint64 (step 16)
TEXT ·f16ToC64F16C(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ R8, R8
	VXORPS Y13, Y13, Y13
	TESTQ CX, CX
	JZ   hc_done

hc_loop:
	VCVTPH2PS    0(SI), Y0
	VCVTPH2PS    16(SI), Y1
	H2SNAN(Y0)
	H2SNAN(Y1)
	VPMOVZXDQ    X0, Y2
	VEXTRACTI128 $1, Y0, X0
	VPMOVZXDQ    X0, Y3
	VPMOVZXDQ    X1, Y4
	VEXTRACTI128 $1, Y1, X1
	VPMOVZXDQ    X1, Y5
	VMOVDQU      Y2, 0(DI)
	VMOVDQU      Y3, 32(DI)
	VMOVDQU      Y4, 64(DI)
	VMOVDQU      Y5, 96(DI)
	ADDQ         $32, SI
	ADDQ         $128, DI
	SUBQ         $16, CX
	JNZ          hc_loop

hc_done:
	VMOVMSKPS Y13, AX
	VZEROUPPER
	FLAGRET
	MOVQ DX, ret+24(FP)
	RET

// func f16ToC128F16C(d, s *byte, n int) uint64 (step 16)
TEXT ·f16ToC128F16C(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ R8, R8
	VXORPS Y13, Y13, Y13
	VXORPD Y15, Y15, Y15
	TESTQ CX, CX
	JZ   hz_done

hz_loop:
	VCVTPH2PS    0(SI), Y0
	VCVTPH2PS    16(SI), Y1
	H2SNAN(Y0)
	H2SNAN(Y1)
	VCVTPS2PD    X0, Y2
	VEXTRACTF128 $1, Y0, X0
	VCVTPS2PD    X0, Y3
	VCVTPS2PD    X1, Y4
	VEXTRACTF128 $1, Y1, X1
	VCVTPS2PD    X1, Y5
	SPREAD64(Y2, 0)
	SPREAD64(Y3, 64)
	SPREAD64(Y4, 128)
	SPREAD64(Y5, 192)
	ADDQ         $32, SI
	ADDQ         $256, DI
	SUBQ         $16, CX
	JNZ          hz_loop

hz_done:
	VMOVMSKPS Y13, AX
	VZEROUPPER
	FLAGRET
	MOVQ DX, ret+24(FP)
	RET

// func f32ToC64AVX2(d, s *byte, n int) uint64 (step 16)
TEXT ·f32ToC64AVX2(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	TESTQ CX, CX
	JZ   sc_done

sc_loop:
	VPMOVZXDQ 0(SI), Y0
	VPMOVZXDQ 16(SI), Y1
	VPMOVZXDQ 32(SI), Y2
	VPMOVZXDQ 48(SI), Y3
	VMOVDQU   Y0, 0(DI)
	VMOVDQU   Y1, 32(DI)
	VMOVDQU   Y2, 64(DI)
	VMOVDQU   Y3, 96(DI)
	ADDQ      $64, SI
	ADDQ      $128, DI
	SUBQ      $16, CX
	JNZ       sc_loop

sc_done:
	VZEROUPPER
	MOVQ $0, ret+24(FP)
	RET

// func f32ToC128AVX(d, s *byte, n int) uint64 (step 16)
TEXT ·f32ToC128AVX(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	VXORPD Y15, Y15, Y15
	TESTQ CX, CX
	JZ   sz_done

sz_loop:
	VCVTPS2PD 0(SI), Y0
	VCVTPS2PD 16(SI), Y1
	VCVTPS2PD 32(SI), Y2
	VCVTPS2PD 48(SI), Y3
	SPREAD64(Y0, 0)
	SPREAD64(Y1, 64)
	SPREAD64(Y2, 128)
	SPREAD64(Y3, 192)
	ADDQ      $64, SI
	ADDQ      $256, DI
	SUBQ      $16, CX
	JNZ       sz_loop

sz_done:
	VZEROUPPER
	MOVQ $0, ret+24(FP)
	RET

// func f64ToC128AVX(d, s *byte, n int) uint64 (step 16)
TEXT ·f64ToC128AVX(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	VXORPD Y15, Y15, Y15
	TESTQ CX, CX
	JZ   dz_done

dz_loop:
	VMOVUPD 0(SI), Y0
	VMOVUPD 32(SI), Y1
	VMOVUPD 64(SI), Y2
	VMOVUPD 96(SI), Y3
	SPREAD64(Y0, 0)
	SPREAD64(Y1, 64)
	SPREAD64(Y2, 128)
	SPREAD64(Y3, 192)
	ADDQ    $128, SI
	ADDQ    $256, DI
	SUBQ    $16, CX
	JNZ     dz_loop

dz_done:
	VZEROUPPER
	MOVQ $0, ret+24(FP)
	RET

// func e5m2ToF16AVX2(d, s *byte, n int) uint64 (step 64)
//
// A float8_e5m2 is the top byte of a float16.
TEXT ·e5m2ToF16AVX2(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	TESTQ CX, CX
	JZ   eh_done

eh_loop:
	VPMOVZXBW 0(SI), Y0
	VPMOVZXBW 16(SI), Y1
	VPMOVZXBW 32(SI), Y2
	VPMOVZXBW 48(SI), Y3
	VPSLLW    $8, Y0, Y0
	VPSLLW    $8, Y1, Y1
	VPSLLW    $8, Y2, Y2
	VPSLLW    $8, Y3, Y3
	VMOVDQU   Y0, 0(DI)
	VMOVDQU   Y1, 32(DI)
	VMOVDQU   Y2, 64(DI)
	VMOVDQU   Y3, 96(DI)
	ADDQ      $64, SI
	ADDQ      $128, DI
	SUBQ      $64, CX
	JNZ       eh_loop

eh_done:
	VZEROUPPER
	MOVQ $0, ret+24(FP)
	RET

// D2H(z) rounds the eight float64 in z (clobbered) to float16 bits in
// the low words of its qwords, as f64ToHalfSlice's fast path, and ORs
// into K3 the lanes that path gets wrong or must count: a result that
// is inf or NaN (h == 0x7c00 before the sign) or subnormal (2^-25 < |x|
// < 2^-14). Constants: Z16 |·| mask, Z17 0x1ffffffffff, Z18 1, Z19
// 1008<<10, Z20 0x7c00, Z21 0x8000, Z22 0x3e60000000000001, Z23
// 0x3f10000000000000-0x3e60000000000001. Clobbers Z1-Z4, K1, K2.
#define D2H(z) \
	VPANDQ   Z16, z, Z1; \
	VPSRLQ   $42, Z1, Z2; \
	VPANDQ   Z18, Z2, Z2; \
	VPADDQ   Z17, Z1, Z3; \
	VPADDQ   Z2, Z3, Z3; \
	VPSRLQ   $42, Z3, Z3; \
	VPMAXUQ  Z19, Z3, Z3; \
	VPSUBQ   Z19, Z3, Z3; \
	VPMINUQ  Z20, Z3, Z3; \
	VPCMPEQQ Z20, Z3, K1; \
	VPSUBQ   Z22, Z1, Z4; \
	VPCMPUQ  $1, Z23, Z4, K2; \
	KORW     K1, K2, K1; \
	KORW     K1, K3, K3; \
	VPSRLQ   $48, z, z; \
	VPANDQ   Z21, z, z; \
	VPORQ    Z3, z, z

// D2HCONST loads D2H's constants.
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
	KXORW        K3, K3, K3

// func f64ToF16AVX512(d, s *byte, n int) uint64 (step 32)
TEXT ·f64ToF16AVX512(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ R8, R8
	D2HCONST
	TESTQ CX, CX
	JZ   dh_done

dh_loop:
	VMOVDQU64 0(SI), Z5
	VMOVDQU64 64(SI), Z6
	VMOVDQU64 128(SI), Z7
	VMOVDQU64 192(SI), Z8
	D2H(Z5)
	D2H(Z6)
	D2H(Z7)
	D2H(Z8)
	VPMOVQW   Z5, X5
	VPMOVQW   Z6, X6
	VPMOVQW   Z7, X7
	VPMOVQW   Z8, X8
	VMOVDQU   X5, 0(DI)
	VMOVDQU   X6, 16(DI)
	VMOVDQU   X7, 32(DI)
	VMOVDQU   X8, 48(DI)
	ADDQ      $256, SI
	ADDQ      $64, DI
	SUBQ      $32, CX
	JNZ       dh_loop

dh_done:
	KMOVW K3, AX
	VZEROUPPER
	FLAGRET
	MOVQ DX, ret+24(FP)
	RET

// IMAG64(z) adds to R8 the number of non-zero (or NaN) imaginary parts
// of the four complex128 in z. K4 = 0xaa (the imaginary lanes), Z31 = 0.
// Clobbers K5, BX.
#define IMAG64(z) \
	VCMPPD  $4, Z31, z, K4, K5; \
	KMOVW   K5, BX; \
	POPCNTL BX, BX; \
	ADDQ    BX, R8

// REAL64(a, b) leaves the real parts of the eight complex128 in a, b in
// a. Z30 holds the qword indexes 0, 2, ..., 14.
#define REAL64(a, b) \
	VPERMT2Q b, Z30, a

// C128CONST sets K4, Z31 and Z30 for IMAG64 and REAL64.
#define C128CONST \
	MOVL       $0xaa, AX; \
	KMOVW      AX, K4; \
	VPXORQ     Z31, Z31, Z31; \
	VPMOVZXBQ  ftofEvenQ<>(SB), Z30

// func c128ToF16AVX512(d, s *byte, n int) uint64 (step 16)
TEXT ·c128ToF16AVX512(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ R8, R8
	D2HCONST
	C128CONST
	TESTQ CX, CX
	JZ   zh_done

zh_loop:
	VMOVDQU64 0(SI), Z5
	VMOVDQU64 64(SI), Z6
	VMOVDQU64 128(SI), Z7
	VMOVDQU64 192(SI), Z8
	IMAG64(Z5)
	IMAG64(Z6)
	IMAG64(Z7)
	IMAG64(Z8)
	REAL64(Z5, Z6)
	REAL64(Z7, Z8)
	D2H(Z5)
	D2H(Z7)
	VPMOVQW   Z5, X5
	VPMOVQW   Z7, X7
	VMOVDQU   X5, 0(DI)
	VMOVDQU   X7, 16(DI)
	ADDQ      $256, SI
	ADDQ      $32, DI
	SUBQ      $16, CX
	JNZ       zh_loop

zh_done:
	KMOVW K3, AX
	VZEROUPPER
	FLAGRET
	MOVQ DX, ret+24(FP)
	RET

// func c128ToF64AVX512(d, s *byte, n int) uint64 (step 16)
TEXT ·c128ToF64AVX512(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ R8, R8
	C128CONST
	TESTQ CX, CX
	JZ   zd_done

zd_loop:
	VMOVDQU64 0(SI), Z5
	VMOVDQU64 64(SI), Z6
	VMOVDQU64 128(SI), Z7
	VMOVDQU64 192(SI), Z8
	IMAG64(Z5)
	IMAG64(Z6)
	IMAG64(Z7)
	IMAG64(Z8)
	REAL64(Z5, Z6)
	REAL64(Z7, Z8)
	VMOVDQU64 Z5, 0(DI)
	VMOVDQU64 Z7, 64(DI)
	ADDQ      $256, SI
	ADDQ      $128, DI
	SUBQ      $16, CX
	JNZ       zd_loop

zd_done:
	XORQ AX, AX
	VZEROUPPER
	FLAGRET
	MOVQ DX, ret+24(FP)
	RET

// func c128ToF32AVX512(d, s *byte, n int) uint64 (step 16)
TEXT ·c128ToF32AVX512(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ R8, R8
	C128CONST
	MOVL $0x7fffffff, AX
	MOVQ AX, X14
	VPBROADCASTD X14, Y14
	MOVL $0x00800000, AX
	MOVQ AX, X15
	VPBROADCASTD X15, Y15
	VPXOR Y13, Y13, Y13
	TESTQ CX, CX
	JZ   zs_done

zs_loop:
	VMOVDQU64 0(SI), Z5
	VMOVDQU64 64(SI), Z6
	VMOVDQU64 128(SI), Z7
	VMOVDQU64 192(SI), Z8
	IMAG64(Z5)
	IMAG64(Z6)
	IMAG64(Z7)
	IMAG64(Z8)
	REAL64(Z5, Z6)
	REAL64(Z7, Z8)
	VCVTPD2PS Z5, Y0
	VCVTPD2PS Z7, Y1
	VMOVUPS   Y0, 0(DI)
	VMOVUPS   Y1, 32(DI)
	F32SPECIAL(Y0)
	F32SPECIAL(Y1)
	ADDQ      $256, SI
	ADDQ      $64, DI
	SUBQ      $16, CX
	JNZ       zs_loop

zs_done:
	VMOVMSKPS Y13, AX
	VZEROUPPER
	FLAGRET
	MOVQ DX, ret+24(FP)
	RET

// IMAG32(z) adds to R8 the number of non-zero (or NaN) imaginary parts
// of the eight complex64 in z. K4 = 0xaaaa, Z31 = 0. Clobbers K5, BX.
#define IMAG32(z) \
	VCMPPS  $4, Z31, z, K4, K5; \
	KMOVW   K5, BX; \
	POPCNTL BX, BX; \
	ADDQ    BX, R8

#define C64CONST \
	MOVL   $0xaaaa, AX; \
	KMOVW  AX, K4; \
	VPXORQ Z31, Z31, Z31

// func c64ToF32AVX512(d, s *byte, n int) uint64 (step 32)
TEXT ·c64ToF32AVX512(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ R8, R8
	C64CONST
	TESTQ CX, CX
	JZ   cs_done

cs_loop:
	VMOVDQU64 0(SI), Z5
	VMOVDQU64 64(SI), Z6
	VMOVDQU64 128(SI), Z7
	VMOVDQU64 192(SI), Z8
	IMAG32(Z5)
	IMAG32(Z6)
	IMAG32(Z7)
	IMAG32(Z8)
	VPMOVQD   Z5, Y5
	VPMOVQD   Z6, Y6
	VPMOVQD   Z7, Y7
	VPMOVQD   Z8, Y8
	VMOVDQU   Y5, 0(DI)
	VMOVDQU   Y6, 32(DI)
	VMOVDQU   Y7, 64(DI)
	VMOVDQU   Y8, 96(DI)
	ADDQ      $256, SI
	ADDQ      $128, DI
	SUBQ      $32, CX
	JNZ       cs_loop

cs_done:
	XORQ AX, AX
	VZEROUPPER
	FLAGRET
	MOVQ DX, ret+24(FP)
	RET

// func c64ToF64AVX512(d, s *byte, n int) uint64 (step 32)
TEXT ·c64ToF64AVX512(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ R8, R8
	C64CONST
	TESTQ CX, CX
	JZ   cd_done

cd_loop:
	VMOVDQU64 0(SI), Z5
	VMOVDQU64 64(SI), Z6
	VMOVDQU64 128(SI), Z7
	VMOVDQU64 192(SI), Z8
	IMAG32(Z5)
	IMAG32(Z6)
	IMAG32(Z7)
	IMAG32(Z8)
	VPMOVQD   Z5, Y5
	VPMOVQD   Z6, Y6
	VPMOVQD   Z7, Y7
	VPMOVQD   Z8, Y8
	VCVTPS2PD Y5, Z5
	VCVTPS2PD Y6, Z6
	VCVTPS2PD Y7, Z7
	VCVTPS2PD Y8, Z8
	VMOVUPD   Z5, 0(DI)
	VMOVUPD   Z6, 64(DI)
	VMOVUPD   Z7, 128(DI)
	VMOVUPD   Z8, 192(DI)
	ADDQ      $256, SI
	ADDQ      $256, DI
	SUBQ      $32, CX
	JNZ       cd_loop

cd_done:
	XORQ AX, AX
	VZEROUPPER
	FLAGRET
	MOVQ DX, ret+24(FP)
	RET

// S2HSPECIAL(y) ORs into Y13 whether a float32 in y (clobbered) is NaN
// or has |x| >= 65520 (inf, or overflowing float16): as f32ToHalfF16C.
// Y14 = 0x7fffffff, Y12 = 65520.
#define S2HSPECIAL(y) \
	VANDPS Y14, y, y; \
	VCMPPS $5, Y12, y, y; \
	VORPS  y, Y13, Y13

// func c64ToF16AVX512(d, s *byte, n int) uint64 (step 32)
TEXT ·c64ToF16AVX512(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ R8, R8
	C64CONST
	MOVL $0x7fffffff, AX
	MOVQ AX, X14
	VPBROADCASTD X14, Y14
	MOVL $0x477ff000, AX
	MOVQ AX, X12
	VPBROADCASTD X12, Y12
	VPXOR Y13, Y13, Y13
	TESTQ CX, CX
	JZ   ch_done

ch_loop:
	VMOVDQU64 0(SI), Z5
	VMOVDQU64 64(SI), Z6
	VMOVDQU64 128(SI), Z7
	VMOVDQU64 192(SI), Z8
	IMAG32(Z5)
	IMAG32(Z6)
	IMAG32(Z7)
	IMAG32(Z8)
	VPMOVQD   Z5, Y5
	VPMOVQD   Z6, Y6
	VPMOVQD   Z7, Y7
	VPMOVQD   Z8, Y8
	VCVTPS2PH $0, Y5, 0(DI)
	VCVTPS2PH $0, Y6, 16(DI)
	VCVTPS2PH $0, Y7, 32(DI)
	VCVTPS2PH $0, Y8, 48(DI)
	S2HSPECIAL(Y5)
	S2HSPECIAL(Y6)
	S2HSPECIAL(Y7)
	S2HSPECIAL(Y8)
	ADDQ      $256, SI
	ADDQ      $64, DI
	SUBQ      $32, CX
	JNZ       ch_loop

ch_done:
	VMOVMSKPS Y13, AX
	VZEROUPPER
	FLAGRET
	MOVQ DX, ret+24(FP)
	RET

// F8LOOKUP looks the 64 float8 in Z0 up: Z1 gets the top byte of each
// result (sign included), Z2 the byte below. Clobbers Z0.
#define F8LOOKUP \
	VMOVDQU64  Z0, Z1; \
	VPERMI2B   Z17, Z16, Z1; \
	VMOVDQU64  Z0, Z2; \
	VPERMI2B   Z19, Z18, Z2; \
	VPANDD     Z24, Z0, Z0; \
	VPORD      Z0, Z1, Z1

// F8TABLES loads the planes of t (at AX) (Z16, Z17: the top byte for b&0x7f <
// 64 and >= 64; Z18, Z19: the byte below) and 0x80 in every byte of Z24.
#define F8TABLES \
	VMOVDQU64    0(AX), Z16; \
	VMOVDQU64    64(AX), Z17; \
	VMOVDQU64    128(AX), Z18; \
	VMOVDQU64    192(AX), Z19; \
	MOVL         $0x80808080, AX; \
	VPBROADCASTD AX, Z24

// func f8ToF32VBMI(d, s *byte, n int, t *f8Tab, sh *f8Shuffle) uint64 (step 64)
TEXT ·f8ToF32VBMI(SB), NOSPLIT, $0-48
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ t+24(FP), AX
	F8TABLES
	MOVQ      sh+32(FP), AX
	VMOVDQU64 0(AX), Z20
	VMOVDQU64 64(AX), Z21
	VMOVDQU64 128(AX), Z22
	VMOVDQU64 192(AX), Z23
	MOVQ      $0xcccccccccccccccc, AX // bytes 2, 3 of each dword
	KMOVQ     AX, K1
	TESTQ     CX, CX
	JZ        es_done

es_loop:
	VMOVDQU64  0(SI), Z0
	F8LOOKUP
	VMOVDQU64  Z20, Z3
	VMOVDQU64  Z21, Z4
	VMOVDQU64  Z22, Z5
	VMOVDQU64  Z23, Z6
	VPERMI2B.Z Z1, Z2, K1, Z3
	VPERMI2B.Z Z1, Z2, K1, Z4
	VPERMI2B.Z Z1, Z2, K1, Z5
	VPERMI2B.Z Z1, Z2, K1, Z6
	VMOVDQU64  Z3, 0(DI)
	VMOVDQU64  Z4, 64(DI)
	VMOVDQU64  Z5, 128(DI)
	VMOVDQU64  Z6, 192(DI)
	ADDQ       $64, SI
	ADDQ       $256, DI
	SUBQ       $64, CX
	JNZ        es_loop

es_done:
	VZEROUPPER
	MOVQ $0, ret+40(FP)
	RET

// func f8ToF16VBMI(d, s *byte, n int, t *f8Tab, sh *f8Shuffle) uint64 (step 64)
TEXT ·f8ToF16VBMI(SB), NOSPLIT, $0-48
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ t+24(FP), AX
	F8TABLES
	MOVQ      sh+32(FP), AX
	VMOVDQU64 256(AX), Z20
	VMOVDQU64 320(AX), Z21
	TESTQ     CX, CX
	JZ        eg_done

eg_loop:
	VMOVDQU64 0(SI), Z0
	F8LOOKUP
	VMOVDQU64 Z20, Z3
	VMOVDQU64 Z21, Z4
	VPERMI2B  Z1, Z2, Z3
	VPERMI2B  Z1, Z2, Z4
	VMOVDQU64 Z3, 0(DI)
	VMOVDQU64 Z4, 64(DI)
	ADDQ      $64, SI
	ADDQ      $128, DI
	SUBQ      $64, CX
	JNZ       eg_loop

eg_done:
	VZEROUPPER
	MOVQ $0, ret+40(FP)
	RET

// func boolToC64AVX512(d, s *byte, n int) uint64 (step 64)
//
// Each non-zero byte gives (1, 0): a qword 0x3f800000 under a mask.
TEXT ·boolToC64AVX512(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ $0x3f800000, AX
	VPBROADCASTQ AX, Z16
	TESTQ CX, CX
	JZ   bc_done

bc_loop:
	VMOVDQU64      0(SI), Z0
	VPTESTMB       Z0, Z0, K1
	VMOVDQU64.Z    Z16, K1, Z1
	KSHIFTRQ       $8, K1, K1
	VMOVDQU64.Z    Z16, K1, Z2
	KSHIFTRQ       $8, K1, K1
	VMOVDQU64.Z    Z16, K1, Z3
	KSHIFTRQ       $8, K1, K1
	VMOVDQU64.Z    Z16, K1, Z4
	KSHIFTRQ       $8, K1, K1
	VMOVDQU64      Z1, 0(DI)
	VMOVDQU64      Z2, 64(DI)
	VMOVDQU64      Z3, 128(DI)
	VMOVDQU64      Z4, 192(DI)
	VMOVDQU64.Z    Z16, K1, Z1
	KSHIFTRQ       $8, K1, K1
	VMOVDQU64.Z    Z16, K1, Z2
	KSHIFTRQ       $8, K1, K1
	VMOVDQU64.Z    Z16, K1, Z3
	KSHIFTRQ       $8, K1, K1
	VMOVDQU64.Z    Z16, K1, Z4
	VMOVDQU64      Z1, 256(DI)
	VMOVDQU64      Z2, 320(DI)
	VMOVDQU64      Z3, 384(DI)
	VMOVDQU64      Z4, 448(DI)
	ADDQ           $64, SI
	ADDQ           $512, DI
	SUBQ           $64, CX
	JNZ            bc_loop

bc_done:
	VZEROUPPER
	MOVQ $0, ret+24(FP)
	RET

// BZ(off) stores four complex128 at off(DI) for the next four bools,
// bits 0-3 of DX, which it shifts out. R9 = 0x55, Z16 = 1.0 in every
// qword.
#define BZ(off) \
	PDEPL       R9, DX, BX; \
	KMOVW       BX, K1; \
	VMOVDQU64.Z Z16, K1, Z1; \
	VMOVDQU64   Z1, off(DI); \
	SHRQ        $4, DX

// func boolToC128AVX512(d, s *byte, n int) uint64 (step 64)
//
// Each non-zero byte gives (1, 0): the real lane of a qword pair set
// under a mask made from the bools by PDEP.
TEXT ·boolToC128AVX512(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ $0x3ff0000000000000, AX
	VPBROADCASTQ AX, Z16
	MOVL $0x55, R9
	TESTQ CX, CX
	JZ   bz_done

bz_loop:
	VMOVDQU64 0(SI), Z0
	VPTESTMB  Z0, Z0, K2
	KMOVQ     K2, DX
	BZ(0)
	BZ(64)
	BZ(128)
	BZ(192)
	BZ(256)
	BZ(320)
	BZ(384)
	BZ(448)
	BZ(512)
	BZ(576)
	BZ(640)
	BZ(704)
	BZ(768)
	BZ(832)
	BZ(896)
	BZ(960)
	ADDQ      $64, SI
	ADDQ      $1024, DI
	SUBQ      $64, CX
	JNZ       bz_loop

bz_done:
	VZEROUPPER
	MOVQ $0, ret+24(FP)
	RET

// ftofEvenQ: the qword indexes of the real parts of eight complex128 in
// two registers (VPERMT2Q), as bytes for VPMOVZXBQ.
DATA ftofEvenQ<>+0(SB)/8, $0x0e0c0a0806040200
GLOBL ftofEvenQ<>(SB), RODATA|NOPTR, $8
