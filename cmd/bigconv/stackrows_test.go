package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/internal/numpytest"
)

// rowsJudge compares each output with np.stack(inputs)[START:STOP] or
// np.concatenate(inputs)[START:STOP] of the .npy inputs .astype(the
// np.result_type of all of them): argv[1] is a JSON list of jobs [out,
// join, rows, inputs]. It prints each output's shape, one line per job.
const rowsJudge = `
import json, sys, numpy as np
for out, join, rows, paths in json.loads(sys.argv[1]):
    arrs = [np.load(p) for p in paths]
    dt = np.result_type(*arrs)
    f = np.stack if join == "stack" else np.concatenate
    sl = slice(*[int(x) if x else None for x in rows.split(":")])
    want = f([a.astype(dt) for a in arrs])[sl]
    got = np.load(out, mmap_mode="r")
    assert got.dtype == dt, (out, got.dtype, dt)
    assert got.shape == want.shape, (out, rows, got.shape, want.shape)
    assert np.array_equal(got, want), "%s %s: values differ" % (out, rows)
    print(got.shape)
`

// TestStackRows: --rows with --stack or --concat keeps rows of the joined
// array, as NumPy slices np.stack(inputs) or np.concatenate(inputs):
// a range of the inputs, or row ranges of the first and last inputs it
// touches (C and Fortran order), negative and empty ranges included;
// inspect prints the same shape.
func TestStackRows(t *testing.T) {
	numpytest.Require(t)
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	genInputs(t, dir, []genSpec{
		{"c0.npy", "<f4", []int64{10, 5}, "C"}, {"c1.npy", "<f4", []int64{4, 5}, "F"}, {"c2.npy", "<f2", []int64{7, 5}, "C"},
		{"s0.npy", "<f4", []int64{6, 5}, "C"}, {"s1.npy", "<f8", []int64{6, 5}, "F"}, {"s2.npy", "<f4", []int64{6, 5}, "C"},
		{"s3.npy", "<i2", []int64{6, 5}, "C"},
	})
	concat := []string{p("c0.npy"), p("c1.npy"), p("c2.npy")}
	stack := []string{p("s0.npy"), p("s1.npy"), p("s2.npy"), p("s3.npy")}
	cases := []struct {
		join   string
		inputs []string
		rows   string
		shape  string // NumPy's
	}{
		{"stack", stack, "0:2", "(2, 6, 5)"},
		{"stack", stack, "1:3", "(2, 6, 5)"},
		{"stack", stack, "-1:", "(1, 6, 5)"},
		{"stack", stack, ":-2", "(2, 6, 5)"},
		{"stack", stack, "-3:-1", "(2, 6, 5)"},
		{"stack", stack, "-100:100", "(4, 6, 5)"},
		{"stack", stack, "3:1", "(0, 6, 5)"},
		{"stack", stack, "9:", "(0, 6, 5)"},
		{"concat", concat, "0:2", "(2, 5)"},
		{"concat", concat, "3:12", "(9, 5)"},
		{"concat", concat, "10:14", "(4, 5)"},
		{"concat", concat, "11:13", "(2, 5)"},
		{"concat", concat, "9:15", "(6, 5)"},
		{"concat", concat, "-5:", "(5, 5)"},
		{"concat", concat, ":-3", "(18, 5)"},
		{"concat", concat, "-12:-8", "(4, 5)"},
		{"concat", concat, "-100:100", "(21, 5)"},
		{"concat", concat, "12:11", "(0, 5)"},
		{"concat", concat, "21:", "(0, 5)"},
	}
	var jobs [][]any
	for i, c := range cases {
		out := p(fmt.Sprintf("out%02d.npy", i))
		args := append(append([]string{"convert", "--progress", "never", "--" + c.join, "--rows", c.rows}, c.inputs...), out)
		if code, _, stderr := bigconv(t, args...); code != 0 {
			t.Fatalf("%s --rows %s: exit %d: %s", c.join, c.rows, code, stderr)
		}
		jobs = append(jobs, []any{out, c.join, c.rows, c.inputs})
		// inspect prints the shape convert writes
		code, stdout, stderr := bigconv(t, append([]string{"inspect", "--" + c.join, "--rows", c.rows}, c.inputs...)...)
		if code != 0 || !strings.Contains(stdout, "rows ") || !strings.Contains(stdout, " "+c.shape+", ") {
			t.Errorf("inspect --%s --rows %s: exit %d, want shape %s:\n%s%s", c.join, c.rows, code, c.shape, stdout, stderr)
		}
	}
	js, _ := json.Marshal(jobs)
	got := strings.Split(strings.TrimSpace(string(numpytest.Run(t, rowsJudge, string(js)))), "\n")
	for i, c := range cases {
		if i >= len(got) || got[i] != c.shape {
			t.Errorf("%s --rows %s: NumPy reads %v, want %s", c.join, c.rows, got, c.shape)
		}
	}
}
