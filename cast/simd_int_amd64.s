//go:build !purego

#include "textflag.h"

// Vector kernels for integer ↔ integer, bool ↔ number casts and byte
// swaps; see simd_int_amd64.go for what each computes and which CPU
// features it needs. Every function takes k ≥ 1 units of work (the
// unit is per function, below) and no alignment.
//
// Register use: DI destination, SI source, CX units left, R8 count.

// WIDENSX: sign-extending widening, AVX2, a unit = 64 destination bytes
// (two YMM) from 2*SRCB source bytes. LOAD brings SRCB source bytes into
// the low end of an XMM register (zeroing the rest), EXT widens it. It
// also counts the negative source values: the top bits of their bytes
// (VPMOVMSKB), kept by MASK.
#define WIDENSX(NAME, LOAD, EXT, SRCB, MASK) \
TEXT NAME(SB), NOSPLIT, $0-32; \
	MOVQ d+0(FP), DI; \
	MOVQ s+8(FP), SI; \
	MOVQ k+16(FP), CX; \
	XORQ R8, R8; \
loop: ; \
	LOAD      0(SI), X1; \
	LOAD      SRCB(SI), X2; \
	EXT       X1, Y3; \
	EXT       X2, Y4; \
	VMOVDQU   Y3, 0(DI); \
	VMOVDQU   Y4, 32(DI); \
	VPMOVMSKB X1, AX; \
	VPMOVMSKB X2, BX; \
	ANDL      $MASK, AX; \
	ANDL      $MASK, BX; \
	POPCNTL   AX, AX; \
	POPCNTL   BX, BX; \
	ADDQ      AX, R8; \
	ADDQ      BX, R8; \
	ADDQ      $(2*SRCB), SI; \
	ADDQ      $64, DI; \
	DECQ      CX; \
	JNZ       loop; \
	MOVQ      R8, count+24(FP); \
	VZEROUPPER; \
	RET

// WIDENZX: zero-extending widening, as WIDENSX without a count.
#define WIDENZX(NAME, EXT, SRCB) \
TEXT NAME(SB), NOSPLIT, $0-32; \
	MOVQ d+0(FP), DI; \
	MOVQ s+8(FP), SI; \
	MOVQ k+16(FP), CX; \
loop: ; \
	EXT       0(SI), Y3; \
	EXT       SRCB(SI), Y4; \
	VMOVDQU   Y3, 0(DI); \
	VMOVDQU   Y4, 32(DI); \
	ADDQ      $(2*SRCB), SI; \
	ADDQ      $64, DI; \
	DECQ      CX; \
	JNZ       loop; \
	MOVQ      $0, count+24(FP); \
	VZEROUPPER; \
	RET

// func sx8to16(d, s *byte, k int) (count int)
WIDENSX(·sx8to16, VMOVDQU, VPMOVSXBW, 16, 0xffff)
// func sx8to32(d, s *byte, k int) (count int)
WIDENSX(·sx8to32, VMOVQ, VPMOVSXBD, 8, 0xffff)
// func sx8to64(d, s *byte, k int) (count int)
WIDENSX(·sx8to64, VMOVD, VPMOVSXBQ, 4, 0xffff)
// func sx16to32(d, s *byte, k int) (count int)
WIDENSX(·sx16to32, VMOVDQU, VPMOVSXWD, 16, 0xaaaa)
// func sx16to64(d, s *byte, k int) (count int)
WIDENSX(·sx16to64, VMOVQ, VPMOVSXWQ, 8, 0xaaaa)
// func sx32to64(d, s *byte, k int) (count int)
WIDENSX(·sx32to64, VMOVDQU, VPMOVSXDQ, 16, 0x8888)

// func zx8to16(d, s *byte, k int) (count int)
WIDENZX(·zx8to16, VPMOVZXBW, 16)
// func zx8to32(d, s *byte, k int) (count int)
WIDENZX(·zx8to32, VPMOVZXBD, 8)
// func zx8to64(d, s *byte, k int) (count int)
WIDENZX(·zx8to64, VPMOVZXBQ, 4)
// func zx16to32(d, s *byte, k int) (count int)
WIDENZX(·zx16to32, VPMOVZXWD, 16)
// func zx16to64(d, s *byte, k int) (count int)
WIDENZX(·zx16to64, VPMOVZXWQ, 8)
// func zx32to64(d, s *byte, k int) (count int)
WIDENZX(·zx32to64, VPMOVZXDQ, 16)

