package engine_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/engine"
	"github.com/bigconv/bigconv/format"
	_ "github.com/bigconv/bigconv/format/npz"
	"github.com/bigconv/bigconv/tensor"
)

// pattern is tensor data made up on the fly: byte i of tensor seed is a
// function of both, so an input of any size holds no memory.
type pattern struct {
	seed byte
	size int64
}

func (p pattern) ReadAt(b []byte, off int64) (int, error) {
	if off >= p.size {
		return 0, io.EOF
	}
	n := min(int64(len(b)), p.size-off)
	for i := int64(0); i < n; i++ {
		x := off + i
		b[i] = byte(x>>2) ^ byte(x>>11) ^ p.seed
	}
	if n < int64(len(b)) {
		return int(n), io.EOF
	}
	return int(n), nil
}

// patternInput is a collection of count float32 tensors of rows×256.
func patternInput(count int, rows int64) *format.Input {
	in := &format.Input{Format: "mem", Collection: true, Path: "mem"}
	for i := range count {
		size := rows * 256 * 4
		in.Tensors = append(in.Tensors, &tensor.Tensor{Name: fmt.Sprintf("layer%03d/w", i), DType: dtype.Of(dtype.Float32),
			Shape: dtype.Shape{rows, 256}, Data: io.NewSectionReader(pattern{byte(i), size}, 0, size), Contiguous: true})
	}
	return in
}

