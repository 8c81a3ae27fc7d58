package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/crc32c"
	"github.com/bigconv/bigconv/internal/testhook"
	"github.com/bigconv/bigconv/mmapnpy"
	"github.com/bigconv/bigconv/tensor"
)

// countFsyncs counts the fsyncs bigconv issues (testhook.Fsync) while f
// runs, by kind: the output's partial file, its journal, directories.
func countFsyncs(t *testing.T, f func()) (file, journal, dirs int) {
	t.Helper()
	var mu sync.Mutex
	testhook.Fsync = func(what string) {
		mu.Lock()
		defer mu.Unlock()
		st, err := os.Stat(what)
		switch {
		case err == nil && st.IsDir():
			dirs++
		case strings.HasSuffix(what, JournalSuffix):
			journal++
		default:
			file++
		}
	}
	defer func() { testhook.Fsync = nil }()
	f()
	return
}

// fakeClock makes the checkpointer's clock advance by step at every
// reading, so that a run of a few milliseconds looks long.
func fakeClock(t *testing.T, step time.Duration) {
	t.Helper()
	var n atomic.Int64
	base := time.Now()
	clock = func() time.Time { return base.Add(time.Duration(n.Add(1)) * step) }
	t.Cleanup(func() { clock = time.Now })
}

// TestCheckpointCadence: checkpoints wait for both the byte and the time
// interval, so a short run takes none (no fsync beyond the commit's),
// and a long one (here a simulated clock) takes them.
func TestCheckpointCadence(t *testing.T) {
	if b, e := (Options{}).cadence(); b != 1<<30 || e != 10*time.Second {
		t.Fatalf("default cadence %d bytes / %v, want 1 GiB / 10s", b, e)
	}
	for _, c := range []struct {
		name      string
		opt       Options
		step      time.Duration // fake clock step per reading (0: real clock)
		first     int64         // the first checkpoint records at least this many blocks
		minChecks int
		maxChecks int
	}{
		// 512 KiB output: far below 1 GiB, no journal at all.
		{"default", Options{}, 0, 0, 0, 0},
		// Past the byte interval after every block, but the run is
		// far shorter than an hour: no checkpoint.
		{"bytes met, time not", Options{CheckpointBytes: 1, CheckpointEvery: time.Hour}, 0, 0, 0, 0},
		// The same with a clock that advances 1 s per reading: at most
		// one checkpoint per 10 blocks of 128 (they coalesce while one
		// is being taken), not before the 10th, and the final one.
		{"bytes and simulated time", Options{CheckpointBytes: 1, CheckpointEvery: 10 * time.Second}, time.Second, 9, 2, 14},
		// Time alone: every reading is 20 s on, so a checkpoint may
		// follow each block.
		{"time only", Options{CheckpointEvery: 10 * time.Second}, 20 * time.Second, 1, 2, 129},
		// Bytes alone (--checkpoint SIZE): every 64 KiB (16 blocks).
		{"bytes only", Options{CheckpointBytes: 64 << 10}, 0, 16, 2, 9},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.step > 0 {
				fakeClock(t, c.step)
			}
			tt, b := f64Tensor(1 << 16) // 512 KiB, 128 blocks of 4 KiB
			out := filepath.Join(t.TempDir(), "o.npy")
			opt := c.opt
			// One worker that, before the last block, waits for the
			// checkpoint asked for earlier, so that the count does not
			// depend on how the goroutines are scheduled.
			opt.BlockSize, opt.Workers = 4096, 1
			var hooked, firstDone atomic.Int64
			testhook.Checkpoint = func(done, total int64) {
				if hooked.Add(1) == 1 {
					firstDone.Store(done)
				}
			}
			testhook.BeforeBlock = func(i, total int64) {
				if i < total-1 || c.maxChecks == 0 {
					return
				}
				for deadline := time.Now().Add(20 * time.Second); hooked.Load() == 0; time.Sleep(time.Millisecond) {
					if time.Now().After(deadline) {
						t.Errorf("no checkpoint before the last block")
						return
					}
				}
			}
			defer func() { testhook.Checkpoint, testhook.BeforeBlock = nil, nil }()
			var res Result
			var err error
			file, journal, dirs := countFsyncs(t, func() { res, err = Convert(context.Background(), tt, out, opt) })
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(out)
			if !bytes.Equal(got[len(got)-len(b):], b) {
				t.Fatal("output differs from the input")
			}
			if int64(res.Checkpoints) != hooked.Load() || res.Checkpoints < c.minChecks || res.Checkpoints > c.maxChecks {
				t.Fatalf("%d checkpoints (hook saw %d), want %d to %d", res.Checkpoints, hooked.Load(), c.minChecks, c.maxChecks)
			}
			if res.Checkpoints > 0 && firstDone.Load() < c.first {
				t.Fatalf("first checkpoint after %d blocks, want at least %d", firstDone.Load(), c.first)
			}
			// Each checkpoint: the partial file, then the journal; the
			// first also the directory. The commit: the file and the
			// directory.
			wantDirs := 1
			if res.Checkpoints > 0 {
				wantDirs = 2
			}
			if file != res.Checkpoints+1 || journal != res.Checkpoints || dirs != wantDirs {
				t.Fatalf("fsyncs: %d of the file, %d of the journal, %d of directories for %d checkpoints; want %d, %d, %d",
					file, journal, dirs, res.Checkpoints, res.Checkpoints+1, res.Checkpoints, wantDirs)
			}
			if _, err := os.Stat(JournalPath(out)); !os.IsNotExist(err) {
				t.Fatalf("journal left after the run: %v", err)
			}
		})
	}
}

