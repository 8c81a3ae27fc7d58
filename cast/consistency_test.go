package cast

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bigconv/bigconv/dtype"
)

// consistencyData makes n values of t, little-endian, of one kind:
// "random" bits, "small" values in range of every target, "nonneg" small
// non-negative values, "sparse" small values with rare specials (NaN,
// ±inf, huge, negative, subnormal, integer extremes) and "zeros".
func consistencyData(rng *rand.Rand, t dtype.Type, kind string, n int) []byte {
	b := make([]byte, n*t.Size())
	if kind == "random" {
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	specials := []float64{math.NaN(), math.Inf(1), math.Inf(-1), 1e30, -1e30, -5, 3e-6, -1e-40, 70000, -129, 256, 65519, 1 << 62}
	value := func() float64 {
		switch kind {
		case "zeros":
			if rng.IntN(8) != 0 {
				return 0
			}
			return float64(rng.IntN(50))
		case "nonneg":
			return math.Abs(rng.NormFloat64() * 30)
		case "sparse":
			if rng.IntN(700) == 0 {
				return specials[rng.IntN(len(specials))]
			}
		}
		return rng.NormFloat64() * 30
	}
	intSpecials := []uint64{0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 1 << 63, 1<<63 - 1, ^uint64(0)}
	put := func(i int, size int, v uint64) {
		for j := range size {
			b[i*size+j] = byte(v >> (8 * j))
		}
	}
	parts := 1
	if t.Kind() == dtype.KindComplex {
		parts = 2
	}
	ps := t.Size() / parts
	for i := range n * parts {
		v := value()
		switch t {
		case dtype.Bool:
			b[i] = byte(min(math.Abs(v), 1))
			if kind == "random" || kind == "sparse" {
				b[i] = byte(rng.IntN(3)) // non-canonical bools
			}
		case dtype.Float16:
			put(i, 2, uint64(f64ToHalf(math.Float64bits(v))))
		case dtype.BFloat16:
			put(i, 2, uint64(math.Float32bits(float32(v))>>16))
		case dtype.Float8E4M3FN, dtype.Float8E5M2, dtype.Float8E4M3FNUZ, dtype.Float8E5M2FNUZ:
			b[i] = byte(rng.Uint32())
		case dtype.Float32, dtype.Complex64:
			put(i, 4, uint64(math.Float32bits(float32(v))))
		case dtype.Float64, dtype.Complex128:
			put(i, 8, math.Float64bits(v))
		default: // integers
			x := uint64(int64(v))
			if kind == "sparse" && rng.IntN(700) == 0 {
				x = intSpecials[rng.IntN(len(intSpecials))]
			}
			put(i, ps, x)
		}
	}
	return b
}

// TestBlockConsistency checks that converting a whole block gives the same
// bytes and Stats as converting it one element at a time and in pieces of
// random sizes: the fast paths (several elements a step, whole-chunk
// tests) against the careful scalar ones, which the NumPy conformance test
// checks on its own. It covers every pair, in every byte order, on data
// chosen to take each path.
func TestBlockConsistency(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	froms := append(append([]dtype.Type{}, numpyTypes...), dtype.BFloat16, dtype.Float8E4M3FN, dtype.Float8E5M2, dtype.Float8E4M3FNUZ, dtype.Float8E5M2FNUZ)
	kinds := []string{"random", "small", "nonneg", "sparse", "zeros"}
	const n = 3001
	for _, from := range froms {
		data := map[string][]byte{}
		for _, kind := range kinds {
			data[kind] = consistencyData(rng, from, kind, n)
		}
		for _, to := range numpyTypes {
			t.Run("from="+from.String()+"/to="+to.String(), func(t *testing.T) {
				for _, order := range []struct{ inBE, outBE bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
					fd, td := dtype.DType{Type: from, BigEndian: order.inBE}, dtype.DType{Type: to, BigEndian: order.outBE}
					if (order.inBE && !fd.Swapped()) || (order.outBE && !td.Swapped()) {
						continue
					}
					k, err := New(fd, td)
					if err != nil {
						t.Fatal(err)
					}
					fs, ts := fd.Size(), td.Size()
					for _, kind := range kinds {
						src := data[kind]
						if order.inBE {
							src = reverseParts(src, testPartSize(from))
						}
						whole := make([]byte, n*ts)
						var st Stats
						k(whole, bytes.Clone(src), &st)

						pieces := make([]byte, n*ts)
						var stp Stats
						for i := 0; i < n; {
							m := min(n-i, 1+rng.IntN(700))
							if rng.IntN(4) == 0 {
								m = 1
							}
							k(pieces[i*ts:(i+m)*ts], bytes.Clone(src[i*fs:(i+m)*fs]), &stp)
							i += m
						}
						if bad := diff(whole, pieces, src, fs, ts); bad != "" {
							t.Errorf("%s → %s, %s data: whole block and pieces differ: %s", fd, td, kind, bad)
						}
						if st != stp {
							t.Errorf("%s → %s, %s data: stats %+v for the whole block, %+v in pieces", fd, td, kind, st, stp)
						}
					}
				}
			})
		}
	}
}
