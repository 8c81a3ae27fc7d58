package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
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
	mnt := filepath.Join(dir, "small")
	os.Mkdir(mnt, 0o755)
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=4m"); err != nil {
		if os.Getenv("CI") != "" && os.Getenv("CI") != "false" {
			t.Fatalf("cannot mount tmpfs in CI: %v", err)
		}
		t.Skipf("cannot mount tmpfs (needs root): %v", err)
	}
	defer unix.Unmount(mnt, 0)
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
