package mmapnpy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/testdisk"
)

// writeFull creates and commits an output of rows×1024 float32 whose
// every byte is b.
func writeFull(t *testing.T, path string, rows int64, b byte, opt Options) *Writer {
	t.Helper()
	w, err := Create(path, dtype.MustParse("<f4"), dtype.Shape{rows, 1024}, opt)
	if err != nil {
		t.Fatal(err)
	}
	fillAll(t, w, b)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return w
}

func fillAll(t *testing.T, w *Writer, b byte) {
	t.Helper()
	buf := make([]byte, w.DataLen())
	for i := range buf {
		buf[i] = b
	}
	if err := w.WriteAt(buf, 0); err != nil {
		t.Fatal(err)
	}
}

// TestReplaceOnSmallDisk: an output that fits on the disk only once. A
// second conversion to the same path is refused before anything is
// written, with the figures measured before reserving (needed, free, the
// existing output's size) and both ways out; with Replace it goes
// through, the old file removed first.
func TestReplaceOnSmallDisk(t *testing.T) {
	mnt := testdisk.Small(t, "8m")
	out := filepath.Join(mnt, "o.npy")
	const rows = 1280 // 5 MiB of data
	writeFull(t, out, rows, 1, Options{})
	free := testdisk.Free(t, mnt)

	_, err := Create(out, dtype.MustParse("<f4"), dtype.Shape{rows, 1024}, Options{})
	var ns *NoSpaceError
	if !errors.As(err, &ns) || !errors.Is(err, ErrNoSpace) {
		t.Fatalf("got %v, want a NoSpaceError", err)
	}
	st, _ := os.Stat(out)
	if ns.Need != st.Size() || ns.Existing != st.Size() || ns.Free != free || ns.Held != 0 {
		t.Fatalf("figures %+v; want need=existing=%d free=%d held=0", *ns, st.Size(), free)
	}
	for _, want := range []string{"free before reserving", "needs room for both", "delete it first", "--replace"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	if _, err := os.Stat(PartialPath(out)); !os.IsNotExist(err) {
		t.Fatalf("refusal left a partial file: %v", err)
	}
	if got := readAll(t, out); got[len(got)-1] != 1 {
		t.Fatal("refusal changed the old output")
	}

	w := writeFull(t, out, rows, 2, Options{Replace: true})
	if n, ok := w.Replaced(); !ok || n != st.Size() {
		t.Fatalf("Replaced() = %d, %v; want %d, true", n, ok, st.Size())
	}
	if got := readAll(t, out); got[len(got)-1] != 2 || int64(len(got)) != st.Size() {
		t.Fatal("replacement not written")
	}
	// Replace with nothing to replace removes nothing.
	w = writeFull(t, filepath.Join(mnt, "new.npy"), 1, 3, Options{Replace: true})
	if _, ok := w.Replaced(); ok {
		t.Fatal("Replaced() reports a file that did not exist")
	}
}

// TestResumeCountsHeldSpace: the partial file of an interrupted run
// already holds its space; reopening it with Keep on a disk with less
// free than the whole output must not be refused.
func TestResumeCountsHeldSpace(t *testing.T) {
	mnt := testdisk.Small(t, "8m")
	out := filepath.Join(mnt, "o.npy")
	const rows = 1280
	w, err := Create(out, dtype.MustParse("<f4"), dtype.Shape{rows, 1024}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fillAll(t, w, 7)
	if err := w.Release(); err != nil { // interrupted: the partial file stays
		t.Fatal(err)
	}
	if free := testdisk.Free(t, mnt); free >= w.DataLen() {
		t.Fatalf("test setup: %d free, want less than the output", free)
	}
	w, err = Create(out, dtype.MustParse("<f4"), dtype.Shape{rows, 1024}, Options{Keep: true})
	if err != nil {
		t.Fatalf("resume refused on a nearly full disk: %v", err)
	}
	if !w.Reused() {
		t.Fatal("partial file not reused")
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, out); got[len(got)-1] != 7 {
		t.Fatal("resumed output lost its data")
	}

	// A partial file that is not reused (Keep off) counts as held space
	// in the figures only while it is kept: it is truncated first.
	w, err = Create(filepath.Join(mnt, "big.npy"), dtype.MustParse("<f4"), dtype.Shape{4 * rows, 1024}, Options{})
	var ns *NoSpaceError
	if !errors.As(err, &ns) || ns.Held != 0 {
		t.Fatalf("got %v (%+v), want a NoSpaceError with nothing held", err, ns)
	}

	// A kept partial file that holds part of what its resumed run needs
	// (a hole punched in it, as a sparse or streamed partial has): the
	// refusal says how much it already holds.
	h := filepath.Join(mnt, "h.npy")
	shape := dtype.Shape{rows / 4, 1024}
	w, err = Create(h, dtype.MustParse("<f4"), shape, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fillAll(t, w, 3)
	tmp := w.TempPath()
	if err := w.Release(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	const hole = 1 << 20
	err = unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 64<<10, hole)
	f.Close()
	if err != nil {
		t.Fatalf("punching a hole: %v", err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "filler"), make([]byte, testdisk.Free(t, mnt)-hole/2), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Create(h, dtype.MustParse("<f4"), shape, Options{Keep: true})
	if !errors.As(err, &ns) || ns.Held <= 0 || ns.Held >= ns.Need || !strings.Contains(err.Error(), "already holds") {
		t.Fatalf("got %v (%+v), want a NoSpaceError saying what the partial file already holds", err, ns)
	}
	t.Log(err)
}

func readAll(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
