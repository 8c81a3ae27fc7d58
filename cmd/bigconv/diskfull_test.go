package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bigconv/bigconv/internal/testdisk"
)

// TestDiskFullCLI converts 16 MiB into a 4 MiB tmpfs: the run must fail
// before writing data, say how many bytes were needed and are free, and
// leave nothing behind (no partial file, no journal). Mounting needs
// root; where it is not permitted the test skips, except in CI (which
// runs as root).
func TestDiskFullCLI(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.bin")
	writeRamp(t, in, 16<<20)
	mnt := testdisk.Small(t, "4m")
	for _, out := range []string{filepath.Join(mnt, "o.npy"), filepath.Join(mnt, "sub", "o.npy")} {
		os.MkdirAll(filepath.Dir(out), 0o755)
		code, _, stderr := bigconv(t, "convert", "--progress", "never", "--in-dtype", "<i8", "--checkpoint", "1MiB", in, out)
		if code != 1 || !strings.Contains(stderr, "not enough disk space") || !strings.Contains(stderr, "needs 16777344 bytes") ||
			!strings.Contains(stderr, "free") {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		leftovers(t, filepath.Dir(out))
		os.Remove(filepath.Join(mnt, "sub"))
	}
}

// TestReplaceCLI (issue 15): converting again to an OUTPUT that fits on
// the disk only once is refused up front with the figures measured before
// reserving (needed, free, the existing OUTPUT's size) and both ways out,
// leaving the old OUTPUT whole; --replace goes through, saying that the
// old output is removed first.
func TestReplaceCLI(t *testing.T) {
	in := filepath.Join(t.TempDir(), "in.bin")
	writeRamp(t, in, 4<<20)
	mnt := testdisk.Small(t, "6m")
	out := filepath.Join(mnt, "o.npy")
	args := []string{"convert", "--progress", "never", "--in-dtype", "<i8", in, out}
	if code, _, stderr := bigconv(t, args...); code != 0 {
		t.Fatalf("first conversion: exit %d: %s", code, stderr)
	}
	old, _ := os.ReadFile(out)
	free := testdisk.Free(t, mnt)
	code, _, stderr := bigconv(t, append([]string{"convert", "--dtype", "float64", "--casting", "unsafe"}, args[1:]...)...)
	for _, want := range []string{
		fmt.Sprintf("needs %d bytes", len(old)),
		fmt.Sprintf("%d bytes (%s) free before reserving", free, humanBytes(free)),
		fmt.Sprintf("the existing %s (%d bytes", out, len(old)),
		"needs room for both", "delete it first", "--replace",
	} {
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("exit %d, stderr %q lacks %q", code, stderr, want)
		}
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, old) {
		t.Fatal("the refused run changed the old OUTPUT")
	}
	leftovers(t, mnt, "o.npy")

	code, _, stderr = bigconv(t, append([]string{"convert", "--replace", "--dtype", "float64", "--casting", "unsafe"}, args[1:]...)...)
	if code != 0 || !strings.Contains(stderr, "--replace: the existing "+out) || !strings.Contains(stderr, "if this run fails, it is gone") {
		t.Fatalf("--replace: exit %d: %s", code, stderr)
	}
	got, _ := os.ReadFile(out)
	if len(got) != len(old) || bytes.Equal(got[128:], old[128:]) {
		t.Fatal("--replace did not write the float64 output")
	}
	leftovers(t, mnt, "o.npy")
}

// TestResumeOnFullDiskCLI (issue 15): a run killed halfway on a disk that
// then has less free space than the whole output resumes and completes:
// the partial file already holds its space.
func TestResumeOnFullDiskCLI(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.bin")
	writeRamp(t, in, 8<<20)
	mnt := testdisk.Small(t, "12m")
	out := filepath.Join(mnt, "o.npy")
	args := []string{"convert", "--progress", "never", "--workers", "1", "--in-dtype", "<i8", "--block-size", "256KiB", "--checkpoint", "256KiB", in, out}
	if code, log := stopChild(t, "block:10", syscall.SIGKILL, args...); code == 0 {
		t.Fatalf("child was not killed:\n%s", log)
	}
	if err := os.WriteFile(filepath.Join(mnt, "filler"), make([]byte, 3<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if free := testdisk.Free(t, mnt); free >= 8<<20 {
		t.Fatalf("setup: %d bytes free, want less than the 8 MiB output", free)
	}
	code, _, stderr := bigconv(t, append([]string{"convert", "--resume"}, args[1:]...)...)
	if code != 0 {
		t.Fatalf("resume on a nearly full disk: exit %d: %s", code, stderr)
	}
	want := filepath.Join(dir, "want.npy")
	if code, _, stderr := bigconv(t, "convert", "--progress", "never", "--in-dtype", "<i8", in, want); code != 0 {
		t.Fatal(stderr)
	}
	sameBytes(t, out, want)
	leftovers(t, mnt, "filler", "o.npy")
}

// humanBytes is mmapnpy's rendering of a byte count.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