// readArchive opens an .npz with archive/zip (reading each member to its
// end checks its CRC-32) and with bigconv's own npz reader, and returns
// each tensor's data bytes by name.
func readArchive(t *testing.T, path string) map[string][]byte {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if f.Method != zip.Store {
			t.Errorf("%s: method %d, want stored", f.Name, f.Method)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		rc.Close()
	}
	in, err := format.OpenPath(path, format.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	got := map[string][]byte{}
	for _, tt := range in.Tensors {
		n, _ := tt.NumBytes()
		b := make([]byte, n)
		if _, err := tt.Data.ReadAt(b, 0); err != nil && !(err == io.EOF && int64(len(b)) == n) {
			t.Fatal(err)
		}
		got[tt.Name] = b
	}
	return got
}

func TestConvertArchive(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.npz")
	in := memInput("a/x", "b", "")
	var (
		mu     sync.Mutex
		last   int64
		total  int64
		back   bool
		events []string
	)
	sum, err := engine.ConvertInput(context.Background(), in, out, engine.InputOptions{
		Options: engine.Options{BlockSize: 256, Workers: 3, Progress: func(d, n int64) {
			back = back || d < last
			last, total = d, n
		}},
		Event: func(e engine.Event) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, e.Kind.String()+" "+e.Tensor.Name+" "+e.Member)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Archive || sum.Dir || sum.Output != out || len(sum.Tensors) != 3 || len(sum.Skipped) != 1 {
		t.Fatalf("summary %+v", sum)
	}
	if last != 3072 || total != 3072 || back {
		t.Errorf("progress ended at %d of %d (went back: %v), want 3072 of 3072", last, total, back)
	}
	slices.Sort(events[1:]) // tensors finish in any order
	if got := strings.Join(events, ","); got != "skipped res ,converted  arr_2.npy,converted a/x a/x.npy,converted b b.npy" {
		t.Errorf("events %s", got)
	}
	got := readArchive(t, out)
	for i, name := range []string{"a/x", "b", "arr_2"} {
		want := bytes.Repeat([]byte{byte(i), 0, 0x80, 0x3f}, 256)
		if !bytes.Equal(got[name], want) {
			t.Errorf("%s: data differs", name)
		}
	}
	if names(t, dir) != "out.npz" {
		t.Errorf("left %s", names(t, dir))
	}
	// A lone unconvertible tensor is an error, and nothing is written.
	_, err = engine.ConvertArchive(context.Background(), in, out+"2.npz", engine.InputOptions{Tensors: []string{"res"}})
	if !errors.Is(err, tensor.ErrUnsupported) {
		t.Errorf("lone resource: %v", err)
	}
	if names(t, dir) != "out.npz" {
		t.Errorf("left %s", names(t, dir))
	}
}

// TestConvertArchiveCancelResume cancels an archive halfway, checks what
// a rerun says with and without Resume and with other settings, and
// resumes it to the bytes of an uninterrupted run.
func TestConvertArchiveCancelResume(t *testing.T) {
	dir := t.TempDir()
	mod := time.Date(2024, 5, 6, 7, 8, 10, 0, time.UTC)
	base := engine.InputOptions{ModTime: mod, Options: engine.Options{BlockSize: 64 << 10, Workers: 2,
		CheckpointBytes: 256 << 10, DType: dtype.Of(dtype.Float64)}}
	want := filepath.Join(dir, "want.npz")
	if _, err := engine.ConvertArchive(context.Background(), patternInput(6, 1024), want, base); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.npz")
	ctx, cancel := context.WithCancel(context.Background())
	opt := base
	opt.Progress = func(d, n int64) {
		if d*5 >= n*2 {
			cancel()
		}
	}
	_, err := engine.ConvertArchive(ctx, patternInput(6, 1024), out, opt)
	var ie *engine.InterruptedError
	if !errors.As(err, &ie) || !errors.Is(err, engine.ErrInterrupted) || ie.Done == 0 || ie.Done >= ie.Blocks {
		t.Fatalf("cancelled run: %v", err)
	}
	t.Logf("%v", err)
	if got := names(t, dir); got != ".out.npz.bigconv-journal,.out.npz.bigconv-partial,want.npz" {
		t.Fatalf("left %s", got)
	}
	if _, err := engine.ConvertArchive(context.Background(), patternInput(6, 1024), out, base); !errors.Is(err, engine.ErrPending) {
		t.Fatalf("rerun without Resume: %v", err)
	}
	other := base
	other.Resume, other.DType = true, dtype.Of(dtype.Float32)
	if _, err := engine.ConvertArchive(context.Background(), patternInput(6, 1024), out, other); !errors.Is(err, engine.ErrResume) ||
		!strings.Contains(err.Error(), "dtype=<f8") {
		t.Fatalf("resume with another dtype: %v", err)
	}
	other = base
	other.Resume, other.Tensors = true, []string{"layer00[0-4]/w"}
	if _, err := engine.ConvertArchive(context.Background(), patternInput(6, 1024), out, other); !errors.Is(err, engine.ErrResume) ||
		!strings.Contains(err.Error(), "5") {
		t.Fatalf("resume with another selection: %v", err)
	}
	res := base
	res.Resume = true
	var kept, resumed int
	res.Event = func(e engine.Event) {
		if e.Kind == engine.Kept {
			kept++
		}
		if e.Result.Resumed > 0 {
			resumed++
		}
	}
	if _, err := engine.ConvertArchive(context.Background(), patternInput(6, 1024), out, res); err != nil {
		t.Fatal(err)
	}
	if kept+resumed == 0 {
		t.Error("the resumed run kept nothing")
	}
	a, _ := os.ReadFile(out)
	b, _ := os.ReadFile(want)
	if !bytes.Equal(a, b) {
		t.Fatalf("resumed archive (%d bytes) differs from an uninterrupted one (%d bytes)", len(a), len(b))
	}
	if got := names(t, dir); got != "out.npz,want.npz" {
		t.Fatalf("left %s", got)
	}
}

// TestConvertArchiveFlatMemory writes 64 MiB of float32 as float64 (128
// MiB out) into an archive as 16 tensors and as 1024: the heap's peak
// during the run stays a few blocks per worker in both, whatever the
// number of tensors.
func TestConvertArchiveFlatMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 256 MiB")
	}
	dir := t.TempDir()
	peak := func(count int, rows int64) uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		baseline := ms.HeapInuse
		var top atomic.Uint64
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > baseline && ms.HeapInuse-baseline > top.Load() {
					top.Store(ms.HeapInuse - baseline)
				}
				select {
				case <-stop:
					return
				case <-time.After(2 * time.Millisecond):
				}
			}
		}()
		out := filepath.Join(dir, fmt.Sprintf("%d.npz", count))
		_, err := engine.ConvertArchive(context.Background(), patternInput(count, rows), out, engine.InputOptions{
			Options: engine.Options{Workers: 2, DType: dtype.Of(dtype.Float64), CheckpointBytes: 16 << 20}})
		close(stop)
		<-done
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(out)
		return top.Load()
	}
	few := peak(16, 4096)  // 16 × 4 MiB
	many := peak(1024, 64) // 1024 × 64 KiB
	t.Logf("peak heap above baseline: %.1f MiB for 16 tensors, %.1f MiB for 1024 (64 MiB in, 128 MiB out)",
		float64(few)/(1<<20), float64(many)/(1<<20))
	const limit = 48 << 20 // budget 32 MiB + slack for GC timing
	if few > limit || many > limit {
		t.Errorf("peak heap %d / %d bytes above baseline, want under %d", few, many, limit)
	}
}

// TestConvertArchiveNoSync: an .npz written with NoSync is the archive a
// durable run writes, keeps no journal, and refuses to resume.
func TestConvertArchiveNoSync(t *testing.T) {
	dir := t.TempDir()
	when := time.Date(2024, 5, 6, 7, 8, 10, 0, time.UTC)
	opt := engine.InputOptions{Options: engine.Options{BlockSize: 8 << 10, CheckpointBytes: 1}, ModTime: when}
	want := filepath.Join(dir, "want.npz")
	if _, err := engine.ConvertArchive(context.Background(), multiInput(), want, opt); err != nil {
		t.Fatal(err)
	}
	opt.NoSync = true
	out := filepath.Join(dir, "out.npz")
	if _, err := engine.ConvertArchive(context.Background(), multiInput(), out, opt); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(out)
	b, _ := os.ReadFile(want)
	if !bytes.Equal(a, b) {
		t.Fatal("the no-sync archive differs from the durable one")
	}
	if got := names(t, dir); got != "out.npz,want.npz" {
		t.Fatalf("left behind: %s", got)
	}
	opt.Resume = true
	if _, err := engine.ConvertArchive(context.Background(), multiInput(), filepath.Join(dir, "r.npz"), opt); !errors.Is(err, engine.ErrNoSyncResume) {
		t.Fatalf("resume with no-sync: %v", err)
	}
}
