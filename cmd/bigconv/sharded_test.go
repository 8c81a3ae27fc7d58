package main

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/internal/numpytest"
)

// writeShardedModel has Python write a sharded safetensors model by hand
// (8 bytes of header length, the JSON header, the data) — a tensor per
// dtype, BF16 among them, over three shards — and its index.
func writeShardedModel(t *testing.T, dir string) {
	numpytest.Run(t, `
import sys, os, json, struct, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(7)
def bf16(a):  # float32 → bfloat16 bits (truncated)
    return (np.asarray(a, np.float32).view(np.uint32) >> 16).astype(np.uint16)
tensors = [
  ("emb.weight", "F32", rng.standard_normal((40, 8)).astype(np.float32)),
  ("emb.half", "F16", rng.standard_normal((5, 3)).astype(np.float16)),
  ("enc.0.w", "BF16", bf16(rng.standard_normal((7, 4)))),
  ("enc.0.b", "F64", rng.standard_normal(4)),
  ("enc.1.i8", "I8", rng.integers(-128, 127, 10, dtype=np.int8)),
  ("enc.1.u8", "U8", rng.integers(0, 255, 10, dtype=np.uint8)),
  ("enc.1.i16", "I16", rng.integers(-1000, 1000, (2, 3), dtype=np.int16)),
  ("enc.1.i32", "I32", rng.integers(-10**6, 10**6, 5, dtype=np.int32)),
  ("enc.1.i64", "I64", rng.integers(-10**12, 10**12, 5, dtype=np.int64)),
  ("enc.1.bool", "BOOL", rng.integers(0, 2, 6).astype(np.bool_)),
  ("head.scalar", "F32", np.array(3.5, np.float32)),
  ("head.empty", "F32", np.zeros((0, 4), np.float32)),
]
shards = [tensors[0:3], tensors[3:9], tensors[9:]]
wm = {}
for k, group in enumerate(shards):
    name = "model-%05d-of-%05d.safetensors" % (k + 1, len(shards))
    hdr, off, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for n, dt, a in group:
        b = np.ascontiguousarray(a).tobytes()
        hdr[n] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b); blobs.append(b); wm[n] = name
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    with open(os.path.join(d, name), "wb") as f:
        f.write(struct.pack("<Q", len(h))); f.write(h); f.write(b"".join(blobs))
json.dump({"metadata": {"total_size": 0}, "weight_map": wm}, open(os.path.join(d, "model.safetensors.index.json"), "w"))
`, dir)
}

// checkShardedOutput has Python read every shard itself and compare each
// tensor with bigconv's .npy (BF16 widened to float32).
func checkShardedOutput(t *testing.T, model, out string) {
	numpytest.Run(t, `
import sys, os, json, struct, numpy as np
model, out = sys.argv[1], sys.argv[2]
idx = json.load(open(os.path.join(model, "model.safetensors.index.json")))
m = {e["name"]: e for e in json.load(open(os.path.join(out, "manifest.json")))["tensors"]}
types = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I8": "|i1", "U8": "|u1", "I16": "<i2", "I32": "<i4", "I64": "<i8", "BOOL": "|b1", "BF16": "<u2",
         "U16": "<u2", "U32": "<u4", "U64": "<u8"}
n = 0
for shard in sorted(set(idx["weight_map"].values())):
    raw = open(os.path.join(model, shard), "rb").read()
    hl = struct.unpack("<Q", raw[:8])[0]
    hdr = json.loads(raw[8:8 + hl])
    for name, e in hdr.items():
        if name == "__metadata__" or name not in idx["weight_map"]:
            continue
        a, b = e["data_offsets"]
        want = np.frombuffer(raw[8 + hl + a:8 + hl + b], dtype=types[e["dtype"]]).reshape(e["shape"])
        if e["dtype"] == "BF16":
            want = (want.astype(np.uint32) << 16).view(np.float32)
        got = np.load(os.path.join(out, m[name]["file"]))
        assert got.dtype == want.dtype.newbyteorder("<") or got.dtype == want.dtype, (name, got.dtype, want.dtype)
        assert got.shape == want.shape and np.array_equal(got, want), name
        n += 1
assert n == len(idx["weight_map"]) == len(m), (n, len(m))
print(n)
`, model, out)
}

