//go:build !purego

#include "textflag.h"

// Float32 constants, broadcast to all eight lanes.
DATA f16cAbs<>+0(SB)/4, $0x7fffffff // clears the sign
GLOBL f16cAbs<>(SB), RODATA|NOPTR, $4
DATA f16cTop<>+0(SB)/4, $0x477ff000 // 65520: the least float32 that rounds to inf
GLOBL f16cTop<>(SB), RODATA|NOPTR, $4

// func f32ToHalfF16C(d *uint16, s *float32, n int) (special bool)
//
// VCVTPS2PH with imm8 = 0 rounds to nearest even. Y13 collects, per
// lane, !(|x| < 65520): true for NaN (unordered), ±inf and values that
// overflow.
TEXT ·f32ToHalfF16C(SB), NOSPLIT, $0-25
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS f16cAbs<>(SB), Y14
	VBROADCASTSS f16cTop<>(SB), Y15
	VXORPS Y13, Y13, Y13
	CMPQ CX, $32
	JB   tail

loop32:
	VMOVUPS   0(SI), Y0
	VMOVUPS   32(SI), Y1
	VMOVUPS   64(SI), Y2
	VMOVUPS   96(SI), Y3
	VCVTPS2PH $0, Y0, 0(DI)
	VCVTPS2PH $0, Y1, 16(DI)
	VCVTPS2PH $0, Y2, 32(DI)
	VCVTPS2PH $0, Y3, 48(DI)
	VANDPS    Y14, Y0, Y0
	VANDPS    Y14, Y1, Y1
	VANDPS    Y14, Y2, Y2
	VANDPS    Y14, Y3, Y3
	VCMPPS    $5, Y15, Y0, Y0 // not less than (unordered: true)
	VCMPPS    $5, Y15, Y1, Y1
	VCMPPS    $5, Y15, Y2, Y2
	VCMPPS    $5, Y15, Y3, Y3
	VORPS     Y0, Y1, Y0
	VORPS     Y2, Y3, Y2
	VORPS     Y0, Y2, Y0
	VORPS     Y0, Y13, Y13
	ADDQ      $128, SI
	ADDQ      $64, DI
	SUBQ      $32, CX
	CMPQ      CX, $32
	JAE       loop32

tail:
	CMPQ      CX, $8
	JB        done
	VMOVUPS   (SI), Y0
	VCVTPS2PH $0, Y0, (DI)
	VANDPS    Y14, Y0, Y0
	VCMPPS    $5, Y15, Y0, Y0
	VORPS     Y0, Y13, Y13
	ADDQ      $32, SI
	ADDQ      $16, DI
	SUBQ      $8, CX
	JMP       tail

done:
	VMOVMSKPS Y13, AX
	VZEROUPPER
	TESTL     AX, AX
	SETNE     special+24(FP)
	RET

// func bf16ToHalfF16C(d *uint16, s *uint16, n int) (special bool)
//
// As f32ToHalfF16C, after widening each bfloat16 to float32 (b << 16) by
// interleaving zero words below it.
TEXT ·bf16ToHalfF16C(SB), NOSPLIT, $0-25
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS f16cAbs<>(SB), Y14
	VBROADCASTSS f16cTop<>(SB), Y15
	VXORPS Y13, Y13, Y13
	VPXOR  X12, X12, X12
	CMPQ CX, $16
	JB   btail

bloop16:
	VMOVDQU     0(SI), X0
	VMOVDQU     16(SI), X1
	VPUNPCKLWD  X0, X12, X2   // words 0-3 as float32
	VPUNPCKHWD  X0, X12, X3   // words 4-7
	VPUNPCKLWD  X1, X12, X4
	VPUNPCKHWD  X1, X12, X5
	VINSERTF128 $1, X3, Y2, Y2
	VINSERTF128 $1, X5, Y4, Y4
	VCVTPS2PH   $0, Y2, 0(DI)
	VCVTPS2PH   $0, Y4, 16(DI)
	VANDPS      Y14, Y2, Y2
	VANDPS      Y14, Y4, Y4
	VCMPPS      $5, Y15, Y2, Y2 // not less than (unordered: true)
	VCMPPS      $5, Y15, Y4, Y4
	VORPS       Y2, Y4, Y2
	VORPS       Y2, Y13, Y13
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $16, CX
	CMPQ        CX, $16
	JAE         bloop16

