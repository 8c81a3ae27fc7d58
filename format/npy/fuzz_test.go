package npy

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/internal/brokentest"
	"github.com/bigconv/bigconv/tensor"
)

// FuzzOpen opens whole files and reads the data of those it accepts, as
// the engine would. Seeds: the table's good files and the real .npy
// files of the shared test data, when present.
func FuzzOpen(f *testing.F) {
	for _, v := range []byte{1, 2, 3} {
		f.Add(npyFile(v, goodDict, goodData))
	}
	f.Add(npyFile(1, "{'descr': '>c8', 'fortran_order': True, 'shape': (2, 1), }", goodData[:16]))
	f.Add(npyFile(1, "{'descr': '|S3', 'fortran_order': False, 'shape': (), }", goodData[:3]))
	filepath.WalkDir(filepath.Join("..", "..", "shared", "testdata", "real"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".npy") {
			if b, err := os.ReadFile(p); err == nil && len(b) <= 1<<16 {
				f.Add(b)
			}
		}
		return nil
	})
	f.Fuzz(func(t *testing.T, b []byte) {
		tt, err := Open(bytes.NewReader(b), int64(len(b)), "f.npy")
		if err != nil {
			if !errors.Is(err, tensor.ErrFormat) && !errors.Is(err, tensor.ErrCorrupt) && !errors.Is(err, tensor.ErrUnsupported) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			if !strings.HasPrefix(err.Error(), "f.npy: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if tt.Unsupported != "" {
			if tt.Data != nil {
				t.Fatal("unsupported tensor with Data")
			}
			return
		}
		n, err := tt.NumBytes()
		if err != nil {
			t.Fatalf("accepted with a bad size: %v", err)
		}
		if tt.Offset < 0 || tt.Offset > int64(len(b)) || n > int64(len(b))-tt.Offset {
			t.Fatalf("data [%d, +%d) outside the %d-byte file", tt.Offset, n, len(b))
		}
		if _, err := brokentest.ReadData(tt, 61); err != nil {
			t.Fatal(err)
		}
	})
}
