package tensor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/engine"
	"github.com/bigconv/bigconv/format/npy"
	"github.com/bigconv/bigconv/internal/numpytest"
	"github.com/bigconv/bigconv/tensor"
)

// rangeTexts are the ranges every test tries: negatives, omitted bounds,
// empty and out-of-bounds ranges.
var rangeTexts = []string{":", "2:10", "-5:", ":-3", "-100:5", "10:2", "5:5", "100:200", "-3:-1", "0:1", "-1:", ":0",
	"1:-1", "-37:37", "36:", "3:-40", "-2:-5", " 4 : 9 "}

// TestResolveMatchesPython: Resolve against slice(a, b).indices(n) for
// every bound from -12 to 12 (and omitted) over n = 0…9.
func TestResolveMatchesPython(t *testing.T) {
	out := numpytest.Run(t, `
import json
bounds = [None] + list(range(-12, 13))
print(json.dumps([[n, a, b] + list(slice(a, b).indices(n)[:2]) for n in range(10) for a in bounds for b in bounds]))
`)
	var cases [][5]*int64
	if err := json.Unmarshal(out, &cases); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		r := tensor.RowRange{Start: c[1], Stop: c[2]}
		start, stop := r.Resolve(*c[0])
		if start != *c[3] || stop != max(*c[3], *c[4]) {
			t.Fatalf("n=%d %s: [%d, %d), Python (%d, %d)", *c[0], r, start, stop, *c[3], *c[4])
		}
	}
	t.Logf("%d cases", len(cases))
}

func TestParseRows(t *testing.T) {
	for _, s := range []string{"", "5", "a:b", "1:2:3", "::2", "1.5:2"} {
		if _, err := tensor.ParseRows(s); err == nil {
			t.Errorf("ParseRows(%q) succeeded", s)
		}
	}
	for s, want := range map[string]string{":": ":", "-5:": "-5:", " 2 : -1": "2:-1", ":7": ":7"} {
		r, err := tensor.ParseRows(s)
		if err != nil || r.String() != want {
			t.Errorf("ParseRows(%q) = %v, %v; want %s", s, r, err, want)
		}
	}
}

