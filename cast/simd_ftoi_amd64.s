//go:build !purego

#include "textflag.h"

// Float → integer and float → bool kernels with AVX-512 (F, BW, DQ, VL).
// See simd_ftoi_amd64.go for the contract. Every function has the Go
// signature
//
//	func(d, s unsafe.Pointer, n int, c *ftoiConst) (done, out, im int)
//
//	func(d, s unsafe.Pointer, n int, c *ftoiConst) (out, im, nan, inf int)
//
// and is one FTOI expansion: SETUP loads the constants, LOAD reads one
// vector of source values (the real parts, as float32 or float64, in Z0
// or Y0), marks the NaN lanes in K5 and the NaN or ±inf lanes in K6,
// adds them to the count lanes Z16 and Z17, and counts the non-zero
// imaginary parts into R9; CONV converts, saturates the values out of
// range (±inf among them; counted into R8), sets the NaN lanes to 0 (the
// package rule, which NumPy gives on this platform) and stores. Nothing
// branches on the data: a vector full of NaN and inf costs what any
// other does. At the end, inf = specials - NaN; out still counts the
// infs saturated (the Go side takes them back out for integer targets).
//
// Registers: DI d, SI s, CX n, AX items done, R8 out, R9 im, BX c,
// R10-R13 scratch; Z0-Z5 data, K1-K6 masks; Z16, Z17 count lanes (NaN;
// NaN or inf), Z18 dwords of 1; constants Z22-Z31, K7.
//
//	Z28, Z29  lo, hi: x <= lo is below range, x >= hi above
//	Z30, Z31  the target's min and max, in the lane width of the result
//	Z27       VPERMT2PS/PD index of the real parts (complex sources)
//	Z23       index of the imaginary parts (complex128 → bool)
//	Z26 zero, Z25 bytes of 1, Z24 qwords of 0x7fffffffffffffff,
//	Z22 qwords of 0x7fffffff7fffffff (signs of complex64 parts cleared)
//	K7        the odd lanes (imaginary parts)

// Predicates of VCMPPS/VCMPPD.
#define NEQ_UQ $4
#define LE_OQ $0x12
#define GE_OQ $0x1d

// VFPCLASS categories: QNaN, +inf, -inf, SNaN; QNaN, SNaN.
#define SPECIAL $0x99
#define NAN $0x81

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

// Indexes of the even (real) and odd (imaginary) parts of two vectors.
DATA ftoiEven32<>+0(SB)/8, $0x0000000200000000
DATA ftoiEven32<>+8(SB)/8, $0x0000000600000004
DATA ftoiEven32<>+16(SB)/8, $0x0000000a00000008
DATA ftoiEven32<>+24(SB)/8, $0x0000000e0000000c
DATA ftoiEven32<>+32(SB)/8, $0x0000001200000010
DATA ftoiEven32<>+40(SB)/8, $0x0000001600000014
DATA ftoiEven32<>+48(SB)/8, $0x0000001a00000018
DATA ftoiEven32<>+56(SB)/8, $0x0000001e0000001c
GLOBL ftoiEven32<>(SB), RODATA|NOPTR, $64

DATA ftoiEven64<>+0(SB)/8, $0
DATA ftoiEven64<>+8(SB)/8, $2
DATA ftoiEven64<>+16(SB)/8, $4
DATA ftoiEven64<>+24(SB)/8, $6
DATA ftoiEven64<>+32(SB)/8, $8
DATA ftoiEven64<>+40(SB)/8, $10
DATA ftoiEven64<>+48(SB)/8, $12
DATA ftoiEven64<>+56(SB)/8, $14
GLOBL ftoiEven64<>(SB), RODATA|NOPTR, $64

DATA ftoiOdd64<>+0(SB)/8, $1
DATA ftoiOdd64<>+8(SB)/8, $3
DATA ftoiOdd64<>+16(SB)/8, $5
DATA ftoiOdd64<>+24(SB)/8, $7
DATA ftoiOdd64<>+32(SB)/8, $9
DATA ftoiOdd64<>+40(SB)/8, $11
DATA ftoiOdd64<>+48(SB)/8, $13
DATA ftoiOdd64<>+56(SB)/8, $15
GLOBL ftoiOdd64<>(SB), RODATA|NOPTR, $64

