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

// BenchmarkFlush writes 512 MiB through WriteAt and WriteBack in 1 MiB
// pieces, spending spin of CPU per piece as a conversion would, and
// commits, with the background flusher ("every-128MiB") and without it
// ("none": all of the disk's cache flushed by the final fsync). The
// ratio of the two in one run is what docs/benchmarks.md reports
// ("Flushing while converting"). On a tmpfs both are the same.
//
//	go test -run '^$' -bench Flush -benchtime 5x ./mmapnpy/
func BenchmarkFlush(b *testing.B) {
	const total, piece = 512 << 20, 1 << 20
	buf := make([]byte, piece)
	fillF32(buf, 0)
	dir := b.TempDir()
	if d := os.Getenv("BIGCONV_BENCH_DIR"); d != "" {
		dir = d // a directory on the disk to measure (TempDir may be a tmpfs)
	}
	for _, c := range []struct {
		name  string
		every int64
	}{{"none", 1 << 62}, {"every-128MiB", 128 << 20}} {
		b.Run(c.name, func(b *testing.B) {
			defer func(n int64) { flushBytes = n }(flushBytes)
			flushBytes = c.every
			b.SetBytes(total)
			for range b.N {
				out := filepath.Join(dir, "flush.npy")
				os.Remove(out)
				w, err := Create(out, dtype.MustParse("<f4"), dtype.Shape{total / 4}, Options{})
				if err != nil {
					b.Fatal(err)
				}
				for off := int64(0); off < total; off += piece {
					for s := time.Now(); time.Since(s) < 500*time.Microsecond; {
					} // the conversion of a piece
					if err := w.WriteAt(buf, off); err != nil {
						b.Fatal(err)
					}
					w.WriteBack(off, piece)
				}
				if err := w.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			os.Remove(filepath.Join(dir, "flush.npy"))
		})
	}
}
