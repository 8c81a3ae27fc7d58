package format

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestExpand(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"act_2.npy", "act_10.npy", "act_002.npy", "act_1.npy", "b[1].npy", "other.bin"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o644)
	}
	p := func(ns ...string) []string {
		var out []string
		for _, n := range ns {
			out = append(out, filepath.Join(dir, n))
		}
		return out
	}
	got, err := Expand(append(p("act_*.npy", "other.bin", "b[1].npy"), "-"))
	want := append(p("act_002.npy", "act_1.npy", "act_10.npy", "act_2.npy", "other.bin", "b[1].npy"), "-")
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("Expand = %v, %v\nwant %v", got, err, want)
	}
	// a name that does not exist and has no pattern is kept for OpenPath to report
	if got, err := Expand(p("missing.npy")); err != nil || len(got) != 1 {
		t.Errorf("Expand(missing) = %v, %v", got, err)
	}
	if _, err := Expand(p("none_*.npy")); !errors.Is(err, ErrNoFiles) {
		t.Errorf("pattern matching nothing: err = %v", err)
	}
	if _, err := Expand(p("[x.npy")); !errors.Is(err, filepath.ErrBadPattern) {
		t.Errorf("bad pattern: err = %v", err)
	}
}
