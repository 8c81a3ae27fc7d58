package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/internal/numpytest"
)

// TestRealSafetensorsCLI converts every safetensors sample of the shared
// real test data into a directory; NumPy checks each output against what
// MANIFEST.tsv says: range(-3, 3) cast to the tensor's type (unsigned
// types wrap), the tensor named by the type's NumPy code.
func TestRealSafetensorsCLI(t *testing.T) {
	src := filepath.Join(numpytest.SharedDir(t), "huggingface+safetensors", "samples")
	files, _ := filepath.Glob(filepath.Join(src, "*.safetensors"))
	if len(files) != 10 {
		t.Fatalf("%d sample files, MANIFEST lists 10", len(files))
	}
	dir := t.TempDir()
	outs := map[string]string{} // output .npy → type code
	for i, p := range files {
		code, stdout, stderr := bigconv(t, "inspect", "--json", p)
		if code != 0 || !strings.Contains(stdout, `"format": "safetensors"`) {
			t.Fatalf("inspect %s: exit %d: %s%s", p, code, stdout, stderr)
		}
		out := filepath.Join(dir, fmt.Sprint("s", i))
		code, _, stderr = bigconv(t, "convert", "--progress", "never", p, out)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", p, code, stderr)
		}
		m := readManifest(t, out)
		if len(m.Tensors) == 0 || len(m.Skipped) != 0 {
			t.Errorf("%s: manifest %+v", p, m)
		}
		for _, e := range m.Tensors {
			outs[filepath.Join(out, e.File)] = e.Name
		}
	}
	if len(outs) != 18 { // nine single-tensor files, nine tensors in overall
		t.Errorf("%d outputs", len(outs))
	}
	// One tensor to a .npy path.
	one := filepath.Join(dir, "one.npy")
	if code, _, stderr := bigconv(t, "convert", filepath.Join(src, "overall.safetensors"), one, "--tensor", "e", "--dtype", "float32"); code != 0 {
		t.Fatal(stderr)
	}
	outs[one] = "e32"
	js, _ := json.Marshal(outs)
	numpytest.Run(t, `
import json, sys, numpy as np
for f, code in json.loads(sys.argv[1]).items():
    a = np.load(f, mmap_mode="r")
    want = np.array(range(-3, 3)).astype(np.float32 if code == "e32" else np.dtype(code))
    assert a.dtype == want.dtype and a.shape == (6,), (f, a.dtype, a.shape)
    assert np.array_equal(a, want), (f, a, want)
`, string(js))
}

// TestRealNPZCLI converts every .npz of the shared real test data and
// has NumPy compare each output with np.load of the archive's member.
// Archives whose only member is an object array are refused; unicode
// members are skipped with the reason.
func TestRealNPZCLI(t *testing.T) {
	src := numpytest.SharedDir(t)
	var files []string
	filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".npz") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) < 11 {
		t.Fatalf("only %d .npz files", len(files))
	}
	dir := t.TempDir()
	type pair struct{ NPZ, Member, Out string }
	var pairs []pair
	for i, p := range files {
		out := filepath.Join(dir, fmt.Sprint("z", i))
		code, _, stderr := bigconv(t, "convert", "--progress", "never", p, out)
		if strings.Contains(p, "objarr") {
			if code != 1 || !strings.Contains(stderr, "pickle") || !strings.Contains(stderr, filepath.Base(p)) {
				t.Errorf("%s: exit %d: %s", p, code, stderr)
			}
			continue
		}
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", p, code, stderr)
		}
		m := readManifest(t, out)
		if strings.Contains(p, "py3-arr-savez") && (len(m.Skipped) != 1 || m.Skipped[0].Name != "foo" || !strings.Contains(m.Skipped[0].Reason, "unicode")) {
			t.Errorf("%s: skipped %+v", p, m.Skipped)
		}
		for _, e := range m.Tensors {
			pairs = append(pairs, pair{p, e.Name, filepath.Join(out, e.File)})
		}
	}
	if len(pairs) < 20 {
		t.Errorf("only %d members converted", len(pairs))
	}
	js, _ := json.Marshal(pairs)
	numpytest.Run(t, `
import json, sys, numpy as np
for p in json.loads(sys.argv[1]):
    want = np.load(p["NPZ"])[p["Member"]]
    got = np.load(p["Out"], mmap_mode="r")
    assert got.dtype == want.dtype.newbyteorder("<") or got.dtype == want.dtype, (p, got.dtype, want.dtype)
    assert got.shape == want.shape and np.array_equal(got, want), (p, got, want)
    assert got.flags.c_contiguous, p
`, string(js))
}

