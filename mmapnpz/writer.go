// Package mmapnpz writes NumPy .npz archives as np.savez does — one
// member NAME.npy per array, stored uncompressed — with the lifecycle of
// mmapnpy: many goroutines write blocks of any member at once, in any
// order, at offsets known from the start, with flat memory.
//
// The whole layout (local headers, each member's .npy header, data,
// central directory) is computed by Create from the member list, so every
// array's data sits at a fixed file offset (64-byte aligned, so that a
// reader can map it). ZIP64 fields are written where a member or the
// archive passes 4 GiB or there are 65535 members or more.
//
//	Create        temporary file ".NAME.bigconv-partial" beside NAME, locked;
//	              full size reserved with fallocate (a full disk fails here);
//	              local and .npy headers written
//	Entry(i)      WriteAt / Write (mapped window) / CopyFrom into member i's
//	              data; the CRC-32 of each block is recorded as it is written
//	Sync          fsync what is written (resume journals)
//	Commit        CRC-32 of every member (recorded blocks joined with
//	              crc32_combine, anything not recorded read back), local
//	              headers patched, central directory written, fsync,
//	              rename to NAME, fsync the directory
//	Abort         remove the temporary file: nothing appears under NAME
//	Release       keep the temporary file for a resumed run (Options.Keep)
//
// Entry methods are safe to call from many goroutines at once for
// disjoint ranges; so are Sums and Sync. Create, Restore, Commit, Abort
// and Release are not.
//
// How the engine drives it (one archive, many tensors): plan every
// selected tensor first (target dtype, shape) and Create with one Member
// per tensor (Name = the tensor's name, DType = the plan's target, Shape
// = the tensor's, or its row range's); then feed one worker pool with
// (tensor, block) pairs, each block converted as for a .npy and written
// with w.Entry(i).WriteAt (or Write, or CopyFrom for plain copies) at
// the block's output offset; Commit once all are done, Abort on error,
// Release on interruption. The three Entry methods have the signatures
// of mmapnpy.Writer's, so one small interface serves both outputs.
//
// Resume: at each checkpoint take s := w.Sums(), then w.Sync(), then
// store s in the journal beside the per-tensor progress. A resumed run
// calls Create with Options.Keep (the partial file is reused only when
// the layout is identical), w.Restore(s), and rewrites what the journal
// does not count as done. A block written again replaces the recorded
// ranges it overlaps; the parts of those not written again, and anything
// never recorded, are read back by Commit, so CRCs are right even
// without a snapshot (only slower).
//
// Errors of the file system are mmapnpy's (ErrNoSpace with a
// *mmapnpy.NoSpaceError, ErrBusy, ErrFault, ErrNoCopyRange), so a caller
// handles both writers alike.
package mmapnpz

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	mmap "github.com/edsrzf/mmap-go"
	"golang.org/x/sys/unix"

	"github.com/bigconv/bigconv/mmapnpy"
)

// Options tune a Writer; see mmapnpy.Options for FlushWindows, Keep,
// Replace and NoSync, which mean the same here.
type Options struct {
	FlushWindows bool
	// NoSync: Commit neither fsyncs the archive nor its directory (a
	// scratch output: whole under its name, lost to a power cut).
	NoSync bool
	// Keep reuses a partial file of an interrupted run when its size, its
	// local headers and its .npy headers are those of this member list
	// (CRCs and timestamps aside); Reused reports whether it did. The
	// CRC-32s of what it holds are then unknown: Restore gives them back,
	// or Commit reads the data back.
	Keep    bool
	Replace bool
	// ModTime is the members' modification time (zero: now). A reused
	// partial file keeps its own.
	ModTime time.Time
}

// Writer writes one .npz archive. See the package doc.
type Writer struct {
	f        *os.File
	final    string
	tmp      string
	lay      *layout
	crcs     []crcState
	opt      Options
	done     bool
	reused   bool
	replaced int64
	shared   bool // OpenShared: Abort only closes, Commit is refused
}