#define FTOI(name, SETUP, LOAD, CONV, lanes) \
TEXT name(SB), NOSPLIT, $0-64; \
	MOVQ  d+0(FP), DI; \
	MOVQ  s+8(FP), SI; \
	MOVQ  n+16(FP), CX; \
	MOVQ  c+24(FP), BX; \
	XORQ  AX, AX; \
	XORQ  R8, R8; \
	XORQ  R9, R9; \
	VPXORD Z26, Z26, Z26; \
	MOVL  $1, R10; \
	VPBROADCASTB R10, Z25; \
	MOVQ  $0x7fffffffffffffff, R10; \
	VPBROADCASTQ R10, Z24; \
	MOVQ  $0x7fffffff7fffffff, R10; \
	VPBROADCASTQ R10, Z22; \
	MOVL  $0xaaaa, R10; \
	KMOVW R10, K7; \
	VPXORD Z16, Z16, Z16; \
	VPXORD Z17, Z17, Z17; \
	MOVL  $1, R10; \
	VPBROADCASTD R10, Z18; \
	SETUP; \
	CMPQ  CX, $lanes; \
	JB    exit; \
loop: \
	LOAD; \
	CONV; \
	ADDQ  $lanes, AX; \
	LEAQ  lanes(AX), R10; \
	CMPQ  R10, CX; \
	JBE   loop; \
exit: \
	HSUM(Z16, Y16, R12); \
	HSUM(Z17, Y17, R13); \
	VZEROUPPER; \
	SUBQ  R12, R13; \
	MOVQ  R8, out+32(FP); \
	MOVQ  R9, im+40(FP); \
	MOVQ  R12, nan+48(FP); \
	MOVQ  R13, inf+56(FP); \
	RET

// SETUP: float32 bounds, 32-bit or 64-bit results; float64 bounds.
#define S_F32_D \
	VPBROADCASTD 0(BX), Z28; \
	VPBROADCASTD 8(BX), Z29; \
	VPBROADCASTD 16(BX), Z30; \
	VPBROADCASTD 24(BX), Z31; \
	VMOVDQU32 ftoiEven32<>(SB), Z27

#define S_F32_Q \
	VPBROADCASTD 0(BX), Z28; \
	VPBROADCASTD 8(BX), Z29; \
	VPBROADCASTQ 16(BX), Z30; \
	VPBROADCASTQ 24(BX), Z31; \
	VMOVDQU32 ftoiEven32<>(SB), Z27

#define S_F64 \
	VPBROADCASTQ 0(BX), Z28; \
	VPBROADCASTQ 8(BX), Z29; \
	VPBROADCASTQ 16(BX), Z30; \
	VPBROADCASTQ 24(BX), Z31; \
	VMOVDQU64 ftoiEven64<>(SB), Z27; \
	VMOVDQU64 ftoiOdd64<>(SB), Z23

// LOAD, 16 float32 values into Z0.
#define L_F32_16 \
	VMOVUPS     (SI), Z0; \
	VFPCLASSPSZ NAN, Z0, K5; \
	VFPCLASSPSZ SPECIAL, Z0, K6; \
	VPADDD      Z18, Z16, K5, Z16; \
	VPADDD      Z18, Z17, K6, Z17; \
	ADDQ        $64, SI

#define L_F16_16 \
	VCVTPH2PS   (SI), Z0; \
	VFPCLASSPSZ NAN, Z0, K5; \
	VFPCLASSPSZ SPECIAL, Z0, K6; \
	VPADDD      Z18, Z16, K5, Z16; \
	VPADDD      Z18, Z17, K6, Z17; \
	ADDQ        $32, SI

#define L_C64_16 \
	VMOVUPS     (SI), Z2; \
	VMOVUPS     64(SI), Z3; \
	VMOVAPS     Z2, Z0; \
	VPERMT2PS   Z3, Z27, Z0; \
	VFPCLASSPSZ NAN, Z0, K5; \
	VFPCLASSPSZ SPECIAL, Z0, K6; \
	VPADDD      Z18, Z16, K5, Z16; \
	VPADDD      Z18, Z17, K6, Z17; \
	VCMPPS      NEQ_UQ, Z26, Z2, K7, K4; \
	VCMPPS      NEQ_UQ, Z26, Z3, K7, K3; \
	KMOVW       K4, R10; \
	KMOVW       K3, R11; \
	POPCNTL     R10, R10; \
	POPCNTL     R11, R11; \
	ADDQ        R10, R9; \
	ADDQ        R11, R9; \
	ADDQ        $128, SI

