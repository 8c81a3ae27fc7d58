//go:build amd64 && !purego

package cast

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/bigconv/bigconv/dtype"
)

var le = binary.LittleEndian

// refHalfToF32 and refHalfToF64 decode float16 bits from the definition
// (not through halfToF32), as npy_halfbits_to_floatbits and
// npy_halfbits_to_doublebits: a NaN keeps its sign and payload, not
// quieted.
func refHalfToF32(h uint16) uint32 {
	sign, e, m := uint32(h>>15), int(h>>10&0x1f), uint32(h&0x3ff)
	if e == 0x1f {
		return sign<<31 | 0x7f800000 | m<<13
	}
	v := float32(m) * 0x1p-24 // exact
	if e != 0 {
		v = float32(math.Ldexp(float64(1024+m), e-25))
	}
	return sign<<31 | math.Float32bits(v)
}

func refHalfToF64(h uint16) uint64 {
	sign, e, m := uint64(h>>15), int(h>>10&0x1f), uint64(h&0x3ff)
	if e == 0x1f {
		return sign<<63 | 0x7ff0000000000000 | m<<42
	}
	return sign<<63 | math.Float64bits(float64(math.Float32frombits(refHalfToF32(h)&0x7fffffff)))
}

// TestFtofHalfAll converts every float16 bit pattern (NaN payloads,
// signalling NaNs, subnormals) to float32, float64, complex64 and
// complex128 with the registered kernels, in order and shuffled (so
// NaNs fall in every lane and most blocks), and checks them against
// the definition; and the Go functions (halfToF32, halfToF32Slice,
// halfToF64, halfToF64Slice) too.
func TestFtofHalfAll(t *testing.T) {
	src := make([]byte, 2<<16)
	for h := range 1 << 16 {
		le.PutUint16(src[2*h:], uint16(h))
	}
	shuffled := bytes.Clone(src)
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(1<<16, func(i, j int) {
		a, b := le.Uint16(shuffled[2*i:]), le.Uint16(shuffled[2*j:])
		le.PutUint16(shuffled[2*i:], b)
		le.PutUint16(shuffled[2*j:], a)
	})
	for h := range 1 << 16 {
		if got, want := halfToF32(uint16(h)), refHalfToF32(uint16(h)); got != want {
			t.Fatalf("halfToF32(%#04x) = %#08x, want %#08x", h, got, want)
		}
		if got, want := halfToF64(uint16(h)), refHalfToF64(uint16(h)); got != want {
			t.Fatalf("halfToF64(%#04x) = %#016x, want %#016x", h, got, want)
		}
	}
	for _, s := range [][]byte{src, shuffled} {
		hs := view[uint16](s)
		d32, d64 := make([]uint32, len(hs)), make([]uint64, len(hs))
		halfToF32Slice(d32, hs)
		halfToF64Slice(d64, hs)
		for i, h := range hs {
			if d32[i] != refHalfToF32(h) || d64[i] != refHalfToF64(h) {
				t.Fatalf("halfToF32Slice/halfToF64Slice(%#04x) = %#08x/%#016x, want %#08x/%#016x", h, d32[i], d64[i], refHalfToF32(h), refHalfToF64(h))
			}
		}
	}
	for _, to := range []dtype.Type{dtype.Float32, dtype.Float64, dtype.Complex64, dtype.Complex128} {
		k, err := New(dtype.Of(dtype.Float16), dtype.Of(to))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range [][]byte{src, shuffled} {
			dst := make([]byte, (1<<16)*to.Size())
			var st Stats
			k(dst, s, &st)
			if st.Lost() {
				t.Errorf("float16 → %s counted %v", to, st)
			}
			for i := range 1 << 16 {
				h := le.Uint16(s[2*i:])
				var got, want [2]uint64
				switch to {
				case dtype.Float32:
					got[0], want[0] = uint64(le.Uint32(dst[4*i:])), uint64(refHalfToF32(h))
				case dtype.Float64:
					got[0], want[0] = le.Uint64(dst[8*i:]), refHalfToF64(h)
				case dtype.Complex64:
					got[0], got[1], want[0] = uint64(le.Uint32(dst[8*i:])), uint64(le.Uint32(dst[8*i+4:])), uint64(refHalfToF32(h))
				case dtype.Complex128:
					got[0], got[1], want[0] = le.Uint64(dst[16*i:]), le.Uint64(dst[16*i+8:]), refHalfToF64(h)
				}
				if got != want {
					t.Fatalf("float16 %#04x → %s: got %#x, want %#x", h, to, got, want)
				}
			}
		}
	}
}

