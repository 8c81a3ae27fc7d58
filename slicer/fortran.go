package slicer

import (
	"sync"
	"unsafe"
)

// tiles holds the gather's tile buffers (up to tileBytes plus a cache
// line a run), reused from block to block and shared by the workers.
var tiles = sync.Pool{New: func() any { return new([]byte) }}

// Fortran-order gather. Stored element (i0, i1, …, ik) of a column-major
// array of shape (s0, s1, …, sk) sits at linear index
// i0 + s0·(i1 + s1·(i2 + …)). A block is a rectangle rows [r0, r1) ×
// columns [c0, c1) of the C-order (rows × rowElems) view; for each column
// c the rows r0…r1 are one contiguous run in the file. Runs of at least
// directRun bytes are read with one ReadAt each; shorter runs are served
// from a small window of the file read ahead, so narrow arrays do not cost
// one system call per element.

const (
	directRun  = 4 << 10
	windowSize = 64 << 10
	tileBytes  = 512 << 10 // column runs gathered before they are scattered into rows (half of L2)
)

func (s *Slicer) gather(b Block, dst []byte) error {
	shape := s.t.Shape
	s0 := shape[0]
	rows := b.Rows
	c0 := b.Elem0 - b.Row0*s.rowElems
	cols := b.Elems / rows
	item := s.item
	runLen := rows * item

	// multi-index over shape[1:] for column c0, and its F-linear index
	inner := shape[1:]
	idx := make([]int64, len(inner))
	rem := c0
	for d := len(inner) - 1; d >= 0; d-- {
		idx[d] = rem % inner[d]
		rem /= inner[d]
	}
	fstride := make([]int64, len(inner)) // F stride of each inner axis, in elements of the (s0, …) array
	st := s0
	for d := range inner {
		fstride[d] = st
		st *= inner[d]
	}
	fcol := int64(0)
	for d := range inner {
		fcol += idx[d] * fstride[d]
	}

	var win []byte
	winOff, winLen := int64(-1), int64(0)
	// Columns are gathered tileCols at a time into tile, then scattered
	// row by row, so that each row of the tile is one contiguous write
	// into dst instead of one scattered element per column.
	// Runs sit stride bytes apart in the tile: one cache line more than
	// their length, so that the loads of one row (one per run) do not all
	// map to the same cache set when runLen is a multiple of 4 KiB.
	stride := runLen + 64
	tileCols := int64(max(min(tileRuns(stride), cols), 1))
	tp := tiles.Get().(*[]byte)
	defer tiles.Put(tp)
	if int64(cap(*tp)) < tileCols*stride {
		*tp = make([]byte, tileCols*stride)
	}
	tile := (*tp)[:tileCols*stride]
	rowBytes := cols * item
	t0, nt := int64(0), int64(0) // first column of the tile, columns in it
	for c := int64(0); c < cols; c++ {
		off := (b.Row0 + fcol) * item // byte offset of the run in the stored stream
		run := tile[nt*stride : nt*stride+runLen]
		if runLen >= directRun {
			if err := s.readAt(run, off); err != nil {
				return err
			}
		} else {
			if winOff < 0 || off < winOff || off+runLen > winOff+winLen {
				if win == nil {
					win = make([]byte, windowSize)
				}
				total := s.elems * item
				winOff = off
				winLen = min(int64(windowSize), total-off)
				if err := s.readAt(win[:winLen], off); err != nil {
					return err
				}
			}
			copy(run, win[off-winOff:off-winOff+runLen])
		}
		if nt++; nt == tileCols || c == cols-1 {
			scatter(dst[t0*item:], tile, rows, nt, item, rowBytes, stride)
			t0, nt = c+1, 0
		}
		// next column in C order: increment the last axis fastest
		for d := len(inner) - 1; d >= 0; d-- {
			idx[d]++
			fcol += fstride[d]
			if idx[d] < inner[d] {
				break
			}
			fcol -= idx[d] * fstride[d]
			idx[d] = 0
		}
	}
	return nil
}

// tileRuns is how many runs stride bytes apart a tile holds: about
// tileBytes, as a multiple of 16 when rounding up costs at most a quarter
// more (else of 8), so that the transpose kernels' squares cover whole
// tiles and a tile's row is whole cache lines of dst for 4-byte items.
func tileRuns(stride int64) int64 {
	n := tileBytes / stride
	if up := (n + 15) &^ 15; up*stride <= tileBytes+tileBytes/4 {
		return up
	}
	if n >= 8 {
		return n &^ 7
	}
	return n
}

