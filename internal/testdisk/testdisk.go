// Package testdisk gives tests a small file system to fill: a tmpfs of a
// given size, mounted for the test and unmounted after it.
package testdisk

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// Small mounts a tmpfs of size (e.g. "4m") for the test and returns its
// path. Mounting needs root: elsewhere the test skips, except in CI
// (which runs as root), where it fails.
func Small(t testing.TB, size string) string {
	t.Helper()
	mnt := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size="+size); err != nil {
		if os.Getenv("CI") != "" && os.Getenv("CI") != "false" {
			t.Fatalf("cannot mount tmpfs in CI: %v", err)
		}
		t.Skipf("cannot mount tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, 0) })
	return mnt
}

// Free is the space available to an unprivileged writer in dir, as
// mmapnpy measures it.
func Free(t testing.TB, dir string) int64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}
