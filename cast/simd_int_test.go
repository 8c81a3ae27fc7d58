package cast

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/bigconv/bigconv/dtype"
)

// TestSwapVector checks swapTo, which uses the vector byte swap where
// there is one, against a byte-by-byte reversal: every size, lengths
// around the vector unit, unaligned starts, in place and not.
func TestSwapVector(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{2, 4, 8, 16} {
		part := min(size, 8)
		for n := 0; n <= 700; n += size {
			for _, off := range []int{0, 1, 3} {
				src := make([]byte, n+off)
				for i := range src {
					src[i] = byte(rng.Uint32())
				}
				want := slices.Clone(src[off:])
				for i := 0; i < len(want); i += part {
					slices.Reverse(want[i : i+part])
				}
				got := make([]byte, n+off)
				swapTo(got[off:], src[off:], size)
				if !bytes.Equal(got[off:], want) {
					t.Fatalf("size %d, %d bytes, offset %d: swapTo gave %x, want %x", size, n, off, got[off:], want)
				}
				in := slices.Clone(src[off:])
				Swap(in, size)
				if !bytes.Equal(in, want) {
					t.Fatalf("size %d, %d bytes, offset %d: Swap in place gave %x, want %x", size, n, off, in, want)
				}
			}
		}
	}
}

// TestSIMDIntLong checks the integer and bool vector kernels against the
// Go kernels on long runs of edge values (so that each one goes through
// the vector loops in every lane, not only the Go tail), with and
// without Stats.
func TestSIMDIntLong(t *testing.T) {
	ints := []dtype.Type{dtype.Int8, dtype.Int16, dtype.Int32, dtype.Int64, dtype.Uint8, dtype.Uint16, dtype.Uint32, dtype.Uint64}
	types := append(ints, dtype.Bool, dtype.Float16, dtype.Float32, dtype.Float64)
	isIntOrBool := func(t dtype.Type) bool { return t == dtype.Bool || slices.Contains(ints, t) }
	n := 0
	for _, from := range types {
		for _, to := range types {
			if from == to || !isIntOrBool(from) || simdKernels[[2]dtype.Type{from, to}] == nil {
				continue
			}
			n++
			t.Run(fmt.Sprintf("from=%s/to=%s", from, to), func(t *testing.T) {
				vk, err := New(dtype.Of(from), dtype.Of(to))
				if err != nil {
					t.Fatal(err)
				}
				gk := goKernel(t, from, to)
				fs, ts := from.Size(), to.Size()
				edge := simdEdgeData(from)
				m := len(edge) / fs
				for shift := range m {
					rot := append(slices.Clone(edge[shift*fs:]), edge[:shift*fs]...)
					src := bytes.Repeat(rot, 41)
					items := len(src) / fs
					got, want := make([]byte, items*ts), make([]byte, items*ts)
					var gs, ws Stats
					vk(got, src, &gs)
					gk(want, src, &ws)
					if !bytes.Equal(got, want) {
						t.Fatalf("shift %d: vector and Go kernels differ: %s", shift, diff(got, want, src, fs, ts))
					}
					if gs != ws {
						t.Fatalf("shift %d: vector kernel counted %+v, Go kernel %+v", shift, gs, ws)
					}
					clear(got)
					vk(got, src, nil)
					if !bytes.Equal(got, want) {
						t.Fatalf("shift %d, no Stats: vector and Go kernels differ: %s", shift, diff(got, want, src, fs, ts))
					}
				}
			})
		}
	}
	t.Logf("%d vector kernels from integers or bool", n)
}
