package cast

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/bigconv/bigconv/dtype"
)

// TestHalfToIntAllValues checks the float16 → integer and → bool vector
// kernels, which widen to float32 (VCVTPH2PS) and convert that, against
// the Go kernels (halfToInt's table, f32ToInt, halfToBool) on all 65536
// float16 values: as one block, in every lane position, and one vector
// at a time so that each value's Stats are compared on their own.
func TestHalfToIntAllValues(t *testing.T) {
	all := make([]byte, 2<<16)
	for h := range 1 << 16 {
		all[2*h], all[2*h+1] = byte(h), byte(h>>8)
	}
	for _, to := range []dtype.Type{dtype.Int8, dtype.Uint8, dtype.Int16, dtype.Uint16, dtype.Int32,
		dtype.Uint32, dtype.Int64, dtype.Uint64, dtype.Bool} {
		t.Run("to="+to.String(), func(t *testing.T) {
			if simdKernels[[2]dtype.Type{dtype.Float16, to}] == nil {
				t.Skip("no vector kernel")
			}
			vk, err := New(dtype.Of(dtype.Float16), dtype.Of(to))
			if err != nil {
				t.Fatal(err)
			}
			gk := goKernel(t, dtype.Float16, to)
			ts := to.Size()
			run := func(what string, src []byte, block int) {
				t.Helper()
				n := len(src) / 2
				got, want := make([]byte, n*ts), make([]byte, n*ts)
				for i := 0; i < n; i += block {
					j := min(i+block, n)
					var gs, ws Stats
					vk(got[i*ts:j*ts], src[2*i:2*j], &gs)
					gk(want[i*ts:j*ts], src[2*i:2*j], &ws)
					if gs != ws {
						t.Fatalf("%s, values %#04x...: vector kernel counted %+v, Go kernel %+v",
							what, uint16(src[2*i])|uint16(src[2*i+1])<<8, gs, ws)
					}
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("%s: vector and Go kernels differ: %s", what, diff(got, want, src, 2, ts))
				}
			}
			run("all values", all, len(all))
			for shift := 1; shift < 16; shift++ {
				run("all values shifted", all[2*shift:], len(all))
			}
			run("16 at a time", all, 16)
			run("8 at a time", all, 8)
		})
	}
}

// TestFloatToIntNilStats runs the float → integer and → bool vector
// kernels without Stats (the Go kernels then skip their counting), on
// data with rare NaN, ±inf and values out of range between long runs of
// ordinary values, and compares the bytes with the Go kernels'; and
// checks that they allocate nothing.
func TestFloatToIntNilStats(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, from := range []dtype.Type{dtype.Float32, dtype.Float64, dtype.Float16, dtype.Complex64, dtype.Complex128} {
		src := consistencyData(rng, from, "sparse", 5000)
		for _, to := range []dtype.Type{dtype.Int8, dtype.Uint8, dtype.Int16, dtype.Uint16, dtype.Int32,
			dtype.Uint32, dtype.Int64, dtype.Uint64, dtype.Bool} {
			if simdKernels[[2]dtype.Type{from, to}] == nil {
				continue
			}
			t.Run("from="+from.String()+"/to="+to.String(), func(t *testing.T) {
				vk, err := New(dtype.Of(from), dtype.Of(to))
				if err != nil {
					t.Fatal(err)
				}
				gk := goKernel(t, from, to)
				n := len(src) / from.Size()
				got, want := make([]byte, n*to.Size()), make([]byte, n*to.Size())
				vk(got, src, nil)
				gk(want, src, nil)
				if !bytes.Equal(got, want) {
					t.Fatalf("vector and Go kernels differ: %s", diff(got, want, src, from.Size(), to.Size()))
				}
				var st Stats
				if a := testing.AllocsPerRun(10, func() { vk(got, src, &st) }); a != 0 {
					t.Errorf("%v allocations per call", a)
				}
			})
		}
	}
}
