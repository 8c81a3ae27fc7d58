// Package mmapnpy writes .npy files through memory-mapped windows, so a
// tensor of any size is written with a few blocks of memory.
//
// A Writer owns the whole output lifecycle:
//
//	Create        temporary file ".NAME.bigconv-partial" beside NAME, locked;
//	              full size reserved with fallocate (a full disk fails here,
//	              never as SIGBUS mid-run); header written
//	Write         map the window holding a range of the data, let the caller
//	              fill it, optionally msync it, unmap it
//	Commit        fsync, rename to NAME, fsync the directory (with
//	              Options.NoSync: rename only)
//	Abort         remove the temporary file: nothing appears under NAME
//
// Slices into a mapping never escape: Write hands the window to a callback
// and unmaps it when the callback returns. Write is safe to call from many
// goroutines at once for disjoint ranges; Commit and Abort are not.
//
//	w, err := mmapnpy.Create("out.npy", dtype.MustParse("<f4"), dtype.Shape{1000, 64}, mmapnpy.Options{})
//	...
//	err = w.Write(0, 64*4, func(dst []byte) error { copy(dst, row0); return nil })
//	...
//	err = w.Commit()
package mmapnpy

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"

	mmap "github.com/edsrzf/mmap-go"
	"golang.org/x/sys/unix"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format/npy/npyhdr"
	"github.com/bigconv/bigconv/internal/testhook"
)

// Sentinel errors.
var (
	// ErrNoSpace: the file system cannot hold the output.
	ErrNoSpace = errors.New("mmapnpy: not enough disk space")
	// ErrBusy: another process is writing the same output.
	ErrBusy = errors.New("mmapnpy: output is being written by another process")
	// ErrFault: a memory fault (SIGBUS) while filling a window.
	ErrFault = errors.New("mmapnpy: memory fault in mapped window")
)

// PartialSuffix is appended (with a leading dot on the name) to form the
// temporary file beside the output.
const PartialSuffix = ".bigconv-partial"

// PartialPath is the temporary path Create uses for an output path.
func PartialPath(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+PartialSuffix)
}

// Options tune a Writer.
type Options struct {
	// FlushWindows makes Write msync (MS_SYNC) each window before
	// unmapping it, so that data is durable when Write returns (resume
	// journals need this). Without it, data reaches the disk at Commit.
	FlushWindows bool
	// Keep keeps an existing partial file's contents instead of
	// truncating it (resuming an interrupted run) when it already has the
	// output's size and header; Reused reports whether it did.
	Keep bool
	// Replace removes an existing file at the output path before the new
	// one is reserved, giving up atomic replacement: if the run then
	// fails, the old output is gone. It lets a replacement through on a
	// disk that holds only one copy. Replaced reports what was removed.
	Replace bool
	// NoSync makes Commit and Release skip every fsync (of the file and
	// of its directory): for scratch outputs. The rename still makes the
	// output appear whole to readers, but after a power cut (not after a
	// killed process: the page cache survives that) it may be lost or
	// hold zeros. Sync still syncs when called.
	NoSync bool
	// DeferSync makes Commit rename without fsyncing the file or its
	// directory, for a caller that makes both durable itself later (and
	// meanwhile writes its next output); unlike NoSync, writeback still
	// starts as blocks are written, and Release still syncs.
	DeferSync bool
	// Direct makes WriteAt send the DirectAlign-aligned middle of each
	// write (at least 64 KiB of it) with O_DIRECT, past the page cache,
	// and the edges through it; WriteBack then has nothing to start.
	// Sync and Commit still fsync (the disk's own cache). A file system
	// that refuses O_DIRECT gets page-cache writes (Writer.Direct says
	// which). Write (mapped windows) and CopyFrom are unaffected.
	Direct bool
}

// NoSpaceError is the error Create (and a growing stream Writer) returns
// when the file system cannot hold the output. It wraps ErrNoSpace.
type NoSpaceError struct {
	Path string // the output
	Need int64  // bytes the whole output file needs
	// Free is what the file system had available before the reservation
	// was tried (-1 when unknown).
	Free int64
	// Held is what the partial file of an interrupted run already holds:
	// a resumed run needs only Need-Held more.
	Held int64
	// Existing is the size of the file already at Path (0 if none): it
	// stays whole until the new output is complete, and is freed then.
	Existing int64
}

