package engine

import (
	"fmt"
	"testing"

	"github.com/bigconv/bigconv/engine/part"
	"github.com/bigconv/bigconv/mmapnpz"
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
