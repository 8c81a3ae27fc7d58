package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/numpytest"
	"github.com/bigconv/bigconv/internal/tfgen"
)

// onnxJudge has onnx.numpy_helper.to_array judge each converted file:
// argv[1] is a JSON list of [source, tensor name or "", .npy] triples; a
// source ending in .onnx is a model whose initializer of that name is
// meant, any other a bare TensorProto. It prints "compared N bad M".
const onnxJudge = `
import json, sys, numpy as np, onnx
from onnx import numpy_helper as nh
models = {}
bad = 0
cases = json.loads(sys.argv[1])
for src, name, npy in cases:
    if src.endswith(".onnx"):
        if src not in models:
            models[src] = {t.name: t for t in onnx.load(src).graph.initializer}
        t = models[src][name]
    else:
        t = onnx.TensorProto()
        with open(src, "rb") as f:
            t.ParseFromString(f.read())
    want = nh.to_array(t)
    got = np.load(npy)
    if got.dtype != want.dtype or got.shape != want.shape or not np.array_equal(got, want, equal_nan=True):
        bad += 1
        print("MISMATCH", src, name, got.dtype, got.shape, want.dtype, want.shape)
print("compared", len(cases), "bad", bad)
`

func realONNXDir(t *testing.T) string {
	t.Helper()
	return filepath.Join(numpytest.SharedDir(t), "pinluis+MDM-LN1")
}