// TestFtofFloat8All converts every float8 byte, in every position of a
// 64-byte block, and checks the tables against the definition of the
// formats.
func TestFtofFloat8All(t *testing.T) {
	for b := range 256 {
		s, e, m := uint32(b>>7), b>>3&0xf, float64(b&7)
		var want uint32
		switch {
		case e == 15 && m == 7:
			want = s<<31 | 0x7fc00000
		case e == 0:
			want = s<<31 | math.Float32bits(float32(m*0x1p-9))
		default:
			want = s<<31 | math.Float32bits(float32(math.Ldexp(8+m, e-10)))
		}
		if e4m3Table[b] != want {
			t.Errorf("e4m3Table[%#02x] = %#08x, want %#08x", b, e4m3Table[b], want)
		}
		if e5m2Table[b] != refHalfToF32(uint16(b)<<8) {
			t.Errorf("e5m2Table[%#02x] = %#08x, want %#08x", b, e5m2Table[b], refHalfToF32(uint16(b)<<8))
		}
	}
	src := make([]byte, 256*67)
	for i := range src {
		src[i] = byte(i % 256)
	}
	src = append(src, src[5:100]...)
	for _, from := range []dtype.Type{dtype.Float8E4M3FN, dtype.Float8E5M2} {
		for _, to := range []dtype.Type{dtype.Float32, dtype.Float16} {
			k, err := New(dtype.Of(from), dtype.Of(to))
			if err != nil {
				t.Fatal(err)
			}
			dst := make([]byte, len(src)*to.Size())
			k(dst, src, nil)
			for i, b := range src {
				var got, want uint32
				f := e4m3Table[b]
				if from == dtype.Float8E5M2 {
					f = e5m2Table[b]
				}
				if to == dtype.Float32 {
					got, want = le.Uint32(dst[4*i:]), f
				} else {
					got, want = uint32(le.Uint16(dst[2*i:])), uint32(f32ToHalf(f))
				}
				if got != want {
					t.Fatalf("%s %#02x → %s at %d: got %#x, want %#x", from, b, to, i, got, want)
				}
			}
		}
	}
}

