package pytorch

// The strided gather: a tensor whose elements are storage[offset + Σ
// i_k·stride_k] read in C order through an io.ReaderAt, a window at a
// time, never the whole storage.

import (
	"cmp"
	"encoding/binary"
	"io"
	"slices"
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

// Gather tuning: a run of the storage (elements along the view's axis
// of smallest stride) of at least directRun bytes is read with one ReadAt;
// shorter runs that lie at most directRun apart are served from windows
// of window bytes read in storage order; sparser short runs are read one
// ReadAt each.
const (
	directRun = 64 << 10
	window    = 1 << 20
)

var windows = sync.Pool{New: func() any { b := make([]byte, window); return &b }}

// gather reads the elements of a strided tensor in C order. It is safe
// for concurrent ReadAt calls.
//
// A read of the C-order elements [e0, e1) is cut into at most 2·rank
// boxes (a partial row, whole rows, a partial row, recursively). Each box
// is walked in storage order: the axis of smallest stride innermost (its
// elements are one run of the storage when that stride is 1), the other
// axes by decreasing stride, so that a transpose or permute reads the
// storage forwards in runs and scatters each run into the C-order output
// — never more than a window of the storage in memory.
type gather struct {
	r     io.ReaderAt
	base  int64 // file offset of the tensor's first element
	esize int64
	l     layout
	ostr  []int64 // C-order strides of the output, in elements
	total int64   // bytes
	avail int64   // storage bytes from base: windows never read past them
}

// newGather describes elems elements of layout l over the storage bytes
// [base, base+avail) of r.
func newGather(r io.ReaderAt, base, avail, esize int64, l layout, elems int64) *gather {
	g := &gather{r: r, base: base, avail: avail, esize: esize, l: l, total: elems * esize, ostr: make([]int64, len(l.shape))}
	acc := int64(1)
	for k := len(l.shape) - 1; k >= 0; k-- {
		g.ostr[k] = acc
		acc *= l.shape[k]
	}
	return g
}

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

// elements fills dst (whole elements) with the C-order elements from e0.
func (g *gather) elements(dst []byte, e0 int64) error {
	e1 := e0 + int64(len(dst))/g.esize
	rank := len(g.l.shape)
	lo, hi := make([]int64, rank), make([]int64, rank)
	rd := &reader{g: g}
	defer rd.release()
	var box func(k int, a, b int64) error
	// box fills elements [a, b) of the sub-array whose axes < k are fixed
	// at lo[:k] (hi = lo+1 there).
	box = func(k int, a, b int64) error {
		if a >= b {
			return nil
		}
		inner := g.ostr[k]
		r0, r1 := a/inner, b/inner
		if r0 == r1 { // within one index of axis k
			lo[k], hi[k] = r0, r0+1
			return box(k+1, a%inner, b%inner)
		}
		if a%inner != 0 {
			lo[k], hi[k] = r0, r0+1
			if err := box(k+1, a%inner, inner); err != nil {
				return err
			}
			r0++
		}
		if r1 > r0 {
			lo[k], hi[k] = r0, r1
			for j := k + 1; j < rank; j++ {
				lo[j], hi[j] = 0, g.l.shape[j]
			}
			if err := g.fillBox(dst, e0, lo, hi, rd); err != nil {
				return err
			}
		}
		if b%inner != 0 {
			lo[k], hi[k] = r1, r1+1
			return box(k+1, 0, b%inner)
		}
		return nil
	}
	if rank == 0 {
		return rd.read(dst, 0, int64(len(dst)))
	}
	return box(0, e0, e1)
}

// fillBox fills the output elements of the box lo ≤ index < hi.
func (g *gather) fillBox(dst []byte, e0 int64, lo, hi []int64, rd *reader) error {
	rank := len(lo)
	// axes by decreasing stride; the last is the run axis
	order := make([]int, 0, rank)
	for k := range rank {
		if hi[k]-lo[k] > 1 {
			order = append(order, k)
		}
	}
	slices.SortStableFunc(order, func(x, y int) int { return cmp.Compare(g.l.stride[y], g.l.stride[x]) })
	pos, out := int64(0), -e0 // storage element and output element of the box's first element
	for k := range rank {
		pos += lo[k] * g.l.stride[k]
		out += lo[k] * g.ostr[k]
	}
	if len(order) == 0 {
		return rd.scatter(dst, pos, out, 1, 0, 0)
	}
	a := order[len(order)-1]
	outer := order[:len(order)-1]
	n, sstr, ostr := hi[a]-lo[a], g.l.stride[a], g.ostr[a]
	idx := make([]int64, len(outer))
	for {
		if err := rd.scatter(dst, pos, out, n, sstr, ostr); err != nil {
			return err
		}
		j := len(outer) - 1
		for ; j >= 0; j-- { // next run
			k := outer[j]
			idx[j]++
			pos += g.l.stride[k]
			out += g.ostr[k]
			if idx[j] < hi[k]-lo[k] {
				break
			}
			pos -= idx[j] * g.l.stride[k]
			out -= idx[j] * g.ostr[k]
			idx[j] = 0
		}
		if j < 0 {
			return nil
		}
	}
}

// reader serves runs of the storage, from a window when they are short.
type reader struct {
	g      *gather
	buf    *[]byte
	wlo    int64 // storage bytes [wlo, wlo+len(w)) are in w
	w      []byte
	misses int // windows read
	hits   int // reads served from a window already read
}

func (rd *reader) release() {
	if rd.buf != nil {
		windows.Put(rd.buf)
	}
}

// scatter copies the run of n elements at storage element pos, stride
// sstr, to output elements out, out+ostr, ….
func (rd *reader) scatter(dst []byte, pos, out, n, sstr, ostr int64) error {
	es := rd.g.esize
	span := ((n-1)*sstr + 1) * es // storage bytes the run covers
	if sstr == 1 && ostr == 1 {
		return rd.read(dst[out*es:(out+n)*es], pos*es, span)
	}
	if span <= window {
		src, err := rd.window(pos*es, span)
		if err != nil {
			return err
		}
		strideCopy(dst[out*es:], src, n, sstr*es, ostr*es, es)
		return nil
	}
	// a sparse run: element by element (each through the window logic)
	for i := int64(0); i < n; i++ {
		if err := rd.read(dst[(out+i*ostr)*es:(out+i*ostr+1)*es], (pos+i*sstr)*es, es); err != nil {
			return err
		}
	}
	return nil
}

// strideCopy copies n elements of es bytes from src, every sstep bytes,
// to dst, every dstep bytes.
func strideCopy(dst, src []byte, n, sstep, dstep, es int64) {
	ne := binary.NativeEndian
	switch es {
	case 1:
		for i := int64(0); i < n; i++ {
			dst[i*dstep] = src[i*sstep]
		}
	case 2:
		for i := int64(0); i < n; i++ {
			ne.PutUint16(dst[i*dstep:], ne.Uint16(src[i*sstep:]))
		}
	case 4:
		for i := int64(0); i < n; i++ {
			ne.PutUint32(dst[i*dstep:], ne.Uint32(src[i*sstep:]))
		}
	case 8:
		for i := int64(0); i < n; i++ {
			ne.PutUint64(dst[i*dstep:], ne.Uint64(src[i*sstep:]))
		}
	default:
		for i := int64(0); i < n; i++ {
			copy(dst[i*dstep:i*dstep+es], src[i*sstep:])
		}
	}
}

// read fills p with storage bytes from off (len(p) == span bytes).
func (rd *reader) read(p []byte, off, span int64) error {
	if span >= directRun {
		return rd.g.readFull(p, off)
	}
	src, err := rd.window(off, span)
	if err != nil {
		return err
	}
	copy(p, src)
	return nil
}

// window returns storage bytes [off, off+n), n ≤ window, from the current
// window or a new one starting at off. A window is read whole only where
// the storage has that many bytes left; sparse reads (a new window each
// time) are read at their own size.
func (rd *reader) window(off, n int64) ([]byte, error) {
	if off >= rd.wlo && off+n <= rd.wlo+int64(len(rd.w)) {
		rd.hits++
		return rd.w[off-rd.wlo : off-rd.wlo+n], nil
	}
	if rd.buf == nil {
		rd.buf = windows.Get().(*[]byte)
	}
	size := min(int64(window), rd.g.avail-off)
	if rd.misses++; rd.misses > 8 && rd.hits < rd.misses { // sparse: no read-ahead
		size = n
	}
	size = max(size, n)
	w := (*rd.buf)[:size]
	if err := rd.g.readFull(w, off); err != nil {
		return nil, err
	}
	rd.w, rd.wlo = w, off
	return w[:n], nil
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
