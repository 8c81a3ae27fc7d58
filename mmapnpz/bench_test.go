package mmapnpz

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/mmapnpy"
)

// BenchmarkWrite writes 256 MiB of float32 in 1 MiB blocks from two
// goroutines with WriteAt and commits: to a .npy (mmapnpy, the
// baseline), to a one-member .npz (CRC-32 of each block recorded and
// joined), and to a .npz whose blocks bypass the recording (Commit reads
// everything back: what a resume without a CRC snapshot costs).
func BenchmarkWrite(b *testing.B) {
	const total, block = 256 << 20, 1 << 20
	shape := dtype.Shape{total / 4}
	f4 := dtype.MustParse("<f4")
	buf := make([]byte, block)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	run := func(b *testing.B, write func(off int64) error) {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for g := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for off := int64(g * block); off < total; off += 2 * block {
					if err := write(off); err != nil {
						errs[g] = err
						return
					}
				}
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("out=npy", func(b *testing.B) {
		b.SetBytes(total)
		for i := 0; i < b.N; i++ {
			w, err := mmapnpy.Create(filepath.Join(b.TempDir(), "x.npy"), f4, shape, mmapnpy.Options{})
			if err != nil {
				b.Fatal(err)
			}
			run(b, func(off int64) error { return w.WriteAt(buf, off) })
			if err := w.Commit(); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, readBack := range []bool{false, true} {
		name := "out=npz"
		if readBack {
			name = "out=npz-readback"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(total)
			for i := 0; i < b.N; i++ {
				w, err := Create(filepath.Join(b.TempDir(), "x.npz"), []Member{{Name: "x", DType: f4, Shape: shape}}, Options{})
				if err != nil {
					b.Fatal(err)
				}
				e := w.Entry(0)
				run(b, func(off int64) error {
					if readBack {
						_, err := w.f.WriteAt(buf, e.DataOffset()+off)
						return err
					}
					return e.WriteAt(buf, off)
				})
				if err := w.Commit(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
