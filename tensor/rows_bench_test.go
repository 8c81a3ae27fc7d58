package tensor_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/slicer"
	"github.com/bigconv/bigconv/tensor"
)

// BenchmarkFortranRows gathers a Fortran-order float32 file into C-order
// blocks (the slicer, one goroutine) for the whole array and for views of
// it: rows 1:-1 of a 16-row array (runs 56 bytes long, 8 bytes apart:
// spans read many at once, or one read a run), and rows 100:110 of a
// 4096-row array (far apart: a read a run either way).
func BenchmarkFortranRows(b *testing.B) {
	dir := b.TempDir()
	mk := func(name string, shape dtype.Shape) *tensor.Tensor {
		n, _ := shape.NumBytes(4)
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, make([]byte, n), 0o644); err != nil {
			b.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { f.Close() })
		return &tensor.Tensor{DType: dtype.MustParse("<f4"), Shape: shape, Fortran: true, Data: f}
	}
	narrow := mk("narrow", dtype.Shape{16, 1 << 18})
	tall := mk("tall", dtype.Shape{4096, 4096})
	one, m1, r100, r110 := int64(1), int64(-1), int64(100), int64(110)
	for _, c := range []struct {
		name    string
		t       *tensor.Tensor
		r       *tensor.RowRange
		noSpans bool
	}{
		{"shape=16x256K/rows=all", narrow, nil, false},
		{"shape=16x256K/rows=1:-1/spans=on", narrow, &tensor.RowRange{Start: &one, Stop: &m1}, false},
		{"shape=16x256K/rows=1:-1/spans=off", narrow, &tensor.RowRange{Start: &one, Stop: &m1}, true},
		{"shape=4096x4096/rows=100:110/spans=on", tall, &tensor.RowRange{Start: &r100, Stop: &r110}, false},
		{"shape=4096x4096/rows=100:110/spans=off", tall, &tensor.RowRange{Start: &r100, Stop: &r110}, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			t := c.t
			if c.r != nil {
				var err error
				if t, err = tensor.Rows(t, *c.r); err != nil {
					b.Fatal(err)
				}
			}
			n, _ := t.NumBytes()
			b.SetBytes(n)
			tensor.SetNoSpans(c.noSpans)
			defer tensor.SetNoSpans(false)
			for i := 0; i < b.N; i++ {
				s, err := slicer.New(t, slicer.Options{})
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Each(context.Background(), func(slicer.Block, []byte) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
