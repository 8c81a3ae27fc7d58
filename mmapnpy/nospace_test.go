package mmapnpy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/testdisk"
)

// TestDiskFull mounts a 4 MiB tmpfs and asks for a 64 MiB output: Create
// must fail up front with the needed and free bytes, leaving no files.
// Mounting needs root; where it is not permitted the test skips, except in
// CI (which runs as root).
func TestDiskFull(t *testing.T) {
	dir := testdisk.Small(t, "4m")
	out := filepath.Join(dir, "big.npy")
	_, err := Create(out, dtype.MustParse("<f8"), dtype.Shape{8 << 20}, Options{})
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("err = %v, want ErrNoSpace", err)
	}
	if !strings.Contains(err.Error(), "needs 67108992 bytes") || !strings.Contains(err.Error(), "free") {
		t.Errorf("message does not give needed/free bytes: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}
