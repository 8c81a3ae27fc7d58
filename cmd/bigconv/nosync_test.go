package main

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/testhook"
	"github.com/bigconv/bigconv/internal/tfgen"
)

// fsyncs runs bigconv in-process and counts the fsyncs it issues.
func fsyncs(t *testing.T, args ...string) int64 {
	t.Helper()
	var n atomic.Int64
	testhook.Fsync = func(string) { n.Add(1) }
	defer func() { testhook.Fsync = nil }()
	if code, _, stderr := bigconv(t, args...); code != 0 {
		t.Fatalf("bigconv %v: exit %d: %s", args, code, stderr)
	}
	return n.Load()
}

// TestNoSyncCLI: --no-sync writes the same bytes without a single fsync,
// for a .npy and for a directory; it refuses --resume; an interrupted
// --no-sync run leaves nothing; a short default run fsyncs only at the
// end (no checkpoint), while --checkpoint SIZE still takes checkpoints.
func TestNoSyncCLI(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.bin")
	writeRamp(t, in, 16<<20)
	conv := []string{"convert", "--progress", "never", "--in-dtype", "<i8", "--shape", "-1,1024", "--dtype", "float32", "--block-size", "128KiB"}
	want, got := filepath.Join(dir, "want.npy"), filepath.Join(dir, "got.npy")

	// Default cadence: 8 MiB of output is far below 1 GiB: the commit's
	// fsyncs only (the file and its directory).
	if n := fsyncs(t, append(conv, in, want)...); n != 2 {
		t.Errorf("default run: %d fsyncs, want 2 (file and directory at commit)", n)
	}
	// An explicit byte interval keeps a journal: at least the checkpoint
	// before the rename (file, journal, directory) joins the commit's two;
	// how many more the background takes depends on scheduling.
	if n := fsyncs(t, append(conv, "--checkpoint", "1MiB", in, got)...); n < 5 {
		t.Errorf("--checkpoint 1MiB: %d fsyncs, want checkpoints as well", n)
	}
	sameBytes(t, got, want)
	os.Remove(got)
	// A time interval alone: this run is far shorter than an hour.
	if n := fsyncs(t, append(conv, "--checkpoint", "1h", in, got)...); n != 2 {
		t.Errorf("--checkpoint 1h: %d fsyncs, want 2", n)
	}
	sameBytes(t, got, want)
	os.Remove(got)
	if code, _, stderr := bigconv(t, append(conv, "--checkpoint", "soon", in, got)...); code != 2 || !strings.Contains(stderr, "--checkpoint") {
		t.Fatalf("--checkpoint soon: exit %d: %s", code, stderr)
	}
	if n := fsyncs(t, append(conv, "--no-sync", "--checkpoint", "1MiB", in, got)...); n != 0 {
		t.Errorf("--no-sync: %d fsyncs, want 0", n)
	}
	sameBytes(t, got, want)

	code, _, stderr := bigconv(t, append(conv, "--no-sync", "--resume", in, got)...)
	if code != 2 || !strings.Contains(stderr, "--no-sync") {
		t.Fatalf("--no-sync --resume: exit %d: %s", code, stderr)
	}

	// Interrupted: exit 130, nothing kept (no journal to resume from).
	runDir := filepath.Join(dir, "run")
	os.Mkdir(runDir, 0o755)
	code, log := stopChild(t, "block:50", syscall.SIGINT, append(conv, "--workers", "1", "--no-sync", "--checkpoint", "256KiB", in, filepath.Join(runDir, "out.npy"))...)
	if code != exitInterrupted || strings.Contains(log, "--resume") {
		t.Fatalf("interrupted --no-sync run: exit %d (want %d, no --resume hint):\n%s", code, exitInterrupted, log)
	}
	leftovers(t, runDir)

	// A directory of tensors.
	ramp := func(off int64, p []byte) {
		for i := 0; i+4 <= len(p); i += 4 {
			binary.LittleEndian.PutUint32(p[i:], math.Float32bits(float32(off/4+int64(i/4))))
		}
	}
	var ts []tfgen.BundleTensor
	for _, name := range []string{"a/kernel", "b/kernel"} {
		ts = append(ts, tfgen.BundleTensor{Name: name, DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{256, 1024}, Fill: ramp})
	}
	if err := tfgen.WriteBundle(dir, "ckpt", ts, tfgen.BundleOptions{}); err != nil {
		t.Fatal(err)
	}
	dconv := []string{"convert", "--progress", "never", "--checkpoint", "256KiB", filepath.Join(dir, "ckpt")}
	if n := fsyncs(t, append(dconv, filepath.Join(dir, "want_dir"))...); n == 0 {
		t.Errorf("directory run: no fsync")
	}
	if n := fsyncs(t, append(dconv, "--no-sync", filepath.Join(dir, "got_dir"))...); n != 0 {
		t.Errorf("directory run with --no-sync: %d fsyncs, want 0", n)
	}
	sameTree(t, filepath.Join(dir, "got_dir"), filepath.Join(dir, "want_dir"))
	leftovers(t, filepath.Join(dir, "got_dir"), "a", "b", "manifest.json")

	// A --stack of three raw files: the same promise (the stack once
	// fsynced and journaled regardless; so did a stream from stdin, whose
	// writer now gets NoSync the same way).
	sconv := []string{"convert", "--progress", "never", "--in-dtype", "<i8", "--shape", "-1,1024", "--dtype", "float32",
		"--block-size", "128KiB", "--checkpoint", "256KiB", "--stack", in, in, in}
	if n := fsyncs(t, append(sconv, filepath.Join(dir, "want_stack.npy"))...); n < 3 {
		t.Errorf("--stack with --checkpoint 256KiB: %d fsyncs, want checkpoints and the commit's", n)
	}
	if n := fsyncs(t, append(sconv, "--no-sync", filepath.Join(dir, "got_stack.npy"))...); n != 0 {
		t.Errorf("--stack --no-sync: %d fsyncs, want 0", n)
	}
	sameBytes(t, filepath.Join(dir, "got_stack.npy"), filepath.Join(dir, "want_stack.npy"))
	if code, _, stderr := bigconv(t, append(sconv, "--no-sync", "--resume", filepath.Join(dir, "x.npy"))...); code != 2 || !strings.Contains(stderr, "--no-sync") {
		t.Errorf("--stack --no-sync --resume: exit %d: %s", code, stderr)
	}
}