// judgeONNX runs onnxJudge on cases and fails unless every one matches.
func judgeONNX(t *testing.T, cases [][3]string) {
	t.Helper()
	numpytest.RequireONNX(t)
	js, _ := json.Marshal(cases)
	res := strings.TrimSpace(string(numpytest.Run(t, onnxJudge, string(js))))
	if want := "compared " + itoa(len(cases)) + " bad 0"; !strings.HasSuffix(res, want) {
		t.Fatalf("numpy_helper disagrees:\n%s", res)
	}
	t.Log(res)
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestONNXTensorProtoCLI: the real ONNX test tensors (bare TensorProto
// .pb files) are detected as onnx, not as TensorFlow's TensorProto, and
// convert to .npy files numpy_helper agrees with.
func TestONNXTensorProtoCLI(t *testing.T) {
	src := filepath.Join(realONNXDir(t), "test_data_set_0")
	out := t.TempDir()
	var cases [][3]string
	for _, name := range []string{"input_0.pb", "output_0.pb", "output_1.pb"} {
		in := filepath.Join(src, name)
		code, stdout, stderr := bigconv(t, "inspect", "--json", in)
		if code != 0 || !strings.Contains(stdout, `"format": "onnx"`) {
			t.Fatalf("inspect %s: exit %d: %s%s", name, code, stdout, stderr)
		}
		npy := filepath.Join(out, strings.TrimSuffix(name, ".pb")+".npy")
		if code, _, stderr := bigconv(t, "convert", "--progress", "never", in, npy); code != 0 {
			t.Fatalf("convert %s: exit %d: %s", name, code, stderr)
		}
		cases = append(cases, [3]string{in, "", npy})
	}
	judgeONNX(t, cases)
}

// TestONNXModelCLI: the real model converts into a directory whose
// manifest.json lists its 244 initializers, each as numpy_helper reads it.
func TestONNXModelCLI(t *testing.T) {
	in := filepath.Join(realONNXDir(t), "version-RFB-640.onnx")
	out := filepath.Join(t.TempDir(), "model")
	if code, _, stderr := bigconv(t, "convert", "--progress", "never", in, out); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	m := readManifest(t, out)
	if len(m.Tensors) != 244 || len(m.Skipped) != 0 {
		t.Fatalf("manifest lists %d tensors, %d skipped; want 244, 0", len(m.Tensors), len(m.Skipped))
	}
	var cases [][3]string
	for _, e := range m.Tensors {
		cases = append(cases, [3]string{in, e.Name, filepath.Join(out, filepath.FromSlash(e.File))})
	}
	judgeONNX(t, cases)
}

// TestONNXFormatHints: forcing the other TensorProto's reader fails,
// names the right --format, and writes nothing.
func TestONNXFormatHints(t *testing.T) {
	real := realONNXDir(t)
	dir := t.TempDir()
	tfContent := filepath.Join(dir, "tf.pb") // tf.io.serialize_tensor's layout
	var b bytes.Buffer
	if err := tfgen.WriteTensorProto(&b, dtype.Of(dtype.Float32), dtype.Shape{2, 3}, func(int64, []byte) {}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(tfContent, b.Bytes(), 0o644)
	tfTyped := filepath.Join(dir, "tf_vals.pb") // int_val, packed: field 7 as bytes, like an ONNX graph
	vals, err := tfgen.TensorProtoVals(dtype.Of(dtype.Int32), dtype.Shape{3}, []byte{1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0}, true)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(tfTyped, vals, 0o644)
	for _, c := range []struct {
		name, in, format, out, hint string
	}{
		{"onnx model as tensorproto", filepath.Join(real, "version-RFB-640.onnx"), "tensorproto", "m", "use --format onnx"},
		{"onnx tensor as tensorproto", filepath.Join(real, "test_data_set_0", "output_0.pb"), "tensorproto", "o.npy", "use --format onnx"},
		{"tf tensor_content as onnx", tfContent, "onnx", "t.npy", "use --format tensorproto"},
		{"tf int_val as onnx", tfTyped, "onnx", "v.npy", "use --format tensorproto"},
	} {
		t.Run(c.name, func(t *testing.T) {
			// the file reads as what it is without --format
			if code, _, stderr := bigconv(t, "inspect", c.in); code != 0 {
				t.Fatalf("inspect without --format: exit %d: %s", code, stderr)
			}
			outDir := filepath.Join(dir, "out-"+c.out)
			os.Mkdir(outDir, 0o755)
			for _, cmd := range [][]string{
				{"inspect", "--format", c.format, c.in},
				{"convert", "--progress", "never", "--format", c.format, c.in, filepath.Join(outDir, c.out)},
			} {
				code, _, stderr := bigconv(t, cmd...)
				if code != 1 || !strings.Contains(stderr, c.hint) || !strings.Contains(stderr, c.in) {
					t.Errorf("%s: exit %d, stderr %q; want exit 1 naming the file and %q", cmd[0], code, stderr, c.hint)
				}
			}
			leftovers(t, outDir)
		})
	}
}

// TestONNXTruncatedCLI: an ONNX model or TensorProto cut short fails with
// exit 1, naming the file, and leaves no output.
func TestONNXTruncatedCLI(t *testing.T) {
	real := realONNXDir(t)
	dir := t.TempDir()
	model, err := os.ReadFile(filepath.Join(real, "version-RFB-640.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	tp, err := os.ReadFile(filepath.Join(real, "test_data_set_0", "output_0.pb"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		data []byte
		out  string
	}{
		{"model.onnx", model[:len(model)/2], "m"},           // inside the graph
		{"head.onnx", model[:64], "h"},                      // before the graph ends
		{"tensor.pb", tp[:len(tp)-100], "t.npy"},            // raw_data cut short
		{"tensor_head.pb", tp[:20], "th.npy"},               // inside dims
		{"model_last_byte.onnx", model[:len(model)-1], "l"}, // one byte short
	} {
		t.Run(c.name, func(t *testing.T) {
			in := filepath.Join(dir, c.name)
			os.WriteFile(in, c.data, 0o644)
			outDir := filepath.Join(dir, "out-"+c.name)
			os.Mkdir(outDir, 0o755)
			code, _, stderr := bigconv(t, "convert", "--progress", "never", in, filepath.Join(outDir, c.out))
			if code != 1 || !strings.Contains(stderr, in) {
				t.Fatalf("exit %d, stderr %q; want exit 1 naming %s", code, stderr, in)
			}
			t.Log(strings.TrimSpace(stderr))
			leftovers(t, outDir)
		})
	}
}

// TestONNXSparseTensorCLI: --tensor naming a sparse_initializer is
// refused with the reason and writes nothing; the model's dense
// initializer still converts, and a whole-model conversion lists the
// sparse one as skipped.
func TestONNXSparseTensorCLI(t *testing.T) {
	numpytest.RequireONNX(t)
	dir := t.TempDir()
	model := filepath.Join(dir, "sparse.onnx")
	numpytest.Run(t, `
import sys, numpy as np, onnx
from onnx import helper, numpy_helper as nh, TensorProto as TP
vals = nh.from_array(np.array([1.5, -2.0], dtype=np.float32), "sp")
idx = nh.from_array(np.array([1, 4], dtype=np.int64), "sp_idx")
w = nh.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "w")
g = helper.make_graph([], "g", [], [helper.make_tensor_value_info("w", TP.FLOAT, [2, 3])],
                      initializer=[w], sparse_initializer=[helper.make_sparse_tensor(vals, idx, [6])])
onnx.save(helper.make_model(g), sys.argv[1])
`, model)
	outDir := filepath.Join(dir, "out")
	os.Mkdir(outDir, 0o755)
	code, _, stderr := bigconv(t, "convert", "--progress", "never", "--tensor", "sp", model, filepath.Join(outDir, "sp"))
	if code != 1 || !strings.Contains(stderr, `"sp"`) || !strings.Contains(stderr, "sparse_initializer") {
		t.Fatalf("--tensor sp: exit %d, stderr %q; want exit 1 naming the sparse initializer", code, stderr)
	}
	leftovers(t, outDir)

	all := filepath.Join(outDir, "all")
	if code, _, stderr := bigconv(t, "convert", "--progress", "never", model, all); code != 0 {
		t.Fatalf("whole model: exit %d: %s", code, stderr)
	}
	m := readManifest(t, all)
	if len(m.Tensors) != 1 || m.Tensors[0].Name != "w" || len(m.Skipped) != 1 || m.Skipped[0].Name != "sp" ||
		!strings.Contains(m.Skipped[0].Reason, "sparse_initializer") {
		t.Fatalf("manifest %+v", m)
	}
	judgeONNX(t, [][3]string{{model, "w", filepath.Join(all, m.Tensors[0].File)}})
}

// TestInspectTypeNames: inspect names the element type of tensors that
// have no bigconv dtype by the source's own name — an ONNX segment, ONNX
// data types bigconv cannot read, a TF string tensor whose data shard is
// missing — in the table and in JSON, never as dtype.Type(0).
func TestInspectTypeNames(t *testing.T) {
	dir := t.TempDir()
	vf, bf, cat := pbVarint, pbBytes, pbCat
	init := func(name string, dataType uint64, extra ...[]byte) []byte { // dims [4], raw_data of 16 bytes
		return bf(5, cat(vf(1, 4), vf(2, dataType), bf(8, []byte(name)), cat(extra...), bf(9, make([]byte, 16))))
	}
	graph := cat(init("w", 1), init("seg", 1, bf(3, cat(vf(1, 0), vf(2, 4)))), init("f4", 23), init("t99", 99))
	model := filepath.Join(dir, "m.onnx")
	os.WriteFile(model, pbModel(graph), 0o644)

	ts := []tfgen.BundleTensor{
		{Name: "a", DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{2}, Fill: func(int64, []byte) {}},
		{Name: "s", Shape: dtype.Shape{2}, Strings: [][]byte{[]byte("xy"), []byte("z")}},
	}
	if err := tfgen.WriteBundle(dir, "b", ts, tfgen.BundleOptions{}); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "b.data-00000-of-00001"))

	for _, c := range []struct {
		in   string
		want map[string]string // tensor → DTYPE
	}{
		{model, map[string]string{"w": "<f4", "seg": "onnx:FLOAT", "f4": "onnx:FLOAT4E2M1", "t99": "onnx:DataType(99)"}},
		{filepath.Join(dir, "b.index"), map[string]string{"a": "<f4", "s": "tf:string"}},
	} {
		code, stdout, stderr := bigconv(t, "inspect", c.in)
		if code != 0 || strings.Contains(stdout, "dtype.Type") {
			t.Fatalf("inspect %s: exit %d:\n%s%s", c.in, code, stdout, stderr)
		}
		t.Logf("%s", stdout)
		for _, line := range strings.Split(stdout, "\n")[2:] {
			if f := strings.Fields(line); len(f) >= 2 && c.want[f[0]] != "" && f[1] != c.want[f[0]] {
				t.Errorf("%s: %s: DTYPE %s, want %s", c.in, f[0], f[1], c.want[f[0]])
			}
		}
		code, stdout, _ = bigconv(t, "inspect", "--json", c.in)
		var js struct {
			Tensors []tensorInfo `json:"tensors"`
		}
		if err := json.Unmarshal([]byte(stdout), &js); code != 0 || err != nil || len(js.Tensors) != len(c.want) {
			t.Fatalf("inspect --json %s: exit %d, %v: %s", c.in, code, err, stdout)
		}
		for _, ti := range js.Tensors {
			if ti.DType != c.want[ti.Name] {
				t.Errorf("%s: %s: JSON dtype %q, want %q", c.in, ti.Name, ti.DType, c.want[ti.Name])
			}
		}
	}
}

// Protobuf wire helpers for hand-made ONNX files.
func pbVarint(num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
}

func pbBytes(num protowire.Number, b []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), b)
}