// TestNPZFromNumPyCLI has NumPy write .npz archives with np.savez and
// np.savez_compressed (big-endian, Fortran order, scalars, bool,
// complex, a member larger than npz.SmallMember, read as a stream), then
// converts them and has NumPy compare every output with the archive.
func TestNPZFromNumPyCLI(t *testing.T) {
	dir := t.TempDir()
	numpytest.Run(t, `
import sys, numpy as np
big = np.arange(700 * 600, dtype=">f4").reshape(700, 600) / 7
arrs = dict(
    c=np.arange(24, dtype="<i8").reshape(2, 3, 4),
    f=np.asfortranarray(np.arange(24, dtype=">f8").reshape(4, 6)),
    scalar=np.float32(2.5),
    flags=np.array([True, False, True]),
    z=np.array([1 + 2j, -3.5j], dtype=">c16"),
    empty=np.zeros((0, 5), dtype="<u2"),
    big=big,
)
np.savez(sys.argv[1] + "/plain.npz", **arrs)
np.savez_compressed(sys.argv[1] + "/packed.npz", **arrs)
np.savez_compressed(sys.argv[1] + "/packed_f.npz", bigf=np.asfortranarray(big), ok=np.arange(3))
`, dir)
	for _, name := range []string{"plain", "packed"} {
		in := filepath.Join(dir, name+".npz")
		code, stdout, stderr := bigconv(t, "inspect", in)
		if code != 0 || !strings.Contains(stdout, "npz, 7 tensor(s)") {
			t.Fatalf("inspect %s: %s%s", in, stdout, stderr)
		}
		if name == "packed" && !strings.Contains(stdout, "read=one pass") {
			t.Errorf("the big compressed member is not streamed:\n%s", stdout)
		}
		if code, _, stderr := bigconv(t, "convert", "--progress", "never", in, filepath.Join(dir, name)); code != 0 {
			t.Fatalf("%s: %s", in, stderr)
		}
		if m := readManifest(t, filepath.Join(dir, name)); len(m.Tensors) != 7 {
			t.Errorf("%s: %d tensors converted", name, len(m.Tensors))
		}
	}
	// A big compressed Fortran-order member is skipped with the way out;
	// asked for by name, it is refused.
	packedF := filepath.Join(dir, "packed_f.npz")
	if code, _, stderr := bigconv(t, "convert", "--progress", "never", packedF, filepath.Join(dir, "packed_f")); code != 0 || !strings.Contains(stderr, "unzip -p") {
		t.Errorf("packed_f: exit %d: %s", code, stderr)
	}
	m := readManifest(t, filepath.Join(dir, "packed_f"))
	if len(m.Tensors) != 1 || len(m.Skipped) != 1 || m.Skipped[0].Name != "bigf" {
		t.Errorf("packed_f: manifest %+v", m)
	}
	code, _, stderr := bigconv(t, "convert", packedF, filepath.Join(dir, "bigf.npy"), "--tensor", "bigf")
	if code != 1 || !strings.Contains(stderr, "Fortran order") || !strings.Contains(stderr, "packed_f.npz") {
		t.Errorf("bigf by name: exit %d: %s", code, stderr)
	}
	numpytest.Run(t, `
import sys, numpy as np
d = sys.argv[1]
for name in ("plain", "packed"):
    src = np.load(d + "/" + name + ".npz")
    for k in src.files:
        got = np.load(d + "/" + name + "/" + k + ".npy", mmap_mode="r")
        want = src[k]
        assert got.dtype == want.dtype.newbyteorder("<") or got.dtype == want.dtype, (name, k, got.dtype)
        assert got.dtype.byteorder in "<|=", (name, k, got.dtype)
        assert got.shape == want.shape and np.array_equal(got, want), (name, k)
        assert got.flags.c_contiguous, (name, k)
`, dir)
}

