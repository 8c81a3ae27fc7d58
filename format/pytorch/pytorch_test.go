package pytorch

import (
	"bytes"
	"encoding/binary"
	"errors"

	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/internal/brokentest"
	"github.com/bigconv/bigconv/tensor"
)

func open(t *testing.T, b []byte) *File {
	t.Helper()
	f, err := Open(bytes.NewReader(b), int64(len(b)), "in.pt")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestHostileLengths: a length read from the pickle is checked against
// what is left of it before anything is allocated.
func TestHostileLengths(t *testing.T) {
	for name, pkl := range map[string][]byte{
		"BINUNICODE8": cat(op(0x80, 4, 0x8d), binary.LittleEndian.AppendUint64(nil, 1<<62)),
		"BINBYTES8":   cat(op(0x80, 4, 0x8e), binary.LittleEndian.AppendUint64(nil, 1<<40)),
		"BYTEARRAY8":  cat(op(0x80, 5, 0x96), binary.LittleEndian.AppendUint64(nil, 1<<40)),
		"LONG4":       cat(op(0x80, 2, 0x8b), binary.LittleEndian.AppendUint32(nil, math.MaxInt32)),
		"BINUNICODE":  cat(op(0x80, 2, 'X'), binary.LittleEndian.AppendUint32(nil, math.MaxUint32)),
	} {
		b := torchZip(pkl, f32s(6))
		brokentest.Allocation(t, name, 1<<20, func() error {
			_, err := Open(bytes.NewReader(b), int64(len(b)), "in.pt")
			return err
		})
	}
}

// TestPickleMemory: a pickle that builds more than MaxPickleMemory is
// refused with ErrUnsupported naming the limit.
func TestPickleMemory(t *testing.T) {
	defer func(n int64) { MaxPickleMemory = n }(MaxPickleMemory)
	MaxPickleMemory = 1 << 20
	// [x, x, x, …] of 200k references to one string: a few bytes of
	// pickle per 16 bytes of machine memory
	body := cat(op(0x80, 2), str("x"), op('q', 0, '0', ']', '('), bytes.Repeat(op('h', 0), 200000), op('e', '.'))
	b := torchZip(body)
	_, err := Open(bytes.NewReader(b), int64(len(b)), "in.pt")
	if !errors.Is(err, tensor.ErrUnsupported) || !strings.Contains(err.Error(), "MaxPickleMemory") {
		t.Fatalf("got %v", err)
	}
	MaxPickleMemory = 64 << 20
	open(t, b) // and under a larger budget it reads
}

// TestStateDict: a state_dict as torch writes it opens with every tensor
// named in order.
func TestStateDict(t *testing.T) {
	pkl, st := stateDict(2500)
	f := open(t, torchZip(pkl, st...))
	if len(f.Tensors) != 2500 || f.Tensors[2499].Name != "layers.2499.weight" || !slices.Equal(f.Tensors[0].Shape, dtype.Shape{4, 3}) {
		t.Fatalf("%d tensors, last %q, first shape %v", len(f.Tensors), f.Tensors[len(f.Tensors)-1].Name, f.Tensors[0].Shape)
	}
}

// BenchmarkOpen opens a state_dict of n tensors as torch writes it (the
// pickle and the walk; no tensor data is read).
func BenchmarkOpen(b *testing.B) {
	for _, n := range []int{100, 5000} {
		pkl, st := stateDict(n)
		file := torchZip(pkl, st...)
		b.Run("tensors="+strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(len(pkl)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Open(bytes.NewReader(file), int64(len(file)), "in.pt"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestBigEndian: a byteorder member saying "big" makes every tensor
// big-endian (the engine swaps).
func TestBigEndian(t *testing.T) {
	var be []byte
	for i := range 6 {
		be = binary.BigEndian.AppendUint32(be, math.Float32bits(float32(i)))
	}
	b := zipOf(member{name: "archive/data.pkl", data: goodPkl()}, member{name: "archive/byteorder", data: []byte("big")},
		member{name: "archive/data/0", data: be})
	f := open(t, b)
	tt := f.Tensors[0]
	if tt.DType.String() != ">f4" || tt.Name != "w" {
		t.Fatalf("%s %s", tt.Name, tt.DType)
	}
	got := make([]byte, 24)
	if _, err := tt.Data.ReadAt(got, 0); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if !bytes.Equal(got, be) {
		t.Fatalf("%x", got)
	}
}

// TestSniff: a torch zip and an .npz are told apart by their first
// members; the legacy magic with and without a FRAME.
func TestSniff(t *testing.T) {
	good := torchZip(goodPkl(), f32s(6))
	npz := zipOf(member{name: "a.npy", data: []byte("x")}, member{name: "archive/data.pkl", data: goodPkl()})
	byteorderFirst := zipOf(member{name: "archive/byteorder", data: []byte("little")}, member{name: "archive/data.pkl", data: goodPkl()}, member{name: "archive/data/0", data: f32s(6)})
	deep := zipOf(member{name: "a/b/data.pkl", data: goodPkl()})
	for _, c := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"torch zip", good, true},
		{"npz with a data.pkl after", npz, false},
		{"byteorder first", byteorderFirst, true},
		{"data.pkl two folders down", deep, false},
		{"legacy p2", cat(op(0x80, 2), legacyMagic, op('.')), true},
		{"legacy p4", cat(op(0x80, 4, 0x95), make([]byte, 8), legacyMagic), true},
		{"legacy p1", []byte(legacyMagicText + "."), true},
		{"pickle", []byte("\x80\x02]q\x00."), false},
		{"empty", nil, false},
	} {
		if got := Sniff(c.b[:min(len(c.b), format.SniffLen)]); got != c.want {
			t.Errorf("%s: Sniff = %v", c.name, got)
		}
	}
	f := open(t, byteorderFirst)
	if len(f.Tensors) != 1 {
		t.Fatal(f.Tensors)
	}
}

// TestLegacyStorages: the storage table after a legacy pickle must agree
// with the pickle.
func TestLegacyStorages(t *testing.T) {
	good := legacyFile(t)
	f := open(t, good)
	if f.Format != "legacy" || f.Tensors[0].Offset != int64(len(good)-16) {
		t.Fatalf("%s at %d", f.Format, f.Tensors[0].Offset)
	}
	bad := bytes.Clone(good)
	binary.LittleEndian.PutUint64(bad[len(bad)-24:], 5) // element count 5, pickle says 4
	_, err := Open(bytes.NewReader(bad), int64(len(bad)), "in.pt")
	if !errors.Is(err, tensor.ErrCorrupt) || !strings.Contains(err.Error(), "has 5 elements in the file but 4 in the pickle") {
		t.Fatalf("got %v", err)
	}
	binary.LittleEndian.PutUint64(bad[len(bad)-24:], 1<<61)
	_, err = Open(bytes.NewReader(bad), int64(len(bad)), "in.pt")
	if !errors.Is(err, tensor.ErrCorrupt) {
		t.Fatalf("got %v", err)
	}
}

// TestIndex reads a sharded checkpoint through its index and refuses
// indexes that disagree with their shards or name files elsewhere.
func TestIndex(t *testing.T) {
	dir := t.TempDir()
	shard := func(name string, keys ...string) {
		var kv [][]byte
		for i, k := range keys {
			kv = append(kv, str(k), rebuild(storageID("FloatStorage", "0", 6), i, []int{2}, []int{1}))
		}
		if err := os.WriteFile(filepath.Join(dir, name), torchZip(proto2(dict(kv...)), f32s(6)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	shard("pytorch_model-00001-of-00002.bin", "a.weight", "a.bias")
	shard("pytorch_model-00002-of-00002.bin", "b.weight")
	sibling := func(name string) (io.ReaderAt, int64, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		return bytes.NewReader(b), int64(len(b)), err
	}
	openIx := func(js string) (*File, error) {
		return OpenIndex(strings.NewReader(js), int64(len(js)), "pytorch_model.bin.index.json", sibling)
	}
	f, err := openIx(`{"metadata": {"total_size": 20}, "weight_map": {"a.weight": "pytorch_model-00001-of-00002.bin",
		"b.weight": "pytorch_model-00002-of-00002.bin", "a.bias": "pytorch_model-00001-of-00002.bin"}}`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tt := range f.Tensors {
		names = append(names, tt.Name+"@"+tt.Extra["shard"])
		if _, err := brokentest.ReadData(tt, 3); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(names, " ") != "a.weight@pytorch_model-00001-of-00002.bin a.bias@pytorch_model-00001-of-00002.bin b.weight@pytorch_model-00002-of-00002.bin" {
		t.Fatal(names)
	}
	for js, want := range map[string]string{
		`{"weight_map": {"a.weight": "pytorch_model-00002-of-00002.bin"}}`:                                                 "which does not hold it",
		`{"weight_map": {"a.weight": "pytorch_model-00002-of-00002.bin", "b.weight": "pytorch_model-00001-of-00002.bin"}}`: "but it is in",
		`{"weight_map": {"c": "pytorch_model-00002-of-00002.bin"}}`:                                                        "which does not hold it",
		`{"weight_map": {"a": "../../etc/passwd"}}`:                                                                        "not a file name beside the index",
		`{"weight_map": {"a": "missing.bin"}}`:                                                                             "missing.bin",
		`{"weight_map": {}}`:                                                                                               "empty",
		`{"metadata": {}}`:                                                                                                 "no \"weight_map\"",
		`[1]`:                                                                                                              "not a JSON object",
	} {
		if _, err := openIx(js); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", js, err, want)
		}
	}
}
