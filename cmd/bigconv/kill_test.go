package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/engine"
	"github.com/bigconv/bigconv/internal/testhook"
	"github.com/bigconv/bigconv/internal/tfgen"
	"github.com/bigconv/bigconv/mmapnpy"
)

// The kill tests run `bigconv convert` in a child process (this test
// binary, re-executed with BIGCONV_CHILD set) that stops at an exact
// point named by BIGCONV_STOP — "checkpoint:P" (after the first
// checkpoint at which the journal records at least P% of the blocks as
// durable; the workers go on converting meanwhile), "block:P" (a worker
// stops before reading the block at P% of the blocks: with one worker
// the conversion stops there), "commit" (just before the final rename)
// or "committed" (after the rename, before the journal is removed) — and
// prints "STOPPED" there. The parent then kills it (SIGKILL) or
// interrupts it (SIGINT) and checks that --resume completes the output
// byte for byte.

func TestMain(m *testing.M) {
	if os.Getenv("BIGCONV_CHILD") != "" {
		os.Exit(childMain())
	}
	os.Exit(m.Run())
}

func childMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	halt := func() {
		// on a line of its own, after any progress bar
		fmt.Fprintln(os.Stderr, "\nSTOPPED")
		select { // wait for the parent's signal
		case <-ctx.Done():
		case <-time.After(30 * time.Second):
		}
	}
	var pct int64
	switch where := os.Getenv("BIGCONV_STOP"); {
	case where == "commit":
		testhook.BeforeCommit = halt
	case where == "committed":
		testhook.AfterCommit = halt
	case strings.HasPrefix(where, "block:"):
		fmt.Sscan(strings.TrimPrefix(where, "block:"), &pct)
		var once sync.Once
		testhook.BeforeBlock = func(i, total int64) {
			if i*100 >= pct*total {
				once.Do(halt)
			}
		}
	case strings.HasPrefix(where, "checkpoint:"):
		fmt.Sscan(strings.TrimPrefix(where, "checkpoint:"), &pct)
		stopped := false
		reached := make(chan struct{})
		testhook.Checkpoint = func(done, total int64) {
			if !stopped && done*100 >= pct*total {
				stopped = true
				close(reached)
				halt()
			}
		}
		// Checkpoints run beside the workers: on a fast disk a small
		// run could finish before one records pct%. Workers wait before
		// the blocks past pct+25% until it has (or 20 s have passed).
		hold := min(pct+25, 99)
		testhook.BeforeBlock = func(i, total int64) {
			if i*100 >= hold*total {
				select {
				case <-reached:
				case <-time.After(20 * time.Second):
				}
			}
		}
	}
	args := os.Args[1:] // "-test.run=^$", "--", bigconv's arguments
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	return run(ctx, args, os.Stdin, os.Stdout, os.Stderr)
}

// stopChild starts a child converting with args, waits until it stops at
// where, sends sig, and returns its exit code and stderr.
func stopChild(t *testing.T, where string, sig syscall.Signal, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "BIGCONV_CHILD=1", "BIGCONV_STOP="+where)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	sc := bufio.NewScanner(stderr)
	stopped := false
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if sc.Text() == "STOPPED" {
			stopped = true
			cmd.Process.Signal(sig)
			break
		}
	}
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
	}
	cmd.Wait()
	if !stopped {
		t.Fatalf("child never reached %s:\n%s", where, log.String())
	}
	code := cmd.ProcessState.ExitCode()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = -int(ws.Signal())
	}
	return code, log.String()
}

func readAll(t *testing.T, root string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			rel, _ := filepath.Rel(root, p)
			files[rel] = b
		}
		return nil
	})
	return files
}

