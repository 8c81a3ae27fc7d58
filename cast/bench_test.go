package cast

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/bigconv/bigconv/dtype"
)

// benchBytes is the size of the larger side (source or destination) of
// each benchmark's block, as the engine sizes its blocks.
const benchBytes = 1 << 20

// benchSource fills a block of n little-endian values of t with data
// of class "normal": floats of moderate magnitude (normal, σ = 100: not
// random bit patterns, which would be mostly NaN and overflow), 0/1
// bools, and random bytes for the integers and float8 types (so that
// most narrowing casts of integers count nearly every value as out of
// range).
func benchSource(t dtype.Type, n int) []byte {
	return benchData(t, n, "normal")
}

// benchClasses are the data classes BenchmarkKernel tries the narrowing
// float kernels on (see benchData).
var benchClasses = []string{"normal", "specials", "randbits", "mask"}

// benchMaskRow is the row length of class "mask": every row's last
// quarter is -1e9, as an attention mask adds to the logits.
const benchMaskRow = 512

// benchData fills a block of n little-endian values of t. For float and
// complex types (every part) the class says what: "normal" σ = 100;
// "specials" normal with 1 % of the values NaN (quiet and signalling,
// with payloads), ±inf or ±1e10 (beyond float16, bfloat16 aside, and
// every integer type up to 32 bits), spread at random; "randbits"
// random bit patterns (NaN, inf and overflow in every vector); "mask"
// normal with the last quarter of every row of benchMaskRow values set
// to -1e9. Other types ignore the class.
func benchData(t dtype.Type, n int, class string) []byte {
	rng := rand.New(rand.NewPCG(7, 8))
	src := make([]byte, n*t.Size())
	if class == "randbits" {
		for i := range src {
			src[i] = byte(rng.Uint32())
		}
		return src
	}
	parts := 1
	if t.Kind() == dtype.KindComplex {
		parts = 2
	}
	specials := []float64{math.NaN(), math.Float64frombits(0x7ff0000000000123), math.Float64frombits(0xfff4000000000000),
		math.Inf(1), math.Inf(-1), 1e10, -1e10}
	value := func(i int) float64 {
		switch {
		case class == "specials" && rng.IntN(100) == 0:
			return specials[rng.IntN(len(specials))]
		case class == "mask" && (i/parts)%benchMaskRow >= benchMaskRow*3/4:
			return -1e9
		}
		return rng.NormFloat64() * 100
	}
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
			v := value(i)
			if v != v { // keep the payload (float32(v) would quiet it)
				f32[i] = math.Float32frombits(uint32(math.Float64bits(v)>>32) | 0x7f800000)
				continue
			}
			f32[i] = float32(v)
		}
	case dtype.Float64, dtype.Complex128:
		for i := range f64 {
			f64[i] = value(i)
		}
	case dtype.Float16:
		for i := range u16 {
			v := value(i)
			if v != v {
				u16[i] = uint16(math.Float64bits(v)>>48) | 0x7c00
				continue
			}
			u16[i] = f32ToHalf(math.Float32bits(float32(v)))
		}
	case dtype.BFloat16:
		for i := range u16 {
			v := value(i)
			if v != v {
				u16[i] = uint16(math.Float64bits(v)>>48) | 0x7f80
				continue
			}
			u16[i] = uint16(math.Float32bits(float32(v)) >> 16)
		}
	default: // integers and float8: random bytes
		for i := range src {
			src[i] = byte(rng.Uint32())
		}
	}
	return src
}

// benchKernel times the kernel from → to on a block whose larger side is
// benchBytes, and, interleaved with it call by call, copy() of that many
// bytes (max(source, destination) bytes: what a kernel has to move at
// least). Interleaving makes the two share the machine's noise.
//
// Reported, from the median call of each (robust to a noisy machine):
// ns/op and MB/s are the kernel's (MB/s of max(source, destination)
// bytes, b.SetBytes), copy-MB/s is copy()'s, and x-copy is the kernel's
// time over copy()'s: the kernel is "within 2× of copy" when x-copy <= 2.
func benchKernel(b *testing.B, from, to dtype.DType) {
	benchKernelOn(b, from, to, "normal")
}

