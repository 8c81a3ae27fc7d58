package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/bigconv/bigconv/engine"
	"github.com/bigconv/bigconv/internal/numpytest"
)

// TestConvertArchiveZip64 (BIGCONV_LONG=1) converts an input with a
// tensor of 4.25 GiB between two small ones into an .npz: Python's
// zipfile reads every byte (testzip: every CRC-32 right), np.load gives
// the small members, and the big member's data, mapped at the offset the
// zip headers give, holds the input's bytes at its start, middle and end.
func TestConvertArchiveZip64(t *testing.T) {
	if os.Getenv("BIGCONV_LONG") != "1" {
		t.Skip("writes 4.25 GiB; set BIGCONV_LONG=1")
	}
	numpytest.Require(t)
	in := patternInput(3, 4)
	rows := int64(17 << 18) // 4.25 GiB of [rows, 256] float32
	big := patternInput(2, rows).Tensors[1]
	big.Name = "big"
	in.Tensors[1] = big
	out := filepath.Join(t.TempDir(), "big.npz")
	if _, err := engine.ConvertArchive(context.Background(), in, out, engine.InputOptions{}); err != nil {
		t.Fatal(err)
	}
	res := numpytest.Run(t, `
import sys, zipfile, numpy as np
out, rows = sys.argv[1], int(sys.argv[2])
z = zipfile.ZipFile(out)
assert z.testzip() is None
assert z.namelist() == ["layer000/w.npy", "big.npy", "layer002/w.npy"], z.namelist()
zi = z.getinfo("big.npy")
assert zi.file_size > 1 << 32 and zi.compress_type == zipfile.ZIP_STORED
with z.open("big.npy") as f:
    v = np.lib.format.read_magic(f)
    shape, fo, dt = np.lib.format._read_array_header(f, v)
    hlen = f.tell()
assert shape == (rows, 256) and dt == np.dtype("<f4"), (shape, dt)
with open(out, "rb") as f:  # the member's data offset, from its local header
    f.seek(zi.header_offset + 26)
    n, e = np.frombuffer(f.read(4), "<u2")
off = zi.header_offset + 30 + int(n) + int(e) + hlen
data = np.memmap(out, dtype="u1", mode="r", offset=off, shape=(rows * 1024,))
def pattern(start, count, seed):
    x = np.arange(start, start + count, dtype=np.int64)
    return ((x >> 2) ^ (x >> 11) ^ seed).astype("u1")
size = rows * 1024
for start in (0, size // 2 - 12345, size - (1 << 20)):
    assert np.array_equal(data[start:start + (1 << 20)], pattern(start, 1 << 20, 1)), start
for name, seed in (("layer000/w", 0), ("layer002/w", 2)):
    a = np.load(out)[name]
    assert np.array_equal(a.view("u1").ravel(), pattern(0, 4096, seed)), name
print("ok", zi.file_size)
`, out, "4456448")
	t.Logf("%s", res)
}
