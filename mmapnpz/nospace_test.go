package mmapnpz

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/testdisk"
	"github.com/bigconv/bigconv/mmapnpy"
)

// TestDiskFull: an archive larger than a 4 MiB tmpfs fails in Create
// with mmapnpy's NoSpaceError (the whole archive's size, the free bytes),
// leaving no files. Mounting needs root: elsewhere the test skips, except
// in CI (which runs as root).
func TestDiskFull(t *testing.T) {
	dir := testdisk.Small(t, "4m")
	members := []Member{
		{Name: "a", DType: dtype.MustParse("<f8"), Shape: dtype.Shape{4 << 20}},
		{Name: "b", DType: dtype.MustParse("<f8"), Shape: dtype.Shape{4 << 20}},
	}
	_, err := Create(filepath.Join(dir, "big.npz"), members, Options{})
	var ns *mmapnpy.NoSpaceError
	if !errors.As(err, &ns) || !errors.Is(err, mmapnpy.ErrNoSpace) {
		t.Fatalf("err = %v, want a NoSpaceError", err)
	}
	if ns.Need <= 64<<20 || ns.Free <= 0 || ns.Free > 4<<20 {
		t.Errorf("figures: need %d, free %d", ns.Need, ns.Free)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}
