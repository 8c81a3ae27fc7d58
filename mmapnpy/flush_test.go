package mmapnpy

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bigconv/bigconv/dtype"
)

// TestWriteBackFlushes: WriteBack leads to background fdatasyncs every
// flushBytes, from many goroutines at once, and none with NoSync; the
// flusher ends with Commit, Abort and Release, and the data is intact.
func TestWriteBackFlushes(t *testing.T) {
	defer func(n int64) { flushBytes = n }(flushBytes)
	flushBytes = 64 << 10
	const rows, cols = 256, 1024 // 1 MiB of float32
	for _, c := range []struct {
		name   string
		opt    Options
		end    func(w *Writer) error
		exists bool
	}{
		{"commit", Options{}, (*Writer).Commit, true},
		{"no-sync", Options{NoSync: true}, (*Writer).Commit, true},
		{"abort", Options{}, func(w *Writer) error { w.Abort(); return nil }, false},
		{"release", Options{}, (*Writer).Release, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			out := filepath.Join(t.TempDir(), "x.npy")
			w, err := Create(out, dtype.MustParse("<f4"), dtype.Shape{rows, cols}, c.opt)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]byte, rows*cols*4)
			fillF32(want, 0)
			done := make(chan error)
			for g := range 4 { // 4 writers, a row at a time
				go func() {
					for r := g; r < rows; r += 4 {
						off := int64(r * cols * 4)
						if err := w.WriteAt(want[off:off+cols*4], off); err != nil {
							done <- err
							return
						}
						w.WriteBack(off, cols*4)
					}
					done <- nil
				}()
			}
			for range 4 {
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			}
			// the flusher runs beside the writers: give it a moment to
			// take the last kick before counting
			for deadline := time.Now().Add(5 * time.Second); c.name == "commit" && w.Flushes() == 0 && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
			flushes := w.Flushes()
			if err := c.end(w); err != nil {
				t.Fatal(err)
			}
			switch {
			case c.opt.NoSync && flushes != 0:
				t.Errorf("%d flushes with NoSync", flushes)
			case !c.opt.NoSync && c.name == "commit" && flushes == 0:
				t.Errorf("no flush after 1 MiB with flushBytes 64 KiB")
			}
			got, err := os.ReadFile(out)
			if !c.exists {
				if err == nil {
					t.Fatal("output exists")
				}
			} else if err != nil || !bytes.Equal(got[w.HeaderLen():], want) {
				t.Fatalf("output differs (%v)", err)
			}
			for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%d goroutines after the writer ended, %d before: the flusher still runs", runtime.NumGoroutine(), before)
				}
			}
		})
	}
}

// TestFlusherKeepsError: an fdatasync error is kept and returned when
// the flusher stops (Linux reports a write-back error to one fsync per
// descriptor: the flusher's may be the one that sees it).
func TestFlusherKeepsError(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	fl := startFlusher(f)
	f.Close() // fdatasync now fails (EBADF)
	fl.add(flushBytes)
	for deadline := time.Now().Add(5 * time.Second); fl.error() == nil && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if err := fl.stop(); !errors.Is(err, unix.EBADF) {
		t.Fatalf("stop after a failed fdatasync: %v, want the error", err)
	}
	if err := fl.stop(); err == nil {
		t.Fatal("second stop forgot the error")
	}
}
