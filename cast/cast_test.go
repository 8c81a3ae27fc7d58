package cast

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bigconv/bigconv/dtype"
)

func f64Bytes(vs ...float64) []byte {
	b := make([]byte, 8*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
	}
	return b
}

func u32Bytes(vs ...uint32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return b
}

func u64Bytes(vs ...uint64) []byte {
	b := make([]byte, 8*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint64(b[8*i:], v)
	}
	return b
}

func mustNew(t testing.TB, from, to string) Kernel {
	t.Helper()
	k, err := New(dtype.MustParse(from), dtype.MustParse(to))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestStats(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, tc := range []struct {
		name     string
		from, to string
		src      []byte
		want     []byte // little-endian result
		stats    Stats
	}{
		{
			name: "float64 to int32", from: "<f8", to: "<i4",
			src:   f64Bytes(nan, inf, -inf, 1e300, 1.5),
			want:  u32Bytes(0, math.MaxInt32, 1<<31, math.MaxInt32, 1),
			stats: Stats{NaN: 1, Inf: 2, OutOfRange: 1},
		},
		{
			name: "float64 to uint8", from: ">f8", to: "u1",
			src:   reverseParts(f64Bytes(-0.9, -1, 255.9, 256, -inf, nan), 8),
			want:  []byte{0, 0, 255, 255, 0, 0},
			stats: Stats{NaN: 1, Inf: 1, OutOfRange: 2},
		},
		{
			name: "float64 to float32", from: "<f8", to: "<f4",
			src:   f64Bytes(1e300, -1e39, nan, -inf, 1e-300, 3.4028234663852886e38),
			want:  u32Bytes(0x7f800000, 0xff800000, 0x7fc00000, 0xff800000, 0, 0x7f7fffff),
			stats: Stats{NaN: 1, Inf: 1, OutOfRange: 2},
		},
		{
			name: "int32 to int8", from: "<i4", to: "i1",
			src:   u32Bytes(127, 128, 0xffffff80),
			want:  []byte{127, 0x80, 0x80},
			stats: Stats{OutOfRange: 1},
		},
		{
			// 2^64-1 → -1 has the same 64 bits but not the same value
			name: "uint64 to int8", from: "<u8", to: "i1",
			src:   u64Bytes(^uint64(0), 127, 1<<63, ^uint64(0x7f), 5),
			want:  []byte{0xff, 127, 0, 0x80, 5},
			stats: Stats{OutOfRange: 3},
		},
		{
			name: "int8 to uint8", from: "i1", to: "u1",
			src:   []byte{0xff, 1, 0x80},
			want:  []byte{0xff, 1, 0x80},
			stats: Stats{OutOfRange: 2},
		},
		{
			name: "int32 to float16", from: "<i4", to: "<f2",
			src:   u32Bytes(65504, 70000),
			want:  []byte{0xff, 0x7b, 0x00, 0x7c},
			stats: Stats{OutOfRange: 1},
		},
		{
			name: "complex128 to float64", from: "<c16", to: "<f8",
			src:   f64Bytes(1, 0, 2, 1, 3, nan, 4, -0.0),
			want:  f64Bytes(1, 2, 3, 4),
			stats: Stats{Imaginary: 2},
		},
		{
			name: "complex128 to complex64", from: "<c16", to: "<c8",
			src:   f64Bytes(1e300, 1e300, nan, nan, 1, -inf, 1, 2),
			want:  []byte{0, 0, 0x80, 0x7f, 0, 0, 0x80, 0x7f, 0, 0, 0xc0, 0x7f, 0, 0, 0xc0, 0x7f, 0, 0, 0x80, 0x3f, 0, 0, 0x80, 0xff, 0, 0, 0x80, 0x3f, 0, 0, 0, 0x40},
			stats: Stats{NaN: 1, Inf: 1, OutOfRange: 1},
		},
		{
			name: "bool from odd bytes", from: "|b1", to: "<i2",
			src:  []byte{0, 1, 2, 0xff},
			want: []byte{0, 0, 1, 0, 1, 0, 1, 0},
		},
		{
			name: "safe casts count nothing", from: "<f4", to: "<f8",
			src:  []byte{0, 0, 0xc0, 0x7f, 0, 0, 0x80, 0x7f},
			want: []byte{0, 0, 0, 0, 0, 0, 0xf8, 0x7f, 0, 0, 0, 0, 0, 0, 0xf0, 0x7f},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := mustNew(t, tc.from, tc.to)
			to := dtype.MustParse(tc.to)
			got := make([]byte, len(tc.want))
			var st Stats
			k(got, bytes.Clone(tc.src), &st)
			if to.Swapped() {
				got = reverseParts(got, testPartSize(to.Type))
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("got % x\nwant % x", got, tc.want)
			}
			if st != tc.stats {
				t.Errorf("stats %v, want %v", st, tc.stats)
			}
			if st.Lost() != (tc.stats != Stats{}) {
				t.Errorf("Lost() = %v", st.Lost())
			}
			// nil stats must give the same values
			got2 := make([]byte, len(tc.want))
			k(got2, bytes.Clone(tc.src), nil)
			if to.Swapped() {
				got2 = reverseParts(got2, testPartSize(to.Type))
			}
			if !bytes.Equal(got2, tc.want) {
				t.Errorf("with nil stats: got % x, want % x", got2, tc.want)
			}
		})
	}
}

