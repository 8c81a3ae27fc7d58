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