btail:
	CMPQ        CX, $8
	JB          bdone
	VMOVDQU     (SI), X0
	VPUNPCKLWD  X0, X12, X2
	VPUNPCKHWD  X0, X12, X3
	VINSERTF128 $1, X3, Y2, Y2
	VCVTPS2PH   $0, Y2, (DI)
	VANDPS      Y14, Y2, Y2
	VCMPPS      $5, Y15, Y2, Y2
	VORPS       Y2, Y13, Y13

bdone:
	VMOVMSKPS Y13, AX
	VZEROUPPER
	TESTL     AX, AX
	SETNE     special+24(FP)
	RET

// H16CONST loads the constants of H16: Z31 0x7fffffff, Z30 0x477ff000
// (65520, the least magnitude that rounds to inf), Z29 0x7f800000 (inf),
// Z24 1 (dwords); Z28 0x3ff, Z27 1, Z26 0x200 (words); Z23 zero, K7
// 0xaaaa (the imaginary parts of complex64 values); and zeroes the
// count lanes Z20-Z22 and Z19 (non-zero imaginary parts).
#define H16CONST \
	MOVL         $0x7fffffff, AX; \
	VPBROADCASTD AX, Z31; \
	MOVL         $0x477ff000, AX; \
	VPBROADCASTD AX, Z30; \
	MOVL         $0x7f800000, AX; \
	VPBROADCASTD AX, Z29; \
	MOVL         $0x03ff03ff, AX; \
	VPBROADCASTD AX, Z28; \
	MOVL         $0x00010001, AX; \
	VPBROADCASTD AX, Z27; \
	MOVL         $0x02000200, AX; \
	VPBROADCASTD AX, Z26; \
	MOVL         $1, AX; \
	VPBROADCASTD AX, Z24; \
	VPXORD       Z20, Z20, Z20; \
	VPXORD       Z21, Z21, Z21; \
	VPXORD       Z22, Z22, Z22; \
	VPXORD       Z19, Z19, Z19; \
	VPXORD       Z23, Z23, Z23; \
	MOVL         $0xaaaa, AX; \
	KMOVW        AX, K7

// HSUM(z, y, r) sets r to the sum of the 16 dwords of z (y: its low
// half). Clobbers Z5, Z6.
#define HSUM(z, y, r) \
	VEXTRACTI64X4 $1, z, Y5; \
	VPMOVZXDQ     Y5, Z5; \
	VPMOVZXDQ     y, Z6; \
	VPADDQ        Z5, Z6, Z5; \
	VEXTRACTI64X4 $1, Z5, Y6; \
	VPADDQ        Y5, Y6, Y5; \
	VEXTRACTI128  $1, Y5, X6; \
	VPADDQ        X5, X6, X5; \
	VPSHUFD       $0x4e, X5, X6; \
	VPADDQ        X5, X6, X5; \
	VMOVQ         X5, r