func TestStatsString(t *testing.T) {
	for _, tc := range []struct {
		s    Stats
		want string
	}{
		{Stats{}, "nothing lost"},
		{Stats{NaN: 3, Inf: 1, OutOfRange: 12}, "3 NaN, 1 inf, 12 out of range"},
		{Stats{Imaginary: 2}, "2 imaginary dropped"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.s.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
	s := Stats{NaN: 1}
	s.Add(Stats{NaN: 2, Inf: 3, OutOfRange: 4, Imaginary: 5})
	if s != (Stats{3, 3, 4, 5}) {
		t.Errorf("Add: %+v", s)
	}
}

func TestSwap(t *testing.T) {
	for _, size := range []int{1, 2, 4, 8, 16} {
		t.Run(fmt.Sprintf("size=%d", size), func(t *testing.T) {
			b := make([]byte, 64*16)
			for i := range b {
				b[i] = byte(i * 7)
			}
			orig := bytes.Clone(b)
			Swap(b, size)
			part := size
			if size == 16 {
				part = 8 // complex128: each half
			}
			if want := reverseParts(orig, part); !bytes.Equal(b, want) {
				t.Fatalf("Swap(%d) = % x..., want % x...", size, b[:16], want[:16])
			}
			Swap(b, size)
			if !bytes.Equal(b, orig) {
				t.Fatalf("Swap twice did not round-trip")
			}
		})
	}
}

// TestByteOrderRoundTrip converts big-endian to little-endian and back for
// every NumPy type: the identity, with swaps.
func TestByteOrderRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, ty := range numpyTypes {
		t.Run("type="+ty.String(), func(t *testing.T) {
			src := make([]byte, 100*ty.Size())
			for i := range src {
				src[i] = byte(rng.Uint32())
			}
			be, le := dtype.DType{Type: ty, BigEndian: true}, dtype.Of(ty)
			k1, err1 := New(le, be)
			k2, err2 := New(be, le)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			mid, back := make([]byte, len(src)), make([]byte, len(src))
			k1(mid, bytes.Clone(src), nil)
			if ty.Size() > 1 && bytes.Equal(mid, src) {
				t.Fatal("le → be did not swap")
			}
			if want := reverseParts(src, testPartSize(ty)); !bytes.Equal(mid, want) {
				t.Fatal("le → be is not a byte reversal of each part")
			}
			k2(back, mid, nil)
			if !bytes.Equal(back, src) {
				t.Fatal("round trip changed the data")
			}
		})
	}
}

func TestBytesPadding(t *testing.T) {
	for _, tc := range []struct {
		from, to int
		src      string
		want     string
	}{
		{3, 3, "abcde\x00xy\x00", "abcde\x00xy\x00"},
		{3, 5, "abcde\x00xy\x00", "abc\x00\x00de\x00\x00\x00xy\x00\x00\x00"},
		{1, 4, "abc", "a\x00\x00\x00b\x00\x00\x00c\x00\x00\x00"},
		{2, 3, "", ""},
	} {
		t.Run(fmt.Sprintf("from=S%d/to=S%d", tc.from, tc.to), func(t *testing.T) {
			k, err := New(dtype.BytesOf(tc.from), dtype.BytesOf(tc.to))
			if err != nil {
				t.Fatal(err)
			}
			dst := bytes.Repeat([]byte{0xee}, len(tc.want))
			k(dst, []byte(tc.src), nil)
			if string(dst) != tc.want {
				t.Errorf("got %q, want %q", dst, tc.want)
			}
		})
	}
}

func TestBadLengthsPanic(t *testing.T) {
	k := mustNew(t, "<f8", "<f4")
	for _, tc := range []struct {
		name     string
		dst, src int
	}{
		{"partial item", 4, 9},
		{"short dst", 3, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil {
					t.Error("no panic")
				}
			}()
			k(make([]byte, tc.dst), make([]byte, tc.src), nil)
		})
	}
}

// TestNoAllocs checks that kernels allocate nothing, including the two-step
// ones that stage chunks on the stack.
func TestNoAllocs(t *testing.T) {
	pairs := [][2]string{
		{"<f8", "<f4"}, {">i8", ">f4"}, {"<f2", "i1"}, {"bfloat16", "<f2"},
		{"float8_e4m3fn", "<i4"}, {"<c16", "<i8"}, {"<c8", "<f2"}, {"<f4", "<c16"}, {"<c16", ">c8"},
	}
	for _, p := range pairs {
		t.Run("from="+p[0]+"/to="+p[1], func(t *testing.T) {
			from, to := dtype.MustParse(p[0]), dtype.MustParse(p[1])
			k := mustNew(t, p[0], p[1])
			n := 5000
			src, dst := make([]byte, n*from.Size()), make([]byte, n*to.Size())
			var st Stats
			if a := testing.AllocsPerRun(10, func() { k(dst, src, &st) }); a != 0 {
				t.Errorf("%v allocations per call", a)
			}
		})
	}
}

// TestEmpty runs every kernel on empty input.
func TestEmpty(t *testing.T) {
	for _, from := range dtype.Types() {
		for _, to := range numpyTypes {
			k, err := New(dtype.Of(from), dtype.Of(to))
			if err != nil {
				t.Fatalf("New(%s, %s): %v", from, to, err)
			}
			k(nil, nil, nil)
			k([]byte{}, []byte{}, &Stats{})
		}
	}
}
