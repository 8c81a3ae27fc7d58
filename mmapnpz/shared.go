package mmapnpz

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bigconv/bigconv/mmapnpy"
)

// PartsModTime is the members' modification time in an archive written
// by several processes at once (OpenShared) when Options.ModTime is not
// set: every process must write the same header bytes, so it cannot be
// "now". It is the first time a zip header can hold, 1980-01-01 00:00.
var PartsModTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// Layout is where an archive of members puts things, computed as Create
// computes it: the archive's size and each member's data offset. The
// modification time does not change either.
func Layout(members []Member) (size int64, dataOffsets []int64, err error) {
	lay, err := plan(members, PartsModTime)
	if err != nil {
		return 0, nil, err
	}
	offs := make([]int64, len(lay.members))
	for i := range lay.members {
		offs[i] = lay.members[i].dataOff()
	}
	return lay.total, offs, nil
}

// OpenShared opens the partial file of an archive that several processes
// write at once, each its own byte ranges (the parts of one conversion,
// engine/part), as mmapnpy.OpenShared does for a .npy: every process
// calls it with the same members and ModTime (zero: PartsModTime); the
// file is created if absent, cut to the archive's size if longer but
// never truncated below it, its space reserved (fallocate is idempotent),
// and it is locked shared, so that a one-process run of the same output
// (which locks exclusively) is refused while parts run. No header is
// written here: each process writes the layout bytes inside its own
// ranges (WriteLayoutRange), so that two hosts never write the same page.
//
// The CRC-32s of what a shared Writer writes are recorded as usual;
// Sums gives them, to be handed to the process that commits
// (CommitShared). Abort on a shared Writer only closes the file, and
// Commit is refused.
func OpenShared(path string, members []Member, opt Options) (*Writer, error) {
	if opt.ModTime.IsZero() {
		opt.ModTime = PartsModTime
	}
	lay, err := plan(members, opt.ModTime)
	if err != nil {
		return nil, err
	}
	w := &Writer{final: path, tmp: mmapnpy.PartialPath(path), lay: lay,
		crcs: make([]crcState, len(members)), opt: opt, replaced: -1, shared: true}
	f, err := mmapnpy.OpenLocked(w.tmp, unix.LOCK_SH, "a bigconv run that is not one of the parts writing "+w.final)
	if err != nil {
		return nil, err
	}
	w.f = f
	if st, err := f.Stat(); err == nil && st.Size() > lay.total {
		// a partial file of another conversion, left behind: every part
		// cuts it to the same size, so the order does not matter
		if err := f.Truncate(lay.total); err != nil {
			w.Abort()
			return nil, fmt.Errorf("mmapnpz: truncate %s: %w", w.tmp, err)
		}
	}
	if err := w.reserve(lay.total); err != nil {
		w.Abort()
		return nil, err
	}
	return w, nil
}

// WriteLayoutRange writes the bytes of the archive's initial layout —
// every member's local header (CRC 0 until the commit) and .npy header,
// as Create writes them — that fall in the file range [start, end).
// Nothing else is written: the data is the caller's, the central
// directory the committer's.
func (w *Writer) WriteLayoutRange(start, end int64) error {
	for i := range w.lay.members {
		m := &w.lay.members[i]
		hs, he := m.local, m.dataOff()
		if he <= start {
			continue
		}
		if hs >= end {
			break
		}
		b := append(w.lay.localHeader(i, 0), m.hdr...)
		lo, hi := max(start, hs), min(end, he)
		if _, err := w.f.WriteAt(b[lo-hs:hi-hs], lo); err != nil {
			return fmt.Errorf("mmapnpz: write the headers of %q to %s: %w", m.Name, w.tmp, err)
		}
	}
	return nil
}

// CommitShared finishes an archive that several processes wrote with
// OpenShared: it locks the partial file exclusively (no part may still
// be writing), checks that it holds this very layout (size, local and
// .npy headers, CRCs and time aside) — refusing, with the file left as
// it is, when not — records the CRC-32s every process gave (sums: each
// one's Sums), and commits as Writer.Commit does (what no sum covers is
// read back). On failure the partial file is left in place (its
// members' CRCs perhaps patched, which the check ignores), so that the
// commit can be tried again.
func CommitShared(path string, members []Member, opt Options, sums []Sums) error {
	if opt.ModTime.IsZero() {
		opt.ModTime = PartsModTime
	}
	lay, err := plan(members, opt.ModTime)
	if err != nil {
		return err
	}
	w := &Writer{final: path, tmp: mmapnpy.PartialPath(path), lay: lay,
		crcs: make([]crcState, len(members)), opt: opt, replaced: -1}
	f, err := os.OpenFile(w.tmp, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("mmapnpz: open %s: %w", w.tmp, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("%w: %s is still open in a part writing %s", mmapnpy.ErrBusy, w.tmp, w.final)
		}
		return fmt.Errorf("mmapnpz: lock %s: %w", w.tmp, err)
	}
	w.f = f
	if !w.sameFile() {
		f.Close()
		return fmt.Errorf("mmapnpz: %s does not hold the layout of the archive %s (its size or a member's headers differ)", w.tmp, w.final)
	}
	w.reused = true
	defer func() {
		if w.f != nil {
			w.f.Close()
		}
	}()
	for _, s := range sums {
		if err := w.Restore(s); err != nil {
			return err
		}
	}
	if err := w.finish(); err != nil {
		return err
	}
	if err := w.Sync(); err != nil {
		return err
	}
	err = w.f.Close()
	w.f = nil
	if err != nil {
		return fmt.Errorf("mmapnpz: close %s: %w", w.tmp, err)
	}
	if err := os.Rename(w.tmp, w.final); err != nil {
		return fmt.Errorf("mmapnpz: rename to %s: %w", w.final, err)
	}
	mmapnpy.SyncDir(filepath.Dir(w.final))
	return nil
}
