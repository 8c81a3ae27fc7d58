//go:build !purego

#include "textflag.h"

// Integer → float32, float64, float16, complex64 and complex128 loops.
//
// Each is func(d, s *byte, n int) (over int): it converts n items at s to
// the target at d, n a positive multiple of its unit (the items of one
// iteration: 32 to float32 and float16, 16 to float64 and complex64, 8
// to complex128), and returns how many float16 results overflowed to
// ±inf (0 for the other targets). Loads and stores are unaligned.
//
// Conversions round to nearest even (MXCSR as Go leaves it), as Go's
// conversions do. float16 goes through float32 as NumPy does, with
// VCVTPS2PH imm8 = 0 (nearest even): the float32 of an integer is never
// NaN, so this equals halfMag. A result overflows when the float32 is
// >= 65520 in magnitude; such lanes are counted in Y13, one dword
// counter per lane, summed at the end (the caller keeps n below 2^31).
//
// complex64 (re, 0) is the float32 bits zero-extended to 64 bits: the
// dwords are zero-extended before converting (0 converts to +0) or after.
// complex128 interleaves four float64 with zeros: VPERMQ puts them in
// the order 0 2 1 3, then VUNPCKLPD/VUNPCKHPD with a zero register.
//
// Registers: SI source, DI destination, CX items left, Y0-Y5 data,
// X8 float16 results, Y12 zero, Y13 counters, Y14 magnitude mask,
// Y15 65520.

DATA itofAbs<>+0(SB)/4, $0x7fffffff
GLOBL itofAbs<>(SB), RODATA|NOPTR, $4
DATA itofTop<>+0(SB)/4, $0x477ff000 // 65520.0: the least float32 that rounds to float16 inf
GLOBL itofTop<>(SB), RODATA|NOPTR, $4

// NEXT advances by one iteration of u items.
#define NEXT(sbytes, dbytes, u) ADDQ $sbytes, SI; ADDQ $dbytes, DI; SUBQ $u, CX; JNZ loop

// Eight items to float32, from int32 widened by ins (ss source bytes)
// or converted straight from memory by cvt.
#define F32W(ins, ss, k, y) ins k*ss(SI), y; VCVTDQ2PS y, y; VMOVUPS y, k*32(DI)
#define F32C(cvt, ss, k, y) cvt k*ss(SI), y; VMOVUPS y, k*32(DI)

// Four items to float64.
#define F64W(ins, ss, k, x, y) ins k*ss(SI), x; VCVTDQ2PD x, y; VMOVUPD y, k*32(DI)
#define F64C(cvt, ss, k, y) cvt k*ss(SI), y; VMOVUPD y, k*32(DI)

// Eight items to float16, leaving their float32 in y for counting.
// VCVTPS2PH to a register, then a store: the form with a memory
// destination is slower on AMD Zen 4 (BenchmarkKernel from=int8/to=float16:
// x-copy 0.79 → 0.61).
#define F16W(ins, ss, k, y) ins k*ss(SI), y; VCVTDQ2PS y, y; VCVTPS2PH $0, y, X8; VMOVDQU X8, k*16(DI)
#define F16C(cvt, ss, k, y) cvt k*ss(SI), y; VCVTPS2PH $0, y, X8; VMOVDQU X8, k*16(DI)

// Count the lanes of y (float32, non-negative for CNTU) >= 65520.
#define CNTU(y) VCMPPS $5, Y15, y, y; VPSUBD y, Y13, Y13
#define CNTS(y) VANDPS Y14, y, y; VCMPPS $5, Y15, y, y; VPSUBD y, Y13, Y13

// Prologue and total of the float16 counters, into AX.
#define F16INIT VBROADCASTSS itofAbs<>(SB), Y14; VBROADCASTSS itofTop<>(SB), Y15; VPXOR Y13, Y13, Y13
#define F16SUM VEXTRACTI128 $1, Y13, X0; VPADDD X0, X13, X0; VPSHUFD $0x4e, X0, X1; VPADDD X1, X0, X0; VPSHUFD $0xb1, X0, X1; VPADDD X1, X0, X0; VMOVD X0, AX

