package tfbundle

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/tfgen"
	"github.com/bigconv/bigconv/tensor"
)

// The rules of this file are TensorFlow's (tensor_bundle.cc): an entry
// is parsed when its tensor is looked up (GetBundleEntryProto), its shape
// is TensorShape(entry.shape()) — a scalar when absent —, its size and
// CRC are checked when it is read (GetValue), and a data shard is opened
// when a tensor in it is first read. So one broken entry or one missing
// shard never makes the rest of the bundle unreadable.

// withoutField drops every occurrence of field num from an encoded message.
func withoutField(num protowire.Number) func([]byte) []byte {
	return func(b []byte) []byte {
		var out []byte
		for len(b) > 0 {
			n, typ, k := protowire.ConsumeTag(b)
			m := protowire.ConsumeFieldValue(n, typ, b[k:])
			if n != num {
				out = append(out, b[:k+m]...)
			}
			b = b[k+m:]
		}
		return out
	}
}

// appendField adds a varint field (protobuf: the last value wins).
func appendField(num protowire.Number, v uint64) func([]byte) []byte {
	return func(b []byte) []byte {
		return protowire.AppendVarint(protowire.AppendTag(bytes.Clone(b), num, protowire.VarintType), v)
	}
}

func readAllData(t *testing.T, tt *tensor.Tensor) ([]byte, error) {
	t.Helper()
	n, err := tt.NumBytes()
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, n)
	k, err := tt.Data.ReadAt(p, 0)
	if k == len(p) && (err == nil || err == io.EOF) {
		return p, nil
	}
	return nil, err
}

// TestLenientNoShape: an entry without a shape field is a scalar.
func TestLenientNoShape(t *testing.T) {
	dir := t.TempDir()
	edited := false
	strip := withoutField(2)
	ts := []tfgen.BundleTensor{
		{Name: "s", DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{}, Fill: pattern(1),
			EditEntry: func(e []byte) []byte { out := strip(e); edited = len(out) < len(e); return out }},
		{Name: "m", DType: dtype.Of(dtype.Int16), Shape: dtype.Shape{2, 3}, Fill: pattern(2)},
	}
	if err := tfgen.WriteBundle(dir, "m", ts, tfgen.BundleOptions{}); err != nil {
		t.Fatal(err)
	}
	if !edited {
		t.Fatal("the scalar's entry had no shape field to drop")
	}
	b, err := openPath(t, filepath.Join(dir, "m.index"))
	if err != nil {
		t.Fatal(err)
	}
	s := byName(b)["s"]
	if s.Unsupported != "" || len(s.Shape) != 0 || s.DType.Type != dtype.Float32 {
		t.Fatalf("s: %v %v %q", s.DType, s.Shape, s.Unsupported)
	}
	got, err := readAllData(t, s)
	if err != nil || !bytes.Equal(got, want(pattern(1), 4)) {
		t.Errorf("s: % x %v", got, err)
	}
}

// TestLenientBrokenEntry: a broken entry makes its own tensor Unsupported,
// with the reason (Bundle.Err has the error); the others read as usual.
func TestLenientBrokenEntry(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func([]byte) []byte
		want error
		msg  string
	}{
		{"garbage", func([]byte) []byte { return []byte{0xff, 0xff} }, tensor.ErrCorrupt, "BundleEntryProto: bad tag"},
		{"size", appendField(5, 7), tensor.ErrCorrupt, "entry size 7 is not (2, 3) × 2 bytes"},
		{"shard 5 of 1", appendField(3, 5), tensor.ErrCorrupt, "shard 5 of a 1-shard bundle"},
		{"offset past the shard", appendField(4, 1<<30), tensor.ErrCorrupt, "runs past the end"},
		{"negative dim", func(e []byte) []byte {
			return append(withoutField(2)(e), protowire.AppendBytes([]byte{0x12}, tfgen.AppendShape(nil, dtype.Shape{-3}))...)
		}, tensor.ErrCorrupt, "not a known length"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			ts := []tfgen.BundleTensor{
				{Name: "a", DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{4}, Fill: pattern(1)},
				{Name: "b", DType: dtype.Of(dtype.Int16), Shape: dtype.Shape{2, 3}, Fill: pattern(2), EditEntry: c.edit},
				{Name: "c", DType: dtype.Of(dtype.Uint8), Shape: dtype.Shape{5}, Fill: pattern(3)},
			}
			if err := tfgen.WriteBundle(dir, "m", ts, tfgen.BundleOptions{}); err != nil {
				t.Fatal(err)
			}
			b, err := openPath(t, filepath.Join(dir, "m.index"))
			if err != nil {
				t.Fatalf("the whole bundle failed: %v", err)
			}
			m := byName(b)
			if len(m) != 3 {
				t.Fatalf("%d tensors listed", len(m))
			}
			bt := m["b"]
			if err := b.Err("b"); bt.Unsupported == "" || !errors.Is(err, c.want) || !strings.Contains(bt.Unsupported, c.msg) {
				t.Errorf("b: unsupported %q, err %v", bt.Unsupported, err)
			}
			for name, seed := range map[string]int64{"a": 1, "c": 3} {
				tt := m[name]
				n, _ := tt.NumBytes()
				got, err := readAllData(t, tt)
				if tt.Unsupported != "" || err != nil || !bytes.Equal(got, want(pattern(seed), n)) {
					t.Errorf("%s: %q %v", name, tt.Unsupported, err)
				}
			}
		})
	}
}