// benchKernelOn is benchKernel on data of the given class (benchData).
func benchKernelOn(b *testing.B, from, to dtype.DType, class string) {
	k, err := New(from, to)
	if err != nil {
		b.Fatal(err)
	}
	fs, ts := from.Size(), to.Size()
	n := benchBytes / max(fs, ts)
	orig := benchData(from.Type, n, class)
	if from.Swapped() {
		Swap(orig, partSize(from))
	}
	src, dst := slices.Clone(orig), make([]byte, n*ts)
	size := max(len(src), len(dst))
	csrc, cdst := benchSource(dtype.Uint8, size), make([]byte, size)
	var kt, ct []time.Duration
	var st Stats
	b.SetBytes(int64(size))
	for b.Loop() {
		t0 := time.Now()
		k(dst, src, &st)
		t1 := time.Now()
		copy(cdst, csrc)
		t2 := time.Now()
		kt, ct = append(kt, t1.Sub(t0)), append(ct, t2.Sub(t1))
		if from.Swapped() {
			copy(src, orig) // a kernel may clobber its source
		}
	}
	km, cm := median(kt), median(ct)
	b.ReportMetric(float64(km.Nanoseconds()), "ns/op")
	b.ReportMetric(float64(size)/km.Seconds()/1e6, "MB/s")
	b.ReportMetric(float64(size)/cm.Seconds()/1e6, "copy-MB/s")
	b.ReportMetric(km.Seconds()/cm.Seconds(), "x-copy")
}

func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	return max(d[len(d)/2], 1)
}

// BenchmarkKernel measures every little-endian kernel; see benchKernel
// for what it reports. Check "within 2× of copy" with
//
//	go test -run='^$' -bench='Kernel|Swap' -benchtime=200ms ./cast/
//
// and the x-copy column. The narrowing float kernels (a float or
// complex source, a cast that is not safe) run on each data class of
// benchClasses, as sub-benchmarks data=normal, data=specials, ...: each
// should be within 1.5× of its data=normal time (compare x-copy).
func BenchmarkKernel(b *testing.B) {
	froms := append(append([]dtype.Type{}, numpyTypes...), dtype.BFloat16, dtype.Float8E4M3FN, dtype.Float8E5M2, dtype.Float8E4M3FNUZ, dtype.Float8E5M2FNUZ)
	for _, from := range froms {
		for _, to := range numpyTypes {
			if !from.NumPy() && to != dtype.Float32 && to != dtype.Float16 {
				continue
			}
			name := "from=" + from.String() + "/to=" + to.String()
			if k := from.Kind(); (k == dtype.KindFloat || k == dtype.KindComplex) && from.Size() > 1 && !dtype.IsSafe(from, to) {
				for _, class := range benchClasses {
					b.Run(name+"/data="+class, func(b *testing.B) {
						benchKernelOn(b, dtype.Of(from), dtype.Of(to), class)
					})
				}
				continue
			}
			b.Run(name, func(b *testing.B) {
				benchKernel(b, dtype.Of(from), dtype.Of(to))
			})
		}
	}
}

// BenchmarkSwap measures the byte-swapping paths: every multi-byte type
// from big-endian to little-endian, and big-endian to big-endian casts
// between the common float and integer types.
func BenchmarkSwap(b *testing.B) {
	be := func(t dtype.Type) dtype.DType { return dtype.DType{Type: t, BigEndian: true} }
	for _, t := range numpyTypes {
		if t.Size() == 1 {
			continue
		}
		b.Run("from="+t.String()+"/to="+t.String()+"/order=be-le", func(b *testing.B) {
			benchKernel(b, be(t), dtype.Of(t))
		})
	}
	common := []dtype.Type{dtype.Int32, dtype.Int64, dtype.Float16, dtype.Float32, dtype.Float64}
	for _, from := range append(common, dtype.BFloat16) {
		for _, to := range common {
			if from == to || (from == dtype.BFloat16 && to != dtype.Float32 && to != dtype.Float16) {
				continue
			}
			b.Run("from="+from.String()+"/to="+to.String()+"/order=be-be", func(b *testing.B) {
				benchKernel(b, be(from), be(to))
			})
		}
	}
}

// BenchmarkCopy is copy() of benchBytes bytes alone: the in-process
// limit (each BenchmarkKernel result also has its own copy-MB/s).
func BenchmarkCopy(b *testing.B) {
	src := benchSource(dtype.Uint8, benchBytes)
	dst := make([]byte, len(src))
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		copy(dst, src)
	}
}