// LOAD, 8 float32 values into Y0.
#define L_F32_8 \
	VMOVUPS     (SI), Y0; \
	VFPCLASSPSY NAN, Y0, K5; \
	VFPCLASSPSY SPECIAL, Y0, K6; \
	VPADDD      Z18, Z16, K5, Z16; \
	VPADDD      Z18, Z17, K6, Z17; \
	ADDQ        $32, SI

#define L_F16_8 \
	VCVTPH2PS   (SI), Y0; \
	VFPCLASSPSY NAN, Y0, K5; \
	VFPCLASSPSY SPECIAL, Y0, K6; \
	VPADDD      Z18, Z16, K5, Z16; \
	VPADDD      Z18, Z17, K6, Z17; \
	ADDQ        $16, SI

#define L_C64_8 \
	VMOVUPS     (SI), Z2; \
	VPMOVQD     Z2, Y0; \
	VFPCLASSPSY NAN, Y0, K5; \
	VFPCLASSPSY SPECIAL, Y0, K6; \
	VPADDD      Z18, Z16, K5, Z16; \
	VPADDD      Z18, Z17, K6, Z17; \
	VCMPPS      NEQ_UQ, Z26, Z2, K7, K4; \
	KMOVW       K4, R10; \
	POPCNTL     R10, R10; \
	ADDQ        R10, R9; \
	ADDQ        $64, SI

// LOAD, 8 float64 values into Z0.
#define L_F64_8 \
	VMOVUPD     (SI), Z0; \
	VFPCLASSPDZ NAN, Z0, K5; \
	VFPCLASSPDZ SPECIAL, Z0, K6; \
	VPADDD      Z18, Z16, K5, Z16; \
	VPADDD      Z18, Z17, K6, Z17; \
	ADDQ        $64, SI

#define L_C128_8 \
	VMOVUPD     (SI), Z2; \
	VMOVUPD     64(SI), Z3; \
	VMOVAPD     Z2, Z0; \
	VPERMT2PD   Z3, Z27, Z0; \
	VFPCLASSPDZ NAN, Z0, K5; \
	VFPCLASSPDZ SPECIAL, Z0, K6; \
	VPADDD      Z18, Z16, K5, Z16; \
	VPADDD      Z18, Z17, K6, Z17; \
	VCMPPD      NEQ_UQ, Z26, Z2, K7, K4; \
	VCMPPD      NEQ_UQ, Z26, Z3, K7, K3; \
	KMOVW       K4, R10; \
	KMOVW       K3, R11; \
	POPCNTL     R10, R10; \
	POPCNTL     R11, R11; \
	ADDQ        R10, R9; \
	ADDQ        R11, R9; \
	ADDQ        $128, SI

// PAIRS32(z, k, acc) adds to the count lanes acc the complex64 values
// of z (eight) with a part in the VFPCLASS categories k: the part lanes
// become dwords of all ones, then a qword (a value) with any is counted.
#define PAIRS32(z, k, acc) \
	VFPCLASSPSZ k, z, K4; \
	VPMOVM2D    K4, Z4; \
	VPTESTMQ    Z4, Z4, K4; \
	VPADDD      Z18, acc, K4, acc

// LOAD for complex → bool: both parts of 16 complex64 (Z2, Z3) or 8
// complex128 (Z2, Z3) values. A value counts as NaN when a part is NaN,
// else as inf when a part is; complex128 values are counted in CONV.
#define L_C64B_16 \
	VMOVUPS     (SI), Z2; \
	VMOVUPS     64(SI), Z3; \
	PAIRS32(Z2, NAN, Z16); \
	PAIRS32(Z3, NAN, Z16); \
	PAIRS32(Z2, SPECIAL, Z17); \
	PAIRS32(Z3, SPECIAL, Z17); \
	ADDQ        $128, SI

#define L_C128B_8 \
	VMOVUPD     (SI), Z2; \
	VMOVUPD     64(SI), Z3; \
	ADDQ        $128, SI

// Range masks: K1 below range, K2 above; their count is added to R8.
#define COUNT \
	KORW    K1, K2, K3; \
	KMOVW   K3, R10; \
	POPCNTL R10, R10; \
	ADDQ    R10, R8

#define RANGE_PS_Z \
	VCMPPS LE_OQ, Z28, Z0, K1; \
	VCMPPS GE_OQ, Z29, Z0, K2; \
	COUNT

