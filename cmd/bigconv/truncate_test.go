package main

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format/npy/npyhdr"
	"github.com/bigconv/bigconv/internal/testhook"
)

// TestInputTruncatedWhileRunning cuts the input short while a conversion
// reads it (before its 10th block of 64): the
// run must end with an error that names the file and an offset, leave no
// output, and not crash.
func TestInputTruncatedWhileRunning(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "in.bin")
	writeRamp(t, raw, 32<<20)
	npy := filepath.Join(dir, "in.npy")
	hdr, err := npyhdr.Encode(dtype.MustParse("<i8"), dtype.Shape{4096, 1024}, false)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := os.ReadFile(raw)
	os.WriteFile(npy, append(hdr, body...), 0o644)
	for _, c := range []struct {
		name string
		in   string
		args []string
	}{
		{"raw/cast", raw, []string{"--in-dtype", "<i8", "--dtype", "float32"}},
		{"raw/copy", raw, []string{"--in-dtype", "<i8"}},
		{"raw/copy/pwrite", raw, []string{"--in-dtype", "<i8", "--write", "pwrite"}},
		{"raw/cast/pwrite", raw, []string{"--in-dtype", "<i8", "--dtype", "float32", "--write", "pwrite"}},
		{"npy/cast", npy, []string{"--dtype", "float32"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := filepath.Join(dir, "victim")
			b, _ := os.ReadFile(c.in)
			os.WriteFile(in, b, 0o644)
			var once sync.Once
			testhook.BeforeBlock = func(i, _ int64) {
				if i >= 10 {
					once.Do(func() {
						if err := os.Truncate(in, 4096); err != nil {
							t.Error(err)
						}
					})
				}
			}
			defer func() { testhook.BeforeBlock = nil }()
			out := filepath.Join(dir, "out", "o.npy")
			os.MkdirAll(filepath.Dir(out), 0o755)
			args := append([]string{"convert", "--progress", "never", "--block-size", "512KiB",
				"--workers", "2", in, out}, c.args...)
			if strings.HasPrefix(c.name, "npy") {
				args = append(args, "--format", "npy")
			}
			code, _, stderr := bigconv(t, args...)
			if code != 1 || !strings.Contains(stderr, in) || !strings.Contains(stderr, "offset") {
				t.Fatalf("exit %d, stderr %q; want exit 1 naming %s and an offset", code, stderr, in)
			}
			t.Logf("%s", strings.TrimSpace(stderr))
			leftovers(t, filepath.Dir(out))
		})
	}
}
