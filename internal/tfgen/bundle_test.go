package tfgen

import (
	"encoding/binary"
	"github.com/bigconv/bigconv/internal/tfproto"
	"os"
	"path/filepath"
	"testing"

	"github.com/bigconv/bigconv/dtype"
)

func TestWriteBundleFiles(t *testing.T) {
	dir := t.TempDir()
	ts := []BundleTensor{
		{Name: "a", DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{4}},
		{Name: "b", DType: dtype.Of(dtype.Int8), Shape: dtype.Shape{3}},
		{Name: "s", Shape: dtype.Shape{1}, Strings: [][]byte{[]byte("xy")}},
	}
	if err := WriteBundle(dir, "p", ts, BundleOptions{Shards: 2}); err != nil {
		t.Fatal(err)
	}
	idx, err := os.ReadFile(filepath.Join(dir, "p.index"))
	if err != nil {
		t.Fatal(err)
	}
	if len(idx) < 48 || binary.LittleEndian.Uint64(idx[len(idx)-8:]) != bundleTableMagic {
		t.Fatalf("index does not end in the table magic")
	}
	// a (16 bytes) and s (1 length byte + 4 crc + 2) in shard 0, b in shard 1.
	for i, want := range []int64{16 + 7, 3} {
		st, err := os.Stat(filepath.Join(dir, []string{"p.data-00000-of-00002", "p.data-00001-of-00002"}[i]))
		if err != nil || st.Size() != want {
			t.Errorf("shard %d: %v, %v; want %d bytes", i, st, err, want)
		}
	}
	if err := WriteBundle(dir, "dup", []BundleTensor{ts[0], ts[0]}, BundleOptions{}); err == nil {
		t.Error("duplicate names accepted")
	}
}

func TestBundleSliceKey(t *testing.T) {
	got := tfproto.SliceKey("w", []BundleExtent{{Start: 0, Length: -1}, {Start: 64, Length: 2}})
	want := "\x00w\x00\x01\x01\x02\x80\x7f\xc0\x40\x82"
	if got != want {
		t.Errorf("key %q, want %q", got, want)
	}
}
