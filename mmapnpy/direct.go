package mmapnpy

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DirectAlign is the alignment direct writes keep: their file offsets,
// lengths and memory addresses are multiples of it. 4 KiB covers every
// logical block size up to a page, which is what O_DIRECT asks of ext4
// and XFS.
const DirectAlign = 4096

// minDirect is the smallest aligned run WriteAt sends with O_DIRECT; a
// shorter one goes through the page cache with the rest of its write.
const minDirect = 64 << 10

// bouncePiece is the size of the aligned buffers a direct write copies
// through when the caller's bytes are not aligned in memory.
const bouncePiece = 4 << 20

var bouncePool = sync.Pool{New: func() any { b := AlignedBuffer(bouncePiece); return &b }}

// direct is the O_DIRECT side of a Writer (Options.Direct).
type direct struct {
	f     *os.File    // a second open file description of the partial file, with O_DIRECT
	off   atomic.Bool // a write was refused: every write goes through the page cache from now on
	bytes atomic.Int64
}

// refuseDirect makes every Writer behave as if the file system refused
// O_DIRECT at open (tests of the fallback).
var refuseDirect bool

// openDirect opens the file w.f holds a second time with O_DIRECT,
// through /proc/self/fd so that it is the same file whatever has
// happened to its name. A file system that refuses O_DIRECT (tmpfs
// before Linux 6.6, some network file systems) leaves w writing through
// the page cache.
func (w *Writer) openDirect() {
	if refuseDirect {
		return
	}
	f, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", w.f.Fd()), os.O_WRONLY|unix.O_DIRECT, 0)
	if err != nil {
		return
	}
	w.dio = &direct{f: f}
}

// Direct reports whether WriteAt sends aligned runs with O_DIRECT
// (Options.Direct, on a file system that takes it).
func (w *Writer) Direct() bool { return w.dio != nil && !w.dio.off.Load() }

// DirectBytes is how many bytes WriteAt has written with O_DIRECT (also
// after Commit).
func (w *Writer) DirectBytes() int64 {
	if w.dio == nil {
		return 0
	}
	return w.dio.bytes.Load()
}

// closeDirect closes the O_DIRECT descriptor; DirectBytes keeps its count.
func (w *Writer) closeDirect() {
	if w.dio != nil && w.dio.f != nil {
		w.dio.off.Store(true)
		w.dio.f.Close()
		w.dio.f = nil
	}
}

// DirectWorks reports whether the file system holding dir takes
// O_DIRECT writes, by writing one aligned block to a temporary file
// there.
func DirectWorks(dir string) bool {
	f, err := os.CreateTemp(dir, ".bigconv-direct-probe-*")
	if err != nil {
		return false
	}
	defer os.Remove(f.Name())
	defer f.Close()
	d, err := os.OpenFile(f.Name(), os.O_WRONLY|unix.O_DIRECT, 0)
	if err != nil {
		return false
	}
	defer d.Close()
	_, err = d.WriteAt(AlignedBuffer(DirectAlign), 0)
	return err == nil
}

// AlignedBuffer returns n bytes whose first byte is DirectAlign-aligned.
func AlignedBuffer(n int) []byte {
	var b []byte
	return Aligned(&b, n)
}

// Aligned returns n bytes of *raw whose first byte is
// DirectAlign-aligned, growing *raw as needed (pass it again next time).
func Aligned(raw *[]byte, n int) []byte {
	if cap(*raw) < n+DirectAlign {
		*raw = make([]byte, n+DirectAlign)
	}
	b := (*raw)[:cap(*raw)]
	s := alignSkip(b, 0)
	return b[s : s+n : s+n]
}

// alignSkip is how far into b the first address congruent to fileOff
// modulo DirectAlign lies.
func alignSkip(b []byte, fileOff int64) int {
	if cap(b) == 0 {
		return 0
	}
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return int((uintptr(fileOff) - addr) & (DirectAlign - 1))
}

// Buffer returns n bytes for a WriteAt at data offset off, taken from
// *raw (grown as needed, to be passed again next time): placed so that
// the bytes that land on DirectAlign-aligned file offsets are aligned in
// memory, and a direct write needs no copy.
func (w *Writer) Buffer(raw *[]byte, off, n int64) []byte {
	if int64(cap(*raw)) < n+DirectAlign {
		*raw = make([]byte, n+DirectAlign)
	}
	b := (*raw)[:cap(*raw)]
	s := alignSkip(b, w.hdrLen+off)
	return b[s : s+int(n) : s+int(n)]
}

// writeDirect writes p at file offset start: the DirectAlign-aligned
// run in the middle with O_DIRECT (copied through an aligned buffer
// when p is not aligned there), the edges through the page cache. It
// reports false, having written nothing, when the run is too short or
// O_DIRECT is off.
func (w *Writer) writeDirect(p []byte, start int64) (bool, error) {
	d := w.dio
	if d == nil || d.off.Load() {
		return false, nil
	}
	end := start + int64(len(p))
	lo := (start + DirectAlign - 1) &^ (DirectAlign - 1)
	hi := end &^ (DirectAlign - 1)
	if hi-lo < minDirect {
		return false, nil
	}
	mid := p[lo-start : hi-start]
	if err := d.write(mid, lo); err != nil {
		if !errors.Is(err, unix.EINVAL) || d.bytes.Load() > 0 {
			return true, fmt.Errorf("mmapnpy: write %s at %d (+%d): %w", w.tmp, lo, len(mid), err)
		}
		// The file system took O_DIRECT at open and refuses it now:
		// go through the page cache from here on.
		d.off.Store(true)
		return false, nil
	}
	if err := w.pwrite(p[:lo-start], start); err != nil {
		return true, err
	}
	return true, w.pwrite(p[hi-start:], hi)
}

// write sends aligned p to aligned file offset off with O_DIRECT.
func (d *direct) write(p []byte, off int64) error {
	if alignSkip(p, 0) == 0 {
		if _, err := d.f.WriteAt(p, off); err != nil {
			return err
		}
		d.bytes.Add(int64(len(p)))
		return nil
	}
	bp := bouncePool.Get().(*[]byte)
	defer bouncePool.Put(bp)
	for len(p) > 0 {
		k := copy(*bp, p)
		if _, err := d.f.WriteAt((*bp)[:k], off); err != nil {
			return err
		}
		d.bytes.Add(int64(k))
		p, off = p[k:], off+int64(k)
	}
	return nil
}
