package mmapnpz

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/numpytest"
)

// longScript checks an archive with a member past 4 GiB: testzip reads
// every byte and checks every CRC-32; the big member's local header
// carries the zip64 sizes; its data, mapped with np.memmap at the offset
// the zip headers give, holds the pattern in the blocks written and zeros
// in the others; the small members around it load with np.load.
const longScript = `
import struct, sys, zipfile
import numpy as np
out, block = sys.argv[1], int(sys.argv[2])
z = zipfile.ZipFile(out)
assert z.testzip() is None
assert z.namelist() == ["before.npy", "big.npy", "after.npy"], z.namelist()
zi = z.getinfo("big.npy")
with open(out, "rb") as f:
    f.seek(zi.header_offset)
    h = f.read(30)
    sig, ver, _, _, _, _, crc, csize, usize, n, e = struct.unpack("<IHHHHHIIIHH", h)
    assert sig == 0x04034b50 and ver == 45 and csize == usize == 0xffffffff, h
    f.read(n)
    extra = f.read(e)
    tag, ln, u64, c64 = struct.unpack("<HHQQ", extra[:20])
    assert tag == 1 and ln == 16 and u64 == c64 == zi.file_size, (tag, ln, u64, zi.file_size)
    v = np.lib.format.read_magic(f)
    shape, fo, dt = np.lib.format._read_array_header(f, v)
    off = f.tell()
a = np.memmap(out, dtype=dt, mode="r", offset=off, shape=shape)
assert off % 64 == 0 and a.nbytes >= 1 << 32, (off, a.nbytes)
for b in range(0, (a.size + block - 1) // block):
    for s in (b * block, min((b + 1) * block, a.size) - 1000):
        k = np.arange(s, s + 1000, dtype=np.int64)
        exp = ((k * 31 + 1 * 7 + 3) % 251).astype(np.uint8) if b % 2 == 0 else np.zeros(1000, np.uint8)
        assert (a[s:s + 1000] == exp).all(), (b, s)
with np.load(out) as f:
    for i, name in ((0, "before"), (2, "after")):
        x = f[name]
        k = np.arange(x.nbytes, dtype=np.int64)
        assert x.tobytes() == ((k * 31 + i * 7 + 3) % 251).astype(np.uint8).tobytes(), name
print("ok", zi.file_size, "byte member at", zi.header_offset, ", after.npy at", z.getinfo("after.npy").header_offset)
`

// TestLongMember writes a member past 4 GiB (every other 64 MiB block;
// the others stay zero and are read back for the CRC at Commit) and a
// member after it whose local header sits past 4 GiB. BIGCONV_LONG=1.
func TestLongMember(t *testing.T) {
	if os.Getenv("BIGCONV_LONG") != "1" {
		t.Skip("BIGCONV_LONG=1 runs the 4 GiB member test")
	}
	const block = 64 << 20
	members := []Member{
		{Name: "before", DType: dtype.MustParse("|u1"), Shape: dtype.Shape{1000}},
		{Name: "big", DType: dtype.MustParse("|u1"), Shape: dtype.Shape{4<<30 + 12345}},
		{Name: "after", DType: dtype.MustParse("|u1"), Shape: dtype.Shape{3000}},
	}
	out := filepath.Join(t.TempDir(), "long.npz")
	start := time.Now()
	w, err := Create(out, members, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for _, i := range []int{0, 2} {
		if err := w.Entry(i).WriteAt(memberBytes(i, members[i]), 0); err != nil {
			t.Fatal(err)
		}
	}
	src := make([]byte, block+251)
	pattern(1, src, 0, false)
	e := w.Entry(1)
	nb := (e.DataLen() + block - 1) / block
	for b := nb - 1; b >= 0; b-- { // backwards, even blocks only
		if b%2 != 0 {
			continue
		}
		off := b * block
		n := min(block, e.DataLen()-off)
		if err := e.WriteAt(src[off%251:off%251+n], off); err != nil {
			t.Fatal(err)
		}
	}
	wrote := time.Since(start)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(out)
	t.Logf("%d-byte archive: written in %v, committed (half the big member read back) in %v", st.Size(), wrote, time.Since(start)-wrote)
	res := strings.TrimSpace(string(numpytest.Run(t, longScript, out, "67108864")))
	if !strings.HasPrefix(res, "ok") {
		t.Fatal(res)
	}
	t.Log(res)
	goRead(t, out, members, 1) // archive/zip: zip64 fields and every CRC; our npz reader: the small members
}
