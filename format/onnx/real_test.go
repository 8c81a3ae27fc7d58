package onnx

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/engine"
	"github.com/bigconv/bigconv/internal/numpytest"
)

// judgeScript compares each converted .npy (out/<i>.npy) with
// numpy_helper.to_array of the same tensor: the initializers of a model
// (argv[1] ends in .onnx) in order, or the one TensorProto of a .pb file.
const judgeScript = `
import sys, numpy as np, onnx
from onnx import numpy_helper as nh
src, out = sys.argv[1], sys.argv[2]
if src.endswith(".onnx"):
    ts = list(onnx.load(src).graph.initializer)
else:
    t = onnx.TensorProto()
    with open(src, "rb") as f:
        t.ParseFromString(f.read())
    ts = [t]
bad = 0
for i, t in enumerate(ts):
    want = nh.to_array(t)
    got = np.load("%s/%d.npy" % (out, i))
    if got.dtype != want.dtype or got.shape != want.shape or not np.array_equal(got, want, equal_nan=True):
        bad += 1
        print("MISMATCH", i, t.name, got.dtype, got.shape, want.dtype, want.shape)
print("compared", len(ts), "bad", bad)
`

// TestRealFiles converts the ONNX model exported from PyTorch and its
// three test tensors in ../shared/testdata/real with the engine, and
// NumPy compares every .npy with numpy_helper.to_array.
func TestRealFiles(t *testing.T) {
	numpytest.RequireONNX(t)
	dir := filepath.Join(numpytest.SharedDir(t), "pinluis+MDM-LN1")
	files := []string{"version-RFB-640.onnx", "test_data_set_0/input_0.pb",
		"test_data_set_0/output_0.pb", "test_data_set_0/output_1.pb"}
	wantN := []int{244, 1, 1, 1}
	for k, name := range files {
		t.Run(filepath.Base(name), func(t *testing.T) {
			path := filepath.Join(dir, name)
			in, err := openPath(t, path)
			if err != nil {
				t.Fatal(err)
			}
			if len(in.Tensors) != wantN[k] {
				t.Fatalf("%d tensors, want %d", len(in.Tensors), wantN[k])
			}
			out := t.TempDir()
			for i, tt := range in.Tensors {
				if _, err := engine.Convert(context.Background(), tt, filepath.Join(out, fmt.Sprintf("%d.npy", i)),
					engine.Options{CheckpointBytes: -1}); err != nil {
					t.Fatalf("%s: %v", tt.Name, err)
				}
			}
			res := string(numpytest.Run(t, judgeScript, path, out))
			if strings.Contains(res, "MISMATCH") || !strings.Contains(res, fmt.Sprintf("compared %d bad 0", wantN[k])) {
				t.Fatalf("numpy_helper disagrees:\n%s", res)
			}
			t.Logf("%s: %s", name, strings.TrimSpace(res))
		})
	}
}