#define RANGE_PS_Y \
	VCMPPS LE_OQ, Y28, Y0, K1; \
	VCMPPS GE_OQ, Y29, Y0, K2; \
	COUNT

#define RANGE_PD_Z \
	VCMPPD LE_OQ, Z28, Z0, K1; \
	VCMPPD GE_OQ, Z29, Z0, K2; \
	COUNT

// Saturate the lanes of Z1 below and above range, and set the NaN
// lanes (K5) to 0.
#define SAT_D \
	VMOVDQA32 Z30, K1, Z1; \
	VMOVDQA32 Z31, K2, Z1; \
	VMOVDQA32 Z26, K5, Z1

#define SAT_Q \
	VMOVDQA64 Z30, K1, Z1; \
	VMOVDQA64 Z31, K2, Z1; \
	VMOVDQA64 Z26, K5, Z1

// CONV from 16 float32 values in Z0.
#define C_D8 \
	RANGE_PS_Z; \
	VCVTTPS2DQ Z0, Z1; \
	SAT_D; \
	VPMOVDB    Z1, X1; \
	VMOVDQU    X1, (DI); \
	ADDQ       $16, DI

#define C_D16 \
	RANGE_PS_Z; \
	VCVTTPS2DQ Z0, Z1; \
	SAT_D; \
	VPMOVDW    Z1, Y1; \
	VMOVDQU    Y1, (DI); \
	ADDQ       $32, DI

#define C_I32 \
	RANGE_PS_Z; \
	VCVTTPS2DQ Z0, Z1; \
	SAT_D; \
	VMOVDQU32  Z1, (DI); \
	ADDQ       $64, DI

#define C_U32 \
	RANGE_PS_Z; \
	VCVTTPS2UDQ Z0, Z1; \
	SAT_D; \
	VMOVDQU32   Z1, (DI); \
	ADDQ        $64, DI

#define C_B16 \
	VCMPPS     NEQ_UQ, Z26, Z0, K1; \
	VMOVDQU8.Z Z25, K1, Z1; \
	VMOVDQU    X1, (DI); \
	ADDQ       $16, DI

// CONV from 8 float32 values in Y0.
#define C_I64 \
	RANGE_PS_Y; \
	VCVTTPS2QQ Y0, Z1; \
	SAT_Q; \
	VMOVDQU64  Z1, (DI); \
	ADDQ       $64, DI

#define C_U64 \
	RANGE_PS_Y; \
	VCVTTPS2UQQ Y0, Z1; \
	SAT_Q; \
	VMOVDQU64   Z1, (DI); \
	ADDQ        $64, DI

// CONV from 8 float64 values in Z0. Values in range of a target of 32
// bits or less are in range of int64: VCVTTPD2QQ, then truncate.
#define C_Q8 \
	RANGE_PD_Z; \
	VCVTTPD2QQ Z0, Z1; \
	SAT_Q; \
	VPMOVQB    Z1, X1; \
	VMOVQ      X1, (DI); \
	ADDQ       $8, DI

#define C_Q16 \
	RANGE_PD_Z; \
	VCVTTPD2QQ Z0, Z1; \
	SAT_Q; \
	VPMOVQW    Z1, X1; \
	VMOVDQU    X1, (DI); \
	ADDQ       $16, DI

#define C_Q32 \
	RANGE_PD_Z; \
	VCVTTPD2QQ Z0, Z1; \
	SAT_Q; \
	VPMOVQD    Z1, Y1; \
	VMOVDQU    Y1, (DI); \
	ADDQ       $32, DI

#define C_QI64 \
	RANGE_PD_Z; \
	VCVTTPD2QQ Z0, Z1; \
	SAT_Q; \
	VMOVDQU64  Z1, (DI); \
	ADDQ       $64, DI

#define C_QU64 \
	RANGE_PD_Z; \
	VCVTTPD2UQQ Z0, Z1; \
	SAT_Q; \
	VMOVDQU64   Z1, (DI); \
	ADDQ        $64, DI

#define C_QB8 \
	VCMPPD     NEQ_UQ, Z26, Z0, K1; \
	VMOVDQU8.Z Z25, K1, Z1; \
	VMOVQ      X1, (DI); \
	ADDQ       $8, DI

