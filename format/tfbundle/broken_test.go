package tfbundle

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/golang/snappy"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format/tfbundle/internal/table"
	"github.com/bigconv/bigconv/internal/brokentest"
	"github.com/bigconv/bigconv/internal/crc32c"
	"github.com/bigconv/bigconv/internal/tfgen"
	"github.com/bigconv/bigconv/tensor"
)

// idxName is the index path of every test bundle: shards are named
// b/m.data-0000i-of-0000n in messages and m.data-… for the sibling.
const idxName = "b/m.index"

// memBundle is a bundle in memory: the index and the shards by base name
// (sparse shards by size, for shards too large to hold).
type memBundle struct {
	index  []byte
	shards map[string][]byte
	sparse map[string]sparse
}

// sparse is a large shard: head, then its size-len(head) bytes of fill.
type sparse struct {
	head []byte
	fill byte
	size int64
}

func (s sparse) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= s.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), s.size-off))
	for i := range n {
		if o := off + int64(i); o < int64(len(s.head)) {
			p[i] = s.head[o]
		} else {
			p[i] = s.fill
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func shardName(i, n int) string { return DataFile("m", i, n) }

func (m memBundle) open() (*Bundle, error) {
	return Open(bytes.NewReader(m.index), int64(len(m.index)), idxName, func(name string) (io.ReaderAt, int64, error) {
		if b, ok := m.shards[name]; ok {
			return bytes.NewReader(b), int64(len(b)), nil
		}
		if s, ok := m.sparse[name]; ok {
			return s, s.size, nil
		}
		return nil, 0, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	})
}

// readTensors reads the Data of every tensor as the engine does, and
// checks each CRC32C as the engine does; the first failure is returned.
func readTensors(b *Bundle) error {
	for _, tt := range b.Tensors() {
		if tt.Data == nil {
			continue
		}
		n, err := tt.NumBytes()
		if err != nil {
			return err
		}
		const chunk = 13
		var crc uint32
		buf := make([]byte, chunk)
		for off := int64(0); off < n; off += chunk {
			p := buf[:min(chunk, n-off)]
			k, err := tt.Data.ReadAt(p, off)
			if k != len(p) {
				if err == nil {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
			crc = crc32c.Combine(crc, crc32c.Checksum(p), int64(len(p)))
		}
		if tt.CRC32C != nil && crc != *tt.CRC32C {
			return tensor.Errorf(tensor.ErrChecksum, tt.File, tt.Name, tt.Offset, "crc32c %08x, index says %08x (engine check)", crc, *tt.CRC32C)
		}
	}
	return nil
}

// errUnsupportedTensor marks a case whose tensor is listed as Unsupported.
var errUnsupportedTensor = errors.New("listed as unsupported")

type brokenCase struct {
	name string
	b    memBundle
	want error  // a sentinel (or fs.ErrNotExist); nil = opens and reads
	file string // the file the message names (default: the index)
	msg  string // parts separated by "…" that the message holds
}

// --- hand-made bundles ---

// neg is v as a varint of a negative int32/int64 field.
func neg(v int64) uint64 { return uint64(v) }

// headerProto is a BundleHeaderProto: num_shards, version {producer: 1}, then more.
func headerProto(shards uint64, more ...[]byte) []byte {
	return brokentest.Cat(append([][]byte{brokentest.VarintField(1, shards), brokentest.BytesField(3, brokentest.VarintField(1, 1))}, more...)...)
}

func shapeField(dims ...uint64) []byte {
	var sh []byte
	for _, d := range dims {
		sh = append(sh, brokentest.BytesField(2, brokentest.VarintField(1, d))...)
	}
	return brokentest.BytesField(2, sh)
}

func crcField(masked uint32) []byte {
	return protowire.AppendFixed32(protowire.AppendTag(nil, 6, protowire.Fixed32Type), masked)
}

// sliceField is a TensorSliceProto of extents {start, length} (length
// -1: the full dimension, no fields).
func sliceField(ext ...[2]int64) []byte {
	var s []byte
	for _, x := range ext {
		var e []byte
		if x[1] >= 0 {
			e = brokentest.Cat(brokentest.VarintField(1, uint64(x[0])), brokentest.VarintField(2, uint64(x[1])))
		}
		s = append(s, brokentest.BytesField(1, e)...)
	}
	return brokentest.BytesField(7, s)
}

// numEntry is a BundleEntryProto of a numeric tensor at [off, off+n) of
// shard, with the CRC of data's bytes there.
func numEntry(dt uint64, shape []byte, shard int, off, n int64, data []byte) []byte {
	return brokentest.Cat(brokentest.VarintField(1, dt), shape, brokentest.VarintField(3, uint64(shard)), brokentest.VarintField(4, uint64(off)), brokentest.VarintField(5, uint64(n)),
		crcField(crc32c.Mask(crc32c.Checksum(data[off:off+n]))))
}

// shard0 is the data shard of the hand-made bundles.
var shard0 = func() []byte {
	b := make([]byte, 64)
	pattern(11)(0, b)
	return b
}()

// kv is one index entry.
type kv struct {
	key string
	val []byte
}

// index writes a table of entries (sorted here) with tfgen's writer.
func index(t *testing.T, entries ...kv) []byte {
	t.Helper()
	sort.Slice(entries, func(i, j int) bool { return entries[i].key < entries[j].key })
	var keys, vals [][]byte
	for _, e := range entries {
		keys = append(keys, []byte(e.key))
		vals = append(vals, e.val)
	}
	var buf bytes.Buffer
	if err := tfgen.WriteTable(&buf, keys, vals, tfgen.BundleOptions{}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// oneShard is a one-shard bundle of shard0 with these entries besides
// the header.
func oneShard(t *testing.T, entries ...kv) memBundle {
	return memBundle{index: index(t, append([]kv{{"", headerProto(1)}}, entries...)...),
		shards: map[string][]byte{shardName(0, 1): shard0}}
}

// stringBytes is a DT_STRING entry's bytes and its masked entry CRC, as
// BundleWriter writes them (little-endian).
func stringBytes(strs ...string) ([]byte, uint32) {
	var lens []byte
	var crc uint32
	for _, s := range strs {
		lens = binary.AppendUvarint(lens, uint64(len(s)))
		crc = crc32c.Update(crc, binary.LittleEndian.AppendUint32(nil, uint32(len(s))))
	}
	sum := binary.LittleEndian.AppendUint32(nil, crc32c.Mask(crc))
	crc = crc32c.Update(crc, sum)
	b := brokentest.Cat(lens, sum)
	for _, s := range strs {
		crc = crc32c.Update(crc, []byte(s))
		b = append(b, s...)
	}
	return b, crc32c.Mask(crc)
}

// strBundle is a one-shard bundle holding the string tensor s (shape
// dims) whose data is data, with the entry's fields given.
func strBundle(t *testing.T, data []byte, fields ...[]byte) memBundle {
	return memBundle{index: index(t, kv{"", headerProto(1)}, kv{"s", brokentest.Cat(append([][]byte{brokentest.VarintField(1, 7)}, fields...)...)}),
		shards: map[string][]byte{shardName(0, 1): data}}
}

// partBundle is a bundle of the partitioned int16 [4, 3] tensor p of
// two row slices in shard0, bytes [0, 12) and [12, 24); mut may change
// the entries before they are written.
func partBundle(t *testing.T, mut func(full *[]byte, slices map[string][]byte)) memBundle {
	s0, s1 := [][2]int64{{0, 2}, {0, -1}}, [][2]int64{{2, 2}, {0, -1}}
	full := brokentest.Cat(brokentest.VarintField(1, 5), shapeField(4, 3), sliceField(s0...), sliceField(s1...))
	slices := map[string][]byte{
		sliceKey("p", []extent{{0, 2}, {0, -1}}): numEntry(5, shapeField(2, 3), 0, 0, 12, shard0),
		sliceKey("p", []extent{{2, 2}, {0, -1}}): numEntry(5, shapeField(2, 3), 0, 12, 12, shard0),
	}
	if mut != nil {
		mut(&full, slices)
	}
	entries := []kv{{"", headerProto(1)}, {"p", full}}
	for k, v := range slices {
		entries = append(entries, kv{k, v})
	}
	return memBundle{index: index(t, entries...), shards: map[string][]byte{shardName(0, 1): shard0}}
}

// --- table layouts with valid checksums ---

// blockOf encodes a table block holding entries, one restart point each.
func blockOf(entries ...kv) []byte {
	var b, restarts []byte
	for _, e := range entries {
		restarts = binary.LittleEndian.AppendUint32(restarts, uint32(len(b)))
		b = binary.AppendUvarint(b, 0)
		b = binary.AppendUvarint(b, uint64(len(e.key)))
		b = binary.AppendUvarint(b, uint64(len(e.val)))
		b = append(b, e.key...)
		b = append(b, e.val...)
	}
	if len(entries) == 0 {
		restarts = binary.LittleEndian.AppendUint32(restarts, 0)
	}
	b = append(b, restarts...)
	return binary.LittleEndian.AppendUint32(b, uint32(len(restarts)/4))
}

func handle(h table.Handle) []byte {
	return binary.AppendUvarint(binary.AppendUvarint(nil, h.Offset), h.Size)
}

// layout writes a table: data blocks (stored as given, with compression
// type typ), an empty metaindex, an index block from index (nil: one
// entry per data block), then the footer, which foot may change.
func layout(blocks [][]byte, typ byte, index func(hs []table.Handle) []byte, foot func(f []byte)) []byte {
	var out []byte
	put := func(c []byte, typ byte) table.Handle {
		h := table.Handle{Offset: uint64(len(out)), Size: uint64(len(c))}
		out = append(out, c...)
		out = append(out, typ)
		crc := crc32c.Update(crc32c.Checksum(c), []byte{typ})
		out = binary.LittleEndian.AppendUint32(out, crc32c.Mask(crc))
		return h
	}
	var hs []table.Handle
	for _, b := range blocks {
		hs = append(hs, put(b, typ))
	}
	meta := put(blockOf(), 0)
	if index == nil {
		index = func(hs []table.Handle) []byte {
			var es []kv
			for i, h := range hs {
				es = append(es, kv{string(rune('a' + i)), handle(h)})
			}
			return blockOf(es...)
		}
	}
	idx := put(index(hs), 0)
	var f [table.FooterLen]byte
	n := copy(f[:], handle(meta))
	copy(f[n:], handle(idx))
	binary.LittleEndian.PutUint64(f[40:], table.Magic)
	if foot != nil {
		foot(f[:])
	}
	return append(out, f[:]...)
}

// goodBlock is a data block with the header and one valid entry x.
var goodBlock = blockOf(kv{"", headerProto(1)}, kv{"x", numEntry(1, shapeField(4), 0, 8, 16, shard0)})

func withIndex(b []byte) memBundle {
	return memBundle{index: b, shards: map[string][]byte{shardName(0, 1): shard0}}
}

// --- the cases ---

// generated is a bundle written by tfgen.WriteBundle, two shards:
// shard 0 holds a (bytes 0-60), slice 1 of p (60-72) and s (72-84);
// shard 1 holds slice 0 of p (0-12). The index has several blocks.
func generated(t *testing.T) memBundle {
	dir := t.TempDir()
	ts := []tfgen.BundleTensor{
		{Name: "a", DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{3, 5}, Fill: pattern(1)},
		{Name: "p", DType: dtype.Of(dtype.Int16), Shape: dtype.Shape{4, 3}, Fill: pattern(2),
			Slices: [][]tfgen.BundleExtent{{ext(0, 2), ext(0, -1)}, {ext(2, 2), ext(0, -1)}}},
		{Name: "s", Shape: dtype.Shape{3}, Strings: [][]byte{[]byte("ab"), nil, []byte("xyz")}},
	}
	if err := tfgen.WriteBundle(dir, "m", ts, tfgen.BundleOptions{Shards: 2, BlockSize: 64}); err != nil {
		t.Fatal(err)
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return memBundle{index: read("m.index"), shards: map[string][]byte{
		shardName(0, 2): read(shardName(0, 2)), shardName(1, 2): read(shardName(1, 2))}}
}

func brokenCases(t *testing.T) []brokenCase {
	var cases []brokenCase
	add := func(c brokenCase) { cases = append(cases, c) }
	shardFile := func(i, n int) string { return "b/" + shardName(i, n) }

	gen := generated(t)
	add(brokenCase{name: "generated/whole", b: gen})
	if len(gen.shards[shardName(0, 2)]) != 84 || len(gen.shards[shardName(1, 2)]) != 12 {
		t.Fatalf("unexpected generated layout")
	}
	// The index cut at every byte: its end is no longer the footer.
	for cut := range len(gen.index) {
		m := gen
		m.index = gen.index[:cut]
		msg := "no table magic"
		if cut < table.FooterLen {
			msg = "too short for a table footer"
		}
		add(brokenCase{name: fmt.Sprintf("index/cut=%d", cut), b: m, want: tensor.ErrFormat, msg: msg})
	}
	// Each shard cut at every byte: the tensor whose range is cut is
	// named, with its offset, when the bundle is opened.
	for _, s := range []struct {
		shard  int
		ranges []struct {
			name     string
			off, end int
		}
	}{
		{0, []struct {
			name     string
			off, end int
		}{{"a", 0, 60}, {"p", 60, 72}, {"s", 72, 84}}},
		{1, []struct {
			name     string
			off, end int
		}{{"p", 0, 12}}},
	} {
		full := gen.shards[shardName(s.shard, 2)]
		for cut := range len(full) {
			m := gen
			m.shards = map[string][]byte{shardName(0, 2): gen.shards[shardName(0, 2)], shardName(1, 2): gen.shards[shardName(1, 2)]}
			m.shards[shardName(s.shard, 2)] = full[:cut]
			var msg string
			for _, r := range s.ranges {
				if cut < r.end {
					msg = fmt.Sprintf("tensor %q: offset %d: data range of %d bytes runs past the end of the %d-byte shard", r.name, r.off, r.end-r.off, cut)
					break
				}
			}
			add(brokenCase{name: fmt.Sprintf("shard%d/cut=%d", s.shard, cut), b: m, want: tensor.ErrCorrupt,
				file: shardFile(s.shard, 2), msg: msg})
		}
	}
	// A shard missing, or longer than its entries (allowed: TensorFlow
	// pads with data_alignment).
	m := gen
	m.shards = map[string][]byte{shardName(0, 2): gen.shards[shardName(0, 2)]}
	add(brokenCase{name: "shard1/missing", b: m, want: fs.ErrNotExist, file: shardFile(1, 2), msg: `tensor "p"…opening data shard`})
	m.shards = map[string][]byte{shardName(0, 2): append(bytes.Clone(gen.shards[shardName(0, 2)]), 1, 2, 3), shardName(1, 2): gen.shards[shardName(1, 2)]}
	add(brokenCase{name: "shard0/longer", b: m})
	// A flipped byte in each data region of shard 0: numeric tensors and
	// slices fail their CRC as they are read, strings as they are read.
	for _, f := range []struct {
		at   int
		name string
		msg  string
	}{{0, "a", "engine check"}, {59, "a", "engine check"}, {60, "p", "partitioned variable slice crc32c"},
		{72, "s", "string lengths add up to more"}, {73, "s", "string lengths"}, {75, "s", "string lengths' crc32c"},
		{79, "s", "string tensor crc32c"}, {83, "s", "string tensor crc32c"}} {
		m := gen
		sh := bytes.Clone(gen.shards[shardName(0, 2)])
		sh[f.at] ^= 0x80
		m.shards = map[string][]byte{shardName(0, 2): sh, shardName(1, 2): gen.shards[shardName(1, 2)]}
		want := tensor.ErrChecksum
		if f.at == 72 || f.at == 73 {
			want = tensor.ErrCorrupt // a length that no longer adds up
		}
		add(brokenCase{name: fmt.Sprintf("shard0/flip=%d", f.at), b: m, want: want, file: shardFile(0, 2),
			msg: fmt.Sprintf("tensor %q…%s", f.name, f.msg)})
	}

	// The table: block contents, trailers, index block, footer, with
	// valid checksums unless the checksum is the point.
	add(brokenCase{name: "table/valid", b: withIndex(layout([][]byte{goodBlock}, 0, nil, nil))})
	add(brokenCase{name: "table/two blocks", b: withIndex(layout([][]byte{blockOf(kv{"", headerProto(1)}), blockOf(kv{"x", numEntry(1, shapeField(4), 0, 8, 16, shard0)})}, 0, nil, nil))})
	sn := snappy.Encode(nil, goodBlock)
	add(brokenCase{name: "table/snappy", b: withIndex(layout([][]byte{sn}, 1, nil, nil))})
	for _, c := range []struct {
		name  string
		block []byte
		typ   byte
		want  error
		msg   string
	}{
		{"block of 3 bytes", []byte{1, 0, 0}, 0, tensor.ErrCorrupt, "data block: malformed block: 3 bytes is too short"},
		{"block of 0 bytes", nil, 0, tensor.ErrCorrupt, "0 bytes is too short"},
		{"no restarts", []byte{0, 0, 0, 0}, 0, tensor.ErrCorrupt, "0 restart points"},
		{"restarts 2^32-1", brokentest.Cat(goodBlock[:len(goodBlock)-4], []byte{0xff, 0xff, 0xff, 0xff}), 0, tensor.ErrCorrupt, "4294967295 restart points"},
		{"restart past entries", brokentest.Cat(goodBlock[:len(goodBlock)-8], []byte{0xff, 0, 0, 0, 2, 0, 0, 0}), 0, tensor.ErrCorrupt, "restart point 255 past the entries"},
		{"shared > key", brokentest.Cat([]byte{5, 1, 0, 'x'}, blockOf()), 0, tensor.ErrCorrupt, "shares 5 bytes of a 0-byte key"},
		{"key past block", brokentest.Cat([]byte{0, 100, 0, 'x'}, []byte{0, 0, 0, 0, 1, 0, 0, 0}), 0, tensor.ErrCorrupt, "runs past the block"},
		{"value past block", brokentest.Cat([]byte{0, 1, 100, 'x'}, []byte{0, 0, 0, 0, 1, 0, 0, 0}), 0, tensor.ErrCorrupt, "runs past the block"},
		{"value len 2^64-1", brokentest.Cat([]byte{0, 1}, binary.AppendUvarint(nil, math.MaxUint64), []byte{'x', 0, 0, 0, 0, 1, 0, 0, 0}), 0, tensor.ErrCorrupt, "runs past the block"},
		{"bad varint", brokentest.Cat(bytes.Repeat([]byte{0xff}, 11), []byte{0, 0, 0, 0, 1, 0, 0, 0}), 0, tensor.ErrCorrupt, "bad shared length"},
		{"keys out of order", blockOf(kv{"", headerProto(1)}, kv{"y", nil}, kv{"x", nil}), 0, tensor.ErrCorrupt, `keys out of order: "x" after "y"`},
		{"key repeated", blockOf(kv{"", headerProto(1)}, kv{"x", nil}, kv{"x", nil}), 0, tensor.ErrCorrupt, "keys out of order"},
		{"compression 2", goodBlock, 2, tensor.ErrUnsupported, "compression type 2"},
		{"compression 255", goodBlock, 255, tensor.ErrUnsupported, "compression type 255"},
		{"snappy garbage", []byte{10, 0xff, 0xff, 0xff}, 1, tensor.ErrCorrupt, "snappy block"},
		{"snappy of nothing", nil, 1, tensor.ErrCorrupt, "snappy block header"},
		{"snappy claims 2^28", brokentest.Cat(binary.AppendUvarint(nil, table.MaxBlock), sn[1:]), 1, tensor.ErrCorrupt, "claims to decode to 268435456 bytes"},
		{"snappy claims 2^28+1", brokentest.Cat(binary.AppendUvarint(nil, table.MaxBlock+1), sn[1:]), 1, tensor.ErrCorrupt, "claims to decode to 268435457 bytes"},
		{"snappy claims 2^32", brokentest.Cat(binary.AppendUvarint(nil, 1<<32), sn[1:]), 1, tensor.ErrCorrupt, "bad snappy block header"},
		{"snappy short by one", brokentest.Cat(binary.AppendUvarint(nil, uint64(len(goodBlock)+1)), sn[1:]), 1, tensor.ErrCorrupt, "snappy block"},
		{"snappy of a bad block", snappy.Encode(nil, []byte{1, 2, 3}), 1, tensor.ErrCorrupt, "too short"},
	} {
		add(brokenCase{name: "table/" + c.name, b: withIndex(layout([][]byte{c.block}, c.typ, nil, nil)), want: c.want, msg: c.msg})
	}
	add(brokenCase{name: "table/keys out of order across blocks", b: withIndex(layout([][]byte{
		blockOf(kv{"", headerProto(1)}, kv{"y", numEntry(1, shapeField(4), 0, 8, 16, shard0)}),
		blockOf(kv{"x", numEntry(1, shapeField(4), 0, 8, 16, shard0)})}, 0, nil, nil)), want: tensor.ErrCorrupt, msg: `keys out of order: "x" after "y"`})
	add(brokenCase{name: "table/no blocks", b: withIndex(layout(nil, 0, nil, nil)), want: tensor.ErrCorrupt, msg: "empty index: no header entry"})
	add(brokenCase{name: "table/empty block", b: withIndex(layout([][]byte{blockOf()}, 0, nil, nil)), want: tensor.ErrCorrupt, msg: "empty index"})
	// Checksums and trailers of the one-block layout.
	good := layout([][]byte{goodBlock}, 0, nil, nil)
	flip := func(b []byte, at int) []byte {
		b = bytes.Clone(b)
		b[at] ^= 0x01
		return b
	}
	n := len(goodBlock)
	add(brokenCase{name: "table/block byte", b: withIndex(flip(good, 3)), want: tensor.ErrChecksum, msg: "offset 0: index table: block crc32c"})
	add(brokenCase{name: "table/type byte", b: withIndex(flip(good, n)), want: tensor.ErrChecksum, msg: "block crc32c"})
	add(brokenCase{name: "table/crc byte", b: withIndex(flip(good, n+1)), want: tensor.ErrChecksum, msg: "block crc32c"})
	add(brokenCase{name: "table/metaindex byte", b: withIndex(flip(good, n+5)), want: tensor.ErrChecksum, msg: fmt.Sprintf("offset %d: index table: block crc32c", n+5)})
	add(brokenCase{name: "table/index block byte", b: withIndex(flip(good, n+5+13)), want: tensor.ErrChecksum, msg: "block crc32c"})
	// Index blocks with bad handles.
	for _, c := range []struct {
		name  string
		index func(hs []table.Handle) []byte
		msg   string
	}{
		{"handle bad varint", func([]table.Handle) []byte { return blockOf(kv{"a", bytes.Repeat([]byte{0xff}, 11)}) }, "bad block handle"},
		{"handle trailing byte", func(hs []table.Handle) []byte { return blockOf(kv{"a", append(handle(hs[0]), 0)}) }, "bad block handle"},
		{"handle size only", func(hs []table.Handle) []byte { return blockOf(kv{"a", []byte{0}}) }, "bad block handle"},
		{"handle into the metaindex", func(hs []table.Handle) []byte {
			return blockOf(kv{"a", handle(table.Handle{Offset: hs[0].Offset, Size: hs[0].Size + 1})})
		}, "points past byte"},
		{"handle size 2^28+1", func(hs []table.Handle) []byte {
			return blockOf(kv{"a", handle(table.Handle{Size: table.MaxBlock + 1})})
		}, "exceeds the"},
		{"handle offset 2^64-1", func(hs []table.Handle) []byte {
			return blockOf(kv{"a", handle(table.Handle{Offset: math.MaxUint64, Size: 1})})
		}, "points past byte"},
		{"handles overlap", func(hs []table.Handle) []byte { return blockOf(kv{"a", handle(hs[0])}, kv{"b", handle(hs[0])}) }, "overlap or are out of order"},
	} {
		add(brokenCase{name: "table/index " + c.name, b: withIndex(layout([][]byte{goodBlock}, 0, c.index, nil)), want: tensor.ErrCorrupt, msg: c.msg})
	}
	// The footer.
	for _, c := range []struct {
		name string
		foot func(f []byte)
		want error
		msg  string
	}{
		{"magic", func(f []byte) { f[47] ^= 1 }, tensor.ErrFormat, "no table magic"},
		{"metaindex bad varint", func(f []byte) { copy(f, bytes.Repeat([]byte{0xff}, 40)) }, tensor.ErrCorrupt, "bad metaindex handle"},
		{"index bad varint", func(f []byte) {
			_, m := binary.Uvarint(f)
			_, m2 := binary.Uvarint(f[m:])
			copy(f[m+m2:40], bytes.Repeat([]byte{0xff}, 40))
		}, tensor.ErrCorrupt, "bad index handle"},
		{"metaindex size 2^28+1", func(f []byte) {
			clear(f[:40])
			copy(f, handle(table.Handle{Size: table.MaxBlock + 1}))
		}, tensor.ErrCorrupt, "exceeds the 268435456-byte cap"},
		{"metaindex offset 2^63", func(f []byte) {
			clear(f[:40])
			copy(f, handle(table.Handle{Offset: 1 << 63, Size: 4}))
		}, tensor.ErrCorrupt, "points past byte"},
		{"metaindex into the footer", func(f []byte) {
			_, m := binary.Uvarint(f)
			s, m2 := binary.Uvarint(f[m:])
			idx := bytes.Clone(f[m+m2 : 40])
			clear(f[:40])
			k := copy(f, handle(table.Handle{Offset: uint64(len(goodBlock)) + 5, Size: s + 100}))
			copy(f[k:], idx)
		}, tensor.ErrCorrupt, "points past byte"},
		{"all zero", func(f []byte) { clear(f[:40]) }, tensor.ErrChecksum, "offset 0: index table: block crc32c"},
	} {
		add(brokenCase{name: "footer/" + c.name, b: withIndex(layout([][]byte{goodBlock}, 0, nil, c.foot)), want: c.want, msg: c.msg})
	}

	// BundleHeaderProto.
	x := kv{"x", numEntry(1, shapeField(4), 0, 8, 16, shard0)}
	hdr := func(name string, h []byte, want error, file, msg string) {
		add(brokenCase{name: "header/" + name, b: memBundle{index: index(t, kv{"", h}, x),
			shards: map[string][]byte{shardName(0, 1): shard0, shardName(0, 3): shard0, shardName(0, 2): shard0}},
			want: want, file: file, msg: msg})
	}
	hdr("valid", headerProto(1), nil, "", "")
	hdr("num_shards=-1", headerProto(neg(-1)), tensor.ErrCorrupt, "", "header says -1 shards")
	hdr("num_shards=-2^31", headerProto(neg(math.MinInt32)), tensor.ErrCorrupt, "", "header says -2147483648 shards")
	hdr("num_shards=0", headerProto(0), tensor.ErrCorrupt, "", `tensor "x"…shard 0 of a 0-shard bundle`)
	hdr("num_shards absent", brokentest.BytesField(3, brokentest.VarintField(1, 1)), tensor.ErrCorrupt, "", "shard 0 of a 0-shard bundle")
	hdr("num_shards=100000", headerProto(100000), tensor.ErrCorrupt, "", "header says 100000 shards")
	hdr("num_shards=2^32+1 (int32: 1)", headerProto(1<<32+1), nil, "", "")
	hdr("num_shards=3", headerProto(3), nil, "", "")
	hdr("num_shards=2, x in shard 1", headerProto(2), nil, "", "")
	hdr("num_shards varint cut", []byte{0x08, 0x80}, tensor.ErrCorrupt, "", "bad num_shards")
	hdr("endianness=2", headerProto(1, brokentest.VarintField(2, 2)), tensor.ErrCorrupt, "", "endianness 2 is neither")
	hdr("endianness=2^63", headerProto(1, brokentest.VarintField(2, 1<<63)), tensor.ErrCorrupt, "", "is neither")
	hdr("min_consumer=2", brokentest.Cat(brokentest.VarintField(1, 1), brokentest.BytesField(3, brokentest.Cat(brokentest.VarintField(1, 1), brokentest.VarintField(2, 2)))), tensor.ErrUnsupported, "", "version 2 or newer")
	hdr("bad_consumers=[1]", brokentest.Cat(brokentest.VarintField(1, 1), brokentest.BytesField(3, brokentest.Cat(brokentest.VarintField(1, 1), brokentest.VarintField(3, 1)))), tensor.ErrUnsupported, "", "disallows readers of version 1")
	hdr("bad_consumers packed [3, 1]", brokentest.Cat(brokentest.VarintField(1, 1), brokentest.BytesField(3, brokentest.Cat(brokentest.VarintField(1, 1), brokentest.BytesField(3, []byte{3, 1})))), tensor.ErrUnsupported, "", "disallows")
	hdr("bad_consumers packed cut", brokentest.Cat(brokentest.VarintField(1, 1), brokentest.BytesField(3, brokentest.Cat(brokentest.VarintField(1, 1), brokentest.BytesField(3, []byte{0x80})))), tensor.ErrCorrupt, "", "bad VersionDef bad_consumers")
	hdr("version len past end", brokentest.Cat(brokentest.VarintField(1, 1), []byte{0x1a, 10, 8}), tensor.ErrCorrupt, "", "bad version")
	hdr("legacy V1 (field 1 is a message)", brokentest.BytesField(1, []byte("slices")), tensor.ErrUnsupported, "", "legacy V1 checkpoint")
	hdr("garbage", []byte{0xff, 0xff, 0xff}, tensor.ErrCorrupt, "", "BundleHeaderProto: bad tag")
	hdr("group unterminated", brokentest.Cat(headerProto(1), protowire.AppendTag(nil, 9, protowire.StartGroupType)), tensor.ErrCorrupt, "", "bad field 9")
	add(brokenCase{name: "header/missing", b: memBundle{index: index(t, x), shards: map[string][]byte{shardName(0, 1): shard0}},
		want: tensor.ErrCorrupt, msg: `first key is "x"`})
	add(brokenCase{name: "header/num_shards=2, shard 1 missing", b: memBundle{
		index:  index(t, kv{"", headerProto(2)}, kv{"x", numEntry(1, shapeField(4), 1, 8, 16, shard0)}),
		shards: map[string][]byte{shardName(0, 2): shard0}}, want: fs.ErrNotExist, file: shardFile(1, 2), msg: `tensor "x"`})

	// BundleEntryProto: each field.
	// ent adds an entry case; a message starting with "@" names the shard.
	ent := func(name string, val []byte, want error, msg string) {
		file := ""
		if m, ok := strings.CutPrefix(msg, "@"); ok {
			file, msg = shardFile(0, 1), m
		}
		add(brokenCase{name: "entry/" + name, b: oneShard(t, kv{"x", val}), want: want, file: file, msg: msg})
	}
	crc := crcField(crc32c.Mask(crc32c.Checksum(shard0[8:24])))
	ent("valid", x.val, nil, "")
	ent("field order reversed", brokentest.Cat(crc, brokentest.VarintField(5, 16), brokentest.VarintField(4, 8), shapeField(4), brokentest.VarintField(1, 1)), nil, "")
	ent("whole shard", numEntry(1, shapeField(16), 0, 0, 64, shard0), nil, "")
	ent("empty tensor", brokentest.Cat(brokentest.VarintField(1, 1), shapeField(0, 4), crcField(crc32c.Mask(0))), nil, "")
	// no shape is a scalar, as in TensorFlow (TensorShape of an empty
	// TensorShapeProto): an empty value is an invalid-dtype scalar, and a
	// float without shape needs 4 bytes, not 16
	ent("empty value", nil, errUnsupportedTensor, "")
	ent("no shape", brokentest.Cat(brokentest.VarintField(1, 1), brokentest.VarintField(4, 8), brokentest.VarintField(5, 16), crc), tensor.ErrCorrupt, "BundleEntryProto: entry size 16 is not () × 4 bytes")
	ent("no shape, scalar", brokentest.Cat(brokentest.VarintField(1, 1), brokentest.VarintField(4, 8), brokentest.VarintField(5, 4),
		crcField(crc32c.Mask(crc32c.Checksum(shard0[8:12])))), nil, "")
	ent("garbage", []byte{0xff, 0xff}, tensor.ErrCorrupt, `tensor "x"…BundleEntryProto: bad tag`)
	ent("dtype varint cut", []byte{0x08, 0x80}, tensor.ErrCorrupt, "bad varint field 1")
	ent("dtype=0", brokentest.Cat(brokentest.VarintField(1, 0), shapeField(4), brokentest.VarintField(4, 8), brokentest.VarintField(5, 16), crc), errUnsupportedTensor, "")
	ent("dtype=99", brokentest.Cat(brokentest.VarintField(1, 99), shapeField(4), brokentest.VarintField(4, 8), brokentest.VarintField(5, 16), crc), errUnsupportedTensor, "")
	ent("dtype=-1", brokentest.Cat(brokentest.VarintField(1, neg(-1)), shapeField(4), brokentest.VarintField(4, 8), brokentest.VarintField(5, 16), crc), errUnsupportedTensor, "")
	ent("dtype=resource", brokentest.Cat(brokentest.VarintField(1, 20), shapeField(4), brokentest.VarintField(4, 8), brokentest.VarintField(5, 16), crc), errUnsupportedTensor, "")
	ent("dtype=variant_ref", brokentest.Cat(brokentest.VarintField(1, 121), shapeField(4), brokentest.VarintField(4, 8), brokentest.VarintField(5, 16), crc), errUnsupportedTensor, "")
	ent("dtype=double", brokentest.Cat(brokentest.VarintField(1, 2), shapeField(4), brokentest.VarintField(4, 8), brokentest.VarintField(5, 16), crc), tensor.ErrCorrupt, "entry size 16 is not (4,) × 8 bytes")
	ent("dtype=float_ref", brokentest.Cat(brokentest.VarintField(1, 101), shapeField(4), brokentest.VarintField(4, 8), brokentest.VarintField(5, 16), crc), nil, "")
	ent("shape len past end", brokentest.Cat(brokentest.VarintField(1, 1), []byte{0x12, 50, 0x12}), tensor.ErrCorrupt, "bad shape")
	ent("shape dim -1", numEntry(1, shapeField(neg(-1), 4), 0, 8, 16, shard0), tensor.ErrCorrupt, "not a known length")
	ent("shape dim 2^63", numEntry(1, shapeField(1<<63), 0, 8, 16, shard0), tensor.ErrCorrupt, "not a known length")
	ent("shape unknown rank", numEntry(1, brokentest.BytesField(2, brokentest.VarintField(3, 1)), 0, 8, 16, shard0), tensor.ErrCorrupt, "unknown rank")
	ent("shape 2^32×2^32", numEntry(1, shapeField(1<<32, 1<<32), 0, 8, 16, shard0), tensor.ErrCorrupt, "2^63-1")
	ent("shape 2^61×2 (bytes overflow)", numEntry(1, shapeField(1<<61, 2), 0, 8, 16, shard0), tensor.ErrCorrupt, "entry size 16 is not")
	ent("shape 255 dims", numEntry(1, shapeField(make([]uint64, 255)...), 0, 8, 16, shard0), tensor.ErrCorrupt, "more than 254 dimensions")
	ent("shape [5]", numEntry(1, shapeField(5), 0, 8, 16, shard0), tensor.ErrCorrupt, "entry size 16 is not (5,) × 4 bytes")
	ent("shape [2^40]", numEntry(1, shapeField(1<<40), 0, 8, 16, shard0), tensor.ErrCorrupt, "entry size 16 is not")
	ent("shard 1 of 1", numEntry(1, shapeField(4), 1, 8, 16, shard0), tensor.ErrCorrupt, "shard 1 of a 1-shard bundle")
	ent("shard -1", brokentest.Cat(brokentest.VarintField(1, 1), shapeField(4), brokentest.VarintField(3, neg(-1)), brokentest.VarintField(4, 8), brokentest.VarintField(5, 16), crc), tensor.ErrCorrupt, "shard -1 of a 1-shard bundle")
	ent("shard 2^32 (int32: 0)", brokentest.Cat(brokentest.VarintField(1, 1), shapeField(4), brokentest.VarintField(3, 1<<32), brokentest.VarintField(4, 8), brokentest.VarintField(5, 16), crc), nil, "")
	ent("offset past the end", brokentest.Cat(brokentest.VarintField(1, 1), shapeField(4), brokentest.VarintField(4, 60), brokentest.VarintField(5, 16), crc), tensor.ErrCorrupt, "@offset 60: data range of 16 bytes runs past the end of the 64-byte shard")
	ent("offset 65", brokentest.Cat(brokentest.VarintField(1, 1), shapeField(0), brokentest.VarintField(4, 65)), tensor.ErrCorrupt, "@offset 65: data range of 0 bytes runs past the end of the 64-byte shard")
	ent("offset 2^63", brokentest.Cat(brokentest.VarintField(1, 1), shapeField(4), brokentest.VarintField(4, 1<<63), brokentest.VarintField(5, 16), crc), tensor.ErrCorrupt, "@runs past the end of the 64-byte shard")
	ent("offset 2^64-1", brokentest.Cat(brokentest.VarintField(1, 1), shapeField(4), brokentest.VarintField(4, math.MaxUint64), brokentest.VarintField(5, 16), crc), tensor.ErrCorrupt, "@tensor \"x\": data range of 16 bytes runs past")
	ent("size 17", brokentest.Cat(brokentest.VarintField(1, 1), shapeField(4), brokentest.VarintField(4, 8), brokentest.VarintField(5, 17), crc), tensor.ErrCorrupt, "entry size 17 is not (4,) × 4 bytes")
	ent("size 15", brokentest.Cat(brokentest.VarintField(1, 1), shapeField(4), brokentest.VarintField(4, 8), brokentest.VarintField(5, 15), crc), tensor.ErrCorrupt, "entry size 15 is not")
	ent("size 0", brokentest.Cat(brokentest.VarintField(1, 1), shapeField(4), brokentest.VarintField(4, 8), crc), tensor.ErrCorrupt, "entry size 0 is not")
	ent("size 2^63-1", brokentest.Cat(brokentest.VarintField(1, 1), shapeField(4), brokentest.VarintField(4, 8), brokentest.VarintField(5, math.MaxInt64), crc), tensor.ErrCorrupt, "entry size 9223372036854775807 is not (4,) × 4 bytes")
	ent("size 2^64-1", brokentest.Cat(brokentest.VarintField(1, 1), shapeField(4), brokentest.VarintField(4, 8), brokentest.VarintField(5, math.MaxUint64), crc), tensor.ErrCorrupt, "entry size -1 is not (4,) × 4 bytes")
	ent("crc wrong", brokentest.Cat(brokentest.VarintField(1, 1), shapeField(4), brokentest.VarintField(4, 8), brokentest.VarintField(5, 16), crcField(1)), tensor.ErrChecksum, `@tensor "x"…offset 8: crc32c`)
	ent("crc missing", brokentest.Cat(brokentest.VarintField(1, 1), shapeField(4), brokentest.VarintField(4, 8), brokentest.VarintField(5, 16)), tensor.ErrChecksum, "@engine check")
	ent("crc as varint (skipped)", brokentest.Cat(brokentest.VarintField(1, 1), shapeField(4), brokentest.VarintField(4, 8), brokentest.VarintField(5, 16), brokentest.VarintField(6, 1)), tensor.ErrChecksum, "@engine check")
	ent("crc cut", brokentest.Cat(brokentest.VarintField(1, 1), shapeField(4), brokentest.VarintField(4, 8), brokentest.VarintField(5, 16), crc[:3]), tensor.ErrCorrupt, "bad crc32c")
	ent("unknown field", brokentest.Cat(x.val, brokentest.BytesField(99, []byte("future"))), nil, "")
	ent("group unterminated", brokentest.Cat(x.val, protowire.AppendTag(nil, 99, protowire.StartGroupType)), tensor.ErrCorrupt, "bad field 99")

	// Partitioned variables.
	// part adds a partitioned case; a message starting with "@" names the shard.
	part := func(name string, mut func(full *[]byte, slices map[string][]byte), want error, msg string) {
		file := ""
		if m, ok := strings.CutPrefix(msg, "@"); ok {
			file, msg = shardFile(0, 1), m
		}
		add(brokenCase{name: "slices/" + name, b: partBundle(t, mut), want: want, file: file, msg: msg})
	}
	k0 := sliceKey("p", []extent{{0, 2}, {0, -1}})
	k1 := sliceKey("p", []extent{{2, 2}, {0, -1}})
	part("valid", nil, nil, "")
	part("slice entry missing", func(_ *[]byte, s map[string][]byte) { delete(s, k1) }, tensor.ErrCorrupt, `tensor "p"…slice 1 has no entry`)
	part("extent past the dimension", func(f *[]byte, _ map[string][]byte) {
		*f = brokentest.Cat(brokentest.VarintField(1, 5), shapeField(4, 3), sliceField([2]int64{0, 2}, [2]int64{0, -1}), sliceField([2]int64{2, 3}, [2]int64{0, -1}))
	}, tensor.ErrCorrupt, "slice 1: extent [2, 2+3) is outside dimension 0 of size 4")
	part("extent start without length", func(f *[]byte, _ map[string][]byte) {
		*f = brokentest.Cat(brokentest.VarintField(1, 5), shapeField(4, 3), sliceField([2]int64{0, 2}, [2]int64{0, -1}), brokentest.BytesField(7, brokentest.Cat(brokentest.BytesField(1, brokentest.VarintField(1, 2)), brokentest.BytesField(1, nil))))
	}, tensor.ErrCorrupt, "dimension 0 starts at 2 with no length")
	part("extent start -1", func(f *[]byte, _ map[string][]byte) {
		*f = brokentest.Cat(brokentest.VarintField(1, 5), shapeField(4, 3), sliceField([2]int64{0, 2}, [2]int64{0, -1}), brokentest.BytesField(7, brokentest.Cat(brokentest.BytesField(1, brokentest.Cat(brokentest.VarintField(1, neg(-1)), brokentest.VarintField(2, 2))), brokentest.BytesField(1, nil))))
	}, tensor.ErrCorrupt, "is outside dimension 0")
	part("extent length 2^63", func(f *[]byte, _ map[string][]byte) {
		*f = brokentest.Cat(brokentest.VarintField(1, 5), shapeField(4, 3), sliceField([2]int64{0, 2}, [2]int64{0, -1}), brokentest.BytesField(7, brokentest.Cat(brokentest.BytesField(1, brokentest.Cat(brokentest.VarintField(1, 2), brokentest.VarintField(2, 1<<63))), brokentest.BytesField(1, nil))))
	}, tensor.ErrCorrupt, "slice 1: dimension 0 starts at 2 with no length")
	part("one extent for rank 2", func(f *[]byte, _ map[string][]byte) {
		*f = brokentest.Cat(brokentest.VarintField(1, 5), shapeField(4, 3), sliceField([2]int64{0, 2}, [2]int64{0, -1}), sliceField([2]int64{2, 2}))
	}, tensor.ErrCorrupt, "slice 1 has 1 extents for rank 2")
	part("255 extents", func(f *[]byte, _ map[string][]byte) {
		*f = brokentest.Cat(brokentest.VarintField(1, 5), shapeField(4, 3), brokentest.BytesField(7, bytes.Repeat(brokentest.BytesField(1, nil), 255)))
	}, tensor.ErrCorrupt, "more than 254 extents")
	part("4097 slices", func(f *[]byte, _ map[string][]byte) {
		*f = brokentest.Cat(brokentest.VarintField(1, 5), shapeField(4, 3), bytes.Repeat(sliceField([2]int64{0, 2}, [2]int64{0, -1}), 4097))
	}, tensor.ErrCorrupt, "more than 4096 slices")
	part("on a scalar", func(f *[]byte, _ map[string][]byte) {
		*f = brokentest.Cat(brokentest.VarintField(1, 5), shapeField(), sliceField())
	}, tensor.ErrCorrupt, "a scalar cannot have slices")
	part("gap", func(f *[]byte, _ map[string][]byte) {
		*f = brokentest.Cat(brokentest.VarintField(1, 5), shapeField(5, 3), sliceField([2]int64{0, 2}, [2]int64{0, -1}), sliceField([2]int64{2, 2}, [2]int64{0, -1}))
	}, tensor.ErrCorrupt, "slices hold 12 elements, the tensor 15")
	part("overlap", func(f *[]byte, _ map[string][]byte) {
		*f = brokentest.Cat(brokentest.VarintField(1, 5), shapeField(4, 3), sliceField([2]int64{0, 2}, [2]int64{0, -1}), sliceField([2]int64{0, 2}, [2]int64{0, -1}))
	}, tensor.ErrCorrupt, "slices overlap")
	part("twice the same slice", func(f *[]byte, _ map[string][]byte) {
		*f = brokentest.Cat(*f, sliceField([2]int64{0, 2}, [2]int64{0, -1}))
	}, tensor.ErrCorrupt, "slices hold 18 elements, the tensor 12")
	part("shape overflow", func(f *[]byte, _ map[string][]byte) {
		*f = brokentest.Cat(brokentest.VarintField(1, 5), shapeField(1<<61, 3), sliceField([2]int64{0, 2}, [2]int64{0, -1}))
	}, tensor.ErrCorrupt, "")
	part("slice entry dtype", func(_ *[]byte, s map[string][]byte) { s[k1] = numEntry(3, shapeField(2, 3), 0, 12, 12, shard0) },
		tensor.ErrCorrupt, "slice 1 entry has dtype int32")
	part("slice entry shape", func(_ *[]byte, s map[string][]byte) { s[k1] = numEntry(5, shapeField(3, 2), 0, 12, 12, shard0) },
		tensor.ErrCorrupt, "slice 1 entry has shape (3, 2), extents say [2 3]")
	part("slice entry rank", func(_ *[]byte, s map[string][]byte) { s[k1] = numEntry(5, shapeField(6), 0, 12, 12, shard0) },
		tensor.ErrCorrupt, "slice 1 entry has dtype int16 rank 1")
	part("slice entry empty", func(_ *[]byte, s map[string][]byte) { s[k1] = nil },
		tensor.ErrCorrupt, "slice 1 entry has dtype DataType(0) rank 0")
	part("slice entry offset past the shard", func(_ *[]byte, s map[string][]byte) {
		s[k1] = brokentest.Cat(brokentest.VarintField(1, 5), shapeField(2, 3), brokentest.VarintField(4, 56), brokentest.VarintField(5, 12), crcField(0))
	}, tensor.ErrCorrupt, `@tensor "p": offset 56: data range of 12 bytes runs past`)
	part("slice entry size", func(_ *[]byte, s map[string][]byte) { s[k1] = numEntry(5, shapeField(2, 3), 0, 12, 14, shard0) },
		tensor.ErrCorrupt, "slice 1 entry size 14 is not 6 × 2 bytes")
	part("slice crc", func(_ *[]byte, s map[string][]byte) {
		s[k0] = brokentest.Cat(brokentest.VarintField(1, 5), shapeField(2, 3), brokentest.VarintField(5, 12), crcField(1))
	},
		tensor.ErrChecksum, `@tensor "p": offset 0: partitioned variable slice crc32c`)
	part("slice entry has slices", func(_ *[]byte, s map[string][]byte) {
		s[k1] = brokentest.Cat(s[k1], sliceField([2]int64{0, 1}, [2]int64{0, -1}))
	},
		tensor.ErrCorrupt, "slice 1 entry has dtype")
	part("slice entry in shard 1 of 1", func(_ *[]byte, s map[string][]byte) {
		s[k1] = brokentest.Cat(brokentest.VarintField(1, 5), shapeField(2, 3), brokentest.VarintField(3, 1), brokentest.VarintField(4, 12), brokentest.VarintField(5, 12), crcField(0))
	}, tensor.ErrCorrupt, `tensor "p"…shard 1 of a 1-shard bundle`)

	// String tensors: the counts are checked against the entry at Open,
	// the lengths and both checksums when the data is first read.
	sd, scrc := stringBytes("ab", "", "xyz")
	// str adds a string case; a message starting with "@" names the shard.
	str := func(name string, data []byte, want error, msg string, fields ...[]byte) {
		file := ""
		if m, ok := strings.CutPrefix(msg, "@"); ok {
			file, msg = shardFile(0, 1), m
		}
		add(brokenCase{name: "strings/" + name, b: strBundle(t, data, fields...), want: want, file: file, msg: msg})
	}
	size := func(n int) []byte { return brokentest.VarintField(5, uint64(n)) }
	str("valid", sd, nil, "", shapeField(3), size(len(sd)), crcField(scrc))
	str("valid with padding", append(bytes.Clone(sd), 0, 0, 0), nil, "", shapeField(3), size(len(sd)), crcField(scrc))
	str("3 strings in 6 bytes", sd, tensor.ErrCorrupt, `tensor "s"…BundleEntryProto: 3 strings cannot fit in 2 bytes`, shapeField(3), size(2), crcField(scrc))
	str("2^40 strings", sd, tensor.ErrCorrupt, "1099511627776 strings cannot fit", shapeField(1<<40), size(len(sd)), crcField(scrc))
	str("shape 2^32×2^32", sd, tensor.ErrCorrupt, "2^63-1", shapeField(1<<32, 1<<32), size(len(sd)), crcField(scrc))
	str("no strings, 5 bytes", sd, tensor.ErrCorrupt, "0 strings cannot fit in 5 bytes", shapeField(0), size(5), crcField(scrc))
	str("past the shard", sd, tensor.ErrCorrupt, "@runs past the end", shapeField(3), size(len(sd)+1), crcField(scrc))
	str("size 1 more", append(bytes.Clone(sd), 'z'), tensor.ErrCorrupt, "@3 length bytes + 4 + 5 string bytes != entry size 13", shapeField(3), size(len(sd)+1), crcField(scrc))
	str("size 1 less", sd, tensor.ErrCorrupt, "@3 length bytes + 4 + 5 string bytes != entry size 11", shapeField(3), size(len(sd)-1), crcField(scrc))
	str("length varint bad", brokentest.Cat(bytes.Repeat([]byte{0xff}, 11), sd), tensor.ErrCorrupt, "@string 0: bad length varint", shapeField(3), size(len(sd)+11), crcField(scrc))
	str("length 2^63", brokentest.Cat(binary.AppendUvarint(nil, 1<<63), sd[1:]), tensor.ErrCorrupt, "@add up to more", shapeField(3), size(len(sd)+9), crcField(scrc))
	str("lengths checksum", flip(sd, 4), tensor.ErrChecksum, "@string lengths' crc32c", shapeField(3), size(len(sd)), crcField(scrc))
	str("string byte", flip(sd, len(sd)-1), tensor.ErrChecksum, "@string tensor crc32c", shapeField(3), size(len(sd)), crcField(scrc))
	str("entry crc", sd, tensor.ErrChecksum, "@string tensor crc32c", shapeField(3), size(len(sd)), crcField(scrc^1))
	str("partitioned", sd, errUnsupportedTensor, "", shapeField(3), sliceField([2]int64{0, -1}))
	return cases
}

// TestBrokenInputs opens every case and reads the data of those that
// open as the engine would, checking CRCs as the engine does.
func TestBrokenInputs(t *testing.T) {
	for _, c := range brokenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			b, err := c.b.open()
			if err == nil {
				for _, tt := range b.Tensors() {
					if tt.Unsupported != "" && err == nil {
						// a broken entry fails its own tensor only: its error
						err = b.Err(tt.Name)
						if err == nil {
							err = errUnsupportedTensor
						}
					}
				}
				if err == nil {
					err = readTensors(b)
				}
			}
			if c.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if c.want == errUnsupportedTensor {
				return
			}
			file := c.file
			if file == "" {
				file = idxName
			}
			msg := err.Error()
			// (an engine-check error of readTensors has no package prefix)
			if !strings.HasPrefix(strings.TrimPrefix(msg, "tfbundle: "), file+": ") {
				t.Errorf("message %q does not start with %s", msg, file)
			}
			for _, part := range strings.Split(c.msg, "…") {
				if !strings.Contains(msg, part) {
					t.Errorf("message %q lacks %q", msg, part)
				}
			}
		})
	}
}

// TestBrokenAllocation: counts and lengths that the file cannot back are
// refused, or read in small steps, without allocating for them.
func TestBrokenAllocation(t *testing.T) {
	sn := snappy.Encode(nil, goodBlock)
	cases := map[string]memBundle{
		// a snappy block claiming the 256 MiB cap
		"snappy": withIndex(layout([][]byte{brokentest.Cat(binary.AppendUvarint(nil, table.MaxBlock), sn[1:])}, 1, nil, nil)),
		// 2^28 strings in a 1 GiB shard whose first length is not a varint
		"strings": {index: index(t, kv{"", headerProto(1)}, kv{"s", brokentest.Cat(brokentest.VarintField(1, 7), shapeField(1<<28), brokentest.VarintField(5, 1<<30))}),
			sparse: map[string]sparse{shardName(0, 1): {fill: 0xff, size: 1 << 30}}},
		// the footer's metaindex handle at the block cap
		"metaindex": withIndex(layout([][]byte{goodBlock}, 0, nil, func(f []byte) {
			clear(f[:40])
			copy(f, handle(table.Handle{Size: table.MaxBlock}))
		})),
	}
	for name, m := range cases {
		brokentest.Allocation(t, name, 4<<20, func() error {
			b, err := m.open()
			if err == nil {
				err = readTensors(b)
			}
			return err
		})
	}
}

// TestBrokenStringWidth: a string longer than a fixed-width record can
// hold is refused when its tensor is read (a sparse 2 GiB shard).
func TestBrokenStringWidth(t *testing.T) {
	l := uint64(1 << 31)
	head := binary.AppendUvarint(nil, l)
	n := int64(len(head)) + 4 + int64(l)
	m := memBundle{index: index(t, kv{"", headerProto(1)}, kv{"s", brokentest.Cat(brokentest.VarintField(1, 7), shapeField(1), brokentest.VarintField(5, uint64(n)))}),
		sparse: map[string]sparse{shardName(0, 1): {head: head, size: n}}}
	b, err := m.open()
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Tensors()[0].Data.ReadAt(make([]byte, 1), 0)
	if !errors.Is(err, tensor.ErrUnsupported) || !strings.Contains(err.Error(), "too long for a fixed-width record") {
		t.Fatalf("got %v", err)
	}
}

// TestBrokenFlips flips each bit of every byte of a generated index:
// Open and reading never panic, errors wrap a sentinel, and a flip
// inside the blocks (before the footer) never goes unnoticed.
func TestBrokenFlips(t *testing.T) {
	gen := generated(t)
	for i := range gen.index {
		for bit := range 8 {
			m := gen
			m.index = bytes.Clone(gen.index)
			m.index[i] ^= 1 << bit
			b, err := m.open()
			if err == nil {
				err = readTensors(b)
			}
			inBlocks := i < len(gen.index)-table.FooterLen
			switch {
			case err == nil && inBlocks:
				t.Errorf("byte %d bit %d: no error", i, bit)
			case err == nil:
			case !isSentinel(err):
				t.Errorf("byte %d bit %d: %v wraps no sentinel", i, bit, err)
			case inBlocks && !errors.Is(err, tensor.ErrChecksum):
				t.Errorf("byte %d bit %d: %v, want ErrChecksum", i, bit, err)
			case !strings.HasPrefix(err.Error(), "tfbundle: b/m."):
				t.Errorf("byte %d bit %d: %q does not name the file", i, bit, err)
			}
		}
	}
}
