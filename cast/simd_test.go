package cast

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/bigconv/bigconv/dtype"
)

// goKernel is the Go (non-vector) kernel for from → to, little-endian.
func goKernel(t testing.TB, from, to dtype.Type) Kernel {
	t.Helper()
	noSIMD = true
	defer func() { noSIMD = false }()
	k, err := New(dtype.Of(from), dtype.Of(to))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// simdEdgeData is every value of t that a vector kernel is likely to get
// wrong, little-endian: integer extremes and their neighbours, and for
// floats ±0, ±inf, NaNs with payloads, subnormals, and the values either
// side of every integer type's bounds and of float16's and float32's
// largest finite values.
func simdEdgeData(t dtype.Type) []byte {
	var out []byte
	put := func(size int, v uint64) {
		for j := range size {
			out = append(out, byte(v>>(8*j)))
		}
	}
	var fl []float64
	for _, e := range []int{7, 8, 15, 16, 24, 31, 32, 53, 63, 64} {
		p := math.Ldexp(1, e)
		for _, v := range []float64{p, -p, p - 1, -p - 1, p + 1, -p + 1, p - 0.5, -p - 0.5, p * (1 - 0x1p-24), p * (1 + 0x1p-23), -p * (1 + 0x1p-23), p * (1 - 0x1p-53), -p * (1 - 0x1p-53)} {
			fl = append(fl, v)
		}
	}
	fl = append(fl, 0, math.Copysign(0, -1), 0.5, -0.5, 0.99, -0.99, 1, -1, 1.5, -1.5, 2.5, -2.5,
		math.Inf(1), math.Inf(-1), math.NaN(), -math.NaN(), 65504, 65519.99, 65520, -65520, 1e-8, -1e-8, 6e-8, 3e-8,
		math.MaxFloat32, -math.MaxFloat32, math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, 1e-40, -1e-40, 1e38, 1e300)
	// float16 rounding ties (round to even) and their neighbours: normal,
	// subnormal (halfway to the smallest subnormal), and in float32 too.
	// Each with its neighbours one ulp away in the source type.
	ties := []float64{1 + 0x1p-11, 1 + 3*0x1p-11, 2049, 2051, 0x1p-25, 3 * 0x1p-25, 0x1p-15 + 0x1p-25, 65520, 0x1p-14 - 0x1p-25}
	switch t {
	case dtype.Float32, dtype.Complex64:
		for _, v := range fl {
			put(4, uint64(math.Float32bits(float32(v))))
		}
		for _, v := range ties {
			for _, x := range []float32{float32(v), -float32(v)} {
				for _, y := range []float32{x, math.Nextafter32(x, float32(math.Inf(1))), math.Nextafter32(x, float32(math.Inf(-1)))} {
					put(4, uint64(math.Float32bits(y)))
				}
			}
		}
		for _, b := range []uint32{0x7fc00001, 0xffc00000, 0x7f800001, 0x7fbfffff, 0x00000001, 0x807fffff, 0x7f7fffff} {
			put(4, uint64(b))
		}
	case dtype.Float64, dtype.Complex128:
		for _, v := range fl {
			put(8, math.Float64bits(v))
		}
		for _, v := range ties {
			for _, x := range []float64{v, -v} {
				for _, y := range []float64{x, math.Nextafter(x, math.Inf(1)), math.Nextafter(x, math.Inf(-1))} {
					put(8, math.Float64bits(y))
				}
			}
		}
		for _, b := range []uint64{0x7ff8000000000001, 0xfff8000000000000, 0x7ff0000000000001, 0x0000000000000001, 0x800fffffffffffff} {
			put(8, b)
		}
	case dtype.Float16, dtype.BFloat16:
		for _, b := range []uint16{0, 0x8000, 0x0001, 0x8001, 0x03ff, 0x0400, 0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x7c01, 0x7e00, 0xfe00, 0x7fff,
			0x3c00, 0xbc00, 0x3800, 0xb800, 0x5800, 0x5bf8, 0x5c00, 0x7800, 0xf800, 0x7f80, 0xff80, 0x7f7f, 0x4700, 0x4f00, 0x5f00} {
			put(2, uint64(b))
		}
	case dtype.Bool:
		out = append(out, 0, 1, 2, 0x80, 0xff, 1, 0)
	default:
		size := t.Size()
		if t.Kind() == dtype.KindComplex {
			size /= 2
		}
		for _, v := range []uint64{0, 1, 2, 0x7f, 0x80, 0x81, 0xff, 0x100, 0x7fff, 0x8000, 0x8001, 0xffff, 0x10000,
			0x7fffffff, 0x80000000, 0x80000001, 0xffffffff, 1 << 32, 1<<53 + 1, 1<<63 - 1, 1 << 63, 1<<63 + 1, ^uint64(0), ^uint64(1), ^uint64(0x7f),
			// float32/float64 rounding ties of 32- and 64-bit integers
			1<<24 + 1, 1<<24 + 3, 1<<25 + 2, 1<<25 + 6, 1<<54 + 2, 1<<54 + 6, 1<<62 + 1<<38, 1<<62 + 3<<38, ^uint64(1<<39 - 1), 1<<63 + 1<<39} {
			put(size, v)
		}
	}
	return out
}

// filterEdge keeps the items of edge (little-endian values of t) whose
// every part keep accepts; integer and bool items are all kept. Vector
// kernels hand a whole chunk to the Go kernel when it holds NaN or inf
// (or a float16 subnormal result), so edge values must also be tried
// without those, or they would never reach the vector code.
func filterEdge(t dtype.Type, edge []byte, keep func(float64) bool) []byte {
	size := t.Size()
	parts := 1
	if t.Kind() == dtype.KindComplex {
		parts = 2
	}
	ps := size / parts
	val := func(b []byte) (float64, bool) {
		switch {
		case ps == 4 && (t == dtype.Float32 || t == dtype.Complex64):
			return float64(math.Float32frombits(binary.LittleEndian.Uint32(b))), true
		case ps == 8 && (t == dtype.Float64 || t == dtype.Complex128):
			return math.Float64frombits(binary.LittleEndian.Uint64(b)), true
		case t == dtype.Float16:
			return math.Float64frombits(halfToF64(binary.LittleEndian.Uint16(b))), true
		case t == dtype.BFloat16:
			return float64(math.Float32frombits(uint32(binary.LittleEndian.Uint16(b)) << 16)), true
		}
		return 0, false
	}
	var out []byte
	for i := 0; i+size <= len(edge); i += size {
		ok := true
		for p := range parts {
			if v, isFloat := val(edge[i+p*ps:]); isFloat && !keep(v) {
				ok = false
			}
		}
		if ok {
			out = append(out, edge[i:i+size]...)
		}
	}
	return out
}

// TestSIMDMatchesGo checks every registered vector kernel against the Go
// kernel: same bytes and same Stats, on the edge values, on each kind of
// consistencyData, at every length up to 300 items and at unaligned
// offsets into the buffers.
func TestSIMDMatchesGo(t *testing.T) {
	if len(simdKernels) == 0 {
		t.Skip("no vector kernels on this CPU or build")
	}
	pairs := make([][2]dtype.Type, 0, len(simdKernels))
	for p := range simdKernels {
		pairs = append(pairs, p)
	}
	slices.SortFunc(pairs, func(a, b [2]dtype.Type) int {
		if a[0] != b[0] {
			return int(a[0]) - int(b[0])
		}
		return int(a[1]) - int(b[1])
	})
	t.Logf("%d vector kernels", len(pairs))
	rng := rand.New(rand.NewPCG(5, 6))
	for _, p := range pairs {
		from, to := p[0], p[1]
		t.Run("from="+from.String()+"/to="+to.String(), func(t *testing.T) {
			vk, err := New(dtype.Of(from), dtype.Of(to))
			if err != nil {
				t.Fatal(err)
			}
			gk := goKernel(t, from, to)
			fs, ts := from.Size(), to.Size()
			check := func(what string, src []byte) {
				t.Helper()
				n := len(src) / fs
				for _, off := range []int{0, 1, 3} {
					// The source and the destination both start off items
					// into their buffers: misaligned for the vectors.
					sb := make([]byte, (n+off)*fs)
					copy(sb[off*fs:], src)
					got, want := make([]byte, (n+off+1)*ts), make([]byte, (n+off+1)*ts)
					for i := range got {
						got[i], want[i] = 0xa5, 0xa5
					}
					var gs, ws Stats
					vk(got[off*ts:], sb[off*fs:], &gs)
					gk(want[off*ts:], bytes.Clone(sb[off*fs:]), &ws)
					if !bytes.Equal(got, want) {
						t.Fatalf("%s, offset %d: vector and Go kernels differ: %s", what, off, diff(got[off*ts:(off+n)*ts], want[off*ts:(off+n)*ts], src, fs, ts))
					}
					if gs != ws {
						t.Fatalf("%s, offset %d: vector kernel counted %+v, Go kernel %+v", what, off, gs, ws)
					}
					// Without Stats (a caller that does not count), the
					// same bytes.
					for i := range got {
						got[i] = 0xa5
					}
					vk(got[off*ts:], sb[off*fs:], nil)
					if !bytes.Equal(got, want) {
						t.Fatalf("%s, offset %d, nil Stats: vector and Go kernels differ: %s", what, off, diff(got[off*ts:(off+n)*ts], want[off*ts:(off+n)*ts], src, fs, ts))
					}
				}
			}
			all := simdEdgeData(from)
			finite := filterEdge(from, all, func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) })
			normal := filterEdge(from, all, func(v float64) bool { a := math.Abs(v); return a == 0 || a >= 0x1p-14 && a < 65504 })
			for _, e := range []struct {
				what string
				data []byte
			}{{"edge values", all}, {"finite edge values", finite}, {"edge values in float16's normal range", normal}} {
				// Each edge value in every lane position: repeat the
				// list shifted by one item at a time.
				m := len(e.data) / fs
				for shift := range min(m, 67) {
					rot := append(slices.Clone(e.data[shift*fs:]), e.data[:shift*fs]...)
					check(e.what, bytes.Repeat(rot, 3))
				}
			}
			// Every special value at every lane position (of 8-, 16-,
			// 32- and 64-item vectors), all of them in one chunk, over
			// ordinary data, and in the tail that the Go kernel does.
			if sp := simdSpecials(from); len(sp) > 0 {
				for lane := range 64 {
					for _, tail := range []int{0, 5, 13} {
						n := 64*len(sp) + tail
						data := consistencyData(rng, from, "small", n)
						for k, v := range sp {
							copy(data[(64*k+lane)*fs:], v)
						}
						if tail > 0 {
							copy(data[(n-1)*fs:], sp[lane%len(sp)])
						}
						check(fmt.Sprintf("specials at lane %d, tail %d", lane, tail), data)
					}
				}
			}
			for _, kind := range []string{"random", "small", "nonneg", "sparse", "zeros"} {
				data := consistencyData(rng, from, kind, 4099)
				check(kind+" data, 4099 items", data)
				for n := 0; n <= 300; n++ {
					check(kind+" data", data[:n*fs])
				}
			}
		})
	}
}