// Create starts writing an .npz archive of members at path. Nothing
// exists at path until Commit succeeds.
func Create(path string, members []Member, opt Options) (*Writer, error) {
	mod := opt.ModTime
	if mod.IsZero() {
		mod = time.Now()
	}
	lay, err := plan(members, mod)
	if err != nil {
		return nil, err
	}
	w := &Writer{final: path, tmp: mmapnpy.PartialPath(path), lay: lay,
		crcs: make([]crcState, len(members)), opt: opt, replaced: -1}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) open() error {
	f, err := mmapnpy.OpenLocked(w.tmp, unix.LOCK_EX, "another bigconv run writing "+w.final)
	if err != nil {
		return err
	}
	w.f = f
	w.reused = w.opt.Keep && w.sameFile()
	if !w.reused {
		if err := f.Truncate(0); err != nil {
			w.Abort()
			return fmt.Errorf("mmapnpz: truncate %s: %w", w.tmp, err)
		}
	}
	if w.opt.Replace {
		if err := w.removeOld(); err != nil {
			w.Abort()
			return err
		}
	}
	if err := w.reserve(w.lay.total); err != nil {
		w.Abort()
		return err
	}
	if !w.reused {
		if err := w.writeHeaders(); err != nil {
			w.Abort()
			return err
		}
	}
	return nil
}

// writeHeaders writes every member's local header (CRC 0 until Commit)
// and .npy header, through a buffer when members are small and close.
func (w *Writer) writeHeaders() error {
	bw := bufio.NewWriterSize(io.NewOffsetWriter(w.f, 0), 1<<20)
	zeros := make([]byte, 64<<10)
	pos := int64(0)
	for i := range w.lay.members {
		m := &w.lay.members[i]
		if gap := m.local - pos; gap > 0 {
			if gap < int64(len(zeros)) { // small members: one write for many
				bw.Write(zeros[:gap])
			} else { // skip the data: go on further on
				if err := bw.Flush(); err != nil {
					return fmt.Errorf("mmapnpz: write headers to %s: %w", w.tmp, err)
				}
				bw.Reset(io.NewOffsetWriter(w.f, m.local))
			}
		}
		bw.Write(w.lay.localHeader(i, 0))
		bw.Write(m.hdr)
		pos = m.dataOff()
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("mmapnpz: write headers to %s: %w", w.tmp, err)
	}
	return nil
}

// sameFile reports whether the open file is a partial file of this very
// layout: the same size, and at every member the same local header (CRC
// and time aside) and .npy header. It adopts the file's timestamp.
func (w *Writer) sameFile() bool {
	st, err := w.f.Stat()
	if err != nil || st.Size() != w.lay.total {
		return false
	}
	var got []byte
	for i := range w.lay.members {
		m := &w.lay.members[i]
		want := append(w.lay.localHeader(i, 0), m.hdr...)
		got = append(got[:0], make([]byte, len(want))...)
		if _, err := w.f.ReadAt(got, m.local); err != nil {
			return false
		}
		if i == 0 {
			w.lay.dosTime = uint16(got[localTimeOffset]) | uint16(got[localTimeOffset+1])<<8
			w.lay.dosDate = uint16(got[localTimeOffset+2]) | uint16(got[localTimeOffset+3])<<8
			want = append(w.lay.localHeader(i, 0), m.hdr...)
		}
		copy(got[localCRCOffset:localCRCOffset+4], want[localCRCOffset:])
		if string(got) != string(want) {
			return false
		}
	}
	return true
}

// Reused reports whether Create (with Options.Keep) kept the contents of
// a partial file left by an earlier run.
func (w *Writer) Reused() bool { return w.reused }

// Replaced reports the size of the old output that Options.Replace
// removed, and whether there was one.
func (w *Writer) Replaced() (int64, bool) { return w.replaced, w.replaced >= 0 }

func (w *Writer) removeOld() error {
	n, err := mmapnpy.RemoveOld(w.final)
	if err == nil && n >= 0 {
		w.replaced = n
	}
	return err
}

// reserve makes the file total bytes long with its blocks allocated, as
// mmapnpy does, failing with a *mmapnpy.NoSpaceError on a full disk.
func (w *Writer) reserve(total int64) error {
	return mmapnpy.Reserve(w.f, w.final, total, sparseForTest)
}

// Len is the number of members.
func (w *Writer) Len() int { return len(w.lay.members) }

// Size is the size of the whole archive.
func (w *Writer) Size() int64 { return w.lay.total }

// TempPath is the temporary file being written.
func (w *Writer) TempPath() string { return w.tmp }

// Path is the final output path.
func (w *Writer) Path() string { return w.final }

// Entry is member i's array data, written as an mmapnpy.Writer's data is.
func (w *Writer) Entry(i int) *Entry {
	return &Entry{w: w, i: i, m: &w.lay.members[i]}
}

