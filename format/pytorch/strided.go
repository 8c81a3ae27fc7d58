package pytorch

// The strided gather: a tensor whose elements are storage[offset + Σ
// i_k·stride_k] read in C order through an io.ReaderAt, a window at a
// time, never the whole storage.

import (
	"io"
	"sync"
)

// layout is a tensor's shape and strides reduced for reading: axes of
// length 1 dropped, and neighbours merged where the outer one steps over
// exactly the inner one (stride[k] == stride[k+1]·shape[k+1]), so that a
// contiguous tensor becomes one axis of stride 1.
type layout struct {
	shape, stride []int64 // elements
}

func reduce(shape, stride []int64) layout {
	var l layout
	for k := range shape {
		if shape[k] == 1 {
			continue
		}
		n := len(l.shape)
		if n > 0 && l.stride[n-1] == stride[k]*shape[k] {
			l.shape[n-1] *= shape[k]
			l.stride[n-1] = stride[k]
			continue
		}
		l.shape = append(l.shape, shape[k])
		l.stride = append(l.stride, stride[k])
	}
	return l
}

// contiguous reports whether the elements are one run of the storage in
// C order.
func (l layout) contiguous() bool {
	return len(l.shape) == 0 || len(l.shape) == 1 && l.stride[0] == 1
}

// fortran reports whether shape/stride are the Fortran-order strides (a
// transposed matrix, a permute that reverses every axis) of at least two
// axes of length > 1.
func fortran(shape, stride []int64) bool {
	n, want := 0, int64(1)
	for k := range shape {
		if shape[k] == 1 {
			continue
		}
		if stride[k] != want {
			return false
		}
		want *= shape[k]
		n++
	}
	return n >= 2
}

// Gather tuning: runs of at least directRun bytes are read one ReadAt
// each, straight into the caller's buffer; shorter ones are served from
// windows of at most window bytes of the storage that cover many of them.
// At most batch runs are planned at a time (their list is the only memory
// that grows with a read, 16 bytes a run).
const (
	directRun = 64 << 10
	window    = 1 << 20
	batch     = 16384
)

var windows = sync.Pool{New: func() any { b := make([]byte, window); return &b }}

// gather reads the elements of a strided tensor in C order. It is safe
// for concurrent ReadAt calls.
type gather struct {
	r     io.ReaderAt
	base  int64 // file offset of the tensor's first element
	esize int64
	l     layout
	inner int64 // elements per run: the last axis's length when its stride is 1, else 1
	total int64 // bytes
}

func newGather(r io.ReaderAt, base, esize int64, l layout, elems int64) *gather {
	g := &gather{r: r, base: base, esize: esize, l: l, inner: 1, total: elems * esize}
	if n := len(l.shape); n > 0 && l.stride[n-1] == 1 {
		g.inner = l.shape[n-1]
		g.l = layout{shape: l.shape[:n-1], stride: l.stride[:n-1]}
	}
	return g
}

// run is one piece of a read: len bytes of the storage at pos (relative
// to base) that land at dst[at:].
type run struct{ pos, len int64 }

func (g *gather) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, io.ErrUnexpectedEOF
	}
	if off >= g.total {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := int64(len(p))
	var err error
	if n > g.total-off {
		n, err = g.total-off, io.EOF
	}
	done := int64(0)
	// a partial first element
	if r := off % g.esize; r != 0 {
		var tmp [16]byte
		e := tmp[:g.esize]
		if rerr := g.elements(e, off/g.esize); rerr != nil {
			return 0, rerr
		}
		done = int64(copy(p[:n], e[r:]))
	}
	whole := (n - done) / g.esize * g.esize
	if whole > 0 {
		if rerr := g.elements(p[done:done+whole], (off+done)/g.esize); rerr != nil {
			return int(done), rerr
		}
		done += whole
	}
	if done < n { // a partial last element
		var tmp [16]byte
		e := tmp[:g.esize]
		if rerr := g.elements(e, (off+done)/g.esize); rerr != nil {
			return int(done), rerr
		}
		done += int64(copy(p[done:n], e))
	}
	return int(done), err
}

// elements fills dst (whole elements) from element e0 on.
func (g *gather) elements(dst []byte, e0 int64) error {
	runs := make([]run, 0, min(batch, int64(len(dst))/g.esize+1))
	// odometer over the outer axes, at the run holding e0
	idx := make([]int64, len(g.l.shape))
	outer := e0 / g.inner
	in := e0 % g.inner
	pos := int64(0)
	for k := len(idx) - 1; k >= 0; k-- {
		idx[k] = outer % g.l.shape[k]
		outer /= g.l.shape[k]
		pos += idx[k] * g.l.stride[k]
	}
	at := int64(0)
	for at < int64(len(dst)) {
		runs = runs[:0]
		start := at
		for len(runs) < batch && at < int64(len(dst)) {
			elems := min(g.inner-in, (int64(len(dst))-at)/g.esize)
			runs = append(runs, run{(pos + in) * g.esize, elems * g.esize})
			at += elems * g.esize
			in += elems
			if in == g.inner {
				in = 0
				for k := len(idx) - 1; k >= 0; k-- { // next run
					idx[k]++
					pos += g.l.stride[k]
					if idx[k] < g.l.shape[k] {
						break
					}
					pos -= idx[k] * g.l.stride[k]
					idx[k] = 0
				}
			}
		}
		if err := g.fill(dst[start:at], runs); err != nil {
			return err
		}
	}
	return nil
}

// fill reads runs into dst, in order.
func (g *gather) fill(dst []byte, runs []run) error {
	if len(runs) == 0 {
		return nil
	}
	if int64(len(dst))/int64(len(runs)) >= directRun {
		at := int64(0)
		for _, r := range runs {
			if err := g.readFull(dst[at:at+r.len], r.pos); err != nil {
				return err
			}
			at += r.len
		}
		return nil
	}
	return g.windowed(dst, runs)
}

// windowed serves runs from one window of the storage when they fit in
// one, else splits them in two.
func (g *gather) windowed(dst []byte, runs []run) error {
	lo, hi := runs[0].pos, runs[0].pos+runs[0].len
	for _, r := range runs[1:] {
		lo, hi = min(lo, r.pos), max(hi, r.pos+r.len)
	}
	if hi-lo > window {
		if len(runs) == 1 {
			return g.readFull(dst, runs[0].pos)
		}
		h := len(runs) / 2
		split := int64(0)
		for _, r := range runs[:h] {
			split += r.len
		}
		if err := g.windowed(dst[:split], runs[:h]); err != nil {
			return err
		}
		return g.windowed(dst[split:], runs[h:])
	}
	bp := windows.Get().(*[]byte)
	defer windows.Put(bp)
	w := (*bp)[:hi-lo]
	if err := g.readFull(w, lo); err != nil {
		return err
	}
	at := int64(0)
	for _, r := range runs {
		copy(dst[at:at+r.len], w[r.pos-lo:])
		at += r.len
	}
	return nil
}

// readFull reads len(p) bytes at storage position pos; the tensor's extent
// was checked against the storage and the file when it was opened, so a
// short read is the file changing underneath.
func (g *gather) readFull(p []byte, pos int64) error {
	n, err := g.r.ReadAt(p, g.base+pos)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}
