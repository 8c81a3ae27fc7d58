package pytorch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/internal/brokentest"
	"github.com/bigconv/bigconv/internal/numpytest"
	"github.com/bigconv/bigconv/tensor"
)

type brokenCase struct {
	name string
	b    []byte
	want error  // sentinel; nil = opens and every tensor reads
	msg  string // must appear in the message
}

// goodPkl is {"w": a 2×3 float32 tensor on storage 0 (6 elements)}.
func goodPkl() []byte {
	return proto2(dict(str("w"), rebuild(storageID("FloatStorage", "0", 6), 0, []int{2, 3}, []int{3, 1})))
}

func brokenCases(t testing.TB, marker string) []brokenCase {
	var cases []brokenCase
	add := func(name string, b []byte, want error, msg string) {
		cases = append(cases, brokenCase{name, b, want, msg})
	}
	zipWith := func(pkl []byte) []byte { return torchZip(pkl, f32s(6)) }
	good := zipWith(goodPkl())
	add("good", good, nil, "")

	// Globals that are not on the allow-list: refused at the GLOBAL opcode,
	// nothing imported or called (the marker file is never created).
	add("os.system", zipWith(proto2(glob("os", "system"), tuple(str("touch "+marker)), op('R'))), tensor.ErrUnsupported, "global os.system")
	add("posix.system", zipWith(proto2(glob("posix", "system"), tuple(str("touch "+marker)), op('R'))), tensor.ErrUnsupported, "global posix.system")
	add("builtins.eval", zipWith(proto2(glob("builtins", "eval"), tuple(str("__import__('os').system('touch "+marker+"')")), op('R'))), tensor.ErrUnsupported, "global builtins.eval")
	add("__builtin__.eval", zipWith(proto2(glob("__builtin__", "eval"), tuple(str("1")), op('R'))), tensor.ErrUnsupported, "global __builtin__.eval")
	add("STACK_GLOBAL eval", zipWith(cat(op(0x80, 4), op(0x8c, 8), []byte("builtins"), op(0x8c, 4), []byte("eval"), op(0x93), tuple(str("1")), op('R', '.'))), tensor.ErrUnsupported, "global builtins.eval")
	add("getattr", zipWith(proto2(glob("builtins", "getattr"), tuple(glob("torch", "Size"), str("__class__")), op('R'))), tensor.ErrUnsupported, "global builtins.getattr")
	add("model class (NEWOBJ)", zipWith(proto2(glob("__main__", "Net"), op(')', 0x81), dict(str("training"), op(0x88)), op('b'))), tensor.ErrUnsupported, "global __main__.Net")
	add("unknown __reduce__", zipWith(proto2(glob("mylib.layers", "Custom"), tuple(i32(1)), op('R'))), tensor.ErrUnsupported, "global mylib.layers.Custom")
	add("numpy array", zipWith(proto2(glob("numpy.core.multiarray", "_reconstruct"), tuple(), op('R'))), tensor.ErrUnsupported, "numpy.core.multiarray._reconstruct")
	add("INST subprocess", zipWith(cat(op(0x80, 2, '('), str("ls"), []byte("isubprocess\nPopen\n."))), tensor.ErrUnsupported, "global subprocess.Popen")
	add("allowed global called wrongly", zipWith(proto2(glob("torch", "FloatStorage"), tuple(), op('R'))), tensor.ErrUnsupported, "does not interpret")
	add("copyreg._reconstructor", zipWith(proto2(glob("copyreg", "_reconstructor"), tuple(), op('R'))), tensor.ErrUnsupported, "copyreg._reconstructor")
	add("BUILD on a list", zipWith(proto2(op(']'), dict(), op('b'))), tensor.ErrUnsupported, "BUILD on a list")
	add("persistent id not a storage", zipWith(proto2(tuple(str("module"), str("x")), op('Q'))), tensor.ErrUnsupported, "not a storage")
	add("EXT1", zipWith(proto2(op(0x82, 1))), tensor.ErrUnsupported, "EXT1")
	add("protocol 6", zipWith(cat(op(0x80, 6, 'N', '.'))), tensor.ErrUnsupported, "protocol 6")

	// Deep nesting and memory.
	add("20000 MARKs", zipWith(cat(op(0x80, 2), bytes.Repeat(op('('), 20000))), tensor.ErrUnsupported, "nested MARKs")
	deep := cat(op(0x80, 2), bytes.Repeat(op(']'), 1000), bytes.Repeat(op('a'), 999), op('.'))
	add("1000 nested lists", zipWith(deep), tensor.ErrUnsupported, "nested deeper than 200")
	deepT := cat(op(0x80, 2), bytes.Repeat(op(']'), 300), rebuild(storageID("FloatStorage", "0", 6), 0, []int{6}, []int{1}), bytes.Repeat(op('a'), 300), op('.'))
	add("tensor under 300 lists", zipWith(deepT), tensor.ErrUnsupported, "nested deeper than 200")
	// a list of lists sharing children: 2^40 paths from 41 lists
	share := cat(op(0x80, 2), rebuild(storageID("FloatStorage", "0", 6), 0, []int{6}, []int{1}))
	for range 40 { // x = [x, x]: memoize x, pop it, push a list of it twice
		share = cat(share, op('q', 0, '0', ']', '(', 'h', 0, 'h', 0, 'e'))
	}
	add("2^40 shared paths", zipWith(cat(share, op('.'))), tensor.ErrUnsupported, "names more than 4096 tensors")
	cyc := proto2(op(']', 'q', 0), rebuild(storageID("FloatStorage", "0", 6), 0, []int{6}, []int{1}), op('a', 'h', 0, 'a'))
	add("list containing itself", zipWith(cyc), tensor.ErrUnsupported, "contains itself")

	// Declared lengths past the end: refused before anything is allocated.
	add("BINUNICODE8 2^62", zipWith(cat(op(0x80, 4, 0x8d), binary.LittleEndian.AppendUint64(nil, 1<<62), []byte("abc"))), tensor.ErrCorrupt, "runs past the end")
	add("BINBYTES 4 GiB", zipWith(cat(op(0x80, 3, 'B'), binary.LittleEndian.AppendUint32(nil, math.MaxUint32), []byte("abc"))), tensor.ErrCorrupt, "runs past the end")
	add("LONG4 2 GiB", zipWith(cat(op(0x80, 2, 0x8b), binary.LittleEndian.AppendUint32(nil, math.MaxInt32), []byte("abc"))), tensor.ErrCorrupt, "runs past the end")
	add("BINUNICODE 4 GiB", zipWith(cat(op(0x80, 2, 'X'), binary.LittleEndian.AppendUint32(nil, math.MaxUint32))), tensor.ErrCorrupt, "runs past the end")
	add("numel 2^60", zipWith(proto2(rebuild(storageID("FloatStorage", "0", 1<<30), 0, []int{6}, []int{1}))), tensor.ErrCorrupt, "truncated")

	// Storages and views.
	add("absent storage member", zipWith(proto2(rebuild(storageID("FloatStorage", "7", 6), 0, []int{6}, []int{1}))), tensor.ErrCorrupt, `no member "archive/data/7"`)
	add("view past its storage", zipWith(proto2(dict(str("w"), rebuild(storageID("FloatStorage", "0", 6), 0, []int{100}, []int{1})))), tensor.ErrCorrupt, "reaches element 99")
	add("stride past its storage", zipWith(proto2(dict(str("w"), rebuild(storageID("FloatStorage", "0", 6), 0, []int{2, 3}, []int{4, 1})))), tensor.ErrCorrupt, "reaches element 6")
	add("offset past its storage", zipWith(proto2(dict(str("w"), rebuild(storageID("FloatStorage", "0", 6), 7, []int{0}, []int{1})))), tensor.ErrCorrupt, "reaches element")
	add("negative stride", zipWith(proto2(rebuild(storageID("FloatStorage", "0", 6), 5, []int{6}, []int{-1}))), tensor.ErrCorrupt, "not a non-negative int")
	add("size and stride lengths", zipWith(proto2(rebuild(storageID("FloatStorage", "0", 6), 0, []int{2, 3}, []int{1}))), tensor.ErrCorrupt, "differ in length")
	add("65 dimensions", zipWith(proto2(rebuild(storageID("FloatStorage", "0", 6), 0, make([]int, 65), make([]int, 65)))), tensor.ErrCorrupt, "65 dimensions")
	add("overflowing size", zipWith(proto2(rebuild(storageID("FloatStorage", "0", 6), 0, []int{math.MaxInt32, math.MaxInt32, 3}, []int{math.MaxInt32, math.MaxInt32, 1}))), tensor.ErrCorrupt, "more than 2^63-1 elements")
	add("overflowing stride", zipWith(proto2(rebuild(storageID("FloatStorage", "0", 6), 0, []int{2, 2, 2}, []int{math.MaxInt32, math.MaxInt32, 1}))), tensor.ErrCorrupt, "reaches element 4294967295")
	add("truncated storage member", torchZip(goodPkl(), f32s(6)[:16]), tensor.ErrCorrupt, `truncated: member "archive/data/0" holds 16 bytes`)
	add("storage type mismatch", zipWith(proto2(tuple(rebuild(storageID("FloatStorage", "0", 6), 0, []int{6}, []int{1}), rebuild(storageID("IntStorage", "0", 6), 0, []int{6}, []int{1})))), tensor.ErrCorrupt, "named as FloatStorage")
	add("not a storage class", zipWith(proto2(rebuild(cat(tuple(str("storage"), glob("torch", "Size"), str("0"), str("cpu"), i32(6)), op('Q')), 0, []int{6}, []int{1}))), tensor.ErrCorrupt, "not a torch storage class")
	add("byteorder sideways", zipOf(member{name: "archive/data.pkl", data: goodPkl()}, member{name: "archive/byteorder", data: []byte("middle")}, member{name: "archive/data/0", data: f32s(6)}), tensor.ErrCorrupt, `says "middle"`)

	// Malformed pickles.
	add("empty data.pkl", zipWith(nil), tensor.ErrCorrupt, "empty pickle")
	add("no STOP", zipWith(cat(op(0x80, 2, 'N'))), tensor.ErrCorrupt, "truncated")
	add("unknown opcode", zipWith(cat(op(0x80, 2, 0xff))), tensor.ErrCorrupt, "unknown pickle opcode 0xff")
	add("stack underflow", zipWith(cat(op(0x80, 2, 'a'))), tensor.ErrCorrupt, "stack underflow")
	add("memo miss", zipWith(cat(op(0x80, 2, 'h', 9, '.'))), tensor.ErrCorrupt, "memo index 9")
	add("two values at STOP", zipWith(cat(op(0x80, 2, 'N', 'N', '.'))), tensor.ErrCorrupt, "STOP with 2 values")
	add("SETITEMS odd", zipWith(cat(op(0x80, 2, '}', '('), str("a"), op('u', '.'))), tensor.ErrCorrupt, "odd number")
	add("invalid UTF-8", zipWith(cat(op(0x80, 2, 'X', 1, 0, 0, 0, 0xff, '.'))), tensor.ErrCorrupt, "UTF-8")
	add("two keys, one name", zipWith(proto2(dict(str("a.b"), rebuild(storageID("FloatStorage", "0", 6), 0, []int{6}, []int{1}), str("a"), dict(str("b"), rebuild(storageID("FloatStorage", "0", 6), 0, []int{6}, []int{1}))))), tensor.ErrUnsupported, `two values are named "a.b"`)

	// Zip structure.
	add("no data.pkl", zipOf(member{name: "archive/data/0", data: f32s(6)}), tensor.ErrFormat, "without a PREFIX/data.pkl")
	add("npz", zipOf(member{name: "x.npy", data: []byte("\x93NUMPY")}), tensor.ErrFormat, "use --format npz")
	add("two data.pkl", zipOf(member{name: "a/data.pkl", data: goodPkl()}, member{name: "b/data.pkl", data: goodPkl()}), tensor.ErrCorrupt, "two pickles")
	add("deflated data.pkl", zipOf(member{name: "archive/data.pkl", data: goodPkl(), method: 8}, member{name: "archive/data/0", data: f32s(6)}), nil, "")
	bad := torchZip(goodPkl(), f32s(6))
	bad[bytes.Index(bad, []byte("cpu"))+2]++ // "cpv": still a valid pickle
	add("data.pkl CRC", bad, tensor.ErrChecksum, "checksum")
	add("not zip, not pickle", []byte("hello world"), tensor.ErrFormat, "neither")
	add("empty file", nil, tensor.ErrFormat, "empty file")

	// Truncated at every byte, zip and legacy.
	add("deflated storage", zipOf(member{name: "archive/data.pkl", data: goodPkl()}, member{name: "archive/data/0", data: f32s(6), method: 8}), errListed, "compressed")
	for cut := 1; cut < len(good); cut++ {
		want := tensor.ErrCorrupt
		if cut < 2 { // "P" is not yet a zip
			want = tensor.ErrFormat
		}
		add("zip cut "+strconv.Itoa(cut), good[:cut], want, "")
	}
	legacy := legacyFile(t)
	for cut := 1; cut < len(legacy); cut++ {
		want := tensor.ErrCorrupt
		if cut < 14 { // the magic number pickle is not yet whole
			want = tensor.ErrFormat
		}
		add("legacy cut "+strconv.Itoa(cut), legacy[:cut], want, "")
	}
	return cases
}

