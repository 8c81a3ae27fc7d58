package slicer

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
	var run []byte
	if runLen >= directRun {
		run = make([]byte, runLen)
	}
	for c := int64(0); c < cols; c++ {
		off := (b.Row0 + fcol) * item // byte offset of the run in the stored stream
		var src []byte
		if runLen >= directRun {
			if err := s.readAt(run, off); err != nil {
				return err
			}
			src = run
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
			src = win[off-winOff : off-winOff+runLen]
		}
		// scatter: element r of the run goes to row r, column c
		rowBytes := cols * item
		for r := int64(0); r < rows; r++ {
			copy(dst[r*rowBytes+c*item:r*rowBytes+(c+1)*item], src[r*item:(r+1)*item])
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
