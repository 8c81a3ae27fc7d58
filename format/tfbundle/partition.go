package tfbundle

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/bigconv/bigconv/internal/crc32c"
	"github.com/bigconv/bigconv/tensor"
)

// A partitioned variable's entry has a shape and slices but no data; each
// slice is an entry of its own under sliceKey(name, extents), holding the
// slice's elements in C order. gather reassembles the full tensor: a read
// of any byte range of the full C-order stream is cut into runs that are
// contiguous in one slice, and each run is read straight into the
// caller's buffer (no scratch memory).
//
// Checksums: a full conversion reads each slice's bytes exactly once, but
// in pieces, out of order and concurrently. Each slice keeps the pieces
// read so far as disjoint (offset, length, crc32c) intervals, merged with
// crc32c.Combine as neighbours arrive. Bytes read again are not counted
// twice (the overlap is trimmed, its CRC computed from the caller's
// buffer). The ReadAt that completes a slice compares the combined CRC
// with the entry's and returns an ErrChecksum error on a mismatch; from
// then on, every ReadAt that touches the slice returns that error.

type gather struct {
	name   string
	isz    int64
	shape  []int64
	stride []int64 // element strides of the full tensor
	total  int64   // bytes
	slices []*pslice
	hint   atomic.Int32 // the slice that served the last run
}

type pslice struct {
	start, length []int64
	inner         int   // innermost dimension the slice does not cover fully; -1 if none
	elems         int64 // elements in the slice
	r             io.ReaderAt
	off, size     int64 // data range in the shard
	file          string
	crc           uint32 // expected, unmasked

	mu     sync.Mutex
	pieces []piece // disjoint, sorted by off
	done   bool
	err    error
}

type piece struct {
	off, n int64
	crc    uint32
}

func (o *opener) partitioned(key string, e *entry, t *tensor.Tensor) (*tensor.Tensor, error) {
	bad := func(format string, args ...any) (*tensor.Tensor, error) {
		return nil, errorf(tensor.ErrCorrupt, o.b.name, key, e.at, "partitioned variable: "+format, args...)
	}
	rank := len(e.shape)
	if rank == 0 {
		return bad("a scalar cannot have slices")
	}
	isz := int64(t.DType.Size())
	total, err := e.shape.NumBytes(int(isz))
	if err != nil {
		return bad("%v", err)
	}
	g := &gather{name: key, isz: isz, shape: e.shape, stride: make([]int64, rank), total: total}
	st := int64(1)
	for d := rank - 1; d >= 0; d-- {
		g.stride[d] = st
		st *= e.shape[d] // cannot overflow: NumBytes succeeded
	}
	var covered int64
	for i, ext := range e.slices {
		if len(ext) != rank {
			return bad("slice %d has %d extents for rank %d", i, len(ext), rank)
		}
		ps := &pslice{start: make([]int64, rank), length: make([]int64, rank), inner: -1, elems: 1}
		for d, x := range ext {
			s, l := x.start, x.length
			if l < 0 {
				if s != 0 {
					return bad("slice %d: dimension %d starts at %d with no length", i, d, s)
				}
				l = e.shape[d]
			}
			if s < 0 || l < 0 || s > e.shape[d] || l > e.shape[d]-s {
				return bad("slice %d: extent [%d, %d+%d) is outside dimension %d of size %d", i, s, s, l, d, e.shape[d])
			}
			ps.start[d], ps.length[d] = s, l
			ps.elems *= l
			if s != 0 || l != e.shape[d] {
				ps.inner = d
			}
		}
		sk := sliceKey(key, ext)
		se, ok := o.entries[sk]
		if !ok {
			return bad("slice %d has no entry (key %q)", i, sk)
		}
		if se.dtype != e.dtype || len(se.slices) > 0 || len(se.shape) != rank {
			return bad("slice %d entry has dtype %v rank %d, want %v rank %d", i, se.dtype, len(se.shape), e.dtype, rank)
		}
		for d := range rank {
			if se.shape[d] != ps.length[d] {
				return bad("slice %d entry has shape %v, extents say %v", i, se.shape, ps.length)
			}
		}
		if se.size != ps.elems*isz {
			return nil, errorf(tensor.ErrCorrupt, o.b.name, key, se.at,
				"partitioned variable: slice %d entry size %d is not %d × %d bytes", i, se.size, ps.elems, isz)
		}
		sh, err := o.place(key, se)
		if err != nil {
			return nil, err
		}
		ps.r, ps.off, ps.size, ps.file = sh.r, se.offset, se.size, sh.file
		ps.crc = crc32c.Unmask(se.crc)
		ps.done = ps.size == 0
		if ps.elems > math.MaxInt64-covered {
			return bad("slices hold more elements than the tensor")
		}
		covered += ps.elems
		if ps.elems > 0 {
			g.slices = append(g.slices, ps)
		}
	}
	n, _ := e.shape.NumElements()
	if covered != n {
		return bad("slices hold %d elements, the tensor %d", covered, n)
	}
	for i, a := range g.slices { // equal volume + disjoint = exact cover
		for _, b := range g.slices[i+1:] {
			if overlap(a, b) {
				return bad("slices overlap")
			}
		}
	}
	t.Data = g
	t.Extra["slices"] = strconv.Itoa(len(e.slices))
	t.Extra["partitioned"] = "true"
	if len(g.slices) > 0 {
		t.File, t.Offset = g.slices[0].file, g.slices[0].off
	}
	return t, nil
}

