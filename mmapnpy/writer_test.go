package mmapnpy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"codeberg.org/sbinet/npyio"

	"github.com/bigconv/bigconv/dtype"
)

func fillF32(dst []byte, first int) {
	for i := 0; i < len(dst)/4; i++ {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(float32(first+i)))
	}
}

func TestWriteCommitReadBack(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "x.npy")
	const rows, cols = 3000, 700 // several pages, windows not page aligned
	w, err := Create(out, dtype.MustParse("<f4"), dtype.Shape{rows, cols}, Options{FlushWindows: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("output exists before Commit: %v", err)
	}
	// write rows in uneven blocks, out of order
	blocks := [][2]int{{1000, 2000}, {0, 1000}, {2000, 3000}}
	for _, b := range blocks {
		err := w.Write(int64(b[0]*cols*4), int64((b[1]-b[0])*cols*4), func(dst []byte) error {
			fillF32(dst, b[0]*cols)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(PartialPath(out)); !os.IsNotExist(err) {
		t.Fatalf("partial file left: %v", err)
	}
	// cross-check with an independent reader (sbinet/npyio)
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []float32
	if err := npyio.Read(f, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != rows*cols {
		t.Fatalf("len %d", len(got))
	}
	for i, v := range got {
		if v != float32(i) {
			t.Fatalf("element %d = %v", i, v)
		}
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "x.npy")
	w, err := Create(out, dtype.MustParse("<i8"), dtype.Shape{1 << 16}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := w.Write(0, 8<<10, func([]byte) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	w.Abort()
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Fatalf("left behind: %v", ents)
	}
}

func TestSecondWriterRefused(t *testing.T) {
	out := filepath.Join(t.TempDir(), "x.npy")
	w1, err := Create(out, dtype.MustParse("<f8"), dtype.Shape{10}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w1.Abort()
	_, err = Create(out, dtype.MustParse("<f8"), dtype.Shape{10}, Options{})
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("second Create: %v, want ErrBusy", err)
	}
}

func TestStream(t *testing.T) {
	out := filepath.Join(t.TempDir(), "s.npy")
	w, err := CreateStream(out, dtype.MustParse("<f4"), dtype.Shape{3}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const rows = 100000
	for r := 0; r < rows; r += 1000 {
		if err := w.Write(int64(r*12), 1000*12, func(dst []byte) error { fillF32(dst, r*3); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.SetRows(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(out)
	defer f.Close()
	r, err := npyio.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Header.Descr.Shape) != 2 || r.Header.Descr.Shape[0] != rows || r.Header.Descr.Shape[1] != 3 {
		t.Fatalf("shape %v", r.Header.Descr.Shape)
	}
	st, _ := f.Stat()
	if st.Size() != w.HeaderLen()+rows*12 {
		t.Fatalf("size %d", st.Size())
	}
}

// TestFaultBecomesError shrinks the file under a mapped window while it
// is being filled: the SIGBUS must come back as ErrFault, not crash.
func TestFaultBecomesError(t *testing.T) {
	out := filepath.Join(t.TempDir(), "o.npy")
	w, err := Create(out, dtype.MustParse("<f8"), dtype.Shape{1 << 17}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	err = w.Write(0, 1<<20, func(dst []byte) error {
		if err := os.Truncate(w.TempPath(), 0); err != nil {
			return err
		}
		for i := range dst {
			dst[i] = 1
		}
		return nil
	})
	if !errors.Is(err, ErrFault) {
		t.Fatalf("err = %v, want ErrFault", err)
	}
}

// TestWriteAtAndCopyFrom fills an output with pwrite and with
// copy_file_range from another file, and checks a short source.
func TestWriteAtAndCopyFrom(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	os.WriteFile(src, append([]byte("pad"), data...), 0o644)
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := filepath.Join(dir, "o.npy")
	w, err := Create(out, dtype.MustParse("|u1"), dtype.Shape{2 << 20}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if err := w.CopyFrom(f, 3, 1<<20, 1<<20); err != nil && !errors.Is(err, ErrNoCopyRange) {
		t.Fatal(err)
	} else if err != nil {
		if os.Getenv("CI") != "" && os.Getenv("CI") != "false" {
			t.Fatalf("copy_file_range unsupported in CI: %v", err)
		}
		t.Skipf("this file system cannot copy_file_range: %v", err)
	}
	if err := w.CopyFrom(f, 3+1<<19, 0, 1<<20); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short source: err = %v, want ErrUnexpectedEOF", err)
	}
	if err := w.WriteAt(data, 2<<20-10); err == nil {
		t.Fatal("write past the end accepted")
	}
	if err := w.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	body := got[w.HeaderLen():]
	if !bytes.Equal(body[:1<<20], data) || !bytes.Equal(body[1<<20:], data) {
		t.Fatal("output differs")
	}
}

// TestWriteAtPieces: a write longer than writePiece, at an odd offset,
// lands whole and in order.
func TestWriteAtPieces(t *testing.T) {
	out := filepath.Join(t.TempDir(), "o.npy")
	n := 3*writePiece + 7
	w, err := Create(out, dtype.MustParse("|u1"), dtype.Shape{int64(n + 5)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i*31 + i>>11)
	}
	if err := w.WriteAt(data, 5); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteAt([]byte{1, 2, 3, 4, 5}, 0); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	body := got[len(got)-n-5:]
	if !bytes.Equal(body[:5], []byte{1, 2, 3, 4, 5}) || !bytes.Equal(body[5:], data) {
		t.Fatal("written bytes differ")
	}
}
