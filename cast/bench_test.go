package cast

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bigconv/bigconv/dtype"
)

// benchBytes is the size of each benchmark's source block.
const benchBytes = 1 << 20

// benchSource fills a source block with typical values of t: small
// integers, floats of moderate magnitude (not random bit patterns, which
// would be mostly NaN and overflow), 0/1 bools.
func benchSource(t dtype.Type) []byte {
	rng := rand.New(rand.NewPCG(7, 8))
	n := benchBytes / t.Size()
	src := make([]byte, n*t.Size())
	f32 := view[float32](src)
	f64 := view[float64](src)
	u16 := view[uint16](src)
	switch t {
	case dtype.Bool:
		for i := range src {
			src[i] = byte(rng.IntN(2))
		}
	case dtype.Float32, dtype.Complex64:
		for i := range f32 {
			f32[i] = float32(rng.NormFloat64() * 100)
		}
	case dtype.Float64, dtype.Complex128:
		for i := range f64 {
			f64[i] = rng.NormFloat64() * 100
		}
	case dtype.Float16:
		for i := range u16 {
			u16[i] = f32ToHalf(math32bits(float32(rng.NormFloat64() * 100)))
		}
	case dtype.BFloat16:
		for i := range u16 {
			u16[i] = uint16(math32bits(float32(rng.NormFloat64()*100)) >> 16)
		}
	default: // integers and float8: random bytes
		for i := range src {
			src[i] = byte(rng.Uint32())
		}
	}
	return src
}

// BenchmarkKernel measures every kernel on a 1 MiB source block; the
// MB/s are of source bytes. Compare with BenchmarkCopy.
func BenchmarkKernel(b *testing.B) {
	froms := append(append([]dtype.Type{}, numpyTypes...), dtype.BFloat16, dtype.Float8E4M3FN, dtype.Float8E5M2)
	for _, from := range froms {
		src := benchSource(from)
		for _, to := range numpyTypes {
			if !from.NumPy() && to != dtype.Float32 && to != dtype.Float16 {
				continue
			}
			b.Run("from="+from.String()+"/to="+to.String(), func(b *testing.B) {
				k, err := New(dtype.Of(from), dtype.Of(to))
				if err != nil {
					b.Fatal(err)
				}
				dst := make([]byte, len(src)/from.Size()*to.Size())
				var st Stats
				b.SetBytes(int64(len(src)))
				for b.Loop() {
					k(dst, src, &st) // little-endian sources are not clobbered
				}
			})
		}
	}
}

// BenchmarkCopy is copy() of the same bytes: the in-process limit.
func BenchmarkCopy(b *testing.B) {
	src := benchSource(dtype.Uint8)
	dst := make([]byte, len(src))
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		copy(dst, src)
	}
}

func math32bits(f float32) uint32 { return math.Float32bits(f) }
