package tfbundle

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/format/tfbundle/internal/table"
	"github.com/bigconv/bigconv/internal/crc32c"
	"github.com/bigconv/bigconv/tensor"
)

// realIndexes returns the bytes of the real index files (and the V1
// checkpoints) for fuzz seeds; none when the shared data is absent.
func realIndexes(f *testing.F) [][]byte {
	dir := filepath.Join("..", "..", "shared", "testdata", "real")
	var out [][]byte
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if strings.HasSuffix(path, ".index") || strings.HasSuffix(path, "/export") || strings.HasSuffix(path, "export-00000-of-00001") {
			if b, err := os.ReadFile(path); err == nil {
				out = append(out, b)
			}
		}
		return nil
	})
	return out
}

// fakeShard serves every shard name with the same deterministic bytes.
var fakeShard = func() []byte {
	b := make([]byte, 4096)
	pattern(7)(0, b)
	return b
}()

func fakeSibling(string) (io.ReaderAt, int64, error) {
	return bytes.NewReader(fakeShard), int64(len(fakeShard)), nil
}

// exercise reads a little of every tensor's data. A read error must wrap
// a sentinel and come with a short count: callers (the engine's slicer)
// take n == len(p) for success.
func exercise(t *testing.T, ts []*tensor.Tensor) {
	buf := make([]byte, 512)
	read := func(tt *tensor.Tensor, n, off int64) {
		p := buf[:min(int64(len(buf)), max(n-off, 0))]
		k, err := tt.Data.ReadAt(p, off)
		switch {
		case k == len(p) && err != nil && err != io.EOF:
			t.Fatalf("%s: ReadAt(%d) read all %d bytes but returned %v", tt.Name, off, k, err)
		case k < len(p) && err == nil:
			t.Fatalf("%s: ReadAt(%d) read %d of %d bytes without an error", tt.Name, off, k, len(p))
		case err != nil && err != io.EOF && !isSentinel(err):
			t.Fatalf("%s: ReadAt(%d): %v wraps no sentinel", tt.Name, off, err)
		}
	}
	for _, tt := range ts {
		if tt.Data == nil {
			continue
		}
		n, err := tt.NumBytes()
		if err != nil {
			t.Fatalf("%s: listed with bad size: %v", tt.Name, err)
		}
		for _, off := range []int64{0, 1, n / 2, n - 1} {
			if off >= 0 && off < n {
				read(tt, n, off)
			}
		}
		for off := int64(0); off < n && off < 1<<16; off += int64(len(buf)) {
			read(tt, n, off)
		}
	}
}

func FuzzTable(f *testing.F) {
	for _, b := range realIndexes(f) {
		f.Add(b)
		// and each real table's first data block, for wrapBlock
		if tb, err := table.Open(bytes.NewReader(b), int64(len(b)), "seed"); err == nil && tb.NumBlocks() > 0 {
			if blk, err := tb.ReadBlock(tb.Block(0)); err == nil {
				f.Add(blk)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// The bytes as a whole file, then as the contents of the only data
		// block of a table with valid checksums (mutations of a whole
		// file rarely get past the block CRCs).
		for _, file := range [][]byte{data, wrapBlock(data)} {
			b, err := Open(bytes.NewReader(file), int64(len(file)), "f.index", fakeSibling)
			if err != nil {
				if !isSentinel(err) {
					t.Fatalf("error wraps no sentinel: %v", err)
				}
				if !strings.HasPrefix(err.Error(), "tfbundle: ") {
					t.Fatalf("error lacks prefix: %v", err)
				}
				continue
			}
			exercise(t, b.Tensors())
		}
	})
}

// wrapBlock builds a table whose single data block is content.
func wrapBlock(content []byte) []byte {
	var out []byte
	block := func(c []byte) (uint64, uint64) {
		off := uint64(len(out))
		out = append(out, c...)
		crc := crc32c.Update(crc32c.Checksum(c), []byte{0})
		out = append(out, 0)
		out = binary.LittleEndian.AppendUint32(out, crc32c.Mask(crc))
		return off, uint64(len(c))
	}
	dOff, dSize := block(content)
	mOff, mSize := block([]byte{0, 0, 0, 0, 1, 0, 0, 0})
	var h []byte
	h = binary.AppendUvarint(h, dOff)
	h = binary.AppendUvarint(h, dSize)
	var ib []byte
	ib = append(ib, 0, 1, byte(len(h)), 0xff)
	ib = append(ib, h...)
	ib = append(ib, 0, 0, 0, 0, 1, 0, 0, 0)
	iOff, iSize := block(ib)
	var foot [48]byte
	n := binary.PutUvarint(foot[:], mOff)
	n += binary.PutUvarint(foot[n:], mSize)
	n += binary.PutUvarint(foot[n:], iOff)
	binary.PutUvarint(foot[n:], iSize)
	binary.LittleEndian.PutUint64(foot[40:], table.Magic)
	return append(out, foot[:]...)
}

func FuzzBundleEntry(f *testing.F) {
	for _, idx := range realIndexes(f) {
		tb, err := table.Open(bytes.NewReader(idx), int64(len(idx)), "seed")
		if err != nil {
			continue
		}
		tb.Walk(func(key, value []byte, _ int64) error {
			if len(key) > 0 {
				f.Add(append([]byte(nil), value...))
			}
			return nil
		})
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := parseEntry(data)
		if err != nil {
			return
		}
		for _, big := range []bool{false, true} {
			o := &opener{b: &Bundle{name: "f.index", numShards: 2, bigEndian: big}, sibling: fakeSibling,
				shards: map[int64]*shardFile{}, entries: map[string]*entry{"x": e}, prefix: "f"}
			tt, err := o.tensor("x", e)
			if err != nil {
				if !isSentinel(err) {
					t.Fatalf("error wraps no sentinel: %v", err)
				}
				continue
			}
			exercise(t, []*tensor.Tensor{tt})
		}
	})
}

