package npyhdr

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/numpytest"
	"github.com/bigconv/bigconv/tensor"
)

// TestEncodeMatchesNumPy checks our header bytes against np.save's for a
// table of dtypes, shapes and orders.
func TestEncodeMatchesNumPy(t *testing.T) {
	cases := []struct {
		descr   string
		shape   dtype.Shape
		fortran bool
	}{
		{"<f4", dtype.Shape{3, 4}, false},
		{"<f8", dtype.Shape{}, false},
		{"|u1", dtype.Shape{5}, false},
		{">i8", dtype.Shape{2, 3, 4}, false},
		{"<c16", dtype.Shape{7, 1}, true},
		{"|b1", dtype.Shape{0}, false},
		{"<f2", dtype.Shape{3000000, 1024}, false},
		{"|S7", dtype.Shape{2}, false},
		{"<u8", dtype.Shape{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, false},
	}
	dir := t.TempDir()
	var spec []map[string]any
	for i, c := range cases {
		spec = append(spec, map[string]any{"descr": c.descr, "shape": c.shape, "fortran": c.fortran,
			"path": filepath.Join(dir, "h"+string(rune('a'+i))+".npy")})
	}
	js, _ := json.Marshal(spec)
	numpytest.Run(t, `
import json, sys, numpy as np
for c in json.loads(sys.argv[1]):
    # write only the header, as np.save would for this array
    with open(c["path"], "wb") as f:
        d = {"descr": c["descr"], "fortran_order": c["fortran"], "shape": tuple(c["shape"])}
        np.lib.format._write_array_header(f, d, None)
`, string(js))
	for i, c := range cases {
		want, err := os.ReadFile(spec[i]["path"].(string))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Encode(dtype.MustParse(c.descr), c.shape, c.fortran)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s %v: header differs from NumPy's\n got %q\nwant %q", c.descr, c.shape, got, want)
		}
		if len(got)%Align != 0 {
			t.Errorf("%s: header length %d not a multiple of 64", c.descr, len(got))
		}
		h, err := Read(bytes.NewReader(got), int64(len(got)))
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if !h.Shape.Equal(c.shape) || h.Fortran != c.fortran || h.Descr != c.descr || h.DataOffset != int64(len(got)) {
			t.Errorf("round trip: %+v", h)
		}
	}
}

func TestEncodeLenRewrite(t *testing.T) {
	dt := dtype.MustParse("<f4")
	h0, _ := Encode(dt, dtype.Shape{0, 56, 56, 64}, false)
	h1, err := EncodeLen(dt, dtype.Shape{123456789012, 56, 56, 64}, false, len(h0))
	if err != nil {
		t.Fatal(err)
	}
	if len(h1) != len(h0) {
		t.Fatalf("len %d != %d", len(h1), len(h0))
	}
	h, err := Read(bytes.NewReader(h1), int64(len(h1)))
	if err != nil || h.Shape[0] != 123456789012 {
		t.Fatalf("rewritten header: %+v, %v", h, err)
	}
}

func TestParseForms(t *testing.T) {
	cases := []struct {
		text  string
		shape dtype.Shape
		descr string
		fo    bool
	}{
		{"{'descr': '<f8', 'fortran_order': False, 'shape': (2L,), }", dtype.Shape{2}, "<f8", false},
		{"{'shape': (), 'fortran_order': True, 'descr': '|u1'}", dtype.Shape{}, "|u1", true},
		{`{"descr":">i4","fortran_order":False,"shape":(3,4)}`, dtype.Shape{3, 4}, ">i4", false},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }          \n", dtype.Shape{5}, "<f4", false},
	}
	for _, c := range cases {
		h, err := Parse([]byte(c.text), 1)
		if err != nil {
			t.Errorf("%q: %v", c.text, err)
			continue
		}
		if !h.Shape.Equal(c.shape) || h.Descr != c.descr || h.Fortran != c.fo {
			t.Errorf("%q: got %+v", c.text, h)
		}
	}
}

