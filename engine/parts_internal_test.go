package engine

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/engine/part"
	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/mmapnpz"
	"github.com/bigconv/bigconv/tensor"
)

// chunks cuts a part's ranges of one file into page-aligned pieces of the
// checkpoint size that cover them exactly, in order.
func TestChunks(t *testing.T) {
	for _, rs := range [][]part.Range{
		{{Start: 0, End: 128}},
		{{Start: 0, End: 10 << 20}},
		{{Start: 4096, End: 4096 * 300}, {Start: 4096 * 500, End: 4096*900 + 77}},
	} {
		for _, size := range []int64{1, 4096, 100000, 1 << 20, 1 << 40} {
			cs := chunks(rs, size)
			var flat []part.Range
			for _, c := range cs {
				var n int64
				for _, r := range c {
					n += r.Len()
					if r.Start%part.Page != 0 {
						t.Fatalf("chunk piece %+v off a page", r)
					}
				}
				if n > max(size/part.Page*part.Page, part.Page) {
					t.Fatalf("chunk of %d bytes, size %d", n, size)
				}
				flat = append(flat, c...)
			}
			// joined back, the pieces are the ranges
			var joined []part.Range
			for _, r := range flat {
				if k := len(joined) - 1; k >= 0 && joined[k].End == r.Start {
					joined[k].End = r.End
				} else {
					joined = append(joined, r)
				}
			}
			if fmt.Sprint(joined) != fmt.Sprint(rs) {
				t.Fatalf("size %d: chunks %v join to %v, want %v", size, cs, joined, rs)
			}
		}
	}
}

// mergeSums joins a kept run's CRC-32 ranges and this run's per member,
// sorted by offset, and gives up (nil: the committer reads back) past
// maxSumRanges.
func TestMergeSums(t *testing.T) {
	r := func(off int64) mmapnpz.Range { return mmapnpz.Range{Off: off, Len: 10, CRC: uint32(off)} }
	a := mmapnpz.Sums{Members: []mmapnpz.MemberSums{{Member: 3, Ranges: []mmapnpz.Range{r(40)}}, {Member: 1, Ranges: []mmapnpz.Range{r(0)}}}}
	b := mmapnpz.Sums{Members: []mmapnpz.MemberSums{{Member: 3, Ranges: []mmapnpz.Range{r(0), r(80)}}}}
	got := mergeSums(a, b)
	if want := "&{[{1 [{0 10 0}]} {3 [{0 10 0} {40 10 40} {80 10 80}]}]}"; fmt.Sprint(got) != want {
		t.Fatalf("mergeSums: %v, want %s", got, want)
	}
	defer func(v int) { maxSumRanges = v }(maxSumRanges)
	maxSumRanges = 3
	if got := mergeSums(a, b); got != nil {
		t.Fatalf("4 ranges with a cap of 3: %v", got)
	}
}

// TestLateCommitterCleansUp: a part that found every part done, but took
// the commit lock only after another part had committed and cleaned up,
// made the lock file again; it must remove it, or it is left beside
// OUTPUT for good (seen once in TestRunPartMatchesOneRun with 40 parts).
func TestLateCommitterCleansUp(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.npy")
	tt := &tensor.Tensor{Name: "x", File: "mem.bin", DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{64, 8},
		Data: bytes.NewReader(make([]byte, 64*8*4)), Contiguous: true}
	in := &format.Input{Format: "mem", Path: "mem.bin", Tensors: []*tensor.Tensor{tt}}
	var opt InputOptions
	for i := range 2 {
		if _, err := RunPart(context.Background(), in, out, opt, part.Spec{Index: i, Count: 2}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatal(err)
	}
	// part 0 arrives at its commit step late: the output is in place
	pr, err := planPart(in, out, opt, part.Spec{Index: 0, Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := pr.commit(nil); err != nil || !pr.res.CommittedElsewhere {
		t.Fatalf("late commit: %v (committed elsewhere %v)", err, pr.res.CommittedElsewhere)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != "out.npy" {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("left beside the output: %v", names)
	}
}
