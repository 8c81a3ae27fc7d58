package cast

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/bigconv/bigconv/dtype"
)

// TestSIMDIntToFloatTies checks the integer → float vector kernels
// against the Go kernels on the values where rounding decides: integers
// at, just below and just above the halfway points between neighbouring
// float32 (and float64) values at every magnitude, both signs, and the
// integers either side of float16's overflow threshold (65520) and of
// 65504 and 65536.
func TestSIMDIntToFloatTies(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	var vals []uint64
	for e := 1; e < 64; e++ {
		for _, prec := range []int{11, 24, 53} { // float16, float32, float64 significands
			if e <= prec {
				continue
			}
			for range 8 {
				// A random significand of prec bits at exponent e, then
				// the halfway point to the next one, and its neighbours.
				m := rng.Uint64()>>(64-prec) | 1<<(prec-1)
				base := m << (e - prec + 1) >> 1
				half := uint64(1) << (e - prec)
				for _, d := range []uint64{0, half - 1, half, half + 1, 2 * half} {
					vals = append(vals, base+d, -(base + d))
				}
			}
		}
	}
	for _, v := range []uint64{65503, 65504, 65505, 65519, 65520, 65521, 65535, 65536, 65537, 131056, 131040} {
		vals = append(vals, v, -v)
	}
	froms := []dtype.Type{dtype.Int8, dtype.Uint8, dtype.Int16, dtype.Uint16, dtype.Int32, dtype.Uint32, dtype.Int64, dtype.Uint64}
	tos := []dtype.Type{dtype.Float32, dtype.Float64, dtype.Float16, dtype.Complex64, dtype.Complex128}
	for _, from := range froms {
		for _, to := range tos {
			if simdKernels[[2]dtype.Type{from, to}] == nil {
				continue
			}
			t.Run("from="+from.String()+"/to="+to.String(), func(t *testing.T) {
				fs, ts := from.Size(), to.Size()
				var src []byte
				for _, v := range vals {
					for j := range fs {
						src = append(src, byte(v>>(8*j)))
					}
				}
				n := len(src) / fs
				vk, err := New(dtype.Of(from), dtype.Of(to))
				if err != nil {
					t.Fatal(err)
				}
				gk := goKernel(t, from, to)
				got, want := make([]byte, n*ts), make([]byte, n*ts)
				var gs, ws Stats
				vk(got, src, &gs)
				gk(want, src, &ws)
				if !bytes.Equal(got, want) {
					t.Fatalf("vector and Go kernels differ: %s", diff(got, want, src, fs, ts))
				}
				if gs != ws {
					t.Fatalf("vector kernel counted %+v, Go kernel %+v", gs, ws)
				}
			})
		}
	}
}