// TestLenientMissingShards: with its data shards absent, a bundle still
// lists every tensor from the index with dtype and shape, marks the
// missing shard, and fails only when a tensor's data is read; with one of
// two shards absent, the other shard's tensors read as usual. A shard
// shorter than an entry's range fails that entry only.
func TestLenientMissingShards(t *testing.T) {
	dir := t.TempDir()
	ts := []tfgen.BundleTensor{
		{Name: "a", DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{4}, Fill: pattern(1)},  // shard 0
		{Name: "b", DType: dtype.Of(dtype.Int64), Shape: dtype.Shape{2, 2}, Fill: pattern(2)}, // shard 1
		{Name: "s", Shape: dtype.Shape{2}, Strings: [][]byte{[]byte("xy"), []byte("z")}},      // shard 0
		{Name: "p", DType: dtype.Of(dtype.Uint8), Shape: dtype.Shape{4, 2}, Fill: pattern(4), // shards 1, 0
			Slices: [][]tfgen.BundleExtent{{ext(0, 2), ext(0, -1)}, {ext(2, 2), ext(0, -1)}}},
	}
	if err := tfgen.WriteBundle(dir, "m", ts, tfgen.BundleOptions{Shards: 2}); err != nil {
		t.Fatal(err)
	}
	shard := func(i int) string { return filepath.Join(dir, DataFile("m", i, 2)) }
	keep := map[int][]byte{}
	for i := 0; i < 2; i++ {
		b, err := os.ReadFile(shard(i))
		if err != nil {
			t.Fatal(err)
		}
		keep[i] = b
	}

	// no shards at all: inspect lists everything
	os.Remove(shard(0))
	os.Remove(shard(1))
	b, err := openPath(t, filepath.Join(dir, "m.index"))
	if err != nil {
		t.Fatalf("index without shards: %v", err)
	}
	m := byName(b)
	if len(m) != 4 {
		t.Fatalf("%d tensors listed", len(m))
	}
	for name, sh := range map[string]dtype.Shape{"a": {4}, "b": {2, 2}, "p": {4, 2}, "s": {2}} {
		tt := m[name]
		if !tt.Shape.Equal(sh) || tt.Extra["missing_shard"] == "" {
			t.Errorf("%s: %v, missing_shard %q", name, tt.Shape, tt.Extra["missing_shard"])
		}
	}
	for _, name := range []string{"a", "b", "p"} {
		tt := m[name]
		if tt.Unsupported != "" || !tt.DType.Type.Valid() {
			t.Errorf("%s: %v %q", name, tt.DType, tt.Unsupported)
			continue
		}
		_, err := readAllData(t, tt)
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "m.data-0000") || !strings.Contains(err.Error(), `tensor "`+name+`"`) {
			t.Errorf("%s: read: %v", name, err)
		}
	}
	if s := m["s"]; s.Unsupported == "" || !errors.Is(b.Err("s"), fs.ErrNotExist) {
		t.Errorf("string tensor without its shard: %q %v", s.Unsupported, b.Err("s"))
	}
	if got := m["s"].TypeName(); got != "tf:string" { // inspect's DTYPE: its width is in the missing data
		t.Errorf("string tensor without its shard: TypeName %q, want tf:string", got)
	}

	// shard 1 missing: shard 0's tensors read
	if err := os.WriteFile(shard(0), keep[0], 0o644); err != nil {
		t.Fatal(err)
	}
	b, err = openPath(t, filepath.Join(dir, "m.index"))
	if err != nil {
		t.Fatal(err)
	}
	m = byName(b)
	if got, err := readAllData(t, m["a"]); err != nil || !bytes.Equal(got, want(pattern(1), 16)) || m["a"].Extra["missing_shard"] != "" {
		t.Errorf("a: %v", err)
	}
	if m["s"].Unsupported != "" {
		t.Errorf("s: %q", m["s"].Unsupported)
	}
	if _, err := readAllData(t, m["b"]); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), DataFile("m", 1, 2)) {
		t.Errorf("b: %v", err)
	}

	// shard 1 cut short: its tensors' entries fail, the rest read
	if err := os.WriteFile(shard(1), keep[1][:1], 0o644); err != nil {
		t.Fatal(err)
	}
	b, err = openPath(t, filepath.Join(dir, "m.index"))
	if err != nil {
		t.Fatal(err)
	}
	m = byName(b)
	if !errors.Is(b.Err("b"), tensor.ErrCorrupt) || m["b"].Unsupported == "" {
		t.Errorf("b in a short shard: %v", b.Err("b"))
	}
	if _, err := readAllData(t, m["a"]); err != nil {
		t.Errorf("a: %v", err)
	}
}