func (e *NoSpaceError) Error() string {
	msg := fmt.Sprintf("%v: %s needs %d bytes (%s)", ErrNoSpace, e.Path, e.Need, human(e.Need))
	if e.Held > 0 {
		msg += fmt.Sprintf(", of which the partial file of an interrupted run already holds %d bytes (%s)", e.Held, human(e.Held))
	}
	msg += fmt.Sprintf(", %d bytes (%s) free before reserving", e.Free, human(e.Free))
	if e.Existing > 0 {
		msg += fmt.Sprintf("; the existing %s (%d bytes, %s) stays whole until the new output is complete and is freed only then, "+
			"so replacing it needs room for both: delete it first, or replace it non-atomically with --replace", e.Path, e.Existing, human(e.Existing))
	}
	return msg
}

func (e *NoSpaceError) Unwrap() error { return ErrNoSpace }

// Writer writes one .npy file. See the package doc for its lifecycle.
type Writer struct {
	f         *os.File
	final     string
	tmp       string
	dt        dtype.DType
	shape     dtype.Shape
	hdrLen    int64
	dataLen   int64
	opt       Options
	streaming bool

	mu       sync.Mutex // guards size when streaming
	size     int64      // current file size
	done     bool
	reused   bool   // Keep found a partial file of the right size and header
	replaced int64  // size of the old output Replace removed (-1: none)
	shared   bool   // OpenShared: other processes write the same file
	hdr      []byte // the header (shared Writers write it by range)

	flOnce sync.Once
	fl     *flusher // started by the first WriteBack

	dio *direct // Options.Direct: the O_DIRECT descriptor, or nil
}

// Create starts writing a .npy file at path for an array of dt and shape
// in C order. Nothing exists at path until Commit succeeds.
func Create(path string, dt dtype.DType, shape dtype.Shape, opt Options) (*Writer, error) {
	if !dt.Type.NumPy() || dt.Size() == 0 {
		return nil, fmt.Errorf("mmapnpy: %s cannot be written to .npy", dt)
	}
	dataLen, err := shape.NumBytes(dt.Size())
	if err != nil {
		return nil, fmt.Errorf("mmapnpy: %w", err)
	}
	hdr, err := npyhdr.Encode(dt, shape, false)
	if err != nil {
		return nil, err
	}
	w := &Writer{final: path, tmp: PartialPath(path), dt: dt, shape: shape.Clone(),
		hdrLen: int64(len(hdr)), dataLen: dataLen, opt: opt, replaced: -1}
	if err := w.open(hdr, w.hdrLen+dataLen); err != nil {
		return nil, err
	}
	return w, nil
}

// CreateStream starts a .npy file whose first axis is not known yet: rows
// of rowShape are appended with Write at growing offsets, and SetRows
// gives the final count before Commit. The header keeps NumPy's spare
// room, so the first axis is rewritten in place.
func CreateStream(path string, dt dtype.DType, rowShape dtype.Shape, opt Options) (*Writer, error) {
	shape := append(dtype.Shape{0}, rowShape...)
	w, err := Create(path, dt, shape, opt)
	if err != nil {
		return nil, err
	}
	w.streaming = true
	return w, nil
}

func (w *Writer) open(hdr []byte, total int64) error {
	f, err := OpenLocked(w.tmp, unix.LOCK_EX, "another bigconv run writing "+w.final)
	if err != nil {
		return err
	}
	w.f = f
	w.reused = w.opt.Keep && w.sameFile(hdr, total)
	if !w.reused {
		if err := f.Truncate(0); err != nil {
			w.Abort()
			return fmt.Errorf("mmapnpy: truncate %s: %w", w.tmp, err)
		}
	}
	if w.opt.Replace {
		if err := w.removeOld(); err != nil {
			w.Abort()
			return err
		}
	}
	if err := w.reserve(total); err != nil {
		w.Abort()
		return err
	}
	if _, err := f.WriteAt(hdr, 0); err != nil {
		w.Abort()
		return fmt.Errorf("mmapnpy: write header to %s: %w", w.tmp, err)
	}
	if w.opt.Direct {
		w.openDirect()
	}
	return nil
}