// TestFortranRowsReads reads a Fortran view at random offsets and lengths
// against the bytes it must hold, for sparse (narrow) and dense (most
// rows) windows, through a reader that counts its reads.
func TestFortranRowsReads(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, c := range []struct {
		shape       dtype.Shape
		start, stop int64
	}{
		{dtype.Shape{100000, 7, 3}, 10, 20},   // sparse: a read per column
		{dtype.Shape{1000, 7, 3}, 10, 20},     // gaps under 4 KiB: spans
		{dtype.Shape{10, 5000}, 1, 9},         // dense: spans of many columns
		{dtype.Shape{3, 200000}, 0, 3},        // all rows
		{dtype.Shape{50000, 40}, 100, 49000},  // columns longer than the span cap
		{dtype.Shape{2, 3}, 1, 1},             // empty
		{dtype.Shape{4000, 600}, 2000, 2001},  // one row
		{dtype.Shape{9000, 300}, 2000, 9000},  // runs near the gap threshold
		{dtype.Shape{300000, 2}, 5, 299990},   // two long columns
		{dtype.Shape{64, 64, 64}, 63, 64},     // last row
		{dtype.Shape{1 << 10, 1 << 8}, 0, 17}, // first rows
	} {
		const item = 2
		s0 := c.shape[0]
		total, _ := c.shape.NumBytes(item)
		data := make([]byte, total)
		rng.Read(data)
		full := &tensor.Tensor{DType: dtype.MustParse("<u2"), Shape: c.shape, Fortran: true, Data: bytes.NewReader(data)}
		v, err := tensor.Rows(full, tensor.RowRange{Start: &c.start, Stop: &c.stop})
		if err != nil {
			t.Fatal(err)
		}
		// expected: column by column, rows start…stop of each
		k := c.stop - c.start
		cols := total / item / s0
		want := make([]byte, 0, k*cols*item)
		for col := int64(0); col < cols; col++ {
			want = append(want, data[(col*s0+c.start)*item:(col*s0+c.stop)*item]...)
		}
		if n, _ := v.NumBytes(); n != int64(len(want)) || !v.Shape.Equal(append(dtype.Shape{k}, c.shape[1:]...)) {
			t.Fatalf("%v[%d:%d]: shape %v, %d bytes, want %d", c.shape, c.start, c.stop, v.Shape, n, len(want))
		}
		got := make([]byte, len(want))
		if n, err := v.Data.ReadAt(got, 0); n != len(got) || (err != nil && err != io.EOF) {
			t.Fatalf("%v[%d:%d]: whole read %d of %d: %v", c.shape, c.start, c.stop, n, len(got), err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%v[%d:%d]: whole read differs", c.shape, c.start, c.stop)
		}
		for i := 0; i < 300 && len(want) > 0; i++ {
			off := rng.Int63n(int64(len(want)))
			n := 1 + rng.Int63n(min(int64(len(want))-off, 3<<20))
			if i%5 == 0 {
				n = min(1+rng.Int63n(64), int64(len(want))-off)
			}
			p := make([]byte, n)
			if k, err := v.Data.ReadAt(p, off); k != len(p) || (err != nil && err != io.EOF) {
				t.Fatalf("%v[%d:%d]: read %d+%d: %d, %v", c.shape, c.start, c.stop, off, n, k, err)
			}
			if !bytes.Equal(p, want[off:off+n]) {
				t.Fatalf("%v[%d:%d]: read %d+%d differs", c.shape, c.start, c.stop, off, n)
			}
		}
		// past the end
		if k, err := v.Data.ReadAt(make([]byte, 4), int64(len(want))); k != 0 || err != io.EOF {
			t.Fatalf("read past the end: %d, %v", k, err)
		}
		if len(want) >= 2 {
			if k, err := v.Data.ReadAt(make([]byte, 4), int64(len(want)-2)); k != 2 || err != io.EOF {
				t.Fatalf("read across the end: %d, %v", k, err)
			}
		}
	}
}

// TestRowsNumPy converts rows of C- and Fortran-order .npy files written
// by NumPy through engine.Convert (whole blocks, blocks of a few rows,
// and rows split over blocks), and has NumPy compare np.load(out) with
// np.load(in)[start:stop].
func TestRowsNumPy(t *testing.T) {
	dir := t.TempDir()
	type input struct{ name, make string }
	inputs := []input{
		{"c3d", "np.arange(37*5*3, dtype='<i4').reshape(37, 5, 3)"},
		{"f3d", "np.asfortranarray(np.arange(37*5*3, dtype='<f8').reshape(37, 5, 3) * 1.5)"},
		{"f2d_wide", "np.asfortranarray(np.random.default_rng(1).standard_normal((37, 3000)).astype('>f4'))"},
		{"f2d_narrow", "np.asfortranarray(np.arange(37*2, dtype='<u2').reshape(37, 2))"},
		{"f4d", "np.asfortranarray(np.arange(37*4*3*2, dtype='<i8').reshape(37, 4, 3, 2))"},
		{"c1d", "np.arange(37, dtype='<c8') * (1+2j)"},
		{"f1d", "np.asfortranarray(np.arange(37, dtype='|i1'))"},
		{"cbool", "(np.arange(37*3).reshape(37, 3) % 3 == 0)"},
		{"cempty", "np.zeros((37, 0), dtype='<f4')"},
		{"fbytes", "np.asfortranarray(np.array([[b'ab%d' % (i*j) for j in range(4)] for i in range(37)], dtype='|S4'))"},
	}
	var script strings.Builder
	script.WriteString("import numpy as np, sys\nd = sys.argv[1]\n")
	for _, in := range inputs {
		fmt.Fprintf(&script, "a = %s\nassert a.flags.%s_contiguous\nnp.save(d + '/%s.npy', a)\n", in.make, in.name[:1], in.name)
	}
	numpytest.Run(t, script.String(), dir)

	type job struct{ In, Rows, Out string }
	var jobs []job
	for _, in := range inputs {
		path := filepath.Join(dir, in.name+".npy")
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		st, _ := f.Stat()
		full, err := npy.Open(f, st.Size(), path)
		if err != nil {
			t.Fatal(err)
		}
		if full.Fortran != (in.name[0] == 'f' && len(full.Shape) > 1) {
			t.Fatalf("%s: Fortran = %v", in.name, full.Fortran)
		}
		for ri, rt := range rangeTexts {
			r, err := tensor.ParseRows(rt)
			if err != nil {
				t.Fatal(err)
			}
			v, err := tensor.Rows(full, r)
			if err != nil {
				t.Fatal(err)
			}
			bs := []int64{0, 64, 1000}[ri%3] // default; a few elements a block; rows split over blocks
			out := filepath.Join(dir, fmt.Sprintf("%s_%d.out.npy", in.name, ri))
			if _, err := engine.Convert(context.Background(), v, out, engine.Options{BlockSize: bs, CheckpointBytes: -1}); err != nil {
				t.Fatalf("%s[%s]: %v", in.name, rt, err)
			}
			jobs = append(jobs, job{path, rt, out})
		}
	}
	spec, _ := json.Marshal(jobs)
	specPath := filepath.Join(dir, "jobs.json")
	os.WriteFile(specPath, spec, 0o644)
	res := numpytest.Run(t, `
import json, sys
import numpy as np
jobs = json.load(open(sys.argv[1]))
for j in jobs:
    a, b = [None if s.strip() == "" else int(s) for s in j["Rows"].split(":")]
    want = np.load(j["In"])[a:b]
    got = np.load(j["Out"])
    assert got.dtype == want.dtype.newbyteorder("=") and got.shape == want.shape, (j, got.dtype, got.shape, want.dtype, want.shape)
    assert np.array_equal(got, want), j
print("ok", len(jobs))
`, specPath)
	if !strings.HasPrefix(string(res), "ok ") {
		t.Fatal(string(res))
	}
	t.Log(strings.TrimSpace(string(res)), "ranges converted and compared")
}

func TestRowsStream(t *testing.T) {
	rows := make([]byte, 20*6) // 20 rows of 3 <u2
	for i := range rows {
		rows[i] = byte(i)
	}
	i64 := func(v int64) *int64 { return &v }
	for _, c := range []struct {
		shape0      int64 // 0: unknown
		r           tensor.RowRange
		from, count int64
		err         string
	}{
		{20, tensor.RowRange{Start: i64(2), Stop: i64(5)}, 2, 3, ""},
		{20, tensor.RowRange{Start: i64(-3)}, 17, 3, ""},
		{20, tensor.RowRange{Stop: i64(-18)}, 0, 2, ""},
		{20, tensor.RowRange{Start: i64(9), Stop: i64(3)}, 9, 0, ""},
		{0, tensor.RowRange{Start: i64(2), Stop: i64(5)}, 2, 3, ""},
		{0, tensor.RowRange{Start: i64(15)}, 15, 5, ""},
		{0, tensor.RowRange{Start: i64(25)}, 20, 0, ""},
		{0, tensor.RowRange{Start: i64(18), Stop: i64(40)}, 18, 2, ""},
		{0, tensor.RowRange{Start: i64(-3)}, 0, 0, "not known until the end"},
		{0, tensor.RowRange{Stop: i64(-1)}, 0, 0, "not known until the end"},
	} {
		src := &countingReader{r: bytes.NewReader(rows)}
		full := &tensor.Tensor{Name: "s", DType: dtype.MustParse("<u2"), Shape: dtype.Shape{c.shape0, 3}, Stream: src}
		v, err := tensor.Rows(full, c.r)
		if c.err != "" {
			if !errors.Is(err, tensor.ErrUnsupported) || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%d %s: %v, want %q", c.shape0, c.r, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(v.Stream)
		if err != nil {
			t.Fatal(err)
		}
		if want := rows[c.from*6 : (c.from+c.count)*6]; !bytes.Equal(got, want) {
			t.Errorf("%d %s: rows %v, want %v", c.shape0, c.r, got, want)
		}
		if src.n != int64(len(rows)) {
			t.Errorf("%d %s: the source was read to %d of %d", c.shape0, c.r, src.n, len(rows))
		}
		if c.shape0 != 0 && v.Shape[0] != c.count || c.shape0 == 0 && v.Shape[0] != 0 {
			t.Errorf("%d %s: shape %v", c.shape0, c.r, v.Shape)
		}
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestRowsScalar(t *testing.T) {
	s := &tensor.Tensor{DType: dtype.MustParse("<f4"), Shape: dtype.Shape{}, Data: bytes.NewReader(make([]byte, 4))}
	if _, err := tensor.Rows(s, tensor.RowRange{}); !errors.Is(err, tensor.ErrUnsupported) {
		t.Fatalf("scalar: %v", err)
	}
}
