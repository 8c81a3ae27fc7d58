//go:build !purego

#include "textflag.h"

// func transpose32x8(dst *byte, dstStride int64, src *byte, srcStride int64, bands, blocks int64)
//
// For each band of 8 rows (outer) and each block of 8 runs (inner): load
// 32 bytes of each run (Y0–Y7), transpose the 8×8 square of 4-byte
// elements (unpack, shuffle, lane permute) and store 32 bytes to each of
// the band's 8 rows. A band's 8 destination lines per block are written
// whole, so they never need to be read first.
TEXT ·transpose32x8(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ dstStride+8(FP), R9
	MOVQ src+16(FP), SI
	MOVQ srcStride+24(FP), R8
	MOVQ bands+32(FP), R10
	MOVQ blocks+40(FP), R11
	TESTQ R10, R10
	JEQ done32
	TESTQ R11, R11
	JEQ done32
	MOVQ R8, R12
	SHLQ $3, R12 // 8 runs: the next block's source
	MOVQ R9, R13
	SHLQ $3, R13 // 8 rows: the next band's destination

band32:
	MOVQ SI, AX
	MOVQ DI, BX
	MOVQ R11, CX

block32:
	MOVQ    AX, DX
	VMOVUPS (DX), Y0
	ADDQ    R8, DX
	VMOVUPS (DX), Y1
	ADDQ    R8, DX
	VMOVUPS (DX), Y2
	ADDQ    R8, DX
	VMOVUPS (DX), Y3
	ADDQ    R8, DX
	VMOVUPS (DX), Y4
	ADDQ    R8, DX
	VMOVUPS (DX), Y5
	ADDQ    R8, DX
	VMOVUPS (DX), Y6
	ADDQ    R8, DX
	VMOVUPS (DX), Y7

	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15

	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xEE, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xEE, Y11, Y9, Y3
	VSHUFPS $0x44, Y14, Y12, Y4
	VSHUFPS $0xEE, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xEE, Y15, Y13, Y7

	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15

	MOVQ    BX, DX
	VMOVUPS Y8, (DX)
	ADDQ    R9, DX
	VMOVUPS Y9, (DX)
	ADDQ    R9, DX
	VMOVUPS Y10, (DX)
	ADDQ    R9, DX
	VMOVUPS Y11, (DX)
	ADDQ    R9, DX
	VMOVUPS Y12, (DX)
	ADDQ    R9, DX
	VMOVUPS Y13, (DX)
	ADDQ    R9, DX
	VMOVUPS Y14, (DX)
	ADDQ    R9, DX
	VMOVUPS Y15, (DX)

	ADDQ R12, AX
	ADDQ $32, BX
	DECQ CX
	JNZ  block32

	ADDQ $32, SI
	ADDQ R13, DI
	DECQ R10
	JNZ  band32
	VZEROUPPER

done32:
	RET

// func transpose64x4(dst *byte, dstStride int64, src *byte, srcStride int64, bands, blocks int64)
//
// transpose32x8 for 8-byte elements: 4×4 squares, bands of 4 rows.
TEXT ·transpose64x4(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ dstStride+8(FP), R9
	MOVQ src+16(FP), SI
	MOVQ srcStride+24(FP), R8
	MOVQ bands+32(FP), R10
	MOVQ blocks+40(FP), R11
	TESTQ R10, R10
	JEQ done64
	TESTQ R11, R11
	JEQ done64
	MOVQ R8, R12
	SHLQ $2, R12 // 4 runs
	MOVQ R9, R13
	SHLQ $2, R13 // 4 rows

band64:
	MOVQ SI, AX
	MOVQ DI, BX
	MOVQ R11, CX

block64:
	MOVQ    AX, DX
	VMOVUPD (DX), Y0
	ADDQ    R8, DX
	VMOVUPD (DX), Y1
	ADDQ    R8, DX
	VMOVUPD (DX), Y2
	ADDQ    R8, DX
	VMOVUPD (DX), Y3

	VUNPCKLPD Y1, Y0, Y4
	VUNPCKHPD Y1, Y0, Y5
	VUNPCKLPD Y3, Y2, Y6
	VUNPCKHPD Y3, Y2, Y7

	VPERM2F128 $0x20, Y6, Y4, Y0
	VPERM2F128 $0x20, Y7, Y5, Y1
	VPERM2F128 $0x31, Y6, Y4, Y2
	VPERM2F128 $0x31, Y7, Y5, Y3

	MOVQ    BX, DX
	VMOVUPD Y0, (DX)
	ADDQ    R9, DX
	VMOVUPD Y1, (DX)
	ADDQ    R9, DX
	VMOVUPD Y2, (DX)
	ADDQ    R9, DX
	VMOVUPD Y3, (DX)

	ADDQ R12, AX
	ADDQ $32, BX
	DECQ CX
	JNZ  block64

	ADDQ $32, SI
	ADDQ R13, DI
	DECQ R10
	JNZ  band64
	VZEROUPPER

done64:
	RET
