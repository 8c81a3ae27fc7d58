package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/engine"
	"github.com/bigconv/bigconv/internal/numpytest"
	"github.com/bigconv/bigconv/internal/testdisk"
	"github.com/bigconv/bigconv/internal/testhook"
	"github.com/bigconv/bigconv/internal/tfgen"
	"github.com/bigconv/bigconv/internal/tfproto"
	"github.com/bigconv/bigconv/mmapnpy"
)

// judgeNPZ is the Python that checks an .npz output against the arrays a
// script gives: argv[1] the output, argv[2] a JSON object of
// {name: [dtype, source expression key]}; `want(name)` must be defined by
// the prefix script and return the expected array. It checks testzip,
// the member list (names + ".npy", stored), and every array's dtype,
// shape and values (NaNs equal), and prints "ok N".
const judgeNPZ = `
import sys, json, zipfile, numpy as np
out = sys.argv[1]
names = json.loads(sys.argv[2])
zf = zipfile.ZipFile(out)
assert zf.testzip() is None, "testzip: bad CRC in " + str(zf.testzip())
infos = zf.infolist()
assert [i.filename for i in infos] == [n + ".npy" for n in names], ([i.filename for i in infos], names)
assert all(i.compress_type == zipfile.ZIP_STORED for i in infos)
z = np.load(out)
assert list(z.files) == list(names), (z.files, names)
for n in names:
    got, exp = z[n], want(n)
    assert got.dtype == exp.dtype, (n, got.dtype, exp.dtype)
    assert got.shape == exp.shape, (n, got.shape, exp.shape)
    np.testing.assert_array_equal(got, exp, err_msg=n)
# mmap_mode: stored members can be read through a memory map of the file
print("ok", len(names))
`

