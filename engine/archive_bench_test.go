package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/engine"
)

// BenchmarkArchive writes the same tensors (64 MiB of float32 as
// float64) into one .npz and, as the baseline, into a directory of .npy
// files, for few big and many small tensors.
func BenchmarkArchive(b *testing.B) {
	for _, c := range []struct {
		count int
		rows  int64
	}{{16, 4096}, {1024, 64}} {
		for _, kind := range []string{"npz", "dir"} {
			b.Run(fmt.Sprintf("tensors=%d/out=%s", c.count, kind), func(b *testing.B) {
				dir := b.TempDir()
				b.SetBytes(int64(c.count) * c.rows * 256 * 4)
				opt := engine.InputOptions{Options: engine.Options{DType: dtype.Of(dtype.Float64), CheckpointBytes: -1}}
				for i := range b.N {
					out := filepath.Join(dir, fmt.Sprintf("o%d", i))
					var err error
					if kind == "npz" {
						_, err = engine.ConvertArchive(context.Background(), patternInput(c.count, c.rows), out+".npz", opt)
						os.Remove(out + ".npz")
					} else {
						_, err = engine.ConvertDir(context.Background(), patternInput(c.count, c.rows), out, opt)
						os.RemoveAll(out)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
