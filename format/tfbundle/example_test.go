package tfbundle_test

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format/tfbundle"
	"github.com/bigconv/bigconv/internal/tfgen"
)

func Example() {
	dir, _ := os.MkdirTemp("", "tfbundle-example")
	defer os.RemoveAll(dir)
	// A two-shard checkpoint: a float32 vector, an int64 step counter and
	// a string tensor.
	err := tfgen.WriteBundle(dir, "model.ckpt-1", []tfgen.BundleTensor{
		{Name: "dense/bias", DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{3}, Fill: func(off int64, p []byte) {
			for i := range p {
				var b [4]byte
				k := off + int64(i)
				binary.LittleEndian.PutUint32(b[:], math.Float32bits(float32(k/4)+0.5))
				p[i] = b[k%4]
			}
		}},
		{Name: "global_step", DType: dtype.Of(dtype.Int64), Shape: dtype.Shape{}},
		{Name: "vocab", Shape: dtype.Shape{2}, Strings: [][]byte{[]byte("cat"), []byte("horse")}},
	}, tfgen.BundleOptions{Shards: 2})
	if err != nil {
		fmt.Println(err)
		return
	}

	index, _ := tfbundle.IndexPath(filepath.Join(dir, "model.ckpt-1"),
		func(p string) bool { st, err := os.Stat(p); return err == nil && st.IsDir() },
		func(p string) bool { _, err := os.Stat(p); return err == nil })
	f, _ := os.Open(index)
	defer f.Close()
	st, _ := f.Stat()
	var opened []io.Closer
	defer func() {
		for _, c := range opened {
			c.Close()
		}
	}()
	b, err := tfbundle.Open(f, st.Size(), index, func(name string) (io.ReaderAt, int64, error) {
		g, err := os.Open(filepath.Join(filepath.Dir(index), name))
		if err != nil {
			return nil, 0, err
		}
		opened = append(opened, g)
		st, err := g.Stat()
		if err != nil {
			return nil, 0, err
		}
		return g, st.Size(), nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range b.Tensors() {
		fmt.Println(t.Describe(), "shard", t.Extra["shard"])
	}
	bias := b.Tensors()[0]
	raw := make([]byte, 12)
	bias.Data.ReadAt(raw, 0)
	fmt.Println(math.Float32frombits(binary.LittleEndian.Uint32(raw[0:])),
		math.Float32frombits(binary.LittleEndian.Uint32(raw[4:])),
		math.Float32frombits(binary.LittleEndian.Uint32(raw[8:])))
	vocab := b.Tensors()[2]
	words := make([]byte, 10)
	vocab.Data.ReadAt(words, 0)
	fmt.Printf("%q\n", words)
	// Output:
	// dense/bias <f4 (3,) 12 bytes shard 0
	// global_step <i8 () 8 bytes shard 1
	// vocab |S5 (2,) 10 bytes shard 0
	// 0.5 1.5 2.5
	// "cat\x00\x00horse"
}
