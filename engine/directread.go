package engine

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/bigconv/bigconv/mmapnpy"
	"github.com/bigconv/bigconv/slicer"
)

// inDirect reads blocks of an input file that are not in the page cache
// past it (O_DIRECT), through a second descriptor of the same file. Runs
// whose output is written past the page cache (WriteDirect: outputs
// larger than the dirty limit) use it, so that neither side of a large
// conversion goes through the cache; blocks that are cached are read
// through it as before (a memory copy).
//
// Why: a block read through the page cache from the disk costs the
// kernel a page of memory per 4 KiB and, for an input larger than the
// cache, reclaiming pages as fast as it reads; on the VMs we measure on
// that memory is often fresh from the host (the guest hands free memory
// back), which costs more than the read itself: cat of an 8 GiB file took
// 1.8 s right after its pages were dropped and 10–11 s (10 s of it
// system time) ten seconds later, dd with O_DIRECT 4.4–5.8 s either way.
// Converting an 8 GiB float16 input not in the cache into a 16 GiB
// float32 output written direct took about as long either way (19–25 s
// in both, disk-bound) with 2–3 s of system time read direct against
// 11–22 s read through the cache (docs/benchmarks.md, session 12). In
// runs through the page cache (smaller outputs, two workers) direct
// reads of a 1 GiB input were faster in one memory state (1.3 s against
// 2.1 s) and slower in the other (1.3 s against 0.8 s), so those runs
// read through the cache.
type inDirect struct {
	f       *os.File
	off     int64 // the tensor's first byte in the file
	refused atomic.Bool
	n       atomic.Int64 // bytes read past the page cache
}

// readDirectOff turns direct reads off (tests of the cached paths).
var readDirectOff bool

// assumeUncached makes every block count as not cached (tests).
var assumeUncached bool

// directReadAt is the direct read (tests make it fail as a file system
// that refuses O_DIRECT reads would).
var directReadAt = (*os.File).ReadAt

// openInDirect opens the file src (which holds the tensor from byte
// off) a second time for direct reads, or returns nil where that cannot
// be done (no /proc, a file system without O_DIRECT, a kernel without
// cachestat to tell what is cached).
func openInDirect(src *os.File, off int64) *inDirect {
	if src == nil || readDirectOff {
		return nil
	}
	var cs unix.Cachestat_t
	if err := unix.Cachestat(uint(src.Fd()), &unix.CachestatRange{Off: 0, Len: 1}, &cs, 0); err != nil && !assumeUncached {
		return nil // ENOSYS before Linux 6.5
	}
	fd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", src.Fd()), unix.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	return &inDirect{f: os.NewFile(uintptr(fd), src.Name()), off: off}
}

func (d *inDirect) close() {
	if d != nil {
		d.f.Close()
	}
}

// bytes is how many input bytes were read past the page cache.
func (d *inDirect) bytes() int64 {
	if d == nil {
		return 0
	}
	return d.n.Load()
}

// uncached reports whether fewer than half of the pages of the n bytes
// at tensor offset at are in the page cache (cachestat, which, unlike a
// read that does not wait, starts no readahead into the cache).
func (d *inDirect) uncached(at, n int64) bool {
	if d == nil || d.refused.Load() {
		return false
	}
	if assumeUncached {
		return true
	}
	var cs unix.Cachestat_t
	r := unix.CachestatRange{Off: uint64(d.off + at), Len: uint64(n)}
	if err := unix.Cachestat(uint(d.f.Fd()), &r, &cs, 0); err != nil {
		return false
	}
	return int64(cs.Cache)*int64(os.Getpagesize()) < n/2
}

// read reads the n bytes at tensor offset at past the page cache into
// *raw (grown as needed, kept by the caller for the next block) and
// returns them. It returns nil, and the caller reads through the cache,
// when the file system refuses the read or it comes back short — a
// truncated file is then reported by the ordinary read, with its offset.
func (d *inDirect) read(raw *[]byte, at, n int64) []byte {
	const a = mmapnpy.DirectAlign
	if d == nil || d.refused.Load() {
		return nil
	}
	start := d.off + at
	lo, hi := start&^(a-1), (start+n+a-1)&^(a-1)
	buf := mmapnpy.Aligned(raw, int(hi-lo))
	// A short read (io.EOF) is the file's end inside the last page.
	got, err := directReadAt(d.f, buf, lo)
	if errors.Is(err, unix.EINVAL) {
		d.refused.Store(true) // the file system wants another alignment, or none
		return nil
	}
	if (err != nil && err != io.EOF) || int64(got) < start-lo+n {
		return nil
	}
	d.n.Add(n)
	return buf[start-lo : start-lo+n]
}

// fill converts block b of p's input into dst from a read past the page
// cache, when the block is not cached: a cast's read goes into *buf, a
// copy's into *oraw (the output buffer's memory, which holds dst) and is
// then moved to dst, so that a copy holds no second block. Both should
// have 3*DirectAlign bytes of room past a block, for the read's widening
// to pages. It reports false, having read nothing, when the block is to
// be read through the cache (cached, no direct reads, a copy without an
// output buffer, a refused or short read).
func (d *inDirect) fill(p *Plan, b slicer.Block, buf, oraw *[]byte, dst []byte, verify bool, sum *blockSum) bool {
	if (p.noCast && *oraw == nil) || !d.uncached(b.Off, b.Len) {
		return false
	}
	raw := buf
	if p.noCast {
		raw = oraw
	}
	in := d.read(raw, b.Off, b.Len)
	if in == nil {
		return false
	}
	if p.noCast {
		copy(dst, in) // may overlap: copy moves as memmove does
		in = dst
	}
	convertFrom(p, in, dst, verify, sum)
	return true
}