func pbCat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

// pbModel is a ModelProto (ir_version 8) around graph.
func pbModel(graph []byte) []byte {
	return pbCat(pbVarint(1, 8), pbBytes(2, []byte("test")), pbBytes(7, graph))
}

// TestONNXExternalSymlinkCLI: a model whose external data file is a
// symbolic link converts when the link stays inside the model's
// directory, and is refused, writing nothing, when it leads out.
func TestONNXExternalSymlinkCLI(t *testing.T) {
	vf, bf, cat := pbVarint, pbBytes, pbCat
	kv := func(k, v string) []byte { return bf(13, cat(bf(1, []byte(k)), bf(2, []byte(v)))) }
	// FLOAT [2, 4] "ext" in w.bin, 32 bytes from offset 0
	model := pbModel(bf(5, cat(vf(1, 2), vf(1, 4), vf(2, 1), bf(8, []byte("ext")),
		kv("location", "w.bin"), kv("offset", "0"), kv("length", "32"), vf(14, 1))))
	data := make([]byte, 32)
	for i := 0; i < 8; i++ {
		binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(float32(i)-2.5))
	}
	root := t.TempDir()
	// a descriptor of a deleted file outside: /proc/self/fd/N opens, but
	// resolves nowhere
	gone := filepath.Join(root, "gone.bin")
	os.WriteFile(gone, data, 0o644)
	g, err := os.Open(gone)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	os.Remove(gone)
	for _, c := range []struct {
		name, target string // w.bin → target, relative to the model's directory
		ok           bool
	}{
		{"inside", filepath.Join("data", "w-real.bin"), true},
		{"outside", filepath.Join("..", "secret.bin"), false},
		{"deleted file by descriptor", "/proc/self/fd/" + itoa(int(g.Fd())), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(root, c.name)
			os.MkdirAll(filepath.Join(dir, "m", "data"), 0o755)
			os.WriteFile(filepath.Join(dir, "m", "model.onnx"), model, 0o644)
			os.WriteFile(filepath.Join(dir, "m", "data", "w-real.bin"), data, 0o644)
			os.WriteFile(filepath.Join(dir, "secret.bin"), data, 0o644)
			if err := os.Symlink(c.target, filepath.Join(dir, "m", "w.bin")); err != nil {
				t.Fatal(err)
			}
			outDir := filepath.Join(dir, "out")
			os.Mkdir(outDir, 0o755)
			out := filepath.Join(outDir, "ext.npy")
			code, _, stderr := bigconv(t, "convert", "--progress", "never", "--tensor", "ext", filepath.Join(dir, "m", "model.onnx"), out)
			if !c.ok {
				if code != 1 || !strings.Contains(stderr, "symbolic link") || !strings.Contains(stderr, "escapes the model's directory") {
					t.Fatalf("exit %d, stderr %q; want exit 1, refused as escaping", code, stderr)
				}
				leftovers(t, outDir)
				return
			}
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			got, err := os.ReadFile(out)
			if err != nil || !bytes.HasSuffix(got, data) {
				t.Fatalf("output %v: does not end with the external data", err)
			}
			leftovers(t, outDir, "ext.npy")
		})
	}
}
