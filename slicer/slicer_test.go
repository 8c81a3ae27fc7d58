package slicer

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/readat"
	"github.com/bigconv/bigconv/tensor"
)

// fortranBytes stores the C-order values 0..n-1 (as uint32) of shape in
// Fortran order, so that gathering must give 0..n-1 back.
func fortranBytes(shape dtype.Shape) []byte {
	n, _ := shape.NumElements()
	out := make([]byte, 4*n)
	idx := make([]int64, len(shape))
	for c := int64(0); c < n; c++ {
		// F-linear index of the multi-index of C element c
		f, st := int64(0), int64(1)
		for d := range shape {
			f += idx[d] * st
			st *= shape[d]
		}
		binary.LittleEndian.PutUint32(out[4*f:], uint32(c))
		for d := len(shape) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out
}

func TestBlocksCoverTensor(t *testing.T) {
	shapes := []dtype.Shape{{}, {1}, {7}, {10, 3}, {5, 4, 3}, {3, 1000}, {0, 5}, {2, 0}, {4, 2, 3, 5}, {3, 5000}}
	for _, fortran := range []bool{false, true} {
		for _, sh := range shapes {
			for _, bs := range []int64{4, 12, 40, 4096, 1 << 20} {
				t.Run(fmt.Sprintf("F=%v/shape=%v/bs=%d", fortran, sh, bs), func(t *testing.T) {
					n, _ := sh.NumElements()
					var data []byte
					if fortran {
						data = fortranBytes(sh)
					} else {
						data = make([]byte, 4*n)
						for i := int64(0); i < n; i++ {
							binary.LittleEndian.PutUint32(data[4*i:], uint32(i))
						}
					}
					tt := &tensor.Tensor{DType: dtype.MustParse("<u4"), Shape: sh, Data: bytes.NewReader(data), Fortran: fortran}
					s, err := New(tt, Options{BlockSize: bs})
					if err != nil {
						t.Fatal(err)
					}
					next := int64(0)
					err = s.Each(context.Background(), func(b Block, d []byte) error {
						if b.Elem0 != next {
							return fmt.Errorf("block %d starts at %d, want %d", b.Index, b.Elem0, next)
						}
						if b.Len > bs && b.Elems > 1 {
							return fmt.Errorf("block %d has %d bytes > %d", b.Index, b.Len, bs)
						}
						for i := int64(0); i < b.Elems; i++ {
							if v := binary.LittleEndian.Uint32(d[4*i:]); int64(v) != b.Elem0+i {
								return fmt.Errorf("block %d element %d = %d, want %d", b.Index, i, v, b.Elem0+i)
							}
						}
						next += b.Elems
						return nil
					})
					if err != nil {
						t.Fatal(err)
					}
					if next != n {
						t.Fatalf("covered %d of %d elements", next, n)
					}
				})
			}
		}
	}
}

func TestRowBlocksAreWholeRows(t *testing.T) {
	tt := &tensor.Tensor{DType: dtype.MustParse("<f8"), Shape: dtype.Shape{1000, 10}, Data: bytes.NewReader(make([]byte, 80000))}
	s, _ := New(tt, Options{BlockSize: 1000})
	for i := int64(0); i < s.Len(); i++ {
		b := s.Block(i)
		if b.Elems%10 != 0 || b.Elem0%10 != 0 {
			t.Fatalf("block %+v is not whole rows", b)
		}
	}
	if s.Len() != 84 { // 12 rows per block
		t.Fatalf("Len = %d", s.Len())
	}
}

func TestTruncatedData(t *testing.T) {
	tt := &tensor.Tensor{Name: "x", File: "f.bin", DType: dtype.MustParse("<f4"), Shape: dtype.Shape{100}, Data: bytes.NewReader(make([]byte, 300))}
	s, _ := New(tt, Options{BlockSize: 64})
	err := s.Each(context.Background(), func(Block, []byte) error { return nil })
	if !errors.Is(err, tensor.ErrCorrupt) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
	if want := "f.bin: tensor \"x\": offset 300"; !bytes.Contains([]byte(err.Error()), []byte(want)) {
		t.Fatalf("error %q does not name %q", err, want)
	}
}

// TestFortranItemSizes gathers Fortran-order data of every item size the
// scatter specialises (and odd ones) into C order, through short runs
// (the read-ahead window), long runs (direct reads) and partial tiles.
func TestFortranItemSizes(t *testing.T) {
	for _, descr := range []string{"|u1", "<u2", "|S3", "<u4", "<f8", "<c16"} {
		dt := dtype.MustParse(descr)
		item := int64(dt.Size())
		for _, sh := range []dtype.Shape{{37, 300}, {50, 7, 9}, {3000, 5}, {1, 1}, {9000, 70}} {
			for _, bs := range []int64{64, 4096, 1 << 20} {
				n, _ := sh.NumElements()
				if n*item/bs > 2000 {
					continue // thousands of tiny blocks: slow, and nothing new
				}
				want := make([]byte, n*item)
				stored := make([]byte, n*item)
				idx := make([]int64, len(sh))
				for c := int64(0); c < n; c++ {
					f, st := int64(0), int64(1)
					for d := range sh {
						f += idx[d] * st
						st *= sh[d]
					}
					for k := int64(0); k < item; k++ {
						v := byte((c*131 + k*17) % 251)
						want[c*item+k], stored[f*item+k] = v, v
					}
					for d := len(sh) - 1; d >= 0; d-- {
						if idx[d]++; idx[d] < sh[d] {
							break
						}
						idx[d] = 0
					}
				}
				tt := &tensor.Tensor{DType: dt, Shape: sh, Data: bytes.NewReader(stored), Fortran: true}
				s, err := New(tt, Options{BlockSize: bs})
				if err != nil {
					t.Fatal(err)
				}
				got := make([]byte, 0, len(want))
				if err := s.Each(context.Background(), func(b Block, d []byte) error {
					got = append(got, d...)
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("%s shape %v block %d: gathered bytes differ", descr, sh, bs)
				}
			}
		}
	}
}

// BenchmarkFortranGather gathers a 64 MiB Fortran-order <f4
// [16384,1024] tensor into C order in the engine's default 8 MiB blocks
// (1024 column runs of 8 KiB a block), from memory (src=bytes), from a
// file in the page cache by pread (src=pread) and from an x/exp/mmap
// mapping of it (src=map), in one run so the three compare.
func BenchmarkFortranGather(b *testing.B) {
	const rows, cols = 16384, 1024
	data := make([]byte, rows*cols*4)
	for i := range data {
		data[i] = byte(i*7 + i>>12)
	}
	path := filepath.Join(b.TempDir(), "f.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	mr, err := readat.NewMapping(f)
	if err != nil {
		b.Fatal(err)
	}
	defer mr.Close()
	for _, src := range []struct {
		name string
		r    io.ReaderAt
	}{{"bytes", bytes.NewReader(data)}, {"pread", f}, {"map", mr}} {
		b.Run("src="+src.name, func(b *testing.B) {
			tt := &tensor.Tensor{DType: dtype.MustParse("<f4"), Shape: dtype.Shape{rows, cols}, Data: src.r, Fortran: true}
			s, err := New(tt, Options{BlockSize: 8 << 20})
			if err != nil {
				b.Fatal(err)
			}
			dst := make([]byte, s.MaxElems()*4)
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				for i := int64(0); i < s.Len(); i++ {
					blk := s.Block(i)
					if err := s.ReadBlock(blk, dst[:blk.Len]); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

type fullButFailing struct{ r *bytes.Reader }

func (f fullButFailing) ReadAt(p []byte, off int64) (int, error) {
	n, _ := f.r.ReadAt(p, off)
	return n, tensor.ErrChecksum
}

// TestFullReadWithError: a reader that fills the buffer but also
// returns an error (other than io.EOF) has failed.
func TestFullReadWithError(t *testing.T) {
	tt := &tensor.Tensor{DType: dtype.MustParse("<f8"), Shape: dtype.Shape{100}, Data: fullButFailing{bytes.NewReader(make([]byte, 800))}}
	s, err := New(tt, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ReadBlock(s.Block(0), make([]byte, 800)); !errors.Is(err, tensor.ErrChecksum) {
		t.Fatalf("err = %v, want ErrChecksum", err)
	}
}
