package mmapnpy

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format/npy/npyhdr"
)

// OpenShared opens the partial file of an output that several processes
// write at once, each its own byte ranges (the parts of one conversion,
// engine/part). Every process calls it with the same dt and shape: the
// file is created if absent and never truncated below its size, its
// space is reserved (fallocate is idempotent), and it is locked shared,
// so that a single-process run of the same output (which locks
// exclusively) is refused while parts run, and the other way round. The
// header is written (WriteHeaderRange) by the part that owns the file's first
// bytes, not here: two hosts must never write the same page.
//
// Abort on a shared Writer only closes the file: the other parts' work
// stays. The file is put in place by CommitPartial once every part is
// done, by whichever process sees that first.
func OpenShared(path string, dt dtype.DType, shape dtype.Shape) (*Writer, error) {
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
		hdrLen: int64(len(hdr)), dataLen: dataLen, replaced: -1, shared: true, hdr: hdr}
	f, err := OpenLocked(w.tmp, unix.LOCK_SH, "a bigconv run that is not one of the parts writing "+w.final)
	if err != nil {
		return nil, err
	}
	w.f = f
	total := w.hdrLen + dataLen
	if st, err := f.Stat(); err == nil && st.Size() > total {
		// a partial file of another conversion, left behind: every part
		// cuts it to the same size, so the order does not matter.
		if err := f.Truncate(total); err != nil {
			w.Abort()
			return nil, fmt.Errorf("mmapnpy: truncate %s: %w", w.tmp, err)
		}
	}
	if err := w.reserve(total); err != nil {
		w.Abort()
		return nil, err
	}
	return w, nil
}

// FileLen is the length of the whole output file, header included.
func (w *Writer) FileLen() int64 { return w.hdrLen + w.dataLen }

// WriteHeaderRange writes the bytes of the .npy header that fall in the
// file range [start, end) — on a shared Writer, the part whose range
// holds the file's first bytes writes them.
func (w *Writer) WriteHeaderRange(start, end int64) error {
	hdr := w.hdr
	if hdr == nil {
		var err error
		if hdr, err = npyhdr.Encode(w.dt, w.shape, false); err != nil {
			return err
		}
	}
	lo, hi := max(start, 0), min(end, int64(len(hdr)))
	if lo >= hi {
		return nil
	}
	if _, err := w.f.WriteAt(hdr[lo:hi], lo); err != nil {
		return fmt.Errorf("mmapnpy: write header to %s: %w", w.tmp, err)
	}
	return nil
}

// CommitPartial moves the finished partial file of path into place and
// makes the new name durable. It reports os.ErrNotExist when the partial
// file is gone (another process committed it first).
func CommitPartial(path string) error {
	tmp := PartialPath(path)
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("mmapnpy: rename %s to %s: %w", tmp, path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