// OpenLocked opens (creating it if needed) the partial file tmp and
// locks it with how (LOCK_EX: one writer; LOCK_SH: the parts of one
// conversion), refusing with ErrBusy, naming holder, when it cannot.
func OpenLocked(tmp string, how int, holder string) (*os.File, error) {
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("mmapnpy: create %s: %w", tmp, err)
	}
	if err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is locked by %s", ErrBusy, tmp, holder)
		}
		return nil, fmt.Errorf("mmapnpy: lock %s: %w", tmp, err)
	}
	return f, nil
}

// sameFile reports whether the open file is total bytes long and starts
// with hdr: a partial file of this output left by an earlier run.
func (w *Writer) sameFile(hdr []byte, total int64) bool {
	st, err := w.f.Stat()
	if err != nil || st.Size() != total {
		return false
	}
	got := make([]byte, len(hdr))
	if _, err := w.f.ReadAt(got, 0); err != nil {
		return false
	}
	return string(got) == string(hdr)
}

// Reused reports whether Create (with Options.Keep) kept the contents of
// a partial file left by an earlier run.
func (w *Writer) Reused() bool { return w.reused }

// Replaced reports the size of the old output that Options.Replace
// removed, and whether there was one.
func (w *Writer) Replaced() (int64, bool) { return w.replaced, w.replaced >= 0 }

// removeOld removes a regular file at the output path (Options.Replace).
// It runs with the partial file locked, so a concurrent run of the same
// output cannot be the one whose file is removed.
func (w *Writer) removeOld() error {
	n, err := RemoveOld(w.final)
	if err == nil && n >= 0 {
		w.replaced = n
	}
	return err
}

// RemoveOld removes a regular file at final, an output about to be
// replaced (Options.Replace), and returns its size, or -1 when there was
// none. Callers hold the lock of final's partial file.
func RemoveOld(final string) (int64, error) {
	st, err := os.Lstat(final)
	if errors.Is(err, os.ErrNotExist) {
		return -1, nil
	}
	if err != nil {
		return -1, fmt.Errorf("mmapnpy: replace %s: %w", final, err)
	}
	if !st.Mode().IsRegular() {
		return -1, fmt.Errorf("mmapnpy: replace %s: not a regular file (%s)", final, st.Mode().Type())
	}
	if err := os.Remove(final); err != nil {
		return -1, fmt.Errorf("mmapnpy: replace %s: %w", final, err)
	}
	return st.Size(), nil
}

// reserve makes the file total bytes long with its blocks allocated.
func (w *Writer) reserve(total int64) error {
	if err := Reserve(w.f, w.final, total, false); err != nil {
		return err
	}
	w.size = total
	return nil
}

// Reserve makes f, the partial file of the output final, total bytes
// long with its blocks allocated (fallocate), so that a full disk fails
// here rather than mid-run; a file system without fallocate, or sparse,
// gets a sparse file. Free space is measured before trying, so that a
// refusal (a *NoSpaceError) reports what the file system had, not what a
// failed attempt left, with what f already holds and the size of an
// existing final.
func Reserve(f *os.File, final string, total int64, sparse bool) error {
	nsErr := &NoSpaceError{Path: final, Need: total, Free: -1}
	var fs unix.Statfs_t
	if unix.Fstatfs(int(f.Fd()), &fs) == nil {
		nsErr.Free = int64(fs.Bavail) * fs.Bsize
	}
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) == nil {
		nsErr.Held = min(st.Blocks*512, total)
	}
	if fi, err := os.Stat(final); err == nil && fi.Mode().IsRegular() {
		nsErr.Existing = fi.Size()
	}
	var err error = unix.EOPNOTSUPP
	if !sparse {
		err = unix.Fallocate(int(f.Fd()), 0, 0, total)
	}
	switch {
	case err == nil:
	case errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EFBIG) || errors.Is(err, unix.EDQUOT):
		return nsErr
	case errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS):
		// file system without fallocate: fall back to a sparse file
	default:
		return fmt.Errorf("mmapnpy: reserve %d bytes for %s: %w", total, f.Name(), err)
	}
	if err := f.Truncate(total); err != nil {
		return fmt.Errorf("mmapnpy: size %s to %d bytes: %w", f.Name(), total, err)
	}
	return nil
}

