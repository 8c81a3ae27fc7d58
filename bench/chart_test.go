package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestChartFromRecord draws the chart of the recorded 1 GiB run (the
// legend sits right of the plot) and checks a PNG comes out.
func TestChartFromRecord(t *testing.T) {
	b, err := os.ReadFile("../docs/benchmarks.json")
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "c.png")
	if p := os.Getenv("BENCH_CHART_OUT"); p != "" {
		out = p
	}
	if err := chart(&rep, out); err != nil {
		t.Fatal(err)
	}
	png, err := os.ReadFile(out)
	if err != nil || len(png) < 8 || string(png[1:4]) != "PNG" {
		t.Fatalf("chart is not a PNG (%d bytes, %v)", len(png), err)
	}
}

// TestCaseTools: a stack case (many input files) runs no tool that
// times "the input" as one file — cat, cp, cp+fsync would copy one of
// its files and report it at the rate of all of them — but keeps the
// output-sized copies; a one-file case keeps them all.
func TestCaseTools(t *testing.T) {
	stack := &caseDef{Peer: map[string]any{"kind": "stack"}}
	one := &caseDef{Peer: map[string]any{"kind": "raw"}}
	got := map[string][]string{"stack": caseTools(stack, nil), "one": caseTools(one, nil)}
	for _, tool := range []string{"cat", "cp", "cp+fsync"} {
		if slices.Contains(got["stack"], tool) {
			t.Errorf("stack case runs %s: %v", tool, got["stack"])
		}
		if !slices.Contains(got["one"], tool) {
			t.Errorf("one-file case lacks %s: %v", tool, got["one"])
		}
	}
	for _, tool := range []string{"bigconv", "numpy", "dask", "cp-out", "cp-out+fsync"} {
		if !slices.Contains(got["stack"], tool) {
			t.Errorf("stack case lacks %s: %v", tool, got["stack"])
		}
	}
}

// TestTargetsWithoutLimit: a run without cp-out+fsync (the 32 GiB copy,
// whose disk has no room for an output-sized file) says the limit was
// not measured rather than that it was missed, and still reports the
// ratios it has.
func TestTargetsWithoutLimit(t *testing.T) {
	rep := &Report{Results: []Result{
		{Case: "f32-f32", Tool: "bigconv", Median: 40, InGiBps: 0.8, PeakRSS: 58},
		{Case: "f32-f32", Tool: "cp+fsync", Median: 38},
		{Case: "f32-f32", Tool: "numpy", Median: 120},
		{Case: "i64-f32", Tool: "bigconv", Median: 10, PeakRSS: 20},
		{Case: "i64-f32", Tool: limitTool, Median: 9},
	}}
	got := targets(rep)
	for _, want := range []string{
		"| f32-f32 | 0.80 | – | – | 0.95 | – | 3.00 | – |",
		"limit: not in this run; NumPy: yes",
		"| i64-f32 |", "limit: **no**",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("targets lacks %q:\n%s", want, got)
		}
	}
}
