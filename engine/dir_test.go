package engine_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/engine"
	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/internal/testhook"
	"github.com/bigconv/bigconv/tensor"
)

// memInput is an input of float32 tensors held in memory, plus one that
// cannot be converted.
func memInput(names ...string) *format.Input {
	in := &format.Input{Format: "mem", Collection: true, Path: "mem"}
	for i, n := range names {
		data := bytes.Repeat([]byte{byte(i), 0, 0x80, 0x3f}, 256)
		in.Tensors = append(in.Tensors, &tensor.Tensor{Name: n, DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{16, 16},
			Data: bytes.NewReader(data), Contiguous: true})
	}
	in.Tensors = append(in.Tensors, &tensor.Tensor{Name: "res", Unsupported: "a resource handle"})
	return in
}

func names(t *testing.T, dir string) string {
	t.Helper()
	var ns []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			ns = append(ns, filepath.ToSlash(rel))
		}
		return nil
	})
	return strings.Join(ns, ",")
}

func TestConvertDir(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	out := filepath.Join(dir, "out")

	// Progress counts the whole input; the unconvertible tensor is
	// skipped and listed.
	var last, total int64
	var events []string
	sum, err := engine.ConvertDir(ctx, memInput("a/x", "b"), out, engine.InputOptions{
		Options: engine.Options{Progress: func(d, n int64) { last, total = d, n }},
		Event:   func(e engine.Event) { events = append(events, e.Kind.String()+" "+e.Tensor.Name) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if last != 2048 || total != 2048 {
		t.Errorf("progress ended at %d of %d, want 2048 of 2048", last, total)
	}
	if got := strings.Join(events, "; "); got != "skipped res; converted a/x; converted b" {
		t.Errorf("events: %s", got)
	}
	if !sum.Dir || len(sum.Tensors) != 2 || len(sum.Skipped) != 1 || names(t, out) != "a/x.npy,b.npy,manifest.json" {
		t.Fatalf("summary %+v, files %s", sum, names(t, out))
	}
	if !engine.MadeByBigconv(out) {
		t.Fatal("MadeByBigconv is false for ConvertDir's output")
	}

	// Made by bigconv: replaced whole.
	if _, err := engine.ConvertDir(ctx, memInput("c"), out, engine.InputOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := names(t, out); got != "c.npy,manifest.json" {
		t.Fatalf("after replacing: %s", got)
	}

	// Not made by bigconv: refused, untouched; with Force, added to.
	mine := filepath.Join(dir, "mine")
	os.Mkdir(mine, 0o755)
	os.WriteFile(filepath.Join(mine, "notes"), []byte("x"), 0o644)
	_, err = engine.ConvertDir(ctx, memInput("a"), mine, engine.InputOptions{})
	if !errors.Is(err, engine.ErrNotOurs) || names(t, mine) != "notes" {
		t.Fatalf("foreign directory: %v, files %s", err, names(t, mine))
	}
	if _, err := engine.ConvertDir(ctx, memInput("a"), mine, engine.InputOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if got := names(t, mine); got != "a.npy,manifest.json,notes" {
		t.Fatalf("forced: %s", got)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Fatalf("%s holds %d entries, want out and mine only", dir, len(ents))
	}
}

func TestConvertInputShapes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// One tensor of a collection to a .npy file.
	sum, err := engine.ConvertInput(ctx, memInput("a", "b"), filepath.Join(dir, "a.npy"), engine.InputOptions{Tensors: []string{"a"}})
	if err != nil || sum.Dir || len(sum.Tensors) != 1 {
		t.Fatalf("one tensor: %+v %v", sum, err)
	}
	// One tensor of a collection to a directory.
	sum, err = engine.ConvertInput(ctx, memInput("a", "b"), filepath.Join(dir, "d"), engine.InputOptions{Tensors: []string{"b"}})
	if err != nil || !sum.Dir || names(t, filepath.Join(dir, "d")) != "b.npy,manifest.json" {
		t.Fatalf("one tensor to a directory: %+v %v", sum, err)
	}
	// Several to a .npy: refused, nothing written.
	_, err = engine.ConvertInput(ctx, memInput("a", "b"), filepath.Join(dir, "x.NPY"), engine.InputOptions{})
	if !errors.Is(err, engine.ErrManyTensors) || !strings.Contains(err.Error(), "--tensor") {
		t.Fatalf("several to .npy: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.NPY")); !os.IsNotExist(err) {
		t.Fatal("x.NPY was created")
	}
	// Pick narrows the selection: here to every other tensor.
	every2 := func(ts []*tensor.Tensor) (out []*tensor.Tensor) {
		for i := 0; i < len(ts); i += 2 {
			out = append(out, ts[i])
		}
		return out
	}
	sum, err = engine.ConvertInput(ctx, memInput("a", "b", "c"), filepath.Join(dir, "p"), engine.InputOptions{Pick: every2})
	if err != nil || names(t, filepath.Join(dir, "p")) != "a.npy,c.npy,manifest.json" {
		t.Fatalf("picked: %+v %v", sum, err)
	}
	// A glob that matches nothing.
	if _, err := engine.ConvertInput(ctx, memInput("a"), filepath.Join(dir, "y"), engine.InputOptions{Tensors: []string{"z*"}}); !errors.Is(err, format.ErrNoMatch) {
		t.Fatalf("no match: %v", err)
	}
}

// TestConvertDirSyncsBeforeRecording: each tensor's file is fsynced once
// (in the background, while the next converts) and recorded in the
// journal only after that, so a resumed run never keeps a tensor whose
// bytes a power cut could have lost; the journal is written at the
// checkpoint cadence (by default none before the commit in a short run,
// after every tensor with a byte interval alone).
func TestConvertDirSyncsBeforeRecording(t *testing.T) {
	defer func() { testhook.Fsync = nil }()
	for _, tc := range []struct {
		opt  engine.Options
		want string
	}{
		// the first journal write is the empty one made before converting
		{engine.Options{}, "journal; file a.npy; file b.npy; file c.npy; file d.npy"},
		{engine.Options{CheckpointBytes: 1}, "journal; file a.npy; journal; file b.npy; journal; file c.npy; journal; file d.npy; journal"},
	} {
		var mu sync.Mutex
		var seq []string
		testhook.Fsync = func(what string) {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case strings.HasSuffix(what, ".npy"):
				seq = append(seq, "file "+filepath.Base(what))
			case filepath.Base(what) == ".bigconv-journal.json": // the directory's, not a tensor's own
				seq = append(seq, "journal")
			}
		}
		out := filepath.Join(t.TempDir(), "out")
		if _, err := engine.ConvertDir(context.Background(), memInput("a", "b", "c", "d"), out, engine.InputOptions{Options: tc.opt}); err != nil {
			t.Fatal(err)
		}
		testhook.Fsync = nil
		if got := strings.Join(seq, "; "); got != tc.want {
			t.Fatalf("%+v: fsyncs in order:\n%s\nwant\n%s", tc.opt, got, tc.want)
		}
		if got := names(t, out); got != "a.npy,b.npy,c.npy,d.npy,manifest.json" {
			t.Fatalf("files %s", got)
		}
	}
}