// Entry writes one member's array data. Offsets are in bytes from the
// start of the data (the byte after the member's .npy header), in C
// order. Methods are safe for concurrent use on disjoint ranges.
type Entry struct {
	w *Writer
	i int
	m *memberLayout
}

// Member is the array this entry holds.
func (e *Entry) Member() Member { return e.m.Member }

// DataLen is the size of the array data.
func (e *Entry) DataLen() int64 { return e.m.dataLen }

// DataOffset is where the array data starts in the archive file.
func (e *Entry) DataOffset() int64 { return e.m.dataOff() }

func (e *Entry) checkRange(off, n int64) error {
	if off < 0 || n < 0 || off > e.m.dataLen-n {
		return fmt.Errorf("mmapnpz: %q: range %d+%d outside its %d data bytes", e.m.Name, off, n, e.m.dataLen)
	}
	return nil
}

// WriteAt writes p at data offset off with pwrite (in 1 MiB pieces, as
// mmapnpy.Writer.WriteAt) and records its CRC-32.
func (e *Entry) WriteAt(p []byte, off int64) error {
	n := int64(len(p))
	if err := e.checkRange(off, n); err != nil {
		return err
	}
	crc := crcIEEE(p)
	base := e.m.dataOff()
	for q, o := p, off; len(q) > 0; {
		k := min(len(q), writePiece)
		if _, err := e.w.f.WriteAt(q[:k], base+o); err != nil {
			return fmt.Errorf("mmapnpz: write %q to %s at %d (+%d): %w", e.m.Name, e.w.tmp, base+o, k, err)
		}
		q, o = q[k:], o+int64(k)
	}
	e.w.crcs[e.i].add(Range{Off: off, Len: n, CRC: crc})
	return nil
}

const writePiece = 1 << 20 // see mmapnpy's writePiece

// sparseForTest makes reserve skip fallocate, so that tests can lay out
// archives past 4 GiB as sparse files.
var sparseForTest = false

// Write maps the window holding data bytes [off, off+n), calls fill with
// exactly those n bytes, records their CRC-32 and unmaps the window (after
// msync with Options.FlushWindows). fill must not keep the slice. A memory
// fault while filling becomes an mmapnpy.ErrFault error.
func (e *Entry) Write(off, n int64, fill func(dst []byte) error) (err error) {
	if err := e.checkRange(off, n); err != nil {
		return err
	}
	if n == 0 {
		return fill(nil)
	}
	start := e.m.dataOff() + off
	page := int64(os.Getpagesize())
	aligned := start &^ (page - 1)
	delta := start - aligned
	m, err := mmap.MapRegion(e.w.f, int(delta+n), mmap.RDWR, 0, aligned)
	if err != nil {
		return fmt.Errorf("mmapnpz: map %s at %d (+%d): %w", e.w.tmp, aligned, delta+n, err)
	}
	defer func() {
		if uerr := m.Unmap(); uerr != nil && err == nil {
			err = fmt.Errorf("mmapnpz: unmap %s: %w", e.w.tmp, uerr)
		}
	}()
	var crc uint32
	if err := guard(func() error {
		if err := fill(m[delta : delta+n]); err != nil {
			return err
		}
		crc = crcIEEE(m[delta : delta+n])
		return nil
	}); err != nil {
		return err
	}
	if e.w.opt.FlushWindows {
		if err := m.Flush(); err != nil {
			return fmt.Errorf("mmapnpz: msync %s at %d: %w", e.w.tmp, aligned, err)
		}
	}
	e.w.crcs[e.i].add(Range{Off: off, Len: n, CRC: crc})
	return nil
}