func overlap(a, b *pslice) bool {
	for d := range a.start {
		if a.start[d] >= b.start[d]+b.length[d] || b.start[d] >= a.start[d]+a.length[d] {
			return false
		}
	}
	return true
}

func (s *pslice) contains(idx []int64) bool {
	for d, x := range idx {
		if x < s.start[d] || x >= s.start[d]+s.length[d] {
			return false
		}
	}
	return true
}

// ReadAt reads bytes [off, off+len(p)) of the full tensor in C order.
func (g *gather) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("tfbundle: tensor %q: negative offset %d", g.name, off)
	}
	if off >= g.total {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	var eof error
	if int64(len(p)) > g.total-off {
		p, eof = p[:g.total-off], io.EOF
	}
	var idxBuf [8]int64
	idx := idxBuf[:0]
	if len(g.shape) > len(idxBuf) {
		idx = make([]int64, 0, len(g.shape))
	}
	idx = idx[:len(g.shape)]
	pos, done := off, 0
	for done < len(p) {
		e, within := pos/g.isz, pos%g.isz
		rem := e
		for d := range g.shape {
			idx[d] = rem / g.stride[d]
			rem %= g.stride[d]
		}
		s := g.find(idx)
		if s == nil { // cannot happen: Open checked the cover
			return done, errorf(tensor.ErrCorrupt, "", g.name, pos, "partitioned variable: no slice holds this element")
		}
		var local int64
		lst := int64(1)
		for d := len(idx) - 1; d >= 0; d-- {
			local += (idx[d] - s.start[d]) * lst
			lst *= s.length[d]
		}
		var run int64 // elements contiguous in both the slice and the full tensor
		if d := s.inner; d < 0 {
			run = s.elems - local
		} else {
			run = (s.start[d]+s.length[d]-idx[d])*g.stride[d] - e%g.stride[d]
		}
		n := min(run*g.isz-within, int64(len(p)-done))
		q := p[done : done+int(n)]
		src := local*g.isz + within
		if m, err := s.r.ReadAt(q, s.off+src); m < len(q) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return done, errorf(tensor.ErrCorrupt, s.file, g.name, s.off+src, "reading slice: %v", err)
		}
		if err := s.record(src, q, g.name); err != nil {
			// The run is not counted as read: a caller that takes
			// n == len(p) for success must still see the error.
			return done, err
		}
		done += len(q)
		pos += n
	}
	return done, eof
}

// find returns the slice holding element idx.
func (g *gather) find(idx []int64) *pslice {
	h := int(g.hint.Load())
	if h < len(g.slices) && g.slices[h].contains(idx) {
		return g.slices[h]
	}
	for i, s := range g.slices {
		if s.contains(idx) {
			g.hint.Store(int32(i))
			return s
		}
	}
	return nil
}

// record notes that bytes [off, off+len(q)) of the slice were read as q,
// and verifies the slice's crc32c once all its bytes have been read.
func (s *pslice) record(off int64, q []byte, name string) error {
	if len(q) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if s.done {
		return nil
	}
	a, b := off, off+int64(len(q))
	// Pieces for the parts of [a, b) not yet covered.
	var add []piece
	i := sort.Search(len(s.pieces), func(i int) bool { return s.pieces[i].off+s.pieces[i].n > a })
	cur := a
	for j := i; j < len(s.pieces) && s.pieces[j].off < b && cur < b; j++ {
		if pj := s.pieces[j]; pj.off > cur {
			add = append(add, piece{cur, pj.off - cur, crc32c.Checksum(q[cur-a : pj.off-a])})
		}
		cur = max(cur, s.pieces[j].off+s.pieces[j].n)
	}
	if cur < b {
		add = append(add, piece{cur, b - cur, crc32c.Checksum(q[cur-a:])})
	}
	if len(add) == 0 {
		return nil
	}
	merged := make([]piece, 0, len(s.pieces)+len(add))
	x, y := 0, 0
	for x < len(s.pieces) || y < len(add) {
		var p piece
		if y >= len(add) || x < len(s.pieces) && s.pieces[x].off < add[y].off {
			p, x = s.pieces[x], x+1
		} else {
			p, y = add[y], y+1
		}
		if k := len(merged) - 1; k >= 0 && merged[k].off+merged[k].n == p.off {
			merged[k].crc = crc32c.Combine(merged[k].crc, p.crc, p.n)
			merged[k].n += p.n
			continue
		}
		merged = append(merged, p)
	}
	s.pieces = merged
	if len(merged) == 1 && merged[0].off == 0 && merged[0].n == s.size {
		s.done, s.pieces = true, nil
		if merged[0].crc != s.crc {
			s.err = errorf(tensor.ErrChecksum, s.file, name, s.off,
				"partitioned variable slice crc32c is %08x, index says %08x", merged[0].crc, s.crc)
			return s.err
		}
	}
	return nil
}