func TestParseRefusals(t *testing.T) {
	cases := []struct {
		text        string
		err         error  // sentinel, or nil when Unsupported must be set
		unsupported string // substring of Unsupported
	}{
		{"{'descr': '|O', 'fortran_order': False, 'shape': (4,), }", nil, "pickle"},
		{"{'descr': '<U3', 'fortran_order': False, 'shape': (), }", nil, "unicode"},
		{"{'descr': [('a', '<i4'), ('b', '<f4')], 'fortran_order': False, 'shape': (2,), }", nil, "structured"},
		{"{'descr': '<V2', 'fortran_order': False, 'shape': (2,), }", nil, "void"},
		{"{'descr': '<M8[ns]', 'fortran_order': False, 'shape': (2,), }", nil, "datetime"},
		{"{'descr': '<f16', 'fortran_order': False, 'shape': (2,), }", nil, "not supported"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", tensor.ErrCorrupt, ""},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", tensor.ErrCorrupt, ""},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", tensor.ErrCorrupt, ""},
		{"{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }", tensor.ErrCorrupt, ""},
		{"{'descr': '<f4', 'shape': (1,), }", tensor.ErrCorrupt, ""},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", tensor.ErrCorrupt, ""},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", tensor.ErrCorrupt, ""},
		{strings.Repeat("(", 100), tensor.ErrCorrupt, ""},
	}
	for _, c := range cases {
		h, err := Parse([]byte(c.text), 1)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("%q: err = %v, want %v", c.text, err, c.err)
			}
			continue
		}
		if err != nil || !strings.Contains(h.Unsupported, c.unsupported) {
			t.Errorf("%q: err %v, Unsupported %q, want it to mention %q", c.text, err, h.Unsupported, c.unsupported)
		}
	}
}

func TestReadRefusals(t *testing.T) {
	good, _ := Encode(dtype.MustParse("<f4"), dtype.Shape{3}, false)
	big := append([]byte(Magic), 1, 0, 0xff, 0xff)
	v2huge := append([]byte(Magic), 2, 0, 0xff, 0xff, 0xff, 0x7f)
	cases := []struct {
		name string
		b    []byte
		err  error
	}{
		{"empty", nil, tensor.ErrFormat},
		{"not npy", []byte("PK\x03\x04 hello world"), tensor.ErrFormat},
		{"short magic", []byte(Magic[:4]), tensor.ErrCorrupt},
		{"preamble only", good[:9], tensor.ErrCorrupt},
		{"header truncated", good[:40], tensor.ErrCorrupt},
		{"length past end", big, tensor.ErrCorrupt},
		{"huge v2 length", v2huge, tensor.ErrCorrupt},
		{"version 9", append([]byte(Magic), 9, 0, 0, 0, 0, 0), tensor.ErrUnsupported},
	}
	for _, c := range cases {
		_, err := Read(bytes.NewReader(c.b), int64(len(c.b)))
		if !errors.Is(err, c.err) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.err)
		}
	}
}

// realNPY lists the .npy files under ../shared/testdata/real.
func realNPY(t testing.TB) []string {
	dir := numpytest.SharedDir(t)
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".npy") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) == 0 {
		t.Fatal("no .npy files in shared test data")
	}
	return files
}

func TestRealHeaders(t *testing.T) {
	for _, p := range realNPY(t) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		h, err := Read(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(p), err)
			continue
		}
		if h.DataOffset <= 10 || h.DataOffset > int64(len(b)) {
			t.Errorf("%s: data offset %d", filepath.Base(p), h.DataOffset)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, p := range realNPY(f) {
		b, err := os.ReadFile(p)
		if err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := Read(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		if h.Unsupported == "" {
			if _, err := h.DataLen(); err != nil {
				t.Fatalf("accepted header with bad size: %v", err)
			}
		}
		if h.DataOffset > int64(len(b)) {
			t.Fatalf("data offset %d past end %d", h.DataOffset, len(b))
		}
	})
}