// TestEntryErrorsNameIndex: a fault in a BundleEntryProto itself (it does
// not parse, its size contradicts its shape and dtype, it names a shard
// the header does not have) is reported in the .index file at the
// entry's offset there — not in the data shard at the tensor's offset.
// In a snappy-compressed index, whose entries have no offset of their
// own, the offset is that of the entry's block.
func TestEntryErrorsNameIndex(t *testing.T) {
	for _, snappy := range []bool{false, true} {
		for _, c := range []struct {
			name string
			edit func([]byte) []byte
			msg  string
		}{
			{"garbage", func([]byte) []byte { return []byte{0xff, 0xff} }, "BundleEntryProto: bad tag"},
			{"size", appendField(5, 7), "entry size 7 is not (2, 3) × 2 bytes"},
			{"shard", appendField(3, 5), "shard 5 of a 1-shard bundle"},
		} {
			t.Run(fmt.Sprintf("snappy=%v/%s", snappy, c.name), func(t *testing.T) {
				dir := t.TempDir()
				var entry []byte
				ts := []tfgen.BundleTensor{
					{Name: "a", DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{4}, Fill: pattern(1)},
					{Name: "b", DType: dtype.Of(dtype.Int16), Shape: dtype.Shape{2, 3}, Fill: pattern(2),
						EditEntry: func(e []byte) []byte { entry = c.edit(e); return entry }},
				}
				if err := tfgen.WriteBundle(dir, "m", ts, tfgen.BundleOptions{SnappyIndex: snappy}); err != nil {
					t.Fatal(err)
				}
				index := filepath.Join(dir, "m.index")
				b, err := openPath(t, index)
				if err != nil {
					t.Fatal(err)
				}
				err = b.Err("b")
				var te *tensor.Error
				if !errors.As(err, &te) || !errors.Is(err, tensor.ErrCorrupt) || !strings.Contains(err.Error(), c.msg) {
					t.Fatalf("b: %v", err)
				}
				want := int64(0) // the only block
				if !snappy {
					idx, _ := os.ReadFile(index)
					if bytes.Count(idx, entry) != 1 {
						t.Fatalf("entry % x found %d times in the index", entry, bytes.Count(idx, entry))
					}
					want = int64(bytes.Index(idx, entry))
				}
				if te.File != index || te.Tensor != "b" || te.Offset != want {
					t.Errorf("error names %s offset %d, want %s offset %d: %v", te.File, te.Offset, index, want, err)
				}
				t.Log(err)
			})
		}
	}
}
