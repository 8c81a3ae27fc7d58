package npz

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/brokentest"
	"github.com/bigconv/bigconv/internal/numpytest"
	"github.com/bigconv/bigconv/tensor"
)

// readAll reads a tensor's Data or Stream.
func readAll(t *testing.T, tt *tensor.Tensor) []byte {
	t.Helper()
	if tt.Stream != nil {
		b, err := io.ReadAll(tt.Stream)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	n, _ := tt.NumBytes()
	b := make([]byte, n)
	if k, err := tt.Data.ReadAt(b, 0); k != len(b) {
		t.Fatalf("%s: read %d of %d: %v", tt.Name, k, n, err)
	}
	return b
}

// TestMembers opens archives written as np.savez and np.savez_compressed
// write them and checks what each member becomes, and its bytes.
func TestMembers(t *testing.T) {
	big := npyOf("<f4", dtype.Shape{600, 512}, false, seq(600*512*4)) // > SmallMember: a Stream
	bigF := npyOf("<f4", dtype.Shape{600, 512}, true, seq(600*512*4)) // refused
	big1 := npyOf(">f8", dtype.Shape{200000}, true, seq(1600000))     // 1-D: Fortran is C
	for _, method := range []uint16{zip.Store, zip.Deflate} {
		b := zipOf(zmember{name: "a.npy", body: memA, method: method}, zmember{name: "b.npy", body: memB, method: method},
			zmember{name: "c.npy", body: memC, method: method}, zmember{name: "dir/big.npy", body: big, method: method},
			zmember{name: "bigF.npy", body: bigF, method: method}, zmember{name: "big1.npy", body: big1, method: method})
		a, err := Open(bytes.NewReader(b), int64(len(b)), "m.npz")
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			name, dt, shape string
			fortran         bool
			body            []byte
		}{
			{"a", "<i4", "(3, 5)", false, memA}, {"b", ">f8", "(2, 3)", true, memB}, {"c", "|S3", "()", false, memC},
			{"dir/big", "<f4", "(600, 512)", false, big}, {"bigF", "<f4", "(600, 512)", true, bigF}, {"big1", ">f8", "(200000,)", true, big1},
		}
		if len(a.Tensors) != len(want) {
			t.Fatalf("method %d: %d tensors", method, len(a.Tensors))
		}
		for i, w := range want {
			tt := a.Tensors[i]
			if tt.Name != w.name || tt.DType.String() != w.dt || tt.Shape.String() != w.shape || tt.Fortran != w.fortran || tt.File != "m.npz" {
				t.Errorf("method %d: %s %s %s fortran=%v", method, tt.Name, tt.DType, tt.Shape, tt.Fortran)
			}
			if tt.Extra["member"] != w.name+".npy" {
				t.Errorf("member %q", tt.Extra["member"])
			}
			n, _ := tt.NumBytes()
			if method == zip.Deflate && w.name == "bigF" {
				if tt.Unsupported == "" || !strings.Contains(tt.Unsupported, "unzip -p m.npz bigF.npy") {
					t.Errorf("large compressed Fortran member: %q", tt.Unsupported)
				}
				continue
			}
			if tt.Unsupported != "" {
				t.Fatalf("%s: %s", tt.Name, tt.Unsupported)
			}
			stream := method == zip.Deflate && n > SmallMember
			if (tt.Stream != nil) != stream || (tt.Data != nil) == stream {
				t.Errorf("method %d: %s: stream %v, data %v", method, tt.Name, tt.Stream != nil, tt.Data != nil)
			}
			if method == zip.Store && (tt.Offset < 0 || !bytes.Equal(b[tt.Offset:tt.Offset+n], w.body[len(w.body)-int(n):])) {
				t.Errorf("%s: Offset %d is not where the data is", tt.Name, tt.Offset)
			}
			if got := readAll(t, tt); !bytes.Equal(got, w.body[len(w.body)-int(n):]) {
				t.Errorf("method %d: %s: data differs", method, tt.Name)
			}
		}
		// Reads at every offset of a small deflated member, as the slicer
		// makes them, and concurrently.
		tt := a.Tensors[0]
		done := make(chan []byte)
		for off := range 60 {
			go func() {
				p := make([]byte, min(7, 60-off))
				tt.Data.ReadAt(p, int64(off))
				done <- p
			}()
		}
		for range 60 {
			<-done
		}
		for off := range 60 {
			p := make([]byte, 7)
			k, err := tt.Data.ReadAt(p, int64(off))
			if k != min(7, 60-off) || !bytes.Equal(p[:k], memA[len(memA)-60+off:][:k]) || (k < 7) != (err == io.EOF) {
				t.Fatalf("method %d: ReadAt(7, %d) = %d, %v", method, off, k, err)
			}
		}
	}
}