// ftofOrdinary makes n items of k.from that k.block must convert
// without raising its flag: finite values in the target's range (for
// float16 targets from float64, none rounding to a subnormal), float16
// halfway cases, zeros of both signs, and imaginary parts of every kind
// (NaN and inf included: they are only counted).
func ftofOrdinary(rng *rand.Rand, k ftofKernel, n int) []byte {
	f64 := func() float64 {
		var v float64
		switch k.to {
		case dtype.Float16:
			switch rng.IntN(8) {
			case 0:
				v = math.Ldexp(1+rng.Float64(), -26-rng.IntN(40)) // rounds to ±0
			case 1: // halfway between two float16 and its neighbours
				h := uint16(0x0400 + rng.IntN(0x7bff-0x0400))
				lo, hi := math.Float64frombits(halfToF64(h)), math.Float64frombits(halfToF64(h+1))
				v = math.Float64frombits(math.Float64bits((lo+hi)/2) + uint64(rng.IntN(3)) - 1)
			case 2:
				v = 0
			default:
				v = math.Min(math.Ldexp(1+rng.Float64(), -14+rng.IntN(30)), 65504)
			}
		case dtype.Float32, dtype.Complex64:
			v = math.Ldexp(1+rng.Float64(), -160+rng.IntN(288))
			if math.Abs(v) > math.MaxFloat32 {
				v = math.MaxFloat32
			}
		default:
			v = math.Ldexp(1+rng.Float64(), -1074+rng.IntN(2098))
		}
		if rng.IntN(2) == 0 {
			v = -v
		}
		return v
	}
	imag := func() float64 {
		if k.to.Kind() == dtype.KindComplex {
			return f64()
		}
		return []float64{0, math.Copysign(0, -1), 1, -2.5, math.NaN(), math.Inf(1), 1e-300}[rng.IntN(7)]
	}
	var out []byte
	for range n {
		switch k.from {
		case dtype.Float16:
			h := uint16(rng.Uint32())
			if h&0x7c00 == 0x7c00 && h&0x3ff != 0 {
				h &^= 0x0400 // no NaN
			}
			out = le.AppendUint16(out, h)
		case dtype.BFloat16:
			out = le.AppendUint16(out, uint16(rng.Uint32()))
		case dtype.Bool, dtype.Float8E4M3FN, dtype.Float8E5M2:
			out = append(out, byte(rng.Uint32()))
		case dtype.Float32:
			out = le.AppendUint32(out, math.Float32bits(float32(f64())))
		case dtype.Float64:
			out = le.AppendUint64(out, math.Float64bits(f64()))
		case dtype.Complex64:
			out = le.AppendUint32(out, math.Float32bits(float32(f64())))
			out = le.AppendUint32(out, math.Float32bits(float32(imag())))
		case dtype.Complex128:
			out = le.AppendUint64(out, math.Float64bits(f64()))
			out = le.AppendUint64(out, math.Float64bits(imag()))
		}
	}
	return out
}

// TestFtofBlocks calls each vector routine directly: on ordinary data
// it must not raise its flag, and whenever it does not, its results and
// its count of dropped imaginary parts must be the Go kernel's, which
// must have nothing else to count. This checks the vector path itself,
// which TestSIMDMatchesGo cannot tell from the Go fallback.
func TestFtofBlocks(t *testing.T) {
	if len(ftofKernels) == 0 {
		t.Skip("no vector kernels on this CPU")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, k := range ftofKernels {
		t.Run("from="+k.from.String()+"/to="+k.to.String(), func(t *testing.T) {
			gk := goKernel(t, k.from, k.to)
			fs, ts := k.from.Size(), k.to.Size()
			unflagged := 0
			check := func(what string, src []byte, mustPass bool) {
				t.Helper()
				n := len(src) / fs
				got, want := make([]byte, n*ts+1), make([]byte, n*ts+1)
				r := k.block(unsafe.SliceData(got), unsafe.SliceData(src), n)
				if r&ftofFlag != 0 {
					if mustPass {
						t.Fatalf("%s, %d items: flagged", what, n)
					}
					return
				}
				unflagged++
				var ws Stats
				gk(want, src, &ws)
				if got[n*ts] != 0 {
					t.Fatalf("%s: wrote past %d items", what, n)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("%s: vector routine and Go kernel differ: %s", what, diff(got[:n*ts], want[:n*ts], src, fs, ts))
				}
				if ws.NaN != 0 || ws.Inf != 0 || ws.OutOfRange != 0 || int64(r) != ws.Imaginary {
					t.Fatalf("%s: unflagged routine returned %d, Go kernel counted %+v", what, r, ws)
				}
			}
			for _, m := range []int{1, 2, 3, 8, 32} {
				n := k.step * m
				for range 20 {
					check("ordinary data", ftofOrdinary(rng, k, n), true)
				}
				for _, kind := range []string{"random", "small", "nonneg", "sparse", "zeros"} {
					check(kind+" data", consistencyData(rng, k.from, kind, n), false)
				}
				edge := simdEdgeData(k.from)
				for shift := range 5 {
					e := bytes.Repeat(append(edge[shift*fs:], edge[:shift*fs]...), n)[:n*fs]
					check("edge values", e, false)
				}
			}
			if unflagged == 0 {
				t.Fatal("never ran unflagged")
			}
		})
	}
}
