//go:build !purego

package slicer

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// haveTranspose is whether the AVX2 transpose kernels can run; tests
// turn it off to get the Go twin (scatterWords).
var haveTranspose = cpu.X86.HasAVX2

// transpose32x8 moves blocks×bands 8×8 squares of 4-byte elements: square
// (b, c) reads 32 bytes of each of the 8 runs c·8…c·8+7 at src +
// run·srcStride + b·32 and writes them transposed as 32 bytes of each of
// the 8 rows b·8…b·8+7 at dst + row·dstStride + c·32.
//
//go:noescape
func transpose32x8(dst *byte, dstStride int64, src *byte, srcStride int64, bands, blocks int64)

// transpose64x4 is transpose32x8 for 8-byte elements in 4×4 squares:
// bands of 4 rows, blocks of 4 runs, 32 bytes a run or row.
//
//go:noescape
func transpose64x4(dst *byte, dstStride int64, src *byte, srcStride int64, bands, blocks int64)

// scatterVector does the part of scatter it has a kernel for (item 4 or
// 8, AVX2): the whole squares of the tile's top-left corner. It returns
// the rows and runs done (a corner rows × nt); the caller scatters the
// rest in Go.
func scatterVector(dst, tile []byte, rows, nt, item, rowBytes, stride int64) (int64, int64) {
	if !haveTranspose {
		return 0, 0
	}
	var side int64
	switch item {
	case 4:
		side = 8
	case 8:
		side = 4
	default:
		return 0, 0
	}
	bands, blocks := rows/side, nt/side
	if bands == 0 || blocks == 0 {
		return 0, 0
	}
	r, n := bands*side, blocks*side
	// bounds, once: the last row written and the last run read
	_ = dst[(r-1)*rowBytes+n*item-1]
	_ = tile[(n-1)*stride+r*item-1]
	d, s := unsafe.SliceData(dst), unsafe.SliceData(tile)
	if item == 4 {
		transpose32x8(d, rowBytes, s, stride, bands, blocks)
	} else {
		transpose64x4(d, rowBytes, s, stride, bands, blocks)
	}
	return r, n
}
