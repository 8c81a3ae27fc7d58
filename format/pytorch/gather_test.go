package pytorch

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"
)

// TestGatherOffsets reads a strided view at every byte offset and length
// up to a few elements, against the elements computed one by one.
func TestGatherOffsets(t *testing.T) {
	// storage: uint16 k at element k
	const numel = 4 * 6 * 5
	var st []byte
	for k := range numel {
		st = binary.LittleEndian.AppendUint16(st, uint16(k))
	}
	for _, c := range []struct {
		off          int64
		size, stride []int64
	}{
		{0, []int64{6, 4, 5}, []int64{5, 30, 1}},  // transpose(0, 1)
		{3, []int64{4, 6}, []int64{30, 5}},        // a column
		{1, []int64{2, 3, 4}, []int64{30, 10, 1}}, // steps and offsets
		{7, []int64{3, 4}, []int64{0, 1}},         // expanded
		{0, []int64{5, 6, 4}, []int64{1, 5, 30}},  // reversed (Fortran)
		{2, []int64{2, 1, 3}, []int64{0, 99, 2}},  // zero and unit axes
	} {
		var want []byte
		idx := make([]int64, len(c.size))
		elems := int64(1)
		for _, n := range c.size {
			elems *= n
		}
		for range elems {
			p := c.off
			for k := range idx {
				p += idx[k] * c.stride[k]
			}
			want = append(want, st[2*p:2*p+2]...)
			for k := len(idx) - 1; k >= 0; k-- {
				if idx[k]++; idx[k] < c.size[k] {
					break
				}
				idx[k] = 0
			}
		}
		g := newGather(bytes.NewReader(st), 2*c.off, int64(len(st))-2*c.off, 2, reduce(c.size, c.stride), elems)
		for off := range int64(len(want)) {
			for n := int64(0); n <= 9 && off+n <= int64(len(want))+1; n++ {
				p := make([]byte, n)
				k, err := g.ReadAt(p, off)
				end := min(off+n, int64(len(want)))
				if int64(k) != end-off || !bytes.Equal(p[:k], want[off:end]) {
					t.Fatalf("%v/%v: ReadAt(%d, %d) = %d %v: %x, want %x", c.size, c.stride, n, off, k, err, p[:k], want[off:end])
				}
				if (off+n > int64(len(want))) != (err == io.EOF) {
					t.Fatalf("%v/%v: ReadAt(%d, %d): err %v", c.size, c.stride, n, off, err)
				}
			}
		}
	}
}

// BenchmarkGather reads a 64 MiB float32 tensor's views in 4 MiB blocks
// from memory: a contiguous section (the baseline), a step along the last
// axis (short runs served from windows), a permute whose inner axis is
// not contiguous, and a column of wide rows (direct reads of one element).
func BenchmarkGather(b *testing.B) {
	const rows, cols = 4096, 4096
	st := make([]byte, rows*cols*4)
	r := bytes.NewReader(st)
	for _, c := range []struct {
		name         string
		size, stride []int64
	}{
		{"view=contiguous", []int64{rows, cols}, []int64{cols, 1}},
		{"view=step2", []int64{rows, cols / 2}, []int64{cols, 2}},
		{"view=permute", []int64{64, 64, rows}, []int64{64, 1, cols}},
		{"view=column", []int64{rows}, []int64{cols}},
	} {
		b.Run(c.name, func(b *testing.B) {
			l := reduce(c.size, c.stride)
			elems := int64(1)
			for _, n := range c.size {
				elems *= n
			}
			var rd io.ReaderAt = newGather(r, 0, int64(len(st)), 4, l, elems)
			if l.contiguous() {
				rd = io.NewSectionReader(r, 0, elems*4)
			}
			buf := make([]byte, 4<<20)
			b.SetBytes(elems * 4)
			for b.Loop() {
				for off := int64(0); off < elems*4; off += int64(len(buf)) {
					n := min(int64(len(buf)), elems*4-off)
					if _, err := rd.ReadAt(buf[:n], off); err != nil && err != io.EOF {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