// FuzzStrings fuzzes the data of a DT_STRING entry and its count; with
// fix set, both checksums are made to match whatever lengths the data
// holds. Reads in any pieces give the bytes of one whole read, which are
// the strings as NUL-padded records.
func FuzzStrings(f *testing.F) {
	for _, strs := range [][]string{{"ab", "", "xyz"}, {}, {"", ""}, {strings.Repeat("q", 300), "r"}} {
		data, _ := stringBytes(strs...)
		f.Add(data, uint16(len(strs)), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, n uint16, fix bool) {
		data = bytes.Clone(data)
		var crc uint32
		if fix {
			var c uint32
			off := 0
			for range n {
				l, k := binary.Uvarint(data[off:])
				if k <= 0 {
					break
				}
				if l <= 0xffffffff {
					c = crc32c.Update(c, binary.LittleEndian.AppendUint32(nil, uint32(l)))
				} else {
					c = crc32c.Update(c, binary.LittleEndian.AppendUint64(nil, l))
				}
				off += k
			}
			if off+4 <= len(data) {
				binary.LittleEndian.PutUint32(data[off:], crc32c.Mask(c))
				crc = crc32c.Mask(crc32c.Update(c, data[off:]))
			}
		}
		e := &entry{dtype: 7, shape: []int64{int64(n)}, hasShape: true, size: int64(len(data)), crc: crc, hasCRC: true}
		o := &opener{b: &Bundle{name: "f.index", numShards: 1}, shards: map[int64]*shardFile{}, entries: map[string]*entry{"s": e}, prefix: "f",
			sibling: func(string) (io.ReaderAt, int64, error) { return bytes.NewReader(data), int64(len(data)), nil }}
		tt, err := o.tensor("s", e)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		size, err := tt.NumBytes()
		if err != nil {
			t.Fatalf("%v %v: %v", tt.DType, tt.Shape, err)
		}
		if size > 1<<22 {
			return
		}
		whole := make([]byte, size)
		if k, err := tt.Data.ReadAt(whole, 0); k != len(whole) {
			if err == nil || !isSentinel(err) {
				t.Fatalf("ReadAt: %d of %d bytes: %v", k, size, err)
			}
			return
		}
		// the records, decoded independently
		w := int64(tt.DType.Size())
		want := make([]byte, size)
		p := data
		lens := make([]uint64, n)
		for i := range lens {
			l, k := binary.Uvarint(p)
			if k <= 0 {
				t.Fatal("accepted a bad length")
			}
			lens[i], p = l, p[k:]
		}
		if n > 0 {
			p = p[4:]
		}
		for i, l := range lens {
			copy(want[int64(i)*w:], p[:l])
			p = p[l:]
		}
		if !bytes.Equal(whole, want) {
			t.Fatalf("records %q, want %q", whole, want)
		}
		for step := int64(1); step <= 7; step += 3 {
			for off := int64(0); off < size; off += step {
				q := make([]byte, min(step, size-off))
				if k, err := tt.Data.ReadAt(q, off); k != len(q) || !bytes.Equal(q, whole[off:off+int64(k)]) {
					t.Fatalf("ReadAt(%d, %d bytes): %q, %v; want %q", off, len(q), q[:k], err, whole[off:off+int64(len(q))])
				}
			}
		}
	})
}