// complex → bool: a value is true when its parts' bits, signs cleared,
// are not all zero (NaN is true, -0 is zero).
#define C_C64B16 \
	VPTESTMQ   Z22, Z2, K1; \
	VPTESTMQ   Z22, Z3, K2; \
	KUNPCKBW   K1, K2, K1; \
	VMOVDQU8.Z Z25, K1, Z1; \
	VMOVDQU    X1, (DI); \
	ADDQ       $16, DI

#define C_C128B8 \
	VMOVAPD    Z2, Z0; \
	VPERMT2PD  Z3, Z27, Z0; \
	VPERMT2PD  Z3, Z23, Z2; \
	VFPCLASSPDZ NAN, Z0, K5; \
	VFPCLASSPDZ NAN, Z2, K4; \
	KORB       K4, K5, K5; \
	VFPCLASSPDZ SPECIAL, Z0, K6; \
	VFPCLASSPDZ SPECIAL, Z2, K4; \
	KORB       K4, K6, K6; \
	VPADDD     Z18, Z16, K5, Z16; \
	VPADDD     Z18, Z17, K6, Z17; \
	VPORQ      Z0, Z2, Z0; \
	VPTESTMQ   Z24, Z0, K1; \
	VMOVDQU8.Z Z25, K1, Z1; \
	VMOVQ      X1, (DI); \
	ADDQ       $8, DI

FTOI(·ftoiF32D8, S_F32_D, L_F32_16, C_D8, 16)
FTOI(·ftoiF32D16, S_F32_D, L_F32_16, C_D16, 16)
FTOI(·ftoiF32I32, S_F32_D, L_F32_16, C_I32, 16)
FTOI(·ftoiF32U32, S_F32_D, L_F32_16, C_U32, 16)
FTOI(·ftoiF32I64, S_F32_Q, L_F32_8, C_I64, 8)
FTOI(·ftoiF32U64, S_F32_Q, L_F32_8, C_U64, 8)
FTOI(·ftoiF32B, S_F32_D, L_F32_16, C_B16, 16)

FTOI(·ftoiF16D8, S_F32_D, L_F16_16, C_D8, 16)
FTOI(·ftoiF16D16, S_F32_D, L_F16_16, C_D16, 16)
FTOI(·ftoiF16I32, S_F32_D, L_F16_16, C_I32, 16)
FTOI(·ftoiF16U32, S_F32_D, L_F16_16, C_U32, 16)
FTOI(·ftoiF16I64, S_F32_Q, L_F16_8, C_I64, 8)
FTOI(·ftoiF16U64, S_F32_Q, L_F16_8, C_U64, 8)
FTOI(·ftoiF16B, S_F32_D, L_F16_16, C_B16, 16)

FTOI(·ftoiC64D8, S_F32_D, L_C64_16, C_D8, 16)
FTOI(·ftoiC64D16, S_F32_D, L_C64_16, C_D16, 16)
FTOI(·ftoiC64I32, S_F32_D, L_C64_16, C_I32, 16)
FTOI(·ftoiC64U32, S_F32_D, L_C64_16, C_U32, 16)
FTOI(·ftoiC64I64, S_F32_Q, L_C64_8, C_I64, 8)
FTOI(·ftoiC64U64, S_F32_Q, L_C64_8, C_U64, 8)
FTOI(·ftoiC64B, S_F32_D, L_C64B_16, C_C64B16, 16)

FTOI(·ftoiF64Q8, S_F64, L_F64_8, C_Q8, 8)
FTOI(·ftoiF64Q16, S_F64, L_F64_8, C_Q16, 8)
FTOI(·ftoiF64Q32, S_F64, L_F64_8, C_Q32, 8)
FTOI(·ftoiF64I64, S_F64, L_F64_8, C_QI64, 8)
FTOI(·ftoiF64U64, S_F64, L_F64_8, C_QU64, 8)
FTOI(·ftoiF64B, S_F64, L_F64_8, C_QB8, 8)

FTOI(·ftoiC128Q8, S_F64, L_C128_8, C_Q8, 8)
FTOI(·ftoiC128Q16, S_F64, L_C128_8, C_Q16, 8)
FTOI(·ftoiC128Q32, S_F64, L_C128_8, C_Q32, 8)
FTOI(·ftoiC128I64, S_F64, L_C128_8, C_QI64, 8)
FTOI(·ftoiC128U64, S_F64, L_C128_8, C_QU64, 8)
FTOI(·ftoiC128B, S_F64, L_C128B_8, C_C128B8, 8)
