package pytorch

import (
	"bytes"
	"errors"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/internal/numpytest"
	"github.com/bigconv/bigconv/tensor"
)

// openSlack is what Open may allocate beyond MaxPickleMemory (its doc):
// the zip reader of a small archive, data.pkl's reader, the File, the
// error. Larger zip directories add to it.
const openSlack = 1 << 20

// openAlloc opens b and returns the bytes allocated meanwhile (by the
// whole process: no test of this package runs in parallel).
func openAlloc(b []byte) (*File, error, uint64) {
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	f, err := Open(bytes.NewReader(b), int64(len(b)), "in.pt")
	runtime.ReadMemStats(&m1)
	return f, err, m1.TotalAlloc - m0.TotalAlloc
}

// TestHostileMemory builds pickles whose memory grows with a count n —
// the shapes an audit measured (a list of memo references to None and to
// a tensor, which the walk names; a dict of int pairs; a list of strs) and
// others that make one opcode allocate again and again (copies by
// _codecs.encode, dicts by OrderedDict, long names by the walk, a far
// memo index) or that parse text (big ints, escapes, quoted strings),
// and a legacy-format file (its five pickles and the walk share a budget). Under a 4 MiB MaxPickleMemory it finds the largest n that
// opens, and checks that every n tried allocates at most MaxPickleMemory +
// openSlack during Open (runtime.MemStats.TotalAlloc) and that n+1 fails
// with ErrUnsupported naming the file, an offset and the limit.
func TestHostileMemory(t *testing.T) {
	defer func(m int64) { MaxPickleMemory = m }(MaxPickleMemory)
	MaxPickleMemory = 4 << 20
	for _, c := range []struct {
		name string
		pkl  func(n int) []byte // data.pkl of a zip-format file
		file func(n int) []byte // or the whole file
	}{
		{"memo refs to None", func(n int) []byte { return hostileRefs(n, false) }, nil},
		{"memo refs to a tensor", func(n int) []byte { return hostileRefs(n, true) }, nil},
		{"dict of int pairs", hostileIntDict, nil},
		{"strs", hostileStrings, nil},
		{"_codecs.encode of one str", hostileEncode, nil},
		{"OrderedDict of one list", hostileOrderedDicts, nil},
		{"long names", hostileLongNames, nil},
		{"memo index", hostileMemoIndex, nil},
		{"text ints", hostileTextInts, nil},
		{"LONG4 ints", hostileLong4, nil},
		{"raw-unicode-escape", hostileUnicode, nil},
		{"quoted STRINGs", hostileQuoted, nil},
		{"legacy memo refs to a tensor", nil, hostileLegacyRefs},
	} {
		t.Run(c.name, func(t *testing.T) {
			try := func(n int) (error, uint64) {
				var b []byte
				if c.file != nil {
					b = c.file(n)
				} else {
					b = torchZip(c.pkl(n), f32s(6))
				}
				_, err, alloc := openAlloc(b)
				if limit := uint64(MaxPickleMemory + openSlack); alloc > limit {
					t.Fatalf("n=%d: Open allocated %d bytes, more than %d (%v)", n, alloc, limit, err)
				}
				if err != nil && (!errors.Is(err, tensor.ErrUnsupported) || !strings.Contains(err.Error(), "MaxPickleMemory")) {
					t.Fatalf("n=%d: %v", n, err)
				}
				return err, alloc
			}
			lo, hi := 0, 1 // lo opens, hi does not
			for err, _ := try(hi); err == nil; err, _ = try(hi) {
				lo, hi = hi, 2*hi
			}
			for hi-lo > 1 {
				if mid := (lo + hi) / 2; func() bool { err, _ := try(mid); return err == nil }() {
					lo = mid
				} else {
					hi = mid
				}
			}
			_, under := try(lo)
			err, over := try(hi)
			msg := err.Error()
			if !strings.HasPrefix(msg, "pytorch: in.pt: ") || !strings.Contains(msg, "offset ") {
				t.Fatalf("the message lacks the file or offset: %v", err)
			}
			t.Logf("n=%d opens (allocated %.2f MiB), n=%d allocates %.2f MiB and fails: %v", lo, float64(under)/(1<<20), hi, float64(over)/(1<<20), err)
		})
	}
}

// TestBudget: what Open charges is at least what it allocates (less
// openSlack), for files that open — state_dicts, the gopickle fixtures
// of both formats and every protocol, the broken table's good inputs.
func TestBudget(t *testing.T) {
	type file struct {
		name string
		b    []byte
	}
	var files []file
	for _, n := range []int{1, 100, 3000} {
		pkl, st := stateDict(n)
		files = append(files, file{"state_dict " + strconv.Itoa(n), torchZip(pkl, st...)})
	}
	for _, c := range brokenCases(t, filepath.Join(t.TempDir(), "marker")) {
		if c.want == nil || c.want == errListed {
			files = append(files, file{c.name, c.b})
		}
	}
	paths, _ := filepath.Glob(filepath.Join(numpytest.SharedDir(t), "nlpodyssey+gopickle", "pytorch", "testdata", "*.pt"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, file{filepath.Base(p), b})
	}
	for _, f := range files {
		pf, err, alloc := openAlloc(f.b)
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		if alloc > uint64(pf.charged+openSlack) {
			t.Errorf("%s: Open allocated %d bytes; it charged %d", f.name, alloc, pf.charged)
		}
		t.Logf("%s: allocated %d, charged %d", f.name, alloc, pf.charged)
	}
}

// TestReprCost: repr of values built to make it allocate — many floats,
// quoted strs, long bytes, big ints, deep nesting, a tensor of 64 long
// dimensions — stays within reprCost.
func TestReprCost(t *testing.T) {
	many := func(v any) []any { return slices.Repeat([]any{v}, 100) }
	bigInt := new(big.Int).Lsh(big.NewInt(1), 127)
	deep := any(pyTuple{"x"})
	for range 20 {
		deep = &pyList{items: []any{deep, deep}}
	}
	size := slices.Repeat([]int64{math.MaxInt64}, 64)
	for name, v := range map[string]any{
		"floats":   &pyList{items: many(1.0000000000000002)},
		"quotes":   pyTuple(many(`'"\`)),
		"bytes":    pyBytes(bytes.Repeat([]byte{0xff}, 1<<20)),
		"str":      strings.Repeat("\x01", 1<<20),
		"big ints": pyTuple(many(bigInt)),
		"huge int": new(big.Int).Lsh(big.NewInt(1), 1<<20),
		"deep":     deep,
		"dict":     &pyDict{keys: many("'k'"), vals: many(-1.5e-300)},
		"tensors":  pyTuple(many(&tensorVal{size: size})),
		"globals":  pyTuple(many(&pyGlobal{full: strings.Repeat("m", 64<<10)})),
		"sets":     &pySet{items: many(pyBytes("\x00'\"")), frozen: true},
	} {
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		const runs = 20
		for range runs {
			repr(v, 80)
		}
		runtime.ReadMemStats(&m1)
		if per := (m1.TotalAlloc - m0.TotalAlloc) / runs; per > reprCost {
			t.Errorf("%s: repr allocated %d bytes, more than reprCost (%d)", name, per, reprCost)
		} else {
			t.Logf("%s: %d bytes", name, per)
		}
	}
}