// CopyFrom copies n bytes of src from srcOff to data offset off in the
// kernel (copy_file_range), as mmapnpy.Writer.CopyFrom, then reads the
// range back from the output (from the page cache, just written) to
// record its CRC-32, so that Commit need not read it. Errors:
// mmapnpy.ErrNoCopyRange before anything is copied when the file systems
// cannot do it, io.ErrUnexpectedEOF when src ends early.
func (e *Entry) CopyFrom(src *os.File, srcOff, off, n int64) error {
	if err := e.checkRange(off, n); err != nil {
		return err
	}
	in, out := srcOff, e.m.dataOff()+off
	for left := n; left > 0; {
		k, err := unix.CopyFileRange(int(src.Fd()), &in, int(e.w.f.Fd()), &out, int(min(left, 1<<30)), 0)
		switch {
		case err == unix.EINTR:
			continue
		case left == n && (err == unix.EXDEV || err == unix.ENOSYS || err == unix.EOPNOTSUPP || err == unix.EINVAL):
			return fmt.Errorf("%w: %v", mmapnpy.ErrNoCopyRange, err)
		case err != nil:
			return fmt.Errorf("mmapnpz: copy %s at %d into %s at %d: %w", src.Name(), in, e.w.tmp, out, err)
		case k == 0:
			return fmt.Errorf("mmapnpz: copy from %s: %d bytes missing at %d: %w", src.Name(), left, in, io.ErrUnexpectedEOF)
		}
		left -= int64(k)
	}
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	var crc uint32
	for o := int64(0); o < n; {
		k := min(int64(len(*bp)), n-o)
		if _, err := e.w.f.ReadAt((*bp)[:k], e.m.dataOff()+off+o); err != nil {
			return fmt.Errorf("mmapnpz: read back %q at %d of %s: %w", e.m.Name, e.m.dataOff()+off+o, e.w.tmp, err)
		}
		crc = crc32.Update(crc, crc32.IEEETable, (*bp)[:k])
		o += k
	}
	e.w.crcs[e.i].add(Range{Off: off, Len: n, CRC: crc})
	return nil
}

// readBufs are CopyFrom's read-back buffers.
var readBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// guard runs f, turning a memory fault into an mmapnpy.ErrFault error.
func guard(f func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			re, ok := r.(runtime.Error)
			if !ok {
				panic(r)
			}
			if a, ok := re.(interface{ Addr() uintptr }); ok {
				err = fmt.Errorf("%w at address %#x: %v", mmapnpy.ErrFault, a.Addr(), re)
				return
			}
			panic(r)
		}
	}()
	return f()
}

// Sync makes everything written so far durable (fsync), without
// committing.
func (w *Writer) Sync() error {
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("mmapnpz: fsync %s: %w", w.tmp, err)
	}
	return nil
}

// Commit finishes the archive (CRCs, local headers, central directory),
// makes it durable and moves it to its final name. On failure the
// temporary file is removed.
func (w *Writer) Commit() error {
	if w.done {
		return errors.New("mmapnpz: Commit after Commit, Abort or Release")
	}
	if w.shared {
		return errors.New("mmapnpz: Commit of a shared Writer (the parts' archive is committed by CommitShared)")
	}
	if err := w.finish(); err != nil {
		w.Abort()
		return err
	}
	err := mmapnpy.Finish(w.f, w.tmp, w.final, w.opt.NoSync)
	w.f = nil
	if err != nil {
		w.Abort()
		return err
	}
	w.done = true
	return nil
}

// finish computes every member's CRC-32, patches it into the local
// header and writes the central directory and end records.
func (w *Writer) finish() error {
	crcs, err := w.memberCRCs()
	if err != nil {
		return err
	}
	cd := bufio.NewWriterSize(io.NewOffsetWriter(w.f, w.lay.cdOff), 1<<20)
	var rec []byte
	for i, crc := range crcs {
		m := &w.lay.members[i]
		b := [4]byte{byte(crc), byte(crc >> 8), byte(crc >> 16), byte(crc >> 24)}
		if _, err := w.f.WriteAt(b[:], m.local+localCRCOffset); err != nil {
			return fmt.Errorf("mmapnpz: patch CRC of %q in %s: %w", m.Name, w.tmp, err)
		}
		rec = w.lay.appendCentral(rec[:0], i, crc)
		cd.Write(rec)
	}
	cd.Write(w.lay.appendEnd(nil))
	if err := cd.Flush(); err != nil {
		return fmt.Errorf("mmapnpz: write central directory of %s: %w", w.tmp, err)
	}
	return nil
}

// Abort removes the temporary file; nothing is left at the final path.
// It is safe to call after a failed Commit and more than once.
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	if !w.shared { // the other parts' work stays
		os.Remove(w.tmp)
	}
}

// Release closes the temporary file and keeps it (an interrupted run that
// can be resumed with Options.Keep); nothing appears at the final path.
func (w *Writer) Release() error {
	if w.done {
		return nil
	}
	w.done = true
	if w.f == nil {
		return nil
	}
	err := w.f.Sync()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	return err
}
