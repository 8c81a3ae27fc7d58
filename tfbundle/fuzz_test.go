package tfbundle

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/internal/crc32c"
	"github.com/bigconv/bigconv/tensor"
	"github.com/bigconv/bigconv/tfbundle/internal/table"
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

// exercise reads a little of every tensor's data.
func exercise(t *testing.T, ts []*tensor.Tensor) {
	buf := make([]byte, 512)
	for _, tt := range ts {
		if tt.Data == nil {
			continue
		}
		n, err := tt.NumBytes()
		if err != nil {
			t.Fatalf("%s: listed with bad size: %v", tt.Name, err)
		}
		for _, off := range []int64{0, 1, n / 2, n - 1} {
			if off >= 0 {
				tt.Data.ReadAt(buf, off)
			}
		}
		for off := int64(0); off < n && off < 1<<16; off += int64(len(buf)) {
			tt.Data.ReadAt(buf, off)
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
		tb.Walk(func(key, value []byte) error {
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