// NARROW: truncating narrowing, AVX-512 (F; BW for word sources), a
// unit = 128 source bytes (two ZMM) to 2*OUTB destination bytes. PMOV
// truncates into R1/R2, STORE writes OUTB bytes of them. It counts the
// lanes x with (x + bias) >> shift != 0 (logical shift, in the source
// lane width): the values that do not fit the target.
#define NARROW(NAME, BCAST, ADD, SRL, TESTM, PMOV, R1, R2, STORE, OUTB) \
TEXT NAME(SB), NOSPLIT, $0-48; \
	MOVQ d+0(FP), DI; \
	MOVQ s+8(FP), SI; \
	MOVQ k+16(FP), CX; \
	MOVQ bias+24(FP), AX; \
	VMOVQ AX, X15; \
	BCAST X15, Z15; \
	MOVQ shift+32(FP), AX; \
	VMOVQ AX, X14; \
	XORQ R8, R8; \
loop: ; \
	VMOVDQU64 0(SI), Z0; \
	VMOVDQU64 64(SI), Z1; \
	PMOV      Z0, R1; \
	PMOV      Z1, R2; \
	STORE     R1, 0(DI); \
	STORE     R2, OUTB(DI); \
	ADD       Z15, Z0, Z0; \
	ADD       Z15, Z1, Z1; \
	SRL       X14, Z0, Z0; \
	SRL       X14, Z1, Z1; \
	TESTM     Z0, Z0, K1; \
	TESTM     Z1, Z1, K2; \
	KMOVQ     K1, AX; \
	KMOVQ     K2, BX; \
	POPCNTQ   AX, AX; \
	POPCNTQ   BX, BX; \
	ADDQ      AX, R8; \
	ADDQ      BX, R8; \
	ADDQ      $128, SI; \
	ADDQ      $(2*OUTB), DI; \
	DECQ      CX; \
	JNZ       loop; \
	MOVQ      R8, count+40(FP); \
	VZEROUPPER; \
	RET

// func narrow16to8(d, s *byte, k int, bias, shift uint64) (count int)
NARROW(·narrow16to8, VPBROADCASTW, VPADDW, VPSRLW, VPTESTMW, VPMOVWB, Y2, Y3, VMOVDQU, 32)
// func narrow32to8(d, s *byte, k int, bias, shift uint64) (count int)
NARROW(·narrow32to8, VPBROADCASTD, VPADDD, VPSRLD, VPTESTMD, VPMOVDB, X2, X3, VMOVDQU, 16)
// func narrow32to16(d, s *byte, k int, bias, shift uint64) (count int)
NARROW(·narrow32to16, VPBROADCASTD, VPADDD, VPSRLD, VPTESTMD, VPMOVDW, Y2, Y3, VMOVDQU, 32)
// func narrow64to8(d, s *byte, k int, bias, shift uint64) (count int)
NARROW(·narrow64to8, VPBROADCASTQ, VPADDQ, VPSRLQ, VPTESTMQ, VPMOVQB, X2, X3, VMOVQ, 8)
// func narrow64to16(d, s *byte, k int, bias, shift uint64) (count int)
NARROW(·narrow64to16, VPBROADCASTQ, VPADDQ, VPSRLQ, VPTESTMQ, VPMOVQW, X2, X3, VMOVDQU, 16)
// func narrow64to32(d, s *byte, k int, bias, shift uint64) (count int)
NARROW(·narrow64to32, VPBROADCASTQ, VPADDQ, VPSRLQ, VPTESTMQ, VPMOVQD, Y2, Y3, VMOVDQU, 32)

// TOBOOL: x != 0 as a 0/1 byte, AVX-512 (F; BW for words), a unit =
// 128 source bytes: the unsigned minimum with 1, truncated.
#define TOBOOL(NAME, BCAST, MINU, PMOV, R1, R2, STORE, OUTB) \
TEXT NAME(SB), NOSPLIT, $0-24; \
	MOVQ d+0(FP), DI; \
	MOVQ s+8(FP), SI; \
	MOVQ k+16(FP), CX; \
	MOVQ $1, AX; \
	VMOVQ AX, X15; \
	BCAST X15, Z15; \
loop: ; \
	VMOVDQU64 0(SI), Z0; \
	VMOVDQU64 64(SI), Z1; \
	MINU      Z15, Z0, Z0; \
	MINU      Z15, Z1, Z1; \
	PMOV      Z0, R1; \
	PMOV      Z1, R2; \
	STORE     R1, 0(DI); \
	STORE     R2, OUTB(DI); \
	ADDQ      $128, SI; \
	ADDQ      $(2*OUTB), DI; \
	DECQ      CX; \
	JNZ       loop; \
	VZEROUPPER; \
	RET

// func bool16(d, s *byte, k int)
TOBOOL(·bool16, VPBROADCASTW, VPMINUW, VPMOVWB, Y2, Y3, VMOVDQU, 32)
// func bool32(d, s *byte, k int)
TOBOOL(·bool32, VPBROADCASTD, VPMINUD, VPMOVDB, X2, X3, VMOVDQU, 16)
// func bool64(d, s *byte, k int)
TOBOOL(·bool64, VPBROADCASTQ, VPMINUQ, VPMOVQB, X2, X3, VMOVQ, 8)

