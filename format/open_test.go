package format_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/format/npy/npyhdr"
	"github.com/bigconv/bigconv/internal/tfgen"
	"github.com/bigconv/bigconv/tensor"
)

// TestOpenPathResolves opens one checkpoint by every name a user gives
// it, and refuses the names that are no input with a message saying why.
func TestOpenPathResolves(t *testing.T) {
	dir := t.TempDir()
	one := []tfgen.BundleTensor{{Name: "w", DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{2}}}
	sm := filepath.Join(dir, "saved_model", "variables")
	os.MkdirAll(sm, 0o755)
	for _, w := range []struct{ dir, prefix string }{{dir, "ckpt"}, {sm, "variables"}} {
		if err := tfgen.WriteBundle(w.dir, w.prefix, one, tfgen.BundleOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	two := filepath.Join(dir, "two")
	os.Mkdir(two, 0o755)
	tfgen.WriteBundle(two, "a", one, tfgen.BundleOptions{})
	tfgen.WriteBundle(two, "b", one, tfgen.BundleOptions{})
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)

	for _, c := range []struct{ path, want string }{
		{filepath.Join(dir, "ckpt"), filepath.Join(dir, "ckpt.index")},
		{filepath.Join(dir, "ckpt.index"), filepath.Join(dir, "ckpt.index")},
		{filepath.Join(dir, "saved_model"), filepath.Join(sm, "variables.index")},
		{sm, filepath.Join(sm, "variables.index")},
	} {
		in, err := format.OpenPath(c.path, format.Options{})
		if err != nil {
			t.Errorf("%s: %v", c.path, err)
			continue
		}
		if in.Path != c.want || in.Format != "tfbundle" || !in.Collection || len(in.Tensors) != 1 {
			t.Errorf("%s: opened %s as %s (collection %v, %d tensors), want %s", c.path, in.Path, in.Format, in.Collection, len(in.Tensors), c.want)
		}
		if id := in.Identity(); !strings.Contains(id, ".index size=") || !strings.Contains(id, ".data-00000-of-00001 size=") {
			t.Errorf("%s: identity %q does not name the index and its shard", c.path, id)
		}
		if err := in.Close(); err != nil {
			t.Error(err)
		}
	}
	for _, c := range []struct{ path, want string }{
		{two, "holds 2 checkpoints"},
		{empty, "without a SavedModel"},
		{filepath.Join(dir, "nothing"), "no such file"},
	} {
		if _, err := format.OpenPath(c.path, format.Options{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.path, err, c.want)
		}
	}
}

// TestOpenPathStdin reads a .npy from a reader standing for stdin.
func TestOpenPathStdin(t *testing.T) {
	hdr, err := npyhdr.Encode(dtype.MustParse("<i4"), dtype.Shape{3, 2}, false)
	if err != nil {
		t.Fatal(err)
	}
	in, err := format.OpenPath("-", format.Options{Stdin: strings.NewReader(string(hdr) + strings.Repeat("\x01\x00\x00\x00", 6))})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	tt := in.Tensors[0]
	if in.Path != "-" || in.Format != "npy" || tt.Stream == nil || tt.Data != nil || !tt.Shape.Equal(dtype.Shape{3, 2}) {
		t.Fatalf("stdin: %s %s %+v", in.Path, in.Format, tt)
	}
	b := make([]byte, 100)
	n, _ := tt.Stream.Read(b)
	for n < 24 {
		k, err := tt.Stream.Read(b[n:])
		if err != nil {
			break
		}
		n += k
	}
	if n != 24 {
		t.Fatalf("stream gave %d bytes, want 24", n)
	}
	// Formats that must seek refuse a stream themselves.
	_, err = format.OpenPath("-", format.Options{Format: "safetensors", Stdin: strings.NewReader("{}")})
	if !errors.Is(err, tensor.ErrUnsupported) || !strings.Contains(err.Error(), "stream") {
		t.Fatalf("safetensors from stdin: %v", err)
	}
}

// TestOpenPathHints: files no reader reads but a hint knows are named.
func TestOpenPathHints(t *testing.T) {
	dir := t.TempDir()
	for name, want := range map[string]string{
		"model.safetensors.index.json": "sharded safetensors model",
		"plain.json":                   "no known magic",
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(`{"metadata": {}, "x": 1}`), 0o644)
		_, err := format.OpenPath(p, format.Options{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", name, err, want)
		}
	}
}