// TestCadenceInterruptKeepsWork: a run interrupted before its first
// timed checkpoint still keeps its work (the interruption takes one).
func TestCadenceInterruptKeepsWork(t *testing.T) {
	tt, _ := f64Tensor(1 << 16)
	out := filepath.Join(t.TempDir(), "o.npy")
	opt := Options{BlockSize: 4096, Workers: 2, CheckpointBytes: 1, CheckpointEvery: time.Hour}
	ie := interrupt(t, tt, out, opt, 20)
	opt.Resume = true
	res, err := Convert(context.Background(), tt, out, opt)
	if err != nil || res.Resumed != ie.Done {
		t.Fatalf("resumed at %d, journal had %d: %v", res.Resumed, ie.Done, err)
	}
}

// TestNoSync: no fsync at all, the output whole under its name; no
// journal, so an interruption keeps nothing and Resume is refused; work
// an earlier run left is still reported, or discarded with Restart.
func TestNoSync(t *testing.T) {
	tt, b := f64Tensor(1 << 16)
	dir := t.TempDir()
	out := filepath.Join(dir, "o.npy")
	opt := Options{BlockSize: 4096, Workers: 2, CheckpointBytes: 1, NoSync: true}

	var res Result
	var err error
	file, journal, dirs := countFsyncs(t, func() { res, err = Convert(context.Background(), tt, out, opt) })
	if err != nil {
		t.Fatal(err)
	}
	if file+journal+dirs != 0 || res.Checkpoints != 0 {
		t.Fatalf("NoSync run: %d+%d+%d fsyncs, %d checkpoints", file, journal, dirs, res.Checkpoints)
	}
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got[len(got)-len(b):], b) {
		t.Fatal("output differs from the input")
	}
	os.Remove(out)

	resume := opt
	resume.Resume = true
	if _, err := Convert(context.Background(), tt, out, resume); !errors.Is(err, ErrNoSyncResume) {
		t.Fatalf("NoSync with Resume: err = %v, want ErrNoSyncResume", err)
	}

	ctx, cancel, progress := cancelAfter(20)
	interrupted := opt
	interrupted.Progress = progress
	_, err = Convert(ctx, tt, out, interrupted)
	cancel()
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrInterrupted) {
		t.Fatalf("interrupted NoSync run: err = %v, want context.Canceled and nothing kept", err)
	}
	emptyDir(t, dir)

	// A journal a synced run left is reported, then discarded by Restart.
	interrupt(t, tt, out, Options{BlockSize: 4096, Workers: 2, CheckpointBytes: 1}, 20)
	if _, err := Convert(context.Background(), tt, out, opt); !errors.Is(err, ErrPending) {
		t.Fatalf("NoSync over a left journal: err = %v, want ErrPending", err)
	}
	restart := opt
	restart.Restart = true
	if _, err := Convert(context.Background(), tt, out, restart); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{JournalPath(out), mmapnpy.PartialPath(out)} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s left after a restarted NoSync run", p)
		}
	}
}

// TestCopyBlocks: a plain copy of a file range is cut into CopyBlockSize
// blocks (one copy_file_range each), a cast or a checksummed copy into
// the default blocks; where copy_file_range is refused, the large block
// is copied through windows of the default size.
func TestCopyBlocks(t *testing.T) {
	const n = 3 << 20 // float64 elements: 24 MiB
	tt, b := f64Tensor(n)
	dir := t.TempDir()
	src := filepath.Join(dir, "in.bin")
	if err := os.WriteFile(src, b, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tt.Data, tt.Contiguous = io.NewSectionReader(f, 0, int64(len(b))), true
	crc := crc32c.Checksum(b)
	withCRC := *tt
	withCRC.CRC32C = &crc
	for _, c := range []struct {
		name   string
		t      *tensor.Tensor
		opt    Options
		refuse bool
		blocks int64
	}{
		{"copy", tt, Options{}, false, 1},
		{"copy without copy_file_range", tt, Options{}, true, 1},
		{"copy with crc", &withCRC, Options{}, false, 3},
		{"cast", tt, Options{DType: dtype.MustParse("<f4")}, false, 3},
		{"copy, block size given", tt, Options{BlockSize: 4 << 20}, false, 6},
	} {
		t.Run(c.name, func(t *testing.T) {
			refuseCopyRange = c.refuse
			defer func() { refuseCopyRange = false }()
			opt := c.opt
			opt.Workers = 2 // default blocks of 8 MiB
			out := filepath.Join(dir, "o.npy")
			res, err := Convert(context.Background(), c.t, out, opt)
			if err != nil {
				t.Fatal(err)
			}
			if res.Blocks != c.blocks {
				t.Errorf("%d blocks, want %d", res.Blocks, c.blocks)
			}
			if opt.DType.Type.Valid() {
				checkF32(t, out, n)
				return
			}
			got, _ := os.ReadFile(out)
			if !bytes.Equal(got[len(got)-len(b):], b) {
				t.Fatal("output data differs from input")
			}
		})
	}
}

func checkF32(t *testing.T, out string, n int) {
	t.Helper()
	b, _ := os.ReadFile(out)
	data := b[len(b)-4*n:]
	for i := 0; i < n; i++ {
		if v := math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:])); v != float32(float64(i)+0.25) {
			t.Fatalf("element %d = %v", i, v)
		}
	}
}
