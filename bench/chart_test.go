package main

import (
	"encoding/json"
	"os"
	"path/filepath"
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