// DataLen is the size of the array data (for a stream: reserved so far).
func (w *Writer) DataLen() int64 { return w.dataLen }

// HeaderLen is the size of the header; data starts there.
func (w *Writer) HeaderLen() int64 { return w.hdrLen }

// TempPath is the temporary file being written.
func (w *Writer) TempPath() string { return w.tmp }

// Path is the final output path.
func (w *Writer) Path() string { return w.final }

// Write maps the window holding data bytes [off, off+n), calls fill with
// exactly those n bytes, and unmaps the window (after msync with
// Options.FlushWindows). fill must not keep the slice. A memory fault
// while filling becomes an ErrFault error. For a stream Writer the file
// grows as needed.
func (w *Writer) Write(off, n int64, fill func(dst []byte) error) (err error) {
	if n == 0 {
		return fill(nil)
	}
	if err := w.checkRange(off, n); err != nil {
		return err
	}
	start := w.hdrLen + off
	page := int64(os.Getpagesize())
	aligned := start &^ (page - 1)
	delta := start - aligned
	m, err := mmap.MapRegion(w.f, int(delta+n), mmap.RDWR, 0, aligned)
	if err != nil {
		return fmt.Errorf("mmapnpy: map %s at %d (+%d): %w", w.tmp, aligned, delta+n, err)
	}
	defer func() {
		if uerr := m.Unmap(); uerr != nil && err == nil {
			err = fmt.Errorf("mmapnpy: unmap %s: %w", w.tmp, uerr)
		}
	}()
	if err := guard(func() error { return fill(m[delta : delta+n]) }); err != nil {
		return err
	}
	if w.opt.FlushWindows {
		if err := m.Flush(); err != nil {
			return fmt.Errorf("mmapnpy: msync %s at %d: %w", w.tmp, aligned, err)
		}
	}
	return nil
}

// WriteAt writes p at data offset off with pwrite, without mapping: the
// other way to fill the output (see Write). With Options.Direct its
// aligned middle goes past the page cache (Buffer places p so that no
// copy is needed). For a stream Writer the file grows as needed.
func (w *Writer) WriteAt(p []byte, off int64) error {
	if err := w.checkRange(off, int64(len(p))); err != nil {
		return err
	}
	if ok, err := w.writeDirect(p, w.hdrLen+off); ok || err != nil {
		return err
	}
	return w.pwrite(p, w.hdrLen+off)
}

// pwrite writes p at file offset start through the page cache, in
// pieces of writePiece.
func (w *Writer) pwrite(p []byte, start int64) error {
	n := len(p)
	for off := start; len(p) > 0; {
		k := min(len(p), writePiece)
		if _, err := w.f.WriteAt(p[:k], off); err != nil {
			return fmt.Errorf("mmapnpy: write %s at %d (+%d): %w", w.tmp, start, n, err)
		}
		p, off = p[k:], off+int64(k)
	}
	return nil
}

// writePiece is the most WriteAt gives one pwrite. Measured on our 2-CPU
// VMs, converting a 1 GiB int64 file to float32 with 4 MiB blocks took
// 0.87–1.08 s when each block was one pwrite and 0.28–0.46 s in pieces of
// 128 KiB to 1 MiB; bfloat16 → float32 1.85–2.2 s against 1.2–1.6 s
// (docs/benchmarks.md). Our reading, not proven: a large write lets the
// kernel put it in 2 MiB page-cache folios, taken from the free 2 MiB
// blocks that this VM's balloon driver has handed back to the host
// (free page reporting), and touching those again is slow; smaller
// writes get smaller folios from memory that was never handed back.
const writePiece = 1 << 20

