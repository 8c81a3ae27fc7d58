package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/internal/numpytest"
)

// stackNPZJudge checks an .npz holding one stacked array: argv[1] is a
// JSON list of jobs [out, join, rows, inputs] (an input a .npy path or
// "NPZ:KEY"). The archive must pass testzip, hold exactly one stored
// member arr_0.npy (np.savez(out, array) names it so) and give
// np.stack / np.concatenate of the inputs (their np.result_type),
// sliced by rows. It prints each array's shape.
const stackNPZJudge = `
import json, sys, zipfile, numpy as np
for out, join, rows, specs in json.loads(sys.argv[1]):
    zf = zipfile.ZipFile(out)
    assert zf.testzip() is None, (out, "testzip", zf.testzip())
    infos = zf.infolist()
    assert [i.filename for i in infos] == ["arr_0.npy"], (out, [i.filename for i in infos])
    assert infos[0].compress_type == zipfile.ZIP_STORED
    arrs = []
    for s in specs:
        if ".npz:" in s:
            f, k = s.split(".npz:")
            arrs.append(np.load(f + ".npz")[k])
        else:
            arrs.append(np.load(s))
    dt = np.result_type(*arrs)
    want = (np.stack if join == "stack" else np.concatenate)([a.astype(dt) for a in arrs])
    if rows:
        want = want[slice(*[int(x) if x else None for x in rows.split(":")])]
    z = np.load(out)
    assert list(z.files) == ["arr_0"], z.files
    got = z["arr_0"]
    assert got.dtype == dt and got.shape == want.shape, (out, got.dtype, got.shape, want.shape)
    assert np.array_equal(got, want), out
    print(got.shape)
`

// TestStackToNPZ: --stack or --concat with an OUTPUT ending in .npz
// writes the joined array as the archive's one member arr_0.npy, as
// np.savez(OUTPUT, np.stack(inputs)) would: C and Fortran inputs of two
// dtypes, a one-pass member among them, with and without --rows. --part
// refuses a stacked .npz as a usage error.
func TestStackToNPZ(t *testing.T) {
	numpytest.Require(t)
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	genInputs(t, dir, []genSpec{
		{"act_000.npy", "<f4", []int64{300, 1000}, "C"}, {"act_001.npy", "<f2", []int64{300, 1000}, "F"},
		{"act_002.npy", "<f4", []int64{300, 1000}, "C"},
	})
	numpytest.Run(t, `
import sys, numpy as np
a = np.random.default_rng(5).standard_normal((300, 1000)).astype(np.float32)  # 1.2 MB: read in one pass
np.savez_compressed(sys.argv[1] + "/z.npz", arr_0=a)
`, dir)
	acts := []string{p("act_000.npy"), p("act_001.npy"), p("act_002.npy")}
	cases := []struct {
		args       []string
		join, rows string
		inputs     []string
	}{
		{[]string{"--stack", p("act_00[01].npy")}, "stack", "", acts[:2]},
		{[]string{"--stack", p("act_*.npy")}, "stack", "", acts},
		{[]string{"--concat", "--rows", "250:-250", p("act_*.npy")}, "concat", "250:-250", acts},
		{[]string{"--stack", "--rows", "1:", p("act_000.npy"), p("z.npz"), p("act_001.npy")}, "stack", "1:", []string{acts[0], p("z.npz:arr_0"), acts[1]}},
		{[]string{"--concat", p("z.npz"), p("act_002.npy")}, "concat", "", []string{p("z.npz:arr_0"), acts[2]}},
	}
	var jobs [][]any
	for i, c := range cases {
		out := p("s" + string(rune('a'+i)) + ".npz")
		code, _, stderr := bigconv(t, append(append([]string{"convert", "--progress", "never", "--workers", "2", "--block-size", "256KiB"}, c.args...), out)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", c.args, code, stderr)
		}
		if !strings.Contains(stderr, "arr_0.npy") {
			t.Errorf("%v: the report does not name the member: %s", c.args, stderr)
		}
		jobs = append(jobs, []any{out, c.join, c.rows, c.inputs})
	}
	js, _ := json.Marshal(jobs)
	got := strings.Split(strings.TrimSpace(string(numpytest.Run(t, stackNPZJudge, string(js)))), "\n")
	if len(got) != len(cases) {
		t.Errorf("NumPy judged %v", got)
	}

	out := p("parts.npz")
	code, _, stderr := bigconv(t, "convert", "--part", "0/2", "--stack", p("act_*.npy"), out)
	if code != 2 || !strings.Contains(stderr, ".npz") || !strings.Contains(stderr, "--part") {
		t.Errorf("--part to a stacked .npz: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("--part to a stacked .npz: output left")
	}
}