func sameTree(t *testing.T, got, want string) {
	t.Helper()
	g, w := readAll(t, got), readAll(t, want)
	if len(g) != len(w) {
		t.Fatalf("%s has %d files, %s has %d", got, len(g), want, len(w))
	}
	for name, b := range w {
		if !bytes.Equal(g[name], b) {
			t.Fatalf("%s differs from an uninterrupted run:\n%.400s\nwant\n%.400s", name, g[name], b)
		}
	}
}

func leftovers(t *testing.T, dir string, want ...string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("%s holds %v, want %v", dir, names, want)
	}
}

// TestKillAndResume kills a single-file conversion at several points and
// resumes it.
func TestKillAndResume(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.bin")
	writeRamp(t, in, 16<<20) // 2 Mi int64 → float32: 128 blocks of 64 KiB in
	conv := []string{"convert", "--progress", "never", "--in-dtype", "<i8", "--shape", "-1,1024", "--dtype", "float32",
		"--block-size", "128KiB", "--checkpoint", "256KiB"}
	wantDir := filepath.Join(dir, "want")
	os.Mkdir(wantDir, 0o755)
	if code, _, stderr := bigconv(t, append(conv, in, filepath.Join(wantDir, "out.npy"))...); code != 0 {
		t.Fatal(stderr)
	}
	for _, c := range []struct {
		where string
		sig   syscall.Signal
	}{
		{"checkpoint:0", syscall.SIGKILL},
		{"checkpoint:50", syscall.SIGKILL},
		{"commit", syscall.SIGKILL},
		{"committed", syscall.SIGKILL},
		{"block:50", syscall.SIGINT},
		{"block:10", syscall.SIGTERM},
	} {
		args := conv
		if strings.HasPrefix(c.where, "block:") {
			// One worker, so that the run cannot finish while it waits
			// for the signal; the resumed run uses the default workers.
			args = append(args[:len(args):len(args)], "--workers", "1")
		}
		if c.sig == syscall.SIGTERM {
			args = append(args[:len(args):len(args)], "--write", "mmap") // and the mapped path
		}
		t.Run(c.where+"/"+c.sig.String(), func(t *testing.T) {
			outDir := filepath.Join(dir, "run")
			os.RemoveAll(outDir)
			os.Mkdir(outDir, 0o755)
			out := filepath.Join(outDir, "out.npy")
			code, log := stopChild(t, c.where, c.sig, append(args, in, out)...)
			switch c.sig {
			case syscall.SIGKILL:
				if code != -int(syscall.SIGKILL) {
					t.Fatalf("exit %d:\n%s", code, log)
				}
			default:
				if code != exitInterrupted || !strings.Contains(log, "--resume") || !strings.Contains(log, "blocks of") {
					t.Fatalf("exit %d, want %d with a hint to --resume:\n%s", code, exitInterrupted, log)
				}
			}
			if c.where == "committed" {
				// The output is complete; the journal left beside it is
				// stale and the next run must not trip over it.
				leftovers(t, outDir, ".out.npy"+engine.JournalSuffix, "out.npy")
				sameTree(t, outDir, wantDir)
				if code, _, stderr := bigconv(t, append(conv, in, out)...); code != 0 {
					t.Fatalf("rerun after a stale journal: %s", stderr)
				}
				sameTree(t, outDir, wantDir)
				return
			}
			leftovers(t, outDir, ".out.npy"+engine.JournalSuffix, ".out.npy"+mmapnpy.PartialSuffix)
			// Without --resume the old run is reported, and kept.
			code, _, stderr := bigconv(t, append(conv, in, out)...)
			if code != 1 || !strings.Contains(stderr, "--resume") || !strings.Contains(stderr, "--restart") {
				t.Fatalf("rerun without --resume: exit %d: %s", code, stderr)
			}
			// Other settings refuse to resume.
			code, _, stderr = bigconv(t, append(append([]string{}, conv...), in, out, "--dtype", "float64", "--resume")...)
			if code != 1 || !strings.Contains(stderr, "<f8") || !strings.Contains(stderr, "--restart") {
				t.Fatalf("resume with another dtype: exit %d: %s", code, stderr)
			}
			code, _, stderr = bigconv(t, append(conv, in, out, "--resume")...)
			if code != 0 || !strings.Contains(stderr, "resumed after") {
				t.Fatalf("resume: exit %d: %s", code, stderr)
			}
			sameTree(t, outDir, wantDir)
		})
	}
}