// ErrNoCopyRange: the file systems cannot copy between these files in
// the kernel; copy through memory instead.
var ErrNoCopyRange = errors.New("mmapnpy: copy_file_range not supported here")

// CopyFrom copies n bytes of src starting at srcOff to data offset off
// inside the kernel (copy_file_range): no mapping, no user-space copy. A
// source that ends early gives io.ErrUnexpectedEOF; file systems that
// cannot do it give ErrNoCopyRange before anything is copied.
func (w *Writer) CopyFrom(src *os.File, srcOff, off, n int64) error {
	if err := w.checkRange(off, n); err != nil {
		return err
	}
	in, out := srcOff, w.hdrLen+off
	for left := n; left > 0; {
		k, err := unix.CopyFileRange(int(src.Fd()), &in, int(w.f.Fd()), &out, int(min(left, 1<<30)), 0)
		switch {
		case err == unix.EINTR:
			continue
		case left == n && (err == unix.EXDEV || err == unix.ENOSYS || err == unix.EOPNOTSUPP || err == unix.EINVAL):
			return fmt.Errorf("%w: %v", ErrNoCopyRange, err)
		case err != nil:
			return fmt.Errorf("mmapnpy: copy %s at %d into %s at %d: %w", src.Name(), in, w.tmp, out, err)
		case k == 0:
			return fmt.Errorf("mmapnpy: copy from %s: %d bytes missing at %d: %w", src.Name(), left, in, io.ErrUnexpectedEOF)
		}
		left -= int64(k)
	}
	return nil
}

// checkRange checks [off, off+n) against the data, growing a stream.
func (w *Writer) checkRange(off, n int64) error {
	if off < 0 || n < 0 {
		return fmt.Errorf("mmapnpy: bad range %d+%d", off, n)
	}
	if w.streaming {
		return w.grow(off + n)
	}
	if off+n > w.dataLen {
		return fmt.Errorf("mmapnpy: range %d+%d past the end of %d data bytes", off, n, w.dataLen)
	}
	return nil
}

// guard runs f, turning a memory fault (SIGBUS on a mapped page, e.g. an
// input file truncated under us) into an ErrFault error.
func guard(f func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			re, ok := r.(runtime.Error)
			if !ok {
				panic(r)
			}
			if a, ok := re.(interface{ Addr() uintptr }); ok {
				err = fmt.Errorf("%w at address %#x: %v", ErrFault, a.Addr(), re)
				return
			}
			panic(r)
		}
	}()
	return f()
}

const growStep = 64 << 20

func (w *Writer) grow(dataEnd int64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	need := w.hdrLen + dataEnd
	if need <= w.size {
		return nil
	}
	total := need + growStep
	if err := w.reserve(total); err != nil {
		return err
	}
	w.dataLen = total - w.hdrLen
	return nil
}

// SetRows fixes the first axis of a stream Writer: the file is cut to
// the exact size and the header rewritten in place.
func (w *Writer) SetRows(rows int64) error {
	if !w.streaming {
		return errors.New("mmapnpy: SetRows on a fixed-size Writer")
	}
	shape := w.shape.Clone()
	shape[0] = rows
	dataLen, err := shape.NumBytes(w.dt.Size())
	if err != nil {
		return fmt.Errorf("mmapnpy: %w", err)
	}
	hdr, err := npyhdr.EncodeLen(w.dt, shape, false, int(w.hdrLen))
	if err != nil {
		return err
	}
	if _, err := w.f.WriteAt(hdr, 0); err != nil {
		return fmt.Errorf("mmapnpy: rewrite header of %s: %w", w.tmp, err)
	}
	if err := w.f.Truncate(w.hdrLen + dataLen); err != nil {
		return fmt.Errorf("mmapnpy: truncate %s: %w", w.tmp, err)
	}
	w.shape, w.dataLen, w.size = shape, dataLen, w.hdrLen+dataLen
	return nil
}

// Shape is the array shape written to the header.
func (w *Writer) Shape() dtype.Shape { return w.shape.Clone() }