// TestSafetensorsDTypesCLI writes a safetensors file as the reference
// writer does (header padded to 8, data sorted by dtype) with the types
// NumPy lacks: BF16 and F8_E4M3 are widened to float32 exactly, C64 and
// BOOL kept, F8_E8M0 skipped with the reason.
func TestSafetensorsDTypesCLI(t *testing.T) {
	dir := t.TempDir()
	vals := []float32{1.5, -2.25, 0, 448}
	var data []byte
	hdr := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	put := func(name, dt string, shape []int, b []byte) {
		hdr[name] = map[string]any{"dtype": dt, "shape": shape, "data_offsets": []int{len(data), len(data) + len(b)}}
		data = append(data, b...)
	}
	var bf, c64 []byte
	for _, v := range vals {
		bf = binary.LittleEndian.AppendUint16(bf, uint16(math.Float32bits(v)>>16))
		c64 = binary.LittleEndian.AppendUint32(c64, math.Float32bits(v))
		c64 = binary.LittleEndian.AppendUint32(c64, math.Float32bits(-v))
	}
	put("bf16", "BF16", []int{2, 2}, bf)
	put("c64", "C64", []int{4}, c64)
	put("e4m3", "F8_E4M3", []int{4}, []byte{0x3c, 0xc1, 0x00, 0x7e}) // 1.5, -2.25, 0, 448
	put("mask", "BOOL", []int{4}, []byte{1, 0, 0, 1})
	put("scale", "F8_E8M0", []int{2}, []byte{127, 128})
	h, _ := json.Marshal(hdr)
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	file := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	file = append(append(file, h...), data...)
	in := filepath.Join(dir, "model.bin") // no extension: found by its magic
	if err := os.WriteFile(in, file, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := bigconv(t, "inspect", in)
	if code != 0 || !strings.Contains(stdout, "safetensors, 5 tensor(s)") || !strings.Contains(stdout, "F8_E8M0 has no NumPy") {
		t.Fatalf("inspect: exit %d\n%s%s", code, stdout, stderr)
	}
	out := filepath.Join(dir, "out")
	code, _, stderr = bigconv(t, "convert", "--progress", "never", in, out)
	if code != 0 || !strings.Contains(stderr, `skipping "scale"`) {
		t.Fatalf("convert: exit %d: %s", code, stderr)
	}
	if m := readManifest(t, out); len(m.Tensors) != 4 || len(m.Skipped) != 1 {
		t.Errorf("manifest %+v", m)
	}
	code, _, stderr = bigconv(t, "convert", in, filepath.Join(dir, "scale.npy"), "--tensor", "scale")
	if code != 1 || !strings.Contains(stderr, "F8_E8M0") || !strings.Contains(stderr, "model.bin") {
		t.Errorf("scale by name: exit %d: %s", code, stderr)
	}
	numpytest.Run(t, `
import sys, numpy as np
d = sys.argv[1]
v = np.array([1.5, -2.25, 0, 448], dtype=np.float32)
a = np.load(d + "/bf16.npy"); assert a.dtype == np.float32 and a.shape == (2, 2) and np.array_equal(a.ravel(), v), a
a = np.load(d + "/c64.npy"); assert a.dtype == np.complex64 and np.array_equal(a, v - 1j * v), a
a = np.load(d + "/e4m3.npy"); assert a.dtype == np.float32 and np.array_equal(a, v), a
a = np.load(d + "/mask.npy"); assert a.dtype == np.bool_ and a.tolist() == [True, False, False, True], a
`, out)
}