// H16(LOAD, off, doff, x, h, a) rounds 16 values to float16 bits and
// stores them at doff(DI): LOAD(off, x) widens the values at off(SI) to
// float32 in the Z register x; h is the Y register of the results, a a
// Z register for |x|.
//
// VCVTPS2PH (imm8 0: to nearest even) gives NumPy's result for every
// value but a signalling NaN, which it quiets (sign | 0x7e00 | the top
// nine payload bits), where npy_floatbits_to_halfbits keeps bit 9
// clear: so in the signalling NaN lanes (K5) bit 9 is cleared and, if
// that leaves no payload, 1 set (0x7c01). The counts go to dword lanes
// of Z20 (|x| >= 65520: NaN, ±inf and finite values that overflow), Z21
// (NaN or ±inf) and Z22 (NaN), by masked adds of 1, without branching:
// data with specials in every vector costs what plain data does.
#define H16(LOAD, off, doff, x, h, a) \
	LOAD(off, x); \
	VCVTPS2PH   $0, x, h; \
	VPANDD      Z31, x, a; \
	VPCMPUD     $5, Z30, a, K1; \
	VPCMPUD     $5, Z29, a, K3; \
	VFPCLASSPSZ $0x81, x, K2; \
	VFPCLASSPSZ $0x80, x, K5; \
	VPADDD      Z24, Z20, K1, Z20; \
	VPADDD      Z24, Z21, K3, Z21; \
	VPADDD      Z24, Z22, K2, Z22; \
	VPSUBW      Y26, h, K5, h; \
	VPTESTNMW   Y28, h, K5, K6; \
	VPADDW      Y27, h, K6, h; \
	VMOVDQU     h, doff(DI)

// H16FUNC(name, LOAD, ss) is a routine
//
//	func name(d, s *byte, n int) (nan, inf, out, im int)
//
// converting n (a multiple of 16) values of ss bytes at s, which LOAD
// widens to float32, to float16 bits at d (H16, 32 values a turn), and
// counting them.
#define H16FUNC(name, LOAD, ss) \
TEXT name(SB), NOSPLIT, $0-56; \
	MOVQ      d+0(FP), DI; \
	MOVQ      s+8(FP), SI; \
	MOVQ      n+16(FP), CX; \
	H16CONST; \
	CMPQ      CX, $32; \
	JB        one; \
loop: \
	H16(LOAD, 0, 0, Z0, Y1, Z2); \
	H16(LOAD, 16*ss, 32, Z8, Y9, Z10); \
	ADDQ      $(32*ss), SI; \
	ADDQ      $64, DI; \
	SUBQ      $32, CX; \
	CMPQ      CX, $32; \
	JAE       loop; \
one: \
	TESTQ     CX, CX; \
	JZ        done; \
	H16(LOAD, 0, 0, Z0, Y1, Z2); \
done: \
	HSUM(Z20, Y20, R8); \
	HSUM(Z21, Y21, R9); \
	HSUM(Z22, Y22, R11); \
	HSUM(Z19, Y19, R12); \
	VZEROUPPER; \
	SUBQ      R9, R8; \
	SUBQ      R11, R9; \
	MOVQ      R11, nan+24(FP); \
	MOVQ      R9, inf+32(FP); \
	MOVQ      R8, out+40(FP); \
	MOVQ      R12, im+48(FP); \
	RET

#define LOAD_F32(off, x) VMOVUPS off(SI), x

// A bfloat16 is the top half of its float32.
#define LOAD_BF16(off, x) \
	VPMOVZXWD off(SI), x; \
	VPSLLD    $16, x, x

// The real parts of 16 complex64 values, counting the non-zero (or NaN)
// imaginary parts into Z19. Clobbers Z3, Z4, K4.
#define LOAD_C64(off, x) \
	VMOVDQU64    off(SI), Z3; \
	VMOVDQU64    off+64(SI), Z4; \
	VCMPPS       $4, Z23, Z3, K7, K4; \
	VPADDD       Z24, Z19, K4, Z19; \
	VCMPPS       $4, Z23, Z4, K7, K4; \
	VPADDD       Z24, Z19, K4, Z19; \
	VPMOVQD      Z3, Y3; \
	VPMOVQD      Z4, Y4; \
	VINSERTI64X4 $1, Y4, Z3, x

// func f32ToHalfAVX512(d, s *byte, n int) (nan, inf, out, im int)
H16FUNC(·f32ToHalfAVX512, LOAD_F32, 4)

// func bf16ToHalfAVX512(d, s *byte, n int) (nan, inf, out, im int)
H16FUNC(·bf16ToHalfAVX512, LOAD_BF16, 2)

// func c64ToHalfAVX512(d, s *byte, n int) (nan, inf, out, im int)
H16FUNC(·c64ToHalfAVX512, LOAD_C64, 8)