// errListed marks a case that opens with a tensor listed as not convertible.
var errListed = errors.New("listed as unsupported")

// legacyFile is a real legacy-format file (gopickle fixture, float32).
func legacyFile(t testing.TB) []byte {
	p := filepath.Join(numpytest.SharedDir(t), "nlpodyssey+gopickle", "pytorch", "testdata", "tensor_float32_proto2.pt")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBroken opens each broken input: it must fail with its sentinel and
// message naming the file (a good one must open and read), and nothing a
// hostile pickle names is run.
func TestBroken(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "executed")
	cases := brokenCases(t, marker)
	defer func(n int) { MaxEntries = n }(MaxEntries)
	MaxEntries = 4096 // the real cap takes seconds to reach
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Open(brokentest.EOFAtEnd(c.b), int64(len(c.b)), "in.pt")
			switch {
			case c.want == nil || c.want == errListed:
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				listed := false
				for _, tt := range f.Tensors {
					if tt.Unsupported != "" {
						listed = true
						if !strings.Contains(tt.Unsupported, c.msg) {
							t.Errorf("listed as %q, want %q", tt.Unsupported, c.msg)
						}
						continue
					}
					if _, err := brokentest.ReadData(tt, 5); err != nil {
						t.Fatalf("%q: %v", tt.Name, err)
					}
				}
				if listed != (c.want == errListed) {
					t.Fatalf("listed = %v", listed)
				}
				return
			case err == nil:
				t.Fatalf("opened: %d tensors", len(f.Tensors))
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("want %v, got %v", c.want, err)
			}
			if !strings.Contains(err.Error(), c.msg) || !strings.HasPrefix(err.Error(), "pytorch: in.pt: ") {
				t.Fatalf("message %q lacks %q or the file name", err, c.msg)
			}
		})
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a hostile pickle ran a command")
	}
}