// TestNPZOutputFromTFCheckpoint converts a TF checkpoint written with
// tfgen from arrays NumPy made into one .npz: NumPy compares every member
// with its source array; the string tensor is skipped with its reason,
// and every crc32c was verified.
func TestNPZOutputFromTFCheckpoint(t *testing.T) {
	numpytest.Require(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.Mkdir(src, 0o755)
	// NumPy makes the arrays (raw little-endian files and a list).
	list := numpytest.Run(t, `
import sys, json, numpy as np
rng = np.random.default_rng(7)
d = sys.argv[1]
arrs = {
  "dense/kernel": rng.standard_normal((300, 257)).astype("<f4"),
  "dense/bias": rng.standard_normal(257).astype("<f8"),
  "emb": rng.integers(-2**40, 2**40, (1000, 33), dtype="<i8"),
  "global_step": np.array(12345, dtype="<i8"),
  "half": rng.standard_normal((64, 3)).astype("<f2"),
  "mask": rng.integers(0, 2, (17, 5)).astype("?"),
  "small/int16": rng.integers(-30000, 30000, (4, 5, 6), dtype="<i2"),
  "u8": rng.integers(0, 256, 4099, dtype="u1"),
  "c64": (rng.standard_normal(10) + 1j * rng.standard_normal(10)).astype("<c8"),
  "empty": np.zeros((0, 4), "<f4"),
}
out = []
for i, (k, a) in enumerate(arrs.items()):
    a.tofile(f"{d}/{i}.bin")
    out.append({"name": k, "dtype": a.dtype.str, "shape": list(a.shape), "file": f"{d}/{i}.bin"})
print(json.dumps(out))
`, src)
	var arrs []struct {
		Name, DType, File string
		Shape             []int64
	}
	if err := json.Unmarshal(list, &arrs); err != nil {
		t.Fatal(err)
	}
	var ts []tfgen.BundleTensor
	var names []string
	for _, a := range arrs {
		b, err := os.ReadFile(a.File)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, tfgen.BundleTensor{Name: a.Name, DType: dtype.MustParse(a.DType), Shape: a.Shape,
			Fill: func(off int64, p []byte) { copy(p, b[off:]) }})
		names = append(names, a.Name)
	}
	ts = append(ts, tfgen.BundleTensor{Name: "vocab", Shape: dtype.Shape{2}, Strings: [][]byte{[]byte("a"), []byte("bc")}},
		tfgen.BundleTensor{Name: "handle", TFType: tfproto.DTResource, Shape: dtype.Shape{}})
	names = append(names, "vocab")
	if err := tfgen.WriteBundle(dir, "ckpt", ts, tfgen.BundleOptions{Shards: 2}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.npz")
	code, _, stderr := bigconv(t, "convert", "--progress", "never", "--block-size", "64KiB", "--workers", "3",
		filepath.Join(dir, "ckpt"), out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, `skipping "handle"`) || strings.Count(stderr, "crc32c verified") != len(arrs) {
		t.Errorf("stderr should skip the resource and verify %d checksums:\n%s", len(arrs), stderr)
	}
	// The members follow the checkpoint's order (its sorted keys).
	sort.Strings(names)
	nb, _ := json.Marshal(names)
	lb, _ := json.Marshal(arrs)
	res := numpytest.Run(t, `
import json, sys, numpy as np
arrs = {a["Name"]: a for a in json.loads(sys.argv[3])}
def want(n):
    if n == "vocab":
        return np.array([b"a", b"bc"])
    a = arrs[n]
    return np.fromfile(a["File"], dtype=a["DType"]).reshape(a["Shape"])
`+judgeNPZ, out, string(nb), string(lb))
	t.Logf("%s", res)
	leftovers(t, dir, "ckpt.data-00000-of-00002", "ckpt.data-00001-of-00002", "ckpt.index", "out.npz", "src")
}

// TestNPZOutputDTypeClasses converts an .npz input (and a safetensors
// file) to .npz with the same types, widened to float64, and narrowed to
// float16 with --casting unsafe; NumPy judges every member against
// np.load(in)[name].astype(dtype). The narrowing reports what it lost.
func TestNPZOutputDTypeClasses(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.npz")
	numpytest.Run(t, `
import sys, numpy as np
rng = np.random.default_rng(3)
np.savez(sys.argv[1], **{
  "w": rng.standard_normal((513, 129)).astype("<f4") * 1000,
  "layer/0/b": rng.standard_normal(77),
  "big": np.array([1e6, -1e6, 65504, 70000, 1e-9], "<f4"),
  "i": rng.integers(-2000, 2000, (50, 3), dtype="<i2"),
  "u": rng.integers(0, 256, 999, dtype="u1"),
  "fortran": np.asfortranarray(rng.standard_normal((40, 30)).astype("<f4")),
  "be": rng.standard_normal((9, 2)).astype(">f8"),
})
`, in)
	names := `["w", "layer/0/b", "big", "i", "u", "fortran", "be"]`
	for _, c := range []struct {
		name  string
		args  []string
		astyp string // Python: how the expected array is made from the input's
		lost  bool
	}{
		{"same", nil, "a.astype(a.dtype.newbyteorder('<'))", false},
		{"widen", []string{"--dtype", "float64"}, "a.astype('<f8')", false},
		{"narrow", []string{"--dtype", "float16", "--casting", "unsafe"}, "a.astype('<f2')", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, c.name+".npz")
			code, _, stderr := bigconv(t, append([]string{"convert", "--progress", "never", "--block-size", "16KiB", in, out}, c.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if got := strings.Contains(stderr, "changed values"); got != c.lost {
				t.Errorf("loss reported %v, want %v:\n%s", got, c.lost, stderr)
			}
			res := numpytest.Run(t, `
import sys, numpy as np
src = np.load(sys.argv[3])
def want(n):
    a = src[n]
    with np.errstate(over="ignore"):
        return `+c.astyp+`
`+judgeNPZ, out, names, in)
			t.Logf("%s", res)
		})
	}
	// Narrowing under --casting safe is refused before anything is
	// written.
	out := filepath.Join(dir, "refused.npz")
	code, _, stderr := bigconv(t, "convert", "--progress", "never", "--dtype", "float16", "--casting", "safe", in, out)
	if code != 1 || !strings.Contains(stderr, "casting") {
		t.Fatalf("narrowing under same_kind: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatal("refused conversion left", out)
	}
}

// TestNPZOutputFromSafetensors writes a safetensors file by hand (8
// bytes of header length, the JSON header, the data) from NumPy arrays,
// BF16 among them, and has NumPy compare the .npz members with the
// arrays (BF16 widened to float32 by shifting its bits).
func TestNPZOutputFromSafetensors(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "model.safetensors")
	lb := numpytest.Run(t, `
import sys, json, struct, numpy as np
rng = np.random.default_rng(11)
arrs = {
  "model.embed.weight": ("F32", rng.standard_normal((100, 64)).astype("<f4")),
  "model.norm.weight": ("F16", rng.standard_normal(64).astype("<f2")),
  "model.layers.0.bf16": ("BF16", rng.integers(0, 65536, (32, 8), dtype="<u2")),
  "ids": ("I64", rng.integers(-2**50, 2**50, 7, dtype="<i8")),
  "flags": ("BOOL", rng.integers(0, 2, 9).astype("?")),
  "bytes": ("U8", rng.integers(0, 256, 33, dtype="u1")),
}
hdr, data, off = {"__metadata__": {"format": "pt"}}, b"", 0
for k, (dt, a) in arrs.items():
    b = a.tobytes()
    hdr[k] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
    data += b; off += len(b)
h = json.dumps(hdr).encode()
h += b" " * (-len(h) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + data)
for k, (dt, a) in arrs.items():
    np.save(sys.argv[1] + "." + k + ".npy", a)
print(json.dumps([k for k in arrs]))
`, in)
	out := filepath.Join(dir, "out.npz")
	code, _, stderr := bigconv(t, "convert", "--progress", "never", in, out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	res := numpytest.Run(t, `
import sys, json, numpy as np
def want(n):
    a = np.load(sys.argv[3] + "." + n + ".npy")
    if n.endswith("bf16"):
        return (a.astype("<u4") << 16).view("<f4")
    return a
`+judgeNPZ, out, string(lb), in)
	t.Logf("%s", res)
}

// TestRowsCLI converts rows of C and Fortran .npy inputs to .npy, and of
// an .npz input to .npz and to a directory, and has NumPy compare each
// with a[start:stop]; the manifest records the rows.
func TestRowsCLI(t *testing.T) {
	dir := t.TempDir()
	numpytest.Run(t, `
import sys, numpy as np
d = sys.argv[1]
a = np.arange(37 * 6 * 5, dtype="<i4").reshape(37, 6, 5)
np.save(d + "/c.npy", a)
np.save(d + "/f.npy", np.asfortranarray(a))
np.save(d + "/f2.npy", np.asfortranarray(np.arange(37 * 70, dtype="<f8").reshape(37, 70)))
np.savez(d + "/in.npz", a=a, b=np.arange(10, dtype="<f4"), s=np.float32(2))
`, dir)
	cases := []string{"2:7", "-5:", ":-30", "30:100", "-100:3", "9:2", ":", "0:1"}
	var outs []string
	for _, in := range []string{"c", "f", "f2"} {
		for i, r := range cases {
			out := filepath.Join(dir, in+"-"+string(rune('a'+i))+".npy")
			args := []string{"convert", "--progress", "never", "--block-size", "4KiB", "--rows", r, filepath.Join(dir, in+".npy"), out}
			if in == "f2" {
				args = append(args, "--dtype", "float32", "--casting", "unsafe")
			}
			if code, _, stderr := bigconv(t, args...); code != 0 {
				t.Fatalf("%v: exit %d: %s", args, code, stderr)
			}
			outs = append(outs, in+".npy", r, out)
		}
	}
	numpytest.Run(t, `
import sys, numpy as np
d, rest = sys.argv[1], sys.argv[2:]
for i in range(0, len(rest), 3):
    src, r, out = rest[i:i+3]
    a = np.load(d + "/" + src)
    s, e = [int(x) if x else None for x in r.split(":")]
    exp = a[s:e]
    if src == "f2.npy":
        exp = exp.astype("<f4")
    got = np.load(out)
    assert got.dtype == exp.dtype and got.shape == exp.shape, (src, r, got.shape, exp.shape)
    np.testing.assert_array_equal(got, exp, err_msg=src + " " + r)
`, append([]string{dir}, outs...)...)

	// An archive and a directory: the scalar is skipped (it has no rows).
	for _, out := range []string{filepath.Join(dir, "rows.npz"), filepath.Join(dir, "rowsdir")} {
		code, _, stderr := bigconv(t, "convert", "--progress", "never", "--rows", "-4:", filepath.Join(dir, "in.npz"), out)
		if code != 0 || !strings.Contains(stderr, `skipping "s"`) {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	}
	numpytest.Run(t, `
import sys, json, numpy as np
d = sys.argv[1]
src, z = np.load(d + "/in.npz"), np.load(d + "/rows.npz")
assert z.files == ["a", "b"], z.files
for k in z.files:
    np.testing.assert_array_equal(z[k], src[k][-4:])
    np.testing.assert_array_equal(np.load(d + "/rowsdir/" + k + ".npy"), src[k][-4:])
`, dir)
	m := readManifest(t, filepath.Join(dir, "rowsdir"))
	if len(m.Tensors) != 2 || m.Tensors[0].Rows != "33:37 of 37" || m.Tensors[1].Rows != "6:10 of 10" {
		t.Errorf("manifest rows: %+v", m.Tensors)
	}
	// Bad ranges are usage errors; a scalar alone is an error.
	if code, _, stderr := bigconv(t, "convert", "--rows", "1:2:3", filepath.Join(dir, "c.npy"), filepath.Join(dir, "x.npy")); code != 2 || !strings.Contains(stderr, "--rows") {
		t.Errorf("--rows 1:2:3: exit %d: %s", code, stderr)
	}
	if code, _, stderr := bigconv(t, "convert", "--rows", "1:2", "--tensor", "s", filepath.Join(dir, "in.npz"), filepath.Join(dir, "x.npy")); code != 1 || !strings.Contains(stderr, "scalar") {
		t.Errorf("--rows of a scalar: exit %d: %s", code, stderr)
	}
}

// TestNPZOutputBroken: a damaged checkpoint (a flipped data byte: its
// crc32c fails), a shard cut short, and a disk too small for the archive
// each fail with a clear error and leave nothing: no archive, no partial
// file, no journal.
func TestNPZOutputBroken(t *testing.T) {
	dir := t.TempDir()
	ramp := func(off int64, p []byte) {
		for i := range p {
			p[i] = byte((off + int64(i)) * 7)
		}
	}
	mk := func(name string) string {
		d := filepath.Join(dir, name)
		os.Mkdir(d, 0o755)
		var ts []tfgen.BundleTensor
		for _, n := range []string{"a", "b", "c"} {
			ts = append(ts, tfgen.BundleTensor{Name: n, DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{512, 1024}, Fill: ramp})
		}
		if err := tfgen.WriteBundle(d, "ckpt", ts, tfgen.BundleOptions{}); err != nil {
			t.Fatal(err)
		}
		return d
	}
	shard := func(d string) string { return filepath.Join(d, "ckpt.data-00000-of-00001") }

	flipped := mk("flipped")
	f, _ := os.OpenFile(shard(flipped), os.O_RDWR, 0)
	f.WriteAt([]byte{0x55}, 2<<20+12345) // inside "b"
	f.Close()
	short := mk("short")
	for _, c := range []struct {
		name, in string
		want     []string
	}{
		{"crc", flipped, []string{`"b"`, "crc32c", "damaged"}},
		// the shard is cut short while the run reads it
		{"short", short, []string{shard(short), `"c"`, "offset"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.in == short {
				var once sync.Once
				testhook.BeforeBlock = func(i, total int64) {
					if i*2 >= total {
						once.Do(func() {
							if err := os.Truncate(shard(short), 5<<20); err != nil {
								t.Error(err)
							}
						})
					}
				}
				defer func() { testhook.BeforeBlock = nil }()
			}
			outDir := filepath.Join(dir, "out-"+c.name)
			os.Mkdir(outDir, 0o755)
			out := filepath.Join(outDir, "o.npz")
			code, _, stderr := bigconv(t, "convert", "--progress", "never", "--checkpoint", "1MiB", "--block-size", "256KiB",
				filepath.Join(c.in, "ckpt"), out)
			if code != 1 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not mention %s", stderr, w)
				}
			}
			t.Logf("%s", strings.TrimSpace(stderr))
			leftovers(t, outDir)
		})
	}
	t.Run("diskfull", func(t *testing.T) {
		mnt := testdisk.Small(t, "4m")
		out := filepath.Join(mnt, "o.npz")
		code, _, stderr := bigconv(t, "convert", "--progress", "never", filepath.Join(mk("fine"), "ckpt"), out)
		if code != 1 || !strings.Contains(stderr, "not enough disk space") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		leftovers(t, mnt)
	})
}

// TestNPZKillAndResume kills a conversion of a checkpoint into an .npz at
// several points (SIGKILL; SIGINT with one worker) and resumes it: the
// archive is byte for byte the one an uninterrupted run writes (member
// times fixed by SOURCE_DATE_EPOCH); a rerun without --resume is
// refused, as is a resume with another --dtype or another --rows, each
// named.
func TestNPZKillAndResume(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	dir := t.TempDir()
	ramp := func(off int64, p []byte) {
		for i := range p {
			p[i] = byte((off+int64(i))*13 + (off+int64(i))>>9)
		}
	}
	var ts []tfgen.BundleTensor
	for i, name := range []string{"a/kernel", "b/bias", "c/kernel", "d"} {
		ts = append(ts, tfgen.BundleTensor{Name: name, DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{int64(256 * (i + 1)), 1024}, Fill: ramp})
	}
	if err := tfgen.WriteBundle(dir, "ckpt", ts, tfgen.BundleOptions{}); err != nil {
		t.Fatal(err)
	}
	conv := []string{"convert", "--progress", "never", "--dtype", "float16", "--casting", "unsafe",
		"--block-size", "256KiB", "--checkpoint", "512KiB", filepath.Join(dir, "ckpt")}
	want := filepath.Join(dir, "want.npz")
	if code, _, stderr := bigconv(t, append(conv, want)...); code != 0 {
		t.Fatal(stderr)
	}
	wantB, _ := os.ReadFile(want)
	for _, c := range []struct {
		where string
		sig   syscall.Signal
	}{
		{"checkpoint:0", syscall.SIGKILL},
		{"checkpoint:60", syscall.SIGKILL},
		{"commit", syscall.SIGKILL},
		{"committed", syscall.SIGKILL},
		{"block:40", syscall.SIGINT},
	} {
		t.Run(c.where, func(t *testing.T) {
			outDir := filepath.Join(dir, "run")
			os.RemoveAll(outDir)
			os.Mkdir(outDir, 0o755)
			out := filepath.Join(outDir, "out.npz")
			args := conv
			if c.sig == syscall.SIGINT {
				args = append(args[:len(args):len(args)], "--workers", "1", "--write", "mmap")
			}
			code, log := stopChild(t, c.where, c.sig, append(args, out)...)
			switch {
			case c.sig == syscall.SIGKILL && code != -int(syscall.SIGKILL):
				t.Fatalf("exit %d:\n%s", code, log)
			case c.sig == syscall.SIGINT && (code != exitInterrupted || !strings.Contains(log, "--resume")):
				t.Fatalf("exit %d, want %d with a hint to --resume:\n%s", code, exitInterrupted, log)
			}
			same := func() {
				t.Helper()
				b, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				if string(b) != string(wantB) {
					t.Fatalf("%s (%d bytes) differs from an uninterrupted run's (%d bytes)", out, len(b), len(wantB))
				}
			}
			if c.where == "committed" {
				leftovers(t, outDir, ".out.npz"+engine.JournalSuffix, "out.npz")
				same()
				if code, _, stderr := bigconv(t, append(conv, out)...); code != 0 {
					t.Fatalf("rerun after a stale journal: %s", stderr)
				}
				same()
				return
			}
			leftovers(t, outDir, ".out.npz"+engine.JournalSuffix, ".out.npz"+mmapnpy.PartialSuffix)
			code, _, stderr := bigconv(t, append(conv, out)...)
			if code != 1 || !strings.Contains(stderr, "--resume") || !strings.Contains(stderr, "--restart") {
				t.Fatalf("rerun without --resume: exit %d: %s", code, stderr)
			}
			code, _, stderr = bigconv(t, append(append([]string{}, conv...), out, "--dtype", "float32", "--resume")...)
			if code != 1 || !strings.Contains(stderr, "dtype=<f4") || !strings.Contains(stderr, "dtype=<f2") {
				t.Fatalf("resume with another dtype: exit %d: %s", code, stderr)
			}
			code, _, stderr = bigconv(t, append(append([]string{}, conv...), out, "--rows", "2:", "--resume")...)
			if code != 1 || !strings.Contains(stderr, "rows=2:") {
				t.Fatalf("resume with other rows: exit %d: %s", code, stderr)
			}
			code, _, stderr = bigconv(t, append(conv, out, "--resume")...)
			if code != 0 {
				t.Fatalf("resume: exit %d: %s", code, stderr)
			}
			t.Logf("%s", strings.TrimSpace(stderr))
			same()
			leftovers(t, outDir, "out.npz")
		})
	}
	numpytest.Run(t, `
import sys, zipfile, numpy as np
assert zipfile.ZipFile(sys.argv[1]).testzip() is None
z = np.load(sys.argv[1])
assert z.files == ["a/kernel", "b/bias", "c/kernel", "d"], z.files
assert z["d"].shape == (1024, 1024) and z["d"].dtype == np.float16
`, want)
}

// TestRealFilesToNPZ converts every real .npz and .safetensors file of
// the shared test data to an .npz. NumPy judges each output: every
// member of an .npz input that np.load gives without pickle (and that
// is not a unicode string array, which bigconv skips) is in the output with the same values (in native byte order); a safetensors
// file's tensors, read by Python from its header and data, likewise.
// Inputs of nothing but object arrays must fail and leave nothing.
func TestRealFilesToNPZ(t *testing.T) {
	src := numpytest.SharedDir(t)
	var files []string
	filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".npz") || strings.HasSuffix(p, ".safetensors")) {
			files = append(files, p)
		}
		return nil
	})
	if len(files) < 15 {
		t.Fatalf("only %d .npz/.safetensors files under %s", len(files), src)
	}
	dir := t.TempDir()
	var pairs []string
	for i, p := range files {
		out := filepath.Join(dir, fmt.Sprintf("%02d.npz", i))
		code, _, stderr := bigconv(t, "convert", "--progress", "never", p, out)
		if code != 0 {
			if !strings.Contains(p, "objarr") {
				t.Errorf("%s: exit %d: %s", p, code, stderr)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("%s: failed but left %s", p, out)
			}
			continue
		}
		pairs = append(pairs, p, out)
	}
	res := numpytest.Run(t, `
import sys, json, struct, zipfile, numpy as np
ST = {"U8": "u1", "I8": "i1", "U16": "<u2", "I16": "<i2", "U32": "<u4", "I32": "<i4", "U64": "<u8", "I64": "<i8",
      "F16": "<f2", "F32": "<f4", "F64": "<f8", "BOOL": "?"}
def safetensors(path):
    b = open(path, "rb").read()
    n, = struct.unpack("<Q", b[:8])
    hdr = json.loads(b[8:8+n])
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        out[k] = np.frombuffer(b[8+n+s:8+n+e], dtype=ST[v["dtype"]]).reshape(v["shape"])
    return out
checked = 0
args = sys.argv[1:]
for i in range(0, len(args), 2):
    src, out = args[i], args[i+1]
    assert zipfile.ZipFile(out).testzip() is None, out
    z = np.load(out)
    if src.endswith(".safetensors"):
        want = safetensors(src)
    else:
        want = {}
        with np.load(src) as s:
            for k in s.files:
                try:
                    a = s[k]
                except ValueError:  # object arrays need pickle
                    continue
                if a.dtype.kind != "U":  # bigconv refuses unicode strings (the reader's rule)
                    want[k] = a
    assert sorted(z.files) == sorted(want), (src, z.files, list(want))
    for k, a in want.items():
        g = z[k]
        assert g.dtype == a.dtype.newbyteorder("="), (src, k, g.dtype, a.dtype)
        np.testing.assert_array_equal(g, a, err_msg=src + " " + k)
        checked += 1
print("members checked:", checked, "files:", len(args) // 2)
`, pairs...)
	t.Logf("%s", res)
}