// TestResumeRefusesChangedInput: an input modified after the
// interruption is not resumed from.
func TestResumeRefusesChangedInput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.bin")
	writeRamp(t, in, 4<<20)
	out := filepath.Join(dir, "out.npy")
	conv := []string{"convert", "--progress", "never", "--in-dtype", "<i8", "--block-size", "64KiB", "--checkpoint", "64KiB", in, out}
	if code, log := stopChild(t, "checkpoint:0", syscall.SIGKILL, conv...); code != -int(syscall.SIGKILL) {
		t.Fatalf("exit %d:\n%s", code, log)
	}
	f, err := os.OpenFile(in, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{0xff}, 100) // same size, new contents and mtime
	f.Close()
	os.Chtimes(in, time.Now(), time.Now().Add(time.Hour))
	code, _, stderr := bigconv(t, append(conv, "--resume")...)
	if code != 1 || !strings.Contains(stderr, "input changed") {
		t.Fatalf("resume after the input changed: exit %d: %s", code, stderr)
	}
	code, _, stderr = bigconv(t, append(conv, "--restart")...)
	if code != 0 {
		t.Fatalf("restart: %s", stderr)
	}
	leftovers(t, dir, "in.bin", "out.npy")
}

// TestKillAndResumeCheckpointDir kills a conversion of a checkpoint with
// several tensors into a directory, in its first and in a later tensor.
func TestKillAndResumeCheckpointDir(t *testing.T) {
	dir := t.TempDir()
	ramp := func(off int64, p []byte) {
		for i := 0; i+4 <= len(p); i += 4 {
			binary.LittleEndian.PutUint32(p[i:], math.Float32bits(float32(off/4+int64(i/4))))
		}
	}
	var ts []tfgen.BundleTensor
	for _, name := range []string{"a/kernel", "b/kernel", "c/kernel"} {
		ts = append(ts, tfgen.BundleTensor{Name: name, DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{1024, 1024}, Fill: ramp})
	}
	if err := tfgen.WriteBundle(dir, "ckpt", ts, tfgen.BundleOptions{}); err != nil {
		t.Fatal(err)
	}
	conv := []string{"convert", "--progress", "never", "--dtype", "float16", "--casting", "unsafe",
		"--block-size", "256KiB", "--checkpoint", "256KiB", filepath.Join(dir, "ckpt")}
	want := filepath.Join(dir, "want")
	if code, _, stderr := bigconv(t, append(conv, want)...); code != 0 {
		t.Fatal(stderr)
	}
	for _, where := range []string{"checkpoint:0", "checkpoint:50", "commit"} {
		t.Run(where, func(t *testing.T) {
			out := filepath.Join(dir, "out")
			os.RemoveAll(out)
			code, log := stopChild(t, where, syscall.SIGKILL, append(conv, out)...)
			if code != -int(syscall.SIGKILL) {
				t.Fatalf("exit %d:\n%s", code, log)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Fatalf("output directory exists after the kill")
			}
			code, _, stderr := bigconv(t, append(conv, out)...)
			if code != 1 || !strings.Contains(stderr, "--resume") {
				t.Fatalf("rerun without --resume: exit %d: %s", code, stderr)
			}
			code, _, stderr = bigconv(t, append(conv, out, "--resume")...)
			if code != 0 {
				t.Fatalf("resume: exit %d: %s", code, stderr)
			}
			sameTree(t, out, want)
			leftovers(t, dir, "ckpt.data-00000-of-00001", "ckpt.index", "out", "want")
		})
	}
}