// simdSpecials returns items of t (little-endian) that the narrowing
// kernels must convert and count without help: NaNs (quiet, signalling,
// with and without payload bits that survive narrowing, either sign),
// ±inf, finite values that overflow float16, float32 and every integer
// type, values with subnormal float16 results, and ±0. For complex
// types each special is in the real part, the imaginary part, or both.
// Other types have none.
func simdSpecials(t dtype.Type) [][]byte {
	var out [][]byte
	le32 := func(v ...uint32) []byte {
		var b []byte
		for _, x := range v {
			b = binary.LittleEndian.AppendUint32(b, x)
		}
		return b
	}
	le64 := func(v ...uint64) []byte {
		var b []byte
		for _, x := range v {
			b = binary.LittleEndian.AppendUint64(b, x)
		}
		return b
	}
	f32 := []uint32{0x7fc00000, 0xffc00001, 0x7f800001, 0xff802000, 0x7fa00000, 0x7fbfe000, 0x7f800000, 0xff800000,
		0x477ff000, 0xc77ff000, math.Float32bits(-1e9), math.Float32bits(1e10), 0x7f7fffff, math.Float32bits(3e-6),
		math.Float32bits(-1e-40), 0x80000000}
	f64 := []uint64{0x7ff8000000000000, 0xfff8000000000001, 0x7ff0000000000001, 0xfff0000040000000, 0x7ff4000000000000,
		0x7ff0000000000123, 0x7ff0000000000000, 0xfff0000000000000, math.Float64bits(65520), math.Float64bits(-1e9),
		math.Float64bits(1e300), math.Float64bits(3.5e38), math.Float64bits(-0x1p63), math.Float64bits(3e-6),
		math.Float64bits(1e-310), 1 << 63}
	switch t {
	case dtype.Float32:
		for _, v := range f32 {
			out = append(out, le32(v))
		}
	case dtype.Complex64:
		for i, v := range f32 {
			out = append(out, le32(v, 0), le32(0x3f800000, v), le32(v, f32[(i+3)%len(f32)]))
		}
	case dtype.Float64:
		for _, v := range f64 {
			out = append(out, le64(v))
		}
	case dtype.Complex128:
		for i, v := range f64 {
			out = append(out, le64(v, 0), le64(0x3ff0000000000000, v), le64(v, f64[(i+3)%len(f64)]))
		}
	case dtype.Float16:
		for _, h := range []uint16{0x7c00, 0xfc00, 0x7c01, 0x7e00, 0xfd00, 0x7fff, 0x7bff, 0x0001, 0x8000, 0x5bf8} {
			out = append(out, binary.LittleEndian.AppendUint16(nil, h))
		}
	case dtype.BFloat16:
		for _, h := range []uint16{0x7f80, 0xff80, 0x7f81, 0x7fc0, 0xffa0, 0x7f7f, 0x4f80, 0xce6e, 0x3680, 0x8000} {
			out = append(out, binary.LittleEndian.AppendUint16(nil, h))
		}
	}
	return out
}