// WriteBack starts writing data bytes [off, off+n) to disk without
// waiting for it (sync_file_range SYNC_FILE_RANGE_WRITE), so that the
// disk works while later blocks are converted, and every flushBytes a
// background fdatasync makes what was written so far durable, so that
// the disk's own cache is emptied while the work goes on and the fsync
// at Commit finds little left. It promises nothing about durability
// (only Sync and Commit do), does nothing with Options.NoSync, and
// only the flushing where the system lacks sync_file_range.
// Safe for concurrent use.
func (w *Writer) WriteBack(off, n int64) {
	if n <= 0 || w.opt.NoSync || w.Direct() {
		return
	}
	unix.SyncFileRange(int(w.f.Fd()), w.hdrLen+off, n, unix.SYNC_FILE_RANGE_WRITE)
	w.flOnce.Do(func() { w.fl = startFlusher(w.f) })
	w.fl.add(n)
}

// StartWriteBack is WriteBack without the background flushes: for bytes
// copied inside the kernel (CopyFrom), where the flushes measured slower
// (an 8 GiB copy: 7.9–10.0 s with them, 5.3–6.2 s without, 3 rounds).
func (w *Writer) StartWriteBack(off, n int64) {
	if n <= 0 || w.opt.NoSync {
		return
	}
	unix.SyncFileRange(int(w.f.Fd()), w.hdrLen+off, n, unix.SYNC_FILE_RANGE_WRITE)
}

// Flushes is how many background fdatasyncs WriteBack has led to.
func (w *Writer) Flushes() int64 {
	if w.fl == nil {
		return 0
	}
	return w.fl.count.Load()
}

// Sync makes everything written so far durable (fsync), without
// committing. Resume journals call it before recording progress.
func (w *Writer) Sync() error {
	if err := w.fl.error(); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("mmapnpy: fsync %s: %w", w.tmp, err)
	}
	testhook.Fsynced(w.tmp)
	return nil
}

// Commit makes the output durable and moves it to its final name.
func (w *Writer) Commit() error {
	if w.done {
		return errors.New("mmapnpy: Commit after Commit or Abort")
	}
	if err := w.fl.stop(); err != nil {
		w.Abort()
		return err
	}
	w.closeDirect()
	err := Finish(w.f, w.tmp, w.final, w.opt.NoSync || w.opt.DeferSync)
	w.f = nil
	if err != nil {
		w.Abort()
		return err
	}
	w.done = true
	return nil
}

// Finish puts a complete partial file in place: it fsyncs f (unless
// noSync), closes it, renames tmp to final and fsyncs the directory
// (unless noSync). f is closed whatever happens; on failure tmp is left
// for the caller to remove.
func Finish(f *os.File, tmp, final string, noSync bool) error {
	if !noSync {
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("mmapnpy: fsync %s: %w", tmp, err)
		}
		testhook.Fsynced(tmp)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("mmapnpy: close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("mmapnpy: rename to %s: %w", final, err)
	}
	if !noSync {
		SyncDir(filepath.Dir(final))
	}
	return nil
}

// SyncDir fsyncs a directory so that names just created or renamed in it
// survive a power cut. Errors are ignored: some file systems cannot sync
// a directory, and the data itself is already durable.
func SyncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		if d.Sync() == nil {
			testhook.Fsynced(dir)
		}
		d.Close()
	}
}

// Abort removes the temporary file (a shared Writer only closes it: the
// other parts' work stays); nothing is left at the final path.
// It is safe to call after a failed Commit and more than once.
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.fl.stop()
	w.closeDirect()
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	if !w.shared {
		os.Remove(w.tmp)
	}
}

// Release closes the temporary file and keeps it (an interrupted run that
// can be resumed); nothing appears at the final path.
func (w *Writer) Release() error {
	if w.done {
		return nil
	}
	w.done = true
	ferr := w.fl.stop()
	w.closeDirect()
	if w.f == nil {
		return ferr
	}
	err := ferr
	if !w.opt.NoSync && err == nil {
		err = w.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	return err
}

func human(n int64) string {
	if n < 0 {
		return "unknown"
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