// TestShardedSafetensorsCLI (issue 16): a sharded safetensors model —
// its index, or the directory holding it — is one input; inspect names
// each tensor's shard; --tensor selects; broken indexes are refused
// naming the file, leaving nothing.
func TestShardedSafetensorsCLI(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "model")
	os.Mkdir(model, 0o755)
	writeShardedModel(t, model)
	idx := filepath.Join(model, "model.safetensors.index.json")
	code, stdout, _ := bigconv(t, "inspect", model)
	if code != 0 || !strings.Contains(stdout, "shard=model-00002-of-00003.safetensors") || !strings.Contains(stdout, "enc.0.w") {
		t.Fatalf("inspect: exit %d\n%s", code, stdout)
	}
	for i, in := range []string{idx, model} {
		out := filepath.Join(dir, "out"+string(rune('a'+i)))
		if code, _, stderr := bigconv(t, "convert", "--progress", "never", in, out); code != 0 {
			t.Fatalf("convert %s: %s", in, stderr)
		}
		checkShardedOutput(t, model, out)
	}
	sel := filepath.Join(dir, "sel")
	if code, _, stderr := bigconv(t, "convert", "--progress", "never", "--tensor", "enc.1.*", idx, sel); code != 0 {
		t.Fatal(stderr)
	}
	var m struct{ Tensors []struct{ Name string } }
	b, _ := os.ReadFile(filepath.Join(sel, "manifest.json"))
	json.Unmarshal(b, &m)
	if len(m.Tensors) != 6 {
		t.Fatalf("--tensor enc.1.* selected %d tensors", len(m.Tensors))
	}

	// broken: a missing shard, a name the index maps to the wrong shard, a
	// tensor in two shards; each error names the index file and what is
	// wrong
	dupShards := func(bad string, wm map[string]string) {
		// two more shards, both holding "dup"; the index maps it to the first
		writeSafetensors(t, filepath.Join(bad, "model-00001-of-00002.safetensors"), "dup")
		writeSafetensors(t, filepath.Join(bad, "model-00002-of-00002.safetensors"), "dup", "other")
		wm["dup"] = "model-00001-of-00002.safetensors"
		wm["other"] = "model-00002-of-00002.safetensors"
	}
	for _, c := range []struct {
		name string
		edit func(bad string, wm map[string]string)
		want string
	}{
		{"missing shard", func(_ string, wm map[string]string) { wm["emb.weight"] = "model-00009-of-00009.safetensors" },
			`shard "model-00009-of-00009.safetensors"`},
		{"absent tensor", func(_ string, wm map[string]string) { wm["no.such"] = "model-00001-of-00003.safetensors" },
			`maps "no.such" to shard "model-00001-of-00003.safetensors", which does not hold it`},
		{"wrong shard", func(_ string, wm map[string]string) { wm["emb.weight"] = "model-00002-of-00003.safetensors" },
			`maps "emb.weight" to shard "model-00002-of-00003.safetensors", but it is in "model-00001-of-00003.safetensors"`},
		{"escaping shard", func(_ string, wm map[string]string) { wm["emb.weight"] = "../model-00001-of-00003.safetensors" },
			"is not a file name beside the index"},
		{"tensor in two shards", dupShards,
			`"dup" is in shard "model-00001-of-00002.safetensors" and in shard "model-00002-of-00002.safetensors"`},
	} {
		name := c.name
		bad := filepath.Join(dir, "bad")
		os.RemoveAll(bad)
		os.Mkdir(bad, 0o755)
		ents, _ := os.ReadDir(model)
		for _, e := range ents {
			os.Symlink(filepath.Join(model, e.Name()), filepath.Join(bad, e.Name()))
		}
		var ix struct {
			Metadata  map[string]any    `json:"metadata"`
			WeightMap map[string]string `json:"weight_map"`
		}
		b, _ := os.ReadFile(idx)
		json.Unmarshal(b, &ix)
		c.edit(bad, ix.WeightMap)
		nb, _ := json.Marshal(ix)
		os.Remove(filepath.Join(bad, "model.safetensors.index.json"))
		os.WriteFile(filepath.Join(bad, "model.safetensors.index.json"), nb, 0o644)
		out := filepath.Join(dir, "badout")
		code, _, stderr := bigconv(t, "convert", "--progress", "never", bad, out)
		if code != 1 || !strings.Contains(stderr, "model.safetensors.index.json") || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d, want 1 and %s: %s", name, code, c.want, stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: output left behind", name)
		}
	}
}

// writeSafetensors writes a safetensors file holding a float32 tensor of
// shape (2,) for each name: 8 bytes of header length, the JSON header,
// the data.
func writeSafetensors(t *testing.T, path string, names ...string) {
	t.Helper()
	hdr := map[string]any{}
	for i, n := range names {
		hdr[n] = map[string]any{"dtype": "F32", "shape": []int{2}, "data_offsets": []int{8 * i, 8*i + 8}}
	}
	h, _ := json.Marshal(hdr)
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	b = append(append(b, h...), make([]byte, 8*len(names))...)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRealSafetensorsSharded: the real single-file safetensors samples,
// as shards of an index written for them.
func TestRealSafetensorsSharded(t *testing.T) {
	src := filepath.Join(numpytest.SharedDir(t), "huggingface+safetensors", "samples")
	files, _ := filepath.Glob(filepath.Join(src, "*.safetensors"))
	dir := t.TempDir()
	model := filepath.Join(dir, "model")
	os.Mkdir(model, 0o755)
	wm := map[string]string{}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".safetensors")
		if name == "overall" { // holds every other sample's tensor names again
			continue
		}
		os.Symlink(f, filepath.Join(model, filepath.Base(f)))
		wm[name] = filepath.Base(f)
	}
	if len(wm) < 9 {
		t.Fatalf("%d samples, want at least 9", len(wm))
	}
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{}, "weight_map": wm})
	os.WriteFile(filepath.Join(model, "model.safetensors.index.json"), b, 0o644)
	out := filepath.Join(dir, "out")
	if code, _, stderr := bigconv(t, "convert", "--progress", "never", model, out); code != 0 {
		t.Fatal(stderr)
	}
	checkShardedOutput(t, model, out)
}