// TestZip64 reads stored members whose headers carry their sizes and
// offsets in Zip64 extra fields, with a Zip64 end of central directory.
func TestZip64(t *testing.T) {
	b := zip64Of(zmember{name: "a.npy", body: memA}, zmember{name: "b.npy", body: memB})
	a, err := Open(bytes.NewReader(b), int64(len(b)), "z.npz")
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Tensors) != 2 {
		t.Fatalf("%d tensors", len(a.Tensors))
	}
	for i, body := range [][]byte{memA, memB} {
		tt := a.Tensors[i]
		n, _ := tt.NumBytes()
		if got := readAll(t, tt); !bytes.Equal(got, body[len(body)-int(n):]) {
			t.Errorf("%s: data differs", tt.Name)
		}
	}
}

// TestSniff: np.savez archives are recognised; other zips and formats
// are not.
func TestSniff(t *testing.T) {
	if !Sniff(goodStored()) || !Sniff(goodDeflated()) {
		t.Error("npz not recognised")
	}
	for name, b := range map[string][]byte{
		"pytorch zip": zipOf(zmember{name: "archive/data.pkl", body: []byte("x")}),
		"empty zip":   zipOf(),
		"npy":         memA,
		"short":       goodStored()[:29],
	} {
		if Sniff(b) {
			t.Errorf("%s: recognised as npz", name)
		}
	}
}

// TestRealFiles opens every .npz of the shared real test data and checks
// what MANIFEST.tsv says of each.
func TestRealFiles(t *testing.T) {
	src := numpytest.SharedDir(t)
	var files []string
	filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".npz") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) < 11 {
		t.Fatalf("only %d .npz files", len(files))
	}
	type member struct{ dt, shape, unsupported string }
	want := map[string]map[string]member{
		"am.npz":                       {"arr_0": {"<i4", "(3,)", ""}},
		"py2-objarr.npz":               {"x": {"", "(4,)", "object array"}},
		"py3-objarr.npz":               {"x": {"", "(4,)", "object array"}},
		"py3-arr-savez.npz":            {"x": {"<i8", "(4, 3)", ""}, "foo": {"", "()", "unicode"}},
		"py3-arr-savez-compressed.npz": {"x": {"<i8", "(4, 3)", ""}, "foo": {"", "()", "unicode"}},
		"compressed.npz":               {"ints": {"<i8", "(4,)", ""}, "floats": {"<f8", "(2, 1)", ""}},
		"uncompressed.npz":             {"ints": {"<i8", "(4,)", ""}, "floats": {"<f8", "(2, 1)", ""}},
		"csr.npz":                      {"indices": {"<i4", "(5,)", ""}, "indptr": {"<i4", "(4,)", ""}, "format": {"|S3", "()", ""}, "shape": {"<i8", "(2,)", ""}, "data": {"<i8", "(5,)", ""}},
		"bsr-f-order.npz":              {"indices": {"<i4", "(5,)", ""}, "indptr": {"<i4", "(4,)", ""}, "format": {"|S3", "()", ""}, "shape": {"<i8", "(2,)", ""}, "data": {"<i8", "(5, 1, 2)", ""}},
		"data_float64_corder.npz":      {"arr0": {"<f8", "(2, 3)", ""}, "arr1": {"<f8", "(6, 1)", ""}},
		"data_float64_forder.npz":      {"arr0": {"<f8", "(2, 3)", ""}, "arr1": {"<f8", "(6, 1)", ""}},
	}
	for _, p := range files {
		w, ok := want[filepath.Base(p)]
		if !ok {
			t.Errorf("%s: not in the test's table", p)
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !Sniff(b) {
			t.Errorf("%s: not sniffed", p)
		}
		a, err := Open(bytes.NewReader(b), int64(len(b)), p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if len(a.Tensors) != len(w) {
			t.Errorf("%s: %d members, want %d", p, len(a.Tensors), len(w))
		}
		for _, tt := range a.Tensors {
			m := w[tt.Name]
			if tt.Shape.String() != m.shape || !strings.Contains(tt.Unsupported, m.unsupported) || m.unsupported == "" && tt.DType.String() != m.dt {
				t.Errorf("%s: %s: %s %s %q", p, tt.Name, tt.DType, tt.Shape, tt.Unsupported)
			}
			if tt.Unsupported == "" {
				if _, err := brokentest.ReadData(tt, 5); err != nil {
					t.Errorf("%s: %s: %v", p, tt.Name, err)
				}
			}
		}
	}
}
