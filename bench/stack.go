package main

import (
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/bigconv/bigconv/dtype"
)

// The stack cases: many .npy clips of float16 [rows,1024] stacked into
// one float32 array (bigconv convert --stack 'clip_*.npy'), against the
// loop a NumPy user writes (np.lib.format.open_memmap for the output, a
// loop of np.load + assignment). stack-N splits --size into N files, so
// that stack-16 and stack-1024 of one size show how memory and time go
// with the file count; --size 2GiB with stack-256 is 256 files of 8 MiB.
func init() {
	for _, n := range []int{16, 256, 1024} {
		cases = append(cases, caseSpec{"stack-" + strconv.Itoa(n),
			fmt.Sprintf(".npy <f2 clips ×%d (--size in all) → --stack float32", n), stackCase(n)})
	}
}

func stackCase(files int) func(string, int64) (*caseDef, error) {
	return func(dir string, size int64) (*caseDef, error) {
		rows := size / int64(files) / (1024 * 2)
		if rows < 1 {
			return nil, fmt.Errorf("--size %d is below %d files of one row of 1024 float16", size, files)
		}
		shape := dtype.Shape{rows, 1024}
		var paths []string
		for i := range files {
			p := filepath.Join(dir, fmt.Sprintf("clip_%05d.npy", i))
			if err := writeNPY(p, dtype.MustParse("<f2"), shape, false, pattern("f2")); err != nil {
				return nil, err
			}
			paths = append(paths, p)
		}
		n := int64(files) * rows * 1024 * 2
		return &caseDef{Input: paths[0], InBytes: n, OutBytes: 2 * n,
			Args:  []string{"--stack", "--dtype", "float32", filepath.Join(dir, "clip_*.npy")},
			Peer:  map[string]any{"kind": "stack", "files": paths, "out_dtype": "<f4"},
			Files: paths}, nil
	}
}
