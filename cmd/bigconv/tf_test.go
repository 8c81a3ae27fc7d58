package main

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/engine"
	"github.com/bigconv/bigconv/internal/numpytest"
	"github.com/bigconv/bigconv/internal/tfgen"
)

type manifest struct {
	Tensors []engine.ManifestEntry `json:"tensors"`
	Skipped []engine.SkippedTensor `json:"skipped"`
}

func readManifest(t *testing.T, dir string) manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestRealBundles converts every TensorFlow bundle of the shared real test
// data into a directory; NumPy opens every output, and the values the
// MANIFEST states are checked.
func TestRealBundles(t *testing.T) {
	src := numpytest.SharedDir(t)
	var idx []string
	filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".index") {
			idx = append(idx, p)
		}
		return nil
	})
	if len(idx) < 15 {
		t.Fatalf("only %d .index files", len(idx))
	}
	dir := t.TempDir()
	var outs []string
	values := map[string]float64{} // output file → expected scalar
	for i, p := range idx {
		out := filepath.Join(dir, "b"+string(rune('a'+i%26))+strings.Repeat("x", i/26))
		code, _, stderr := bigconv(t, "convert", "--progress", "never", p, out)
		if code != 0 {
			t.Errorf("%s: exit %d: %s", p, code, stderr)
			continue
		}
		m := readManifest(t, out)
		if len(m.Tensors) == 0 {
			t.Errorf("%s: no tensors converted", p)
		}
		for _, e := range m.Tensors {
			f := filepath.Join(out, filepath.FromSlash(e.File))
			outs = append(outs, f)
			if !strings.HasPrefix(e.DType, "|S") && !e.CRCChecked { // strings are checked when the bundle opens
				t.Errorf("%s: %s: crc not checked", p, e.Name)
			}
			switch {
			case strings.Contains(p, "saved_model_half_plus_two_2_versions/00000123") && e.Name == "a":
				values[f] = 0.5
			case strings.Contains(p, "saved_model_half_plus_two_2_versions/00000123") && e.Name == "c":
				values[f] = 3.0
			case strings.Contains(p, "half_plus_two_tf2_cpu") && e.Name == "b/.ATTRIBUTES/VARIABLE_VALUE":
				values[f] = 2.0
			case strings.Contains(p, "model.ckpt-10000") && e.Name == "global_step":
				values[f] = 10000
			case strings.Contains(p, "int64_multiply") && e.Name == "v1/.ATTRIBUTES/VARIABLE_VALUE":
				values[f] = 3
			}
		}
		if strings.Contains(p, "model.ckpt-10000") && len(m.Tensors) != 51 {
			t.Errorf("%s: %d tensors, MANIFEST says 51 entries", p, len(m.Tensors))
		}
	}
	if len(values) != 5 {
		t.Errorf("found %d of the 5 known values", len(values))
	}
	js, _ := json.Marshal(map[string]any{"outs": outs, "values": values})
	out := numpytest.Run(t, `
import json, sys, numpy as np
d = json.loads(sys.argv[1])
bad = []
for f in d["outs"]:
    try:
        np.load(f, mmap_mode="r")
    except Exception as e:
        bad.append("%s: %s" % (f, e))
for f, v in d["values"].items():
    a = np.load(f)
    if a.shape != () or a.item() != v:
        bad.append("%s: %r != %r" % (f, a, v))
print(json.dumps(bad))
`, string(js))
	var bad []string
	json.Unmarshal(out, &bad)
	for _, b := range bad {
		t.Error(b)
	}
}

// TestBundleChecksumError flips one byte of a data shard: the conversion
// fails naming the tensor, the shard file and the CRCs, and leaves nothing.
func TestBundleChecksumError(t *testing.T) {
	dir := t.TempDir()
	ones := func(off int64, p []byte) {
		for i := 0; i+4 <= len(p); i += 4 {
			binary.LittleEndian.PutUint32(p[i:], math.Float32bits(float32(off/4+int64(i/4))))
		}
	}
	err := tfgen.WriteBundle(dir, "ckpt", []tfgen.BundleTensor{
		{Name: "layer/kernel", DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{512, 1024}, Fill: ones},
	}, tfgen.BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	shard := filepath.Join(dir, "ckpt.data-00000-of-00001")
	b, _ := os.ReadFile(shard)
	b[1<<20] ^= 0x40
	os.WriteFile(shard, b, 0o644)
	for _, args := range [][]string{
		{filepath.Join(dir, "ckpt"), filepath.Join(dir, "out.npy")},
		{filepath.Join(dir, "ckpt"), filepath.Join(dir, "out.npy"), "--dtype", "float64"},
		{filepath.Join(dir, "ckpt.index"), filepath.Join(dir, "outdir"), "--tensor", "layer/*", "--tensor", "layer/kernel"},
	} {
		code, _, stderr := bigconv(t, append([]string{"convert", "--block-size", "256KiB"}, args...)...)
		if code != 1 || !strings.Contains(stderr, "layer/kernel") || !strings.Contains(stderr, "ckpt.data-00000-of-00001") ||
			!strings.Contains(stderr, "checksum") || !strings.Contains(stderr, "expected") {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
		for _, left := range []string{"out.npy", "outdir", ".out.npy.bigconv-partial", ".outdir.bigconv-partial"} {
			if _, err := os.Stat(filepath.Join(dir, left)); !os.IsNotExist(err) {
				t.Errorf("%v: %s left behind", args, left)
			}
		}
	}
	code, _, stderr := bigconv(t, "convert", "--no-verify", filepath.Join(dir, "ckpt"), filepath.Join(dir, "out.npy"))
	if code != 0 {
		t.Errorf("--no-verify: %s", stderr)
	}
}

// TestTFRecordStackCLI stacks serialized tensors from a TFRecord file, an
// uncompressed and a gzip one (the latter streamed), and checks with NumPy.
func TestTFRecordStackCLI(t *testing.T) {
	dir := t.TempDir()
	const n = 50
	shape := dtype.Shape{7, 9}
	fill := func(rec int, off int64, p []byte) {
		for i := 0; i+2 <= len(p); i += 2 {
			v := float32(rec*1000) + float32(off/2+int64(i/2))
			binary.LittleEndian.PutUint16(p[i:], uint16(math.Float32bits(v)>>16)) // bfloat16
		}
	}
	for _, comp := range []string{"", "gzip"} {
		path := filepath.Join(dir, "frames.tfrecord")
		if comp != "" {
			path += ".gz"
		}
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := tfgen.WriteTensorRecords(f, comp, n, dtype.Of(dtype.BFloat16), shape, fill); err != nil {
			t.Fatal(err)
		}
		f.Close()
		out := filepath.Join(dir, "frames"+comp+".npy")
		code, _, stderr := bigconv(t, "convert", path, out)
		if code != 0 {
			t.Fatalf("%s: %s", path, stderr)
		}
		numpytest.Run(t, `
import sys, numpy as np
a = np.load(sys.argv[1], mmap_mode="r")
assert a.shape == (50, 7, 9) and a.dtype == np.float32, (a.shape, a.dtype)
exp = (np.arange(50)[:, None] * 1000 + np.arange(63)[None, :]).astype(np.float32)
# bfloat16 truncation of the written values, widened exactly
exp = (exp.view(np.uint32) & 0xffff0000).view(np.float32).reshape(50, 7, 9)
assert np.array_equal(a, exp), "values differ"
`, out)
	}
}
