package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/engine"
	"github.com/bigconv/bigconv/engine/part"
	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/internal/crc32c"
	"github.com/bigconv/bigconv/internal/testhook"
	"github.com/bigconv/bigconv/mmapnpz"
	"github.com/bigconv/bigconv/tensor"
)

// archiveInput is multiInput with a uint8 tensor of 3-byte rows, so that
// members of different item sizes sit at offsets of every alignment.
func archiveInput() *format.Input {
	in := multiInput()
	data := make([]byte, 5001*3)
	for i := range data {
		data[i] = byte(i*7 + 1)
	}
	crc := crc32c.Checksum(data)
	in.Tensors = append(in.Tensors, &tensor.Tensor{Name: "bytes", File: "ckpt.data", DType: dtype.Of(dtype.Uint8),
		Shape: dtype.Shape{5001, 3}, Data: bytes.NewReader(data), Contiguous: true, CRC32C: &crc})
	return in
}

// runParts runs parts idx of n of in → out at once.
func runArchiveParts(n int, idx []int, out string, opt engine.InputOptions) ([]engine.PartResult, []error) {
	var wg sync.WaitGroup
	res := make([]engine.PartResult, len(idx))
	errs := make([]error, len(idx))
	for k, i := range idx {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[k], errs[k] = engine.RunPart(context.Background(), archiveInput(), out, opt, part.Spec{Index: i, Count: n})
		}()
	}
	wg.Wait()
	return res, errs
}

// TestRunPartArchive (issue 13): a multi-tensor input to an .npz, in N
// parts at once, is byte for byte ConvertArchive's archive when both
// give the members the same time (and mmapnpz.PartsModTime when the
// parts are given none); one commit; nothing left beside it.
func TestRunPartArchive(t *testing.T) {
	dir := t.TempDir()
	mod := time.Date(2025, 3, 4, 5, 6, 8, 0, time.UTC)
	for _, c := range []struct {
		name    string
		opt     engine.InputOptions
		wantMod time.Time
	}{
		{"as-is", engine.InputOptions{Options: engine.Options{BlockSize: 20 << 10}, ModTime: mod}, mod},
		{"to-f8", engine.InputOptions{Options: engine.Options{DType: dtype.MustParse("<f8"), BlockSize: 20 << 10, CheckpointBytes: 64 << 10}}, mmapnpz.PartsModTime},
	} {
		wopt := c.opt
		wopt.ModTime = c.wantMod
		want := filepath.Join(dir, "want.npz")
		sum, err := engine.ConvertArchive(context.Background(), archiveInput(), want, wopt)
		if err != nil {
			t.Fatal(err)
		}
		wantB, _ := os.ReadFile(want)
		os.Remove(want)
		for _, n := range []int{1, 3, 8} {
			out := filepath.Join(dir, "out.npz")
			idx := make([]int, n)
			for i := range idx {
				idx[i] = i
			}
			res, errs := runArchiveParts(n, idx, out, c.opt)
			commits := 0
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("%s, %d parts: part %d: %v", c.name, n, i, errs[i])
				}
				if res[i].Committed {
					commits++
					s := res[i].Summary
					if s == nil || !s.Archive || len(s.Tensors) != len(sum.Tensors) || len(s.Skipped) != 1 {
						t.Fatalf("summary %+v", s)
					}
					for k := range s.Tensors {
						if fmt.Sprint(s.Tensors[k]) != fmt.Sprint(sum.Tensors[k]) {
							t.Fatalf("tensor %d: parts say %+v, one run %+v", k, s.Tensors[k], sum.Tensors[k])
						}
					}
				}
			}
			if commits != 1 {
				t.Fatalf("%s, %d parts: %d commits", c.name, n, commits)
			}
			got, err := os.ReadFile(out)
			if err != nil || !bytes.Equal(got, wantB) {
				t.Fatalf("%s, %d parts: the archive differs from ConvertArchive's (%d bytes, want %d; %v)", c.name, n, len(got), len(wantB), err)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				var ns []string
				for _, e := range ents {
					ns = append(ns, e.Name())
				}
				t.Fatalf("%s, %d parts left %v", c.name, n, ns)
			}
			// a part run again after the commit has nothing to do
			if r, err := engine.RunPart(context.Background(), archiveInput(), out, c.opt, part.Spec{Index: 0, Count: n}); err != nil || !r.NothingToDo {
				t.Fatalf("rerun after the commit: %+v, %v", r, err)
			}
			os.Remove(out)
		}
	}
}

// TestRunPartArchiveResume: a part interrupted after some chunks, rerun,
// keeps them (their CRC-32 ranges from its journal), and the archive is
// still ConvertArchive's; parts given another member time are refused.
func TestRunPartArchiveResume(t *testing.T) {
	dir := t.TempDir()
	opt := engine.InputOptions{Options: engine.Options{DType: dtype.MustParse("<f8"), BlockSize: 8 << 10, CheckpointBytes: 16 << 10, Workers: 1}}
	want := filepath.Join(dir, "want.npz")
	wopt := opt
	wopt.ModTime = mmapnpz.PartsModTime
	if _, err := engine.ConvertArchive(context.Background(), archiveInput(), want, wopt); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.npz")
	ctx, cancel := context.WithCancel(context.Background())
	var blocks atomic.Int64
	testhook.BeforeBlock = func(i, total int64) {
		if blocks.Add(1) == 12 {
			cancel()
		}
	}
	_, err := engine.RunPart(ctx, archiveInput(), out, opt, part.Spec{Index: 0, Count: 2})
	testhook.BeforeBlock = nil
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted part: %v", err)
	}
	r1, err := engine.RunPart(context.Background(), archiveInput(), out, opt, part.Spec{Index: 1, Count: 2})
	if err != nil || r1.Committed {
		t.Fatalf("part 1: %+v, %v", r1, err)
	}
	// its marker hands the committer the CRC-32 ranges it wrote
	if m, err := os.ReadFile(part.MarkerPath(out, part.Spec{Index: 1, Count: 2})); err != nil || !bytes.Contains(m, []byte(`"crc32"`)) {
		t.Fatalf("marker of part 1 without CRC-32 ranges (%v):\n%s", err, m)
	}
	other := opt
	other.ModTime = time.Date(2020, 1, 2, 3, 4, 6, 0, time.UTC)
	if _, err := engine.RunPart(context.Background(), archiveInput(), out, other, part.Spec{Index: 0, Count: 2}); !errors.Is(err, part.ErrMismatch) {
		t.Fatalf("a part with another member time: %v, want ErrMismatch", err)
	}
	r0, err := engine.RunPart(context.Background(), archiveInput(), out, opt, part.Spec{Index: 0, Count: 2})
	if err != nil || !r0.Committed || r0.Resumed == 0 {
		t.Fatalf("part 0 rerun: resumed %d chunks, committed %v, %v", r0.Resumed, r0.Committed, err)
	}
	t.Logf("the rerun kept %d chunk(s)", r0.Resumed)
	a, _ := os.ReadFile(want)
	b, _ := os.ReadFile(out)
	if !bytes.Equal(a, b) {
		t.Fatal("the archive of a resumed part differs from ConvertArchive's")
	}
}