// TestNPZOutputFromStreams: one-pass inputs of known shape go into an
// archive too — the big members of an np.savez_compressed file (inflated
// once, in order, their zip CRC checked at their end) and a .npy read
// from a pipe — and NumPy judges the members; a compressed member cut
// short fails and leaves nothing.
func TestNPZOutputFromStreams(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.npz")
	numpytest.Run(t, `
import sys, numpy as np
rng = np.random.default_rng(5)
np.savez_compressed(sys.argv[1], big=rng.standard_normal((1500, 300)).astype("<f4"),
    ints=rng.integers(0, 1000, 600000, dtype="<i4"), small=np.arange(10, dtype="<f8"))
np.save(sys.argv[1] + ".pipe.npy", rng.standard_normal((700, 500)))
`, in)
	out := filepath.Join(dir, "out.npz")
	code, _, stderr := bigconv(t, "convert", "--progress", "never", "--block-size", "256KiB", "--dtype", "float64", in, out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	res := numpytest.Run(t, `
import sys, numpy as np
src = np.load(sys.argv[3])
def want(n):
    return src[n].astype("<f8")
`+judgeNPZ, out, `["big", "ints", "small"]`, in)
	t.Logf("%s", res)

	pipe, err := os.Open(in + ".pipe.npy")
	if err != nil {
		t.Fatal(err)
	}
	defer pipe.Close()
	var so, se strings.Builder
	out2 := filepath.Join(dir, "pipe.npz")
	if code := run(context.Background(), []string{"convert", "--progress", "never", "--rows", "100:-100", "-", out2}, pipe, &so, &se); code != 0 {
		t.Fatalf("from a pipe: exit %d: %s", code, se.String())
	}
	res = numpytest.Run(t, `
import sys, numpy as np
def want(n):
    return np.load(sys.argv[3])[100:-100]
`+judgeNPZ, out2, `["arr_0"]`, in+".pipe.npy")
	t.Logf("%s", res)

	// A compressed member whose deflate data is damaged: the zip CRC (or
	// inflate) fails at the member's end, nothing is left.
	b, _ := os.ReadFile(in)
	bad := filepath.Join(dir, "bad.npz")
	mid := len(b) / 3
	for i := mid; i < mid+64; i++ {
		b[i] ^= 0x5a
	}
	os.WriteFile(bad, b, 0o644)
	badOut := filepath.Join(dir, "badout")
	os.Mkdir(badOut, 0o755)
	code, _, stderr = bigconv(t, "convert", "--progress", "never", bad, filepath.Join(badOut, "o.npz"))
	if code != 1 || !strings.Contains(stderr, "bad.npz") {
		t.Fatalf("damaged member: exit %d: %s", code, stderr)
	}
	t.Logf("%s", strings.TrimSpace(stderr))
	leftovers(t, badOut)
}

// TestNPZOutputParts: one tensor (a raw file) to an .npz with --part is
// an archive of one member, not a .npy under that name: two parts give
// the one-process archive's bytes (same SOURCE_DATE_EPOCH), nothing left
// beside it. (It used to be refused.)
func TestNPZOutputParts(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.bin")
	writeRamp(t, in, 1<<20)
	t.Setenv("SOURCE_DATE_EPOCH", "1600000000")
	want := filepath.Join(dir, "want.npz")
	if code, _, stderr := bigconv(t, "convert", "--progress", "never", "--in-dtype", "<i8", in, want); code != 0 {
		t.Fatal(stderr)
	}
	out := filepath.Join(dir, "out", "o.npz")
	os.MkdirAll(filepath.Dir(out), 0o755)
	for _, i := range []string{"1/2", "0/2"} {
		if code, _, stderr := bigconv(t, "convert", "--progress", "never", "--in-dtype", "<i8", "--part", i, in, out); code != 0 {
			t.Fatalf("part %s: exit %d: %s", i, code, stderr)
		}
	}
	sameBytes(t, out, want)
	leftovers(t, filepath.Dir(out), "o.npz")
}
