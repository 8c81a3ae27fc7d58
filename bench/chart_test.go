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

// TestFailedPeer: a peer that failed (the kernel's out-of-memory killer
// took torch.load of an 8 GiB file) is a row saying so, with what it
// used, and the targets say the peer failed instead of a ratio; the
// chart leaves it out.
func TestFailedPeer(t *testing.T) {
	rep := &Report{Size: 8 << 30, Runs: 3, Results: []Result{
		{Case: "pt-f16", Tool: "bigconv", Median: 12, Min: 11, Max: 13, InGiBps: 0.67, VsBigconv: 1, PeakRSS: 58},
		{Case: "pt-f16", Tool: "torch", Failed: "killed by signal 9 (out of memory?) after 61.2 s", PeakRSS: 23500, PeakAnon: 23400},
		{Case: "pt-f16", Tool: limitTool, Median: 12, Min: 12, Max: 12},
		{Case: "i64-f32", Tool: "bigconv", Median: 10, PeakRSS: 20},
		{Case: "i64-f32", Tool: "numpy", Failed: "exit status 1 after 2.0 s"},
	}}
	tab := table(rep.Results[:3])
	if want := "| pt-f16 | torch | failed: killed by signal 9 (out of memory?) after 61.2 s | – | – | – | – | 23500 | 23400 | |"; !strings.Contains(tab, want) {
		t.Errorf("table lacks %q:\n%s", want, tab)
	}
	got := targets(rep)
	for _, want := range []string{
		"limit: yes; torch peer: failed (killed by signal 9 (out of memory?) after 61.2 s)",
		"| i64-f32 | 0.00 | – | – | – | – | failed | – |", "NumPy: peer failed (exit status 1 after 2.0 s)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("targets lacks %q:\n%s", want, got)
		}
	}
	if measured(rep, "pt-f16", "torch") != nil || measured(rep, "pt-f16", "bigconv") == nil {
		t.Error("the chart's bars: a failed peer is drawn, or a measured tool is not")
	}
	if err := chart(rep, filepath.Join(t.TempDir(), "c.png")); err != nil {
		t.Fatal(err)
	}
}

// TestPeerFailure: a failed peer run is described by how it ended and
// how long it ran.
func TestPeerFailure(t *testing.T) {
	for _, c := range []struct {
		argv []string
		want string
	}{
		{[]string{"sh", "-c", "kill -9 $$"}, "killed by signal 9 (out of memory?) after "},
		{[]string{"sh", "-c", "echo no module >&2; exit 3"}, "exit status 3 after "},
	} {
		m, _, err := runCmd(c.argv, false)
		if err == nil {
			t.Fatalf("%q: no error", c.argv)
		}
		if got := peerFailure(m, err); !strings.HasPrefix(got, c.want) {
			t.Errorf("%q: %q, want it to start %q", c.argv, got, c.want)
		}
	}
}
