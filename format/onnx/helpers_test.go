package onnx

import (
	"encoding/binary"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/format/npy"
	"github.com/bigconv/bigconv/tensor"
)

// openPath opens an ONNX file the way the CLI does: the file, and its
// directory for external data.
func openPath(t testing.TB, path string) (*format.Input, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return Open(format.Source{R: f, Size: st.Size(), Name: path, Sibling: dirSibling(t, filepath.Dir(path))})
}

func dirSibling(t testing.TB, dir string) func(string) (io.ReaderAt, int64, error) {
	return func(name string) (io.ReaderAt, int64, error) {
		g, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return nil, 0, err
		}
		t.Cleanup(func() { g.Close() })
		st, err := g.Stat()
		if err != nil {
			return nil, 0, err
		}
		return g, st.Size(), nil
	}
}

// readAll reads a tensor's Data in odd-sized chunks (so that reads start
// inside elements and nibble pairs).
func readAll(t testing.TB, tt *tensor.Tensor) []byte {
	t.Helper()
	n, err := tt.NumBytes()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, n)
	const chunk = 4093
	for off := int64(0); off < n; off += chunk {
		p := out[off:min(off+chunk, n)]
		k, err := tt.Data.ReadAt(p, off)
		if k != len(p) || (err != nil && err != io.EOF) {
			t.Fatalf("%s: ReadAt(%d at %d) = %d, %v", tt.Name, len(p), off, k, err)
		}
	}
	return out
}

// loadNpy reads a .npy file written by NumPy.
func loadNpy(t testing.TB, path string) (dtype.DType, dtype.Shape, []byte) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	nt, err := npy.Open(f, st.Size(), path)
	if err != nil {
		t.Fatal(err)
	}
	return nt.DType, nt.Shape, readAll(t, nt)
}

// widenBF16 turns bfloat16 bits into float32 bits, as numpy_helper does.
func widenBF16(b []byte) []byte {
	out := make([]byte, 0, 2*len(b))
	for i := 0; i+1 < len(b); i += 2 {
		out = binary.LittleEndian.AppendUint32(out, uint32(binary.LittleEndian.Uint16(b[i:]))<<16)
	}
	return out
}

// sameFloatBits compares little-endian values of item size isz, treating
// any two NaNs as equal (NumPy's array_equal with equal_nan).
func sameBits(a, b []byte, dt dtype.DType) bool {
	if len(a) != len(b) {
		return false
	}
	isNaN := func(p []byte) bool { return false }
	switch dt.Type {
	case dtype.Float32, dtype.Complex64:
		isNaN = func(p []byte) bool { return math.IsNaN(float64(math.Float32frombits(binary.LittleEndian.Uint32(p)))) }
	case dtype.Float64, dtype.Complex128:
		isNaN = func(p []byte) bool { return math.IsNaN(math.Float64frombits(binary.LittleEndian.Uint64(p))) }
	case dtype.Float16:
		isNaN = func(p []byte) bool { v := binary.LittleEndian.Uint16(p); return v&0x7c00 == 0x7c00 && v&0x3ff != 0 }
	}
	w := dt.Size()
	if dt.Type == dtype.Complex64 {
		w = 4
	} else if dt.Type == dtype.Complex128 {
		w = 8
	}
	for i := 0; i+w <= len(a); i += w {
		x, y := a[i:i+w], b[i:i+w]
		if string(x) != string(y) && !(isNaN(x) && isNaN(y)) {
			return false
		}
	}
	return true
}