// scatter writes a tile of nt column runs (each rows elements of item
// bytes, stride bytes apart in tile) into dst, whose rows are rowBytes
// apart: element r of run k goes to dst[r·rowBytes + k·item]. The common
// item sizes move whole words (scatterWords), others one copy per element.
func scatter(dst, tile []byte, rows, nt, item, rowBytes, stride int64) {
	switch item {
	case 1:
		scatterWords[uint8](dst, tile, rows, nt, rowBytes, stride)
	case 2:
		scatterWords[uint16](dst, tile, rows, nt, rowBytes, stride)
	case 4:
		r, n := scatterVector(dst, tile, rows, nt, item, rowBytes, stride)
		scatterRest[uint32](dst, tile, rows, nt, rowBytes, stride, r, n)
	case 8:
		r, n := scatterVector(dst, tile, rows, nt, item, rowBytes, stride)
		scatterRest[uint64](dst, tile, rows, nt, rowBytes, stride, r, n)
	default:
		for r := int64(0); r < rows; r++ {
			row := dst[r*rowBytes : r*rowBytes+nt*item]
			for k := int64(0); k < nt; k++ {
				copy(row[k*item:(k+1)*item], tile[k*stride+r*item:k*stride+(r+1)*item])
			}
		}
	}
}

// scatterRest scatters in Go what scatterVector left of a tile when it
// did its top-left r rows × n runs: the runs n… for every row, and rows
// r… of runs 0…n-1.
func scatterRest[T uint32 | uint64](dst, tile []byte, rows, nt, rowBytes, stride, r, n int64) {
	if r == 0 || n == 0 {
		scatterWords[T](dst, tile, rows, nt, rowBytes, stride)
		return
	}
	var z T
	sz := int64(unsafe.Sizeof(z))
	if n < nt {
		scatterWords[T](dst[n*sz:], tile[n*stride:], rows, nt-n, rowBytes, stride)
	}
	if r < rows {
		scatterWords[T](dst[r*rowBytes:], tile[r*sz:], rows-r, n, rowBytes, stride)
	}
}

// scatterWords is scatter for items of T's size, in bands of 8 rows:
// each run's 8 elements of the band are loaded together and stored to 8
// rows, so that one source line serves 8 elements at once and the band's
// 8 destination lines stay in L1, where a row at a time (one element from
// each of nt runs) missed the cache on most loads. It measured 2–3.7×
// the row-at-a-time loop (BenchmarkFortranGather). The caller guarantees
// the bounds (scatter's arguments describe tile and dst exactly), which
// are checked once here, not per element.
func scatterWords[T uint8 | uint16 | uint32 | uint64](dst, tile []byte, rows, nt, rowBytes, stride int64) {
	var z T
	sz := int64(unsafe.Sizeof(z))
	if rows == 0 || nt == 0 {
		return
	}
	_ = dst[(rows-1)*rowBytes+nt*sz-1]
	_ = tile[(nt-1)*stride+rows*sz-1]
	at := func(b []byte, off int64) *T { return (*T)(unsafe.Pointer(unsafe.SliceData(b[off:]))) }
	const band = 8
	r0 := int64(0)
	for ; r0+band <= rows; r0 += band {
		for k := int64(0); k < nt; k++ {
			// run k's 8 elements of this band to 8 rows
			src := (*[band]T)(unsafe.Pointer(at(tile, k*stride+r0*sz)))
			o := r0*rowBytes + k*sz
			*at(dst, o) = src[0]
			*at(dst, o+rowBytes) = src[1]
			*at(dst, o+2*rowBytes) = src[2]
			*at(dst, o+3*rowBytes) = src[3]
			*at(dst, o+4*rowBytes) = src[4]
			*at(dst, o+5*rowBytes) = src[5]
			*at(dst, o+6*rowBytes) = src[6]
			*at(dst, o+7*rowBytes) = src[7]
		}
	}
	for ; r0 < rows; r0++ {
		for k := int64(0); k < nt; k++ {
			*at(dst, r0*rowBytes+k*sz) = *at(tile, k*stride+r0*sz)
		}
	}
}