// Four items to complex64: int32 widened by ins to x, zero-extended,
// converted (C64S); dwords zero-extended by ins to qwords, converted by
// cvt (C64Z); or converted from 64-bit integers by cvt, then zero-extended
// (C64Q).
#define C64S(ins, ss, k, x, y) ins k*ss(SI), x; VPMOVZXDQ x, y; VCVTDQ2PS y, y; VMOVUPS y, k*32(DI)
#define C64Z(ins, cvt, ss, k, y) ins k*ss(SI), y; cvt y, y; VMOVUPS y, k*32(DI)
#define C64Q(cvt, k, x, y) cvt k*32(SI), x; VPMOVZXDQ x, y; VMOVUPS y, k*32(DI)

// Four float64 in y to complex128 at k*64(DI), t a scratch register.
#define SPREAD(k, y, t) VPERMQ $0xd8, y, y; VUNPCKLPD Y12, y, t; VUNPCKHPD Y12, y, y; VMOVUPD t, k*64(DI); VMOVUPD y, k*64+32(DI)
#define C128W(ins, ss, k, x, y, t) ins k*ss(SI), x; VCVTDQ2PD x, y; SPREAD(k, y, t)
#define C128C(cvt, ss, k, y, t) cvt k*ss(SI), y; SPREAD(k, y, t)

// ---- float32: 32 items, 128 bytes out ----

