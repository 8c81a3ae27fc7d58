package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/internal/numpytest"
)

// TestTorchCLI: torch.save files through the CLI, judged by torch: a
// bare tensor converts to OUTPUT.npy; a state_dict (even of one tensor)
// and a training checkpoint to a directory named by paths, non-tensor
// values listed by inspect and skipped; --tensor globs select; a pickle
// naming a global outside the allow-list is refused and writes nothing.
func TestTorchCLI(t *testing.T) {
	numpytest.RequireTorch(t)
	dir := t.TempDir()
	numpytest.Run(t, `
import sys, collections, torch, os
d = sys.argv[1]
torch.save(torch.arange(12, dtype=torch.float16).reshape(3, 4).t(), os.path.join(d, "bare.pt"))
torch.save(collections.OrderedDict(w=torch.ones(2, 2)), os.path.join(d, "one.pt"))
torch.save({"model": {"enc.weight": torch.arange(6.).reshape(2, 3), "enc.bias": torch.tensor([1, 2], dtype=torch.int64)},
            "epoch": 3, "layers": [torch.zeros(1, dtype=torch.bfloat16), torch.tensor(True)]}, os.path.join(d, "ckpt.pt"))
class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + os.path.join(d, "pwned"),))
torch.save({"x": Evil()}, os.path.join(d, "evil.pt"))
`, dir)
	// a bare tensor (a transposed view) → one file
	if code, _, stderr := bigconv(t, "convert", "--progress", "never", filepath.Join(dir, "bare.pt"), filepath.Join(dir, "bare.npy")); code != 0 {
		t.Fatalf("bare: %s", stderr)
	}
	// a one-tensor state_dict → a directory
	if code, _, stderr := bigconv(t, "convert", "--progress", "never", filepath.Join(dir, "one.pt"), filepath.Join(dir, "one")); code != 0 {
		t.Fatalf("one: %s", stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "one", "w.npy")); err != nil {
		t.Fatalf("one-tensor state_dict: %v", err)
	}
	// a checkpoint: inspect lists the epoch; convert skips it
	code, stdout, _ := bigconv(t, "inspect", filepath.Join(dir, "ckpt.pt"))
	if code != 0 || !strings.Contains(stdout, "model.enc.weight") || !strings.Contains(stdout, "epoch") || !strings.Contains(stdout, "layers.1") {
		t.Fatalf("inspect ckpt: %s", stdout)
	}
	if code, _, stderr := bigconv(t, "convert", "--progress", "never", filepath.Join(dir, "ckpt.pt"), filepath.Join(dir, "ckpt")); code != 0 {
		t.Fatalf("ckpt: %s", stderr)
	}
	if code, _, stderr := bigconv(t, "convert", "--progress", "never", "--tensor", "model.*", filepath.Join(dir, "ckpt.pt"), filepath.Join(dir, "sel")); code != 0 {
		t.Fatalf("ckpt --tensor: %s", stderr)
	}
	numpytest.Run(t, `
import sys, os, json, torch, numpy as np
d = sys.argv[1]
def same(path, t):
    a = np.load(path)
    want = t.contiguous().float().numpy() if t.dtype == torch.bfloat16 else t.contiguous().numpy()
    assert a.dtype == want.dtype and a.shape == want.shape and np.array_equal(a, want), (path, a, want)
same(os.path.join(d, "bare.npy"), torch.load(os.path.join(d, "bare.pt")))
same(os.path.join(d, "one", "w.npy"), torch.load(os.path.join(d, "one.pt"))["w"])
ck = torch.load(os.path.join(d, "ckpt.pt"))
m = json.load(open(os.path.join(d, "ckpt", "manifest.json")))
names = sorted(e["name"] for e in m["tensors"])
assert names == ["layers.0", "layers.1", "model.enc.bias", "model.enc.weight"], names
assert "epoch" in [s["name"] for s in m.get("skipped", [])], m
want = {"layers.0": ck["layers"][0], "layers.1": ck["layers"][1],
        "model.enc.bias": ck["model"]["enc.bias"], "model.enc.weight": ck["model"]["enc.weight"]}
for e in m["tensors"]:
    same(os.path.join(d, "ckpt", e["file"]), want[e["name"]])
sel = sorted(e["name"] for e in json.load(open(os.path.join(d, "sel", "manifest.json")))["tensors"])
assert sel == ["model.enc.bias", "model.enc.weight"], sel
print("ok")
`, dir)
	// a hostile pickle: refused naming the global, nothing run or written
	code, _, stderr := bigconv(t, "convert", "--progress", "never", filepath.Join(dir, "evil.pt"), filepath.Join(dir, "evil"))
	if code != 1 || !strings.Contains(stderr, "system") {
		t.Fatalf("evil: exit %d: %s", code, stderr)
	}
	for _, p := range []string{"pwned", "evil"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
			t.Fatalf("%s exists after the hostile pickle", p)
		}
	}
}
