package slicer

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestScatterMatchesGo compares scatter with the transpose kernels
// (where the CPU has them) against the Go twin, scatterWords, for 4- and
// 8-byte items over tile shapes with and without whole squares, padded
// strides and offsets into larger buffers.
func TestScatterMatchesGo(t *testing.T) {
	if !haveTranspose {
		t.Skip("no transpose kernel on this CPU or build")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, item := range []int64{4, 8} {
		for _, rows := range []int64{1, 3, 4, 7, 8, 9, 16, 31, 64, 203} {
			for _, nt := range []int64{1, 4, 5, 8, 15, 16, 17, 64, 70} {
				for _, pad := range []int64{0, 4, 64} {
					name := fmt.Sprintf("item=%d/rows=%d/runs=%d/pad=%d", item, rows, nt, pad)
					stride := rows*item + pad
					rowBytes := nt*item + pad + item*int64(rng.IntN(3))
					tile := make([]byte, nt*stride+int64(rng.IntN(40)))
					for i := range tile {
						tile[i] = byte(rng.Uint32())
					}
					got := make([]byte, rows*rowBytes)
					want := make([]byte, rows*rowBytes)
					for i := range got {
						got[i] = byte(i)
						want[i] = byte(i)
					}
					scatter(got, tile, rows, nt, item, rowBytes, stride)
					if item == 4 {
						scatterWords[uint32](want, tile, rows, nt, rowBytes, stride)
					} else {
						scatterWords[uint64](want, tile, rows, nt, rowBytes, stride)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("%s: kernel and Go twin differ", name)
					}
				}
			}
		}
	}
}

func TestTileRuns(t *testing.T) {
	for _, stride := range []int64{68, 4160, 8256, 16448, 65600, 1<<20 + 64, 4 << 20} {
		n := tileRuns(stride)
		if n < 1 && stride <= tileBytes {
			t.Errorf("stride %d: %d runs", stride, n)
		}
		if n*stride > tileBytes+tileBytes/4 {
			t.Errorf("stride %d: %d runs = %d bytes, over budget", stride, n, n*stride)
		}
	}
}
