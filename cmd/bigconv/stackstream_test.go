package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/internal/numpytest"
)

// streamJudge compares outputs with NumPy's own joins: argv[1] is a JSON
// list of jobs [out, join, rows, dtype, inputs], an input being a .npy
// path or "NPZ:KEY" (np.load(NPZ)[KEY]); rows is "" or "START:STOP".
const streamJudge = `
import json, sys, numpy as np
for out, join, rows, dt, specs in json.loads(sys.argv[1]):
    arrs = []
    for s in specs:
        if ".npz:" in s:
            f, k = s.split(".npz:")
            arrs.append(np.load(f + ".npz")[k])
        else:
            arrs.append(np.load(s))
    dt = np.dtype(dt) if dt else np.result_type(*arrs)
    f = np.stack if join == "stack" else np.concatenate
    want = f([a.astype(dt) for a in arrs])
    if rows:
        want = want[slice(*[int(x) if x else None for x in rows.split(":")])]
    got = np.load(out, mmap_mode="r")
    assert got.dtype == dt, (out, got.dtype, dt)
    assert got.shape == want.shape, (out, got.shape, want.shape)
    assert np.array_equal(got, want), out
    print(got.shape)
`

// TestStackOnePassStreams: inputs that can be read only once, in order —
// GZIP-compressed TFRecord shards (the real penguin shard from TFX, twice)
// and a np.savez_compressed member over 1 MiB — are stacked and
// concatenated (also with --rows) as NumPy joins them: each is read by one
// worker from its start, a compressed TFRecord after a first pass that
// counts its records. A stream whose length only its end tells (stdin)
// is refused with the reason and the way through.
func TestStackOnePassStreams(t *testing.T) {
	numpytest.Require(t)
	shard := filepath.Join(numpytest.SharedDir(t), "tensorflow+tfx", "tfx", "components", "testdata", "penguin", "data",
		"Split-eval", "data_tfrecord-00000-of-00001.gz")
	if _, err := os.Stat(shard); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	// one shard alone (a single stream, converted as before) is the reference
	one := p("one.npy")
	if code, _, stderr := bigconv(t, "convert", "--progress", "never", "--feature", "culmen_depth_mm", shard, one); code != 0 {
		t.Fatalf("one shard: %s", stderr)
	}
	numpytest.Run(t, `
import sys, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(3)
a = rng.standard_normal((300, 1000)).astype(np.float32)   # 1.2 MB: a one-pass member
b = rng.standard_normal((300, 1000)).astype(np.float32)
np.savez_compressed(d + "/za.npz", x=a, small=np.arange(3))
np.savez_compressed(d + "/zb.npz", x=b)
np.savez(d + "/plain.npz", x=rng.standard_normal((300, 1000)).astype(np.float16))  # stored: random access
np.save(d + "/small.npy", np.zeros((2, 5), np.float32))
`, dir)
	code, stdout, _ := bigconv(t, "inspect", p("za.npz"))
	if code != 0 || !strings.Contains(stdout, "read=one pass") {
		t.Fatalf("za.npz:x is not a one-pass member:\n%s", stdout)
	}

	type job struct {
		args           []string // after convert's flags
		join, rows, dt string
		inputs         []string // for the judge
		inspect        string   // the shape inspect prints
	}
	ref := []string{one, one}
	npz := []string{p("za.npz:x"), p("plain.npz:x"), p("zb.npz:x")}
	npzArgs := []string{"--tensor", "x", p("za.npz"), p("plain.npz"), p("zb.npz")}
	jobs := []job{
		{[]string{"--feature", "culmen_depth_mm", shard, shard}, "concat", "", "", ref, "(200, 1)"},
		{[]string{"--stack", "--feature", "culmen_depth_mm", shard, shard}, "stack", "", "", ref, "(2, 100, 1)"},
		{[]string{"--concat", "--rows", "150:-20", "--feature", "culmen_depth_mm", shard, shard}, "concat", "150:-20", "", ref, "(30, 1)"},
		{[]string{"--concat", "--rows", "90:110", "--feature", "culmen_depth_mm", shard, shard}, "concat", "90:110", "float64", ref, "(20, 1)"},
		{append([]string{"--stack"}, npzArgs...), "stack", "", "", npz, "(3, 300, 1000)"},
		{append([]string{"--concat", "--rows", "250:-250"}, npzArgs...), "concat", "250:-250", "", npz, "(400, 1000)"},
		{append([]string{"--stack", "--rows", "-1:"}, npzArgs...), "stack", "-1:", "float64", npz, "(1, 300, 1000)"},
	}
	var list [][]any
	for i, j := range jobs {
		out := p("out" + string(rune('a'+i)) + ".npy")
		args := append(append([]string{"convert", "--progress", "never", "--workers", "2"}, j.args...), out)
		if j.dt != "" {
			args = append(args, "--dtype", j.dt)
		}
		if code, _, stderr := bigconv(t, args...); code != 0 {
			t.Errorf("convert %v: exit %d: %s", j.args, code, stderr)
			continue
		}
		list = append(list, []any{out, j.join, j.rows, j.dt, j.inputs})
		code, stdout, stderr := bigconv(t, append([]string{"inspect"}, j.args...)...)
		if code != 0 || !strings.Contains(stdout, " "+j.inspect+", ") {
			t.Errorf("inspect %v: exit %d, want %s:\n%s%s", j.args, code, j.inspect, stdout, stderr)
		}
	}
	if len(list) > 0 {
		js, _ := json.Marshal(list)
		got := strings.Split(strings.TrimSpace(string(numpytest.Run(t, streamJudge, string(js)))), "\n")
		if len(got) != len(jobs) {
			t.Errorf("NumPy judged %d of %d outputs: %v", len(got), len(jobs), got)
		}
	}

	// stdin with -1 in its shape: its length is known only at its end
	out := p("stdin.npy")
	code, _, stderr := bigconvIn(t, strings.NewReader(strings.Repeat("\x00", 40)), "convert", "--progress", "never", "--concat",
		"--in-dtype", "<f4", "--shape", "-1,5", "-", p("small.npy"), out)
	if code != 1 || !strings.Contains(stderr, "stdin") || !strings.Contains(stderr, "save it to a file") || strings.Contains(stderr, "TFRecord") {
		t.Errorf("stdin of unknown length: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("stdin of unknown length: output left behind")
	}
}
