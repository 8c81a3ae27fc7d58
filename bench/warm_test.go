package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestToolInputs: the output-sized copies read the output-sized file,
// every other tool (bigconv, its variants, the peers, cat, cp) all of
// the case's input files.
func TestToolInputs(t *testing.T) {
	c := &caseDef{Input: "a.npy", Files: []string{"a.npy", "b.npy"}, OutSized: "outsized.bin"}
	for tool, want := range map[string][]string{
		"bigconv":      {"a.npy", "b.npy"},
		"numpy":        {"a.npy", "b.npy"},
		"cat":          {"a.npy", "b.npy"},
		"cp+fsync":     {"a.npy", "b.npy"},
		"cp-out":       {"outsized.bin"},
		"cp-out+fsync": {"outsized.bin"},
	} {
		if got := toolInputs(tool, c); !slices.Equal(got, want) {
			t.Errorf("toolInputs(%q) = %q, want %q", tool, got, want)
		}
	}
}

// TestWarmFits: files are warmed before a run only when together they
// take at most three quarters of the machine's memory (a 32 GiB input
// on a 24 GiB machine is read from disk by every tool; reading it
// first would only push out what else is cached).
func TestWarmFits(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for i, n := range []int64{3000, 1000} {
		p := filepath.Join(dir, string(rune('a'+i)))
		if err := os.WriteFile(p, make([]byte, n), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	for _, c := range []struct {
		mem  int64
		want bool
	}{{8000, true}, {5334, true}, {5332, false}, {1000, false}} {
		got, err := warmFits(files, c.mem)
		if err != nil || got != c.want {
			t.Errorf("warmFits(4000 bytes, mem %d) = %v, %v; want %v", c.mem, got, err, c.want)
		}
	}
	if _, err := warmFits([]string{filepath.Join(dir, "missing")}, 1<<30); err == nil {
		t.Error("a missing input file: no error")
	}
}