// func itofI8F32(d, s *byte, n int) (over int)
TEXT ·itofI8F32(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
loop:
	F32W(VPMOVSXBD, 8, 0, Y0)
	F32W(VPMOVSXBD, 8, 1, Y1)
	F32W(VPMOVSXBD, 8, 2, Y2)
	F32W(VPMOVSXBD, 8, 3, Y3)
	NEXT(32, 128, 32)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// func itofU8F32(d, s *byte, n int) (over int)
TEXT ·itofU8F32(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
loop:
	F32W(VPMOVZXBD, 8, 0, Y0)
	F32W(VPMOVZXBD, 8, 1, Y1)
	F32W(VPMOVZXBD, 8, 2, Y2)
	F32W(VPMOVZXBD, 8, 3, Y3)
	NEXT(32, 128, 32)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// func itofI16F32(d, s *byte, n int) (over int)
TEXT ·itofI16F32(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
loop:
	F32W(VPMOVSXWD, 16, 0, Y0)
	F32W(VPMOVSXWD, 16, 1, Y1)
	F32W(VPMOVSXWD, 16, 2, Y2)
	F32W(VPMOVSXWD, 16, 3, Y3)
	NEXT(64, 128, 32)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// func itofU16F32(d, s *byte, n int) (over int)
TEXT ·itofU16F32(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
loop:
	F32W(VPMOVZXWD, 16, 0, Y0)
	F32W(VPMOVZXWD, 16, 1, Y1)
	F32W(VPMOVZXWD, 16, 2, Y2)
	F32W(VPMOVZXWD, 16, 3, Y3)
	NEXT(64, 128, 32)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// func itofI32F32(d, s *byte, n int) (over int)
TEXT ·itofI32F32(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
loop:
	F32C(VCVTDQ2PS, 32, 0, Y0)
	F32C(VCVTDQ2PS, 32, 1, Y1)
	F32C(VCVTDQ2PS, 32, 2, Y2)
	F32C(VCVTDQ2PS, 32, 3, Y3)
	NEXT(128, 128, 32)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// func itofU32F32(d, s *byte, n int) (over int)
// AVX-512 F, VL.
TEXT ·itofU32F32(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
loop:
	F32C(VCVTUDQ2PS, 32, 0, Y0)
	F32C(VCVTUDQ2PS, 32, 1, Y1)
	F32C(VCVTUDQ2PS, 32, 2, Y2)
	F32C(VCVTUDQ2PS, 32, 3, Y3)
	NEXT(128, 128, 32)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// func itofI64F32(d, s *byte, n int) (over int)
// AVX-512 DQ (64 source bytes a conversion).
TEXT ·itofI64F32(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
loop:
	F32C(VCVTQQ2PS, 64, 0, Y0)
	F32C(VCVTQQ2PS, 64, 1, Y1)
	F32C(VCVTQQ2PS, 64, 2, Y2)
	F32C(VCVTQQ2PS, 64, 3, Y3)
	NEXT(256, 128, 32)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// func itofU64F32(d, s *byte, n int) (over int)
// AVX-512 DQ.
TEXT ·itofU64F32(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
loop:
	F32C(VCVTUQQ2PS, 64, 0, Y0)
	F32C(VCVTUQQ2PS, 64, 1, Y1)
	F32C(VCVTUQQ2PS, 64, 2, Y2)
	F32C(VCVTUQQ2PS, 64, 3, Y3)
	NEXT(256, 128, 32)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// ---- float64: 16 items, 128 bytes out ----

// func itofI8F64(d, s *byte, n int) (over int)
TEXT ·itofI8F64(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
loop:
	F64W(VPMOVSXBD, 4, 0, X0, Y0)
	F64W(VPMOVSXBD, 4, 1, X1, Y1)
	F64W(VPMOVSXBD, 4, 2, X2, Y2)
	F64W(VPMOVSXBD, 4, 3, X3, Y3)
	NEXT(16, 128, 16)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// func itofU8F64(d, s *byte, n int) (over int)
TEXT ·itofU8F64(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
loop:
	F64W(VPMOVZXBD, 4, 0, X0, Y0)
	F64W(VPMOVZXBD, 4, 1, X1, Y1)
	F64W(VPMOVZXBD, 4, 2, X2, Y2)
	F64W(VPMOVZXBD, 4, 3, X3, Y3)
	NEXT(16, 128, 16)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// func itofI16F64(d, s *byte, n int) (over int)
TEXT ·itofI16F64(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
loop:
	F64W(VPMOVSXWD, 8, 0, X0, Y0)
	F64W(VPMOVSXWD, 8, 1, X1, Y1)
	F64W(VPMOVSXWD, 8, 2, X2, Y2)
	F64W(VPMOVSXWD, 8, 3, X3, Y3)
	NEXT(32, 128, 16)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// func itofU16F64(d, s *byte, n int) (over int)
TEXT ·itofU16F64(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
loop:
	F64W(VPMOVZXWD, 8, 0, X0, Y0)
	F64W(VPMOVZXWD, 8, 1, X1, Y1)
	F64W(VPMOVZXWD, 8, 2, X2, Y2)
	F64W(VPMOVZXWD, 8, 3, X3, Y3)
	NEXT(32, 128, 16)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// func itofI32F64(d, s *byte, n int) (over int)
TEXT ·itofI32F64(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
loop:
	F64C(VCVTDQ2PD, 16, 0, Y0)
	F64C(VCVTDQ2PD, 16, 1, Y1)
	F64C(VCVTDQ2PD, 16, 2, Y2)
	F64C(VCVTDQ2PD, 16, 3, Y3)
	NEXT(64, 128, 16)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// func itofU32F64(d, s *byte, n int) (over int)
// AVX-512 F, VL.
TEXT ·itofU32F64(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
loop:
	F64C(VCVTUDQ2PD, 16, 0, Y0)
	F64C(VCVTUDQ2PD, 16, 1, Y1)
	F64C(VCVTUDQ2PD, 16, 2, Y2)
	F64C(VCVTUDQ2PD, 16, 3, Y3)
	NEXT(64, 128, 16)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// func itofI64F64(d, s *byte, n int) (over int)
// AVX-512 DQ, VL.
TEXT ·itofI64F64(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
loop:
	F64C(VCVTQQ2PD, 32, 0, Y0)
	F64C(VCVTQQ2PD, 32, 1, Y1)
	F64C(VCVTQQ2PD, 32, 2, Y2)
	F64C(VCVTQQ2PD, 32, 3, Y3)
	NEXT(128, 128, 16)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// func itofU64F64(d, s *byte, n int) (over int)
// AVX-512 DQ, VL.
TEXT ·itofU64F64(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
loop:
	F64C(VCVTUQQ2PD, 32, 0, Y0)
	F64C(VCVTUQQ2PD, 32, 1, Y1)
	F64C(VCVTUQQ2PD, 32, 2, Y2)
	F64C(VCVTUQQ2PD, 32, 3, Y3)
	NEXT(128, 128, 16)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// ---- float16: 32 items, 64 bytes out; F16C ----

// func itofI8F16(d, s *byte, n int) (over int)
// |x| <= 128: nothing overflows.
TEXT ·itofI8F16(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
loop:
	F16W(VPMOVSXBD, 8, 0, Y0)
	F16W(VPMOVSXBD, 8, 1, Y1)
	F16W(VPMOVSXBD, 8, 2, Y2)
	F16W(VPMOVSXBD, 8, 3, Y3)
	NEXT(32, 64, 32)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// func itofU8F16(d, s *byte, n int) (over int)
TEXT ·itofU8F16(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
loop:
	F16W(VPMOVZXBD, 8, 0, Y0)
	F16W(VPMOVZXBD, 8, 1, Y1)
	F16W(VPMOVZXBD, 8, 2, Y2)
	F16W(VPMOVZXBD, 8, 3, Y3)
	NEXT(32, 64, 32)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// func itofI16F16(d, s *byte, n int) (over int)
// |x| <= 32768: nothing overflows.
TEXT ·itofI16F16(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
loop:
	F16W(VPMOVSXWD, 16, 0, Y0)
	F16W(VPMOVSXWD, 16, 1, Y1)
	F16W(VPMOVSXWD, 16, 2, Y2)
	F16W(VPMOVSXWD, 16, 3, Y3)
	NEXT(64, 64, 32)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// func itofU16F16(d, s *byte, n int) (over int)
TEXT ·itofU16F16(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	F16INIT
loop:
	F16W(VPMOVZXWD, 16, 0, Y0)
	F16W(VPMOVZXWD, 16, 1, Y1)
	F16W(VPMOVZXWD, 16, 2, Y2)
	F16W(VPMOVZXWD, 16, 3, Y3)
	CNTU(Y0)
	CNTU(Y1)
	CNTU(Y2)
	CNTU(Y3)
	NEXT(64, 64, 32)
	F16SUM
	VZEROUPPER
	MOVQ AX, over+24(FP)
	RET

// func itofI32F16(d, s *byte, n int) (over int)
TEXT ·itofI32F16(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	F16INIT
loop:
	F16C(VCVTDQ2PS, 32, 0, Y0)
	F16C(VCVTDQ2PS, 32, 1, Y1)
	F16C(VCVTDQ2PS, 32, 2, Y2)
	F16C(VCVTDQ2PS, 32, 3, Y3)
	CNTS(Y0)
	CNTS(Y1)
	CNTS(Y2)
	CNTS(Y3)
	NEXT(128, 64, 32)
	F16SUM
	VZEROUPPER
	MOVQ AX, over+24(FP)
	RET

// func itofU32F16(d, s *byte, n int) (over int)
// AVX-512 F, VL.
TEXT ·itofU32F16(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	F16INIT
loop:
	F16C(VCVTUDQ2PS, 32, 0, Y0)
	F16C(VCVTUDQ2PS, 32, 1, Y1)
	F16C(VCVTUDQ2PS, 32, 2, Y2)
	F16C(VCVTUDQ2PS, 32, 3, Y3)
	CNTU(Y0)
	CNTU(Y1)
	CNTU(Y2)
	CNTU(Y3)
	NEXT(128, 64, 32)
	F16SUM
	VZEROUPPER
	MOVQ AX, over+24(FP)
	RET

// func itofI64F16(d, s *byte, n int) (over int)
// AVX-512 DQ.
TEXT ·itofI64F16(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	F16INIT
loop:
	F16C(VCVTQQ2PS, 64, 0, Y0)
	F16C(VCVTQQ2PS, 64, 1, Y1)
	F16C(VCVTQQ2PS, 64, 2, Y2)
	F16C(VCVTQQ2PS, 64, 3, Y3)
	CNTS(Y0)
	CNTS(Y1)
	CNTS(Y2)
	CNTS(Y3)
	NEXT(256, 64, 32)
	F16SUM
	VZEROUPPER
	MOVQ AX, over+24(FP)
	RET

// func itofU64F16(d, s *byte, n int) (over int)
// AVX-512 DQ.
TEXT ·itofU64F16(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	F16INIT
loop:
	F16C(VCVTUQQ2PS, 64, 0, Y0)
	F16C(VCVTUQQ2PS, 64, 1, Y1)
	F16C(VCVTUQQ2PS, 64, 2, Y2)
	F16C(VCVTUQQ2PS, 64, 3, Y3)
	CNTU(Y0)
	CNTU(Y1)
	CNTU(Y2)
	CNTU(Y3)
	NEXT(256, 64, 32)
	F16SUM
	VZEROUPPER
	MOVQ AX, over+24(FP)
	RET

// ---- complex64: 16 items, 128 bytes out ----

// func itofI8C64(d, s *byte, n int) (over int)
TEXT ·itofI8C64(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
loop:
	C64S(VPMOVSXBD, 4, 0, X0, Y0)
	C64S(VPMOVSXBD, 4, 1, X1, Y1)
	C64S(VPMOVSXBD, 4, 2, X2, Y2)
	C64S(VPMOVSXBD, 4, 3, X3, Y3)
	NEXT(16, 128, 16)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// func itofU8C64(d, s *byte, n int) (over int)
TEXT ·itofU8C64(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
loop:
	C64Z(VPMOVZXBQ, VCVTDQ2PS, 4, 0, Y0)
	C64Z(VPMOVZXBQ, VCVTDQ2PS, 4, 1, Y1)
	C64Z(VPMOVZXBQ, VCVTDQ2PS, 4, 2, Y2)
	C64Z(VPMOVZXBQ, VCVTDQ2PS, 4, 3, Y3)
	NEXT(16, 128, 16)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// func itofI16C64(d, s *byte, n int) (over int)
TEXT ·itofI16C64(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
loop:
	C64S(VPMOVSXWD, 8, 0, X0, Y0)
	C64S(VPMOVSXWD, 8, 1, X1, Y1)
	C64S(VPMOVSXWD, 8, 2, X2, Y2)
	C64S(VPMOVSXWD, 8, 3, X3, Y3)
	NEXT(32, 128, 16)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// func itofU16C64(d, s *byte, n int) (over int)
TEXT ·itofU16C64(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
loop:
	C64Z(VPMOVZXWQ, VCVTDQ2PS, 8, 0, Y0)
	C64Z(VPMOVZXWQ, VCVTDQ2PS, 8, 1, Y1)
	C64Z(VPMOVZXWQ, VCVTDQ2PS, 8, 2, Y2)
	C64Z(VPMOVZXWQ, VCVTDQ2PS, 8, 3, Y3)
	NEXT(32, 128, 16)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// func itofI32C64(d, s *byte, n int) (over int)
TEXT ·itofI32C64(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
loop:
	C64Z(VPMOVZXDQ, VCVTDQ2PS, 16, 0, Y0)
	C64Z(VPMOVZXDQ, VCVTDQ2PS, 16, 1, Y1)
	C64Z(VPMOVZXDQ, VCVTDQ2PS, 16, 2, Y2)
	C64Z(VPMOVZXDQ, VCVTDQ2PS, 16, 3, Y3)
	NEXT(64, 128, 16)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// func itofU32C64(d, s *byte, n int) (over int)
// AVX-512 F, VL.
TEXT ·itofU32C64(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
loop:
	C64Z(VPMOVZXDQ, VCVTUDQ2PS, 16, 0, Y0)
	C64Z(VPMOVZXDQ, VCVTUDQ2PS, 16, 1, Y1)
	C64Z(VPMOVZXDQ, VCVTUDQ2PS, 16, 2, Y2)
	C64Z(VPMOVZXDQ, VCVTUDQ2PS, 16, 3, Y3)
	NEXT(64, 128, 16)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// func itofI64C64(d, s *byte, n int) (over int)
// AVX-512 DQ, VL.
TEXT ·itofI64C64(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
loop:
	C64Q(VCVTQQ2PSY, 0, X0, Y0)
	C64Q(VCVTQQ2PSY, 1, X1, Y1)
	C64Q(VCVTQQ2PSY, 2, X2, Y2)
	C64Q(VCVTQQ2PSY, 3, X3, Y3)
	NEXT(128, 128, 16)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// func itofU64C64(d, s *byte, n int) (over int)
// AVX-512 DQ, VL.
TEXT ·itofU64C64(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
loop:
	C64Q(VCVTUQQ2PSY, 0, X0, Y0)
	C64Q(VCVTUQQ2PSY, 1, X1, Y1)
	C64Q(VCVTUQQ2PSY, 2, X2, Y2)
	C64Q(VCVTUQQ2PSY, 3, X3, Y3)
	NEXT(128, 128, 16)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// ---- complex128: 8 items, 128 bytes out ----

// func itofI8C128(d, s *byte, n int) (over int)
TEXT ·itofI8C128(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	VXORPD Y12, Y12, Y12
loop:
	C128W(VPMOVSXBD, 4, 0, X0, Y0, Y4)
	C128W(VPMOVSXBD, 4, 1, X1, Y1, Y5)
	NEXT(8, 128, 8)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// func itofU8C128(d, s *byte, n int) (over int)
TEXT ·itofU8C128(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	VXORPD Y12, Y12, Y12
loop:
	C128W(VPMOVZXBD, 4, 0, X0, Y0, Y4)
	C128W(VPMOVZXBD, 4, 1, X1, Y1, Y5)
	NEXT(8, 128, 8)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// func itofI16C128(d, s *byte, n int) (over int)
TEXT ·itofI16C128(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	VXORPD Y12, Y12, Y12
loop:
	C128W(VPMOVSXWD, 8, 0, X0, Y0, Y4)
	C128W(VPMOVSXWD, 8, 1, X1, Y1, Y5)
	NEXT(16, 128, 8)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// func itofU16C128(d, s *byte, n int) (over int)
TEXT ·itofU16C128(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	VXORPD Y12, Y12, Y12
loop:
	C128W(VPMOVZXWD, 8, 0, X0, Y0, Y4)
	C128W(VPMOVZXWD, 8, 1, X1, Y1, Y5)
	NEXT(16, 128, 8)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// func itofI32C128(d, s *byte, n int) (over int)
TEXT ·itofI32C128(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	VXORPD Y12, Y12, Y12
loop:
	C128C(VCVTDQ2PD, 16, 0, Y0, Y4)
	C128C(VCVTDQ2PD, 16, 1, Y1, Y5)
	NEXT(32, 128, 8)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// func itofU32C128(d, s *byte, n int) (over int)
// AVX-512 F, VL.
TEXT ·itofU32C128(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	VXORPD Y12, Y12, Y12
loop:
	C128C(VCVTUDQ2PD, 16, 0, Y0, Y4)
	C128C(VCVTUDQ2PD, 16, 1, Y1, Y5)
	NEXT(32, 128, 8)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// func itofI64C128(d, s *byte, n int) (over int)
// AVX-512 DQ, VL.
TEXT ·itofI64C128(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	VXORPD Y12, Y12, Y12
loop:
	C128C(VCVTQQ2PD, 32, 0, Y0, Y4)
	C128C(VCVTQQ2PD, 32, 1, Y1, Y5)
	NEXT(64, 128, 8)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET

// func itofU64C128(d, s *byte, n int) (over int)
// AVX-512 DQ, VL.
TEXT ·itofU64C128(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	VXORPD Y12, Y12, Y12
loop:
	C128C(VCVTUQQ2PD, 32, 0, Y0, Y4)
	C128C(VCVTUQQ2PD, 32, 1, Y1, Y5)
	NEXT(64, 128, 8)
	VZEROUPPER
	MOVQ $0, over+24(FP)
	RET