// FROMBOOL: a non-zero byte to one (the lane-sized constant: 1, or 1.0
// as float bits), zero to zero, AVX2, a unit = 64 destination bytes.
// Each byte is compared with zero, the 0/-1 bytes sign-extended to the
// lane width and the constant kept where they are 0 (VPANDN).
#define FROMBOOL(NAME, BCAST, LOAD, EXT, SRCB) \
TEXT NAME(SB), NOSPLIT, $0-32; \
	MOVQ d+0(FP), DI; \
	MOVQ s+8(FP), SI; \
	MOVQ k+16(FP), CX; \
	MOVQ one+24(FP), AX; \
	VMOVQ AX, X14; \
	BCAST X14, Y14; \
	VPXOR X15, X15, X15; \
loop: ; \
	LOAD      0(SI), X1; \
	LOAD      SRCB(SI), X2; \
	VPCMPEQB  X15, X1, X1; \
	VPCMPEQB  X15, X2, X2; \
	EXT       X1, Y1; \
	EXT       X2, Y2; \
	VPANDN    Y14, Y1, Y1; \
	VPANDN    Y14, Y2, Y2; \
	VMOVDQU   Y1, 0(DI); \
	VMOVDQU   Y2, 32(DI); \
	ADDQ      $(2*SRCB), SI; \
	ADDQ      $64, DI; \
	DECQ      CX; \
	JNZ       loop; \
	VZEROUPPER; \
	RET

// func fromBool16(d, s *byte, k int, one uint64)
FROMBOOL(·fromBool16, VPBROADCASTW, VMOVDQU, VPMOVSXBW, 16)
// func fromBool32(d, s *byte, k int, one uint64)
FROMBOOL(·fromBool32, VPBROADCASTD, VMOVQ, VPMOVSXBD, 8)
// func fromBool64(d, s *byte, k int, one uint64)
FROMBOOL(·fromBool64, VPBROADCASTQ, VMOVD, VPMOVSXBQ, 4)

// func bytesNonZero(d, s *byte, k int)
//
// Each byte to min(byte, 1), AVX2, a unit = 64 bytes.
TEXT ·bytesNonZero(SB), NOSPLIT, $0-24
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ k+16(FP), CX
	MOVL $0x01010101, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15

bnzloop:
	VMOVDQU 0(SI), Y0
	VMOVDQU 32(SI), Y1
	VPMINUB Y15, Y0, Y0
	VPMINUB Y15, Y1, Y1
	VMOVDQU Y0, 0(DI)
	VMOVDQU Y1, 32(DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	DECQ    CX
	JNZ     bnzloop
	VZEROUPPER
	RET

// func copyTopBits(d, s *byte, k int, mask uint32) (count int)
//
// A copy that counts the set top bits of the items: the bits of
// VPMOVMSKB (one per byte) kept by mask, which selects each item's last
// byte. AVX2, a unit = 64 bytes.
TEXT ·copyTopBits(SB), NOSPLIT, $0-40
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ k+16(FP), CX
	MOVL mask+24(FP), DX
	XORQ R8, R8

ctbloop:
	VMOVDQU   0(SI), Y0
	VMOVDQU   32(SI), Y1
	VMOVDQU   Y0, 0(DI)
	VMOVDQU   Y1, 32(DI)
	VPMOVMSKB Y0, AX
	VPMOVMSKB Y1, BX
	ANDL      DX, AX
	ANDL      DX, BX
	POPCNTL   AX, AX
	POPCNTL   BX, BX
	ADDQ      AX, R8
	ADDQ      BX, R8
	ADDQ      $64, SI
	ADDQ      $64, DI
	DECQ      CX
	JNZ       ctbloop
	MOVQ      R8, count+32(FP)
	VZEROUPPER
	RET

// func swapBytes(d, s *byte, k int, tbl *[32]byte)
//
// VPSHUFB with tbl on each 16-byte lane, AVX2, a unit = 64 bytes. d and
// s may be the same.
TEXT ·swapBytes(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ k+16(FP), CX
	MOVQ tbl+24(FP), AX
	VMOVDQU (AX), Y15

swloop:
	VMOVDQU 0(SI), Y0
	VMOVDQU 32(SI), Y1
	VPSHUFB Y15, Y0, Y0
	VPSHUFB Y15, Y1, Y1
	VMOVDQU Y0, 0(DI)
	VMOVDQU Y1, 32(DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	DECQ    CX
	JNZ     swloop
	VZEROUPPER
	RET
