package cast

import (
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"testing"

	"github.com/bigconv/bigconv/dtype"
)

// halfEdgeBits lists float32 bit patterns where rounding to float16 can
// go wrong, both signs: within ±2 ulps of every float16 value and of
// every midpoint between neighbours (the ties, for normal and subnormal
// results, and 65520, where rounding overflows to inf); float32 zeros,
// subnormals and the smallest normals; around inf and the NaN payloads
// that shift out to zero; and every 4099th pattern of all 2^32.
func halfEdgeBits() []uint32 {
	var a []uint32
	near := func(b uint32) {
		for d := -2; d <= 2; d++ {
			x := b + uint32(d)
			if x <= 0x7fffffff {
				a = append(a, x, x|0x80000000)
			}
		}
	}
	for h := range uint32(0x7c00) {
		lo := float64(math.Float32frombits(halfToF32(uint16(h))))
		hi := float64(math.Float32frombits(halfToF32(uint16(h + 1)))) // 0x7c00: inf
		if h == 0x7bff {
			hi = 65536
		}
		near(math.Float32bits(float32(lo)))
		near(math.Float32bits(float32((lo + hi) / 2))) // exact in float32
	}
	for _, b := range []uint32{0, 0x00000003, 0x007ffffd, 0x00800002, 0x33000000, 0x337fffff, 0x38800000,
		0x477fe000, 0x477ff000, 0x47800000, 0x7f7fffff, 0x7f800000, 0x7f801fff, 0x7f802000, 0x7fbfe000,
		0x7fc00000, 0x7fc01fff, 0x7fffe000, 0x7ffffffd} {
		near(b)
	}
	for i := uint64(0); i < 1<<32; i += 4099 {
		a = append(a, uint32(i))
	}
	return a
}

// TestF32ToHalfBlock compares the F16C f32ToHalfBlock with its pure-Go
// twin bit for bit on halfEdgeBits, in blocks of several lengths.
func TestF32ToHalfBlock(t *testing.T) {
	if !haveF16C {
		t.Skip("no F16C: f32ToHalfBlock is f32ToHalfBlockGo")
	}
	bits := halfEdgeBits()
	s := make([]float32, len(bits)&^7)
	for i := range s {
		s[i] = math.Float32frombits(bits[i])
	}
	got, want := make([]uint16, len(s)), make([]uint16, len(s))
	for _, n := range []int{8, 16, 24, 32, 40, 1024} {
		for i := 0; i+n <= len(s); i += n {
			sp, wsp := f32ToHalfBlock(got[i:i+n], s[i:i+n]), f32ToHalfBlockGo(want[i:i+n], s[i:i+n])
			if sp != wsp {
				t.Fatalf("n=%d at %d: special %v, want %v", n, i, sp, wsp)
			}
		}
		for i := range s[:len(s)/n*n] {
			if got[i] != want[i] {
				t.Fatalf("n=%d: %#08x → %#04x, want %#04x", n, bits[i], got[i], want[i])
			}
		}
	}
	// One special value anywhere in a block is reported.
	for _, f := range []uint32{0x477ff000, 0xc77ff000, 0x7f800000, 0xff800000, 0x7f800001, 0xffc00000, 0x7f7fffff} {
		for _, n := range []int{8, 32, 40, 1024} {
			for j := range n {
				b := make([]float32, n)
				b[j] = math.Float32frombits(f)
				if !f32ToHalfBlock(make([]uint16, n), b) {
					t.Fatalf("%#08x at %d of %d not reported", f, j, n)
				}
			}
		}
	}
	b := make([]float32, 1024)
	b[5] = math.Float32frombits(0x477fefff) // 65519.998: rounds to 65504
	if f32ToHalfBlock(make([]uint16, len(b)), b) {
		t.Fatal("65504-bound value reported as special")
	}
}

// halfWant is f32ToHalfSlice one value at a time: the NumPy result (as
// f32ToHalf) and the counts.
func halfWant(s []float32) ([]uint16, Stats) {
	d := make([]uint16, len(s))
	var st Stats
	for i, v := range s {
		d[i] = f32ToHalf(math.Float32bits(v))
		if d[i]&0x7c00 == 0x7c00 {
			countSpecial(&st, float64(v))
		}
	}
	return d, st
}

// TestF32ToHalfSlice checks f32ToHalfSlice (F16C when there is one)
// against f32ToHalf and per-value counting, on halfEdgeBits and on blocks
// with no special value or one in a single place, at lengths that are
// not multiples of 8 or of the chunk size.
func TestF32ToHalfSlice(t *testing.T) {
	t.Logf("haveF16C = %v", haveF16C)
	check := func(name string, s []float32) {
		t.Helper()
		want, wst := halfWant(s)
		got := make([]uint16, len(s))
		var st Stats
		f32ToHalfSlice(got, s, &st)
		for i := range s {
			if got[i] != want[i] {
				t.Fatalf("%s: [%d] %#08x → %#04x, want %#04x", name, i, math.Float32bits(s[i]), got[i], want[i])
			}
		}
		if st != wst {
			t.Fatalf("%s: stats %+v, want %+v", name, st, wst)
		}
		f32ToHalfSlice(got, s, nil)
		for i := range s {
			if got[i] != want[i] {
				t.Fatalf("%s, nil stats: [%d] %#08x → %#04x, want %#04x", name, i, math.Float32bits(s[i]), got[i], want[i])
			}
		}
	}
	bits := halfEdgeBits()
	edge := make([]float32, len(bits))
	for i, b := range bits {
		edge[i] = math.Float32frombits(b)
	}
	check("edges", edge)
	for _, n := range []int{0, 1, 7, 8, 9, 31, 33, 1023, 1024, 1025, 3*chunk + 13} {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(i%2000-1000) * 65.5
		}
		check("plain", s)
		for _, f := range []uint32{0x477ff000, 0xff800000, 0x7f800001, 0xffc00000, 0x7fa00000} {
			for _, j := range []int{0, 7, 8, n / 2, chunk - 1, chunk, n - 1} {
				if j < 0 || j >= n {
					continue
				}
				s2 := append([]float32(nil), s...)
				s2[j] = math.Float32frombits(f)
				check("one special", s2)
			}
		}
	}
}

// TestF32ToHalfAll runs every float32 bit pattern through f32ToHalfBlock
// (against f32ToHalfBlockGo), f32ToHalfSlice and the float32 → float16
// Kernel (the AVX-512 kernel where there is one, which converts NaN,
// inf and overflow in the vector code) against f32ToHalf, with the
// counts; the kernel also on the same values shuffled, so that specials
// meet ordinary values in every lane. It takes minutes: set
// BIGCONV_LONG=1 to run it.
func TestF32ToHalfAll(t *testing.T) {
	if os.Getenv("BIGCONV_LONG") != "1" {
		t.Skip("set BIGCONV_LONG=1 to check all 2^32 float32 values")
	}
	const n = 1 << 16
	var (
		mu    sync.Mutex
		total Stats
		wg    sync.WaitGroup
	)
	k, err := New(dtype.Of(dtype.Float32), dtype.Of(dtype.Float16))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("vector kernel: %v", simdKernel(dtype.Float32, dtype.Float16) != nil)
	var ksum Stats
	next := make(chan uint32)
	for w := range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			s := make([]float32, n)
			got, want := make([]uint16, n), make([]uint16, n)
			kgot := make([]uint16, n)
			rng := rand.New(rand.NewPCG(uint64(w), 17))
			perm := make([]float32, n)
			var sum, ks Stats
			for base := range next {
				for i := range s {
					s[i] = math.Float32frombits(base + uint32(i))
				}
				if haveF16C {
					for i := 0; i < n; i += chunk {
						sp := f32ToHalfBlock(got[i:i+chunk], s[i:i+chunk])
						if wsp := f32ToHalfBlockGo(want[i:i+chunk], s[i:i+chunk]); sp != wsp {
							t.Errorf("block at %#08x: special %v, want %v", base+uint32(i), sp, wsp)
						}
					}
					for i := range got {
						if got[i] != want[i] {
							t.Errorf("block: %#08x → %#04x, want %#04x", base+uint32(i), got[i], want[i])
							break
						}
					}
				}
				var st, wst Stats
				f32ToHalfSlice(got, s, &st)
				for i, v := range s {
					h := f32ToHalf(math.Float32bits(v))
					if got[i] != h {
						t.Errorf("slice: %#08x → %#04x, want %#04x", base+uint32(i), got[i], h)
						break
					}
					if h&0x7c00 == 0x7c00 {
						countSpecial(&wst, float64(v))
					}
				}
				if st != wst {
					t.Errorf("slice at %#08x: stats %+v, want %+v", base, st, wst)
				}
				sum.Add(st)
				// The Kernel, in order and shuffled, in pieces whose
				// lengths leave tails.
				for pass := range 2 {
					in := s
					if pass == 1 {
						copy(perm, s)
						rng.Shuffle(n, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
						in = perm
					}
					var kst, kwst Stats
					for i := 0; i < n; {
						j := min(n, i+4093)
						k(bytesOf(kgot[i:j]), bytesOf(in[i:j]), &kst)
						i = j
					}
					for i, v := range in {
						h := f32ToHalf(math.Float32bits(v))
						if kgot[i] != h {
							t.Errorf("kernel: %#08x → %#04x, want %#04x", math.Float32bits(v), kgot[i], h)
							break
						}
						if h&0x7c00 == 0x7c00 {
							countSpecial(&kwst, float64(v))
						}
					}
					if kst != kwst {
						t.Errorf("kernel at %#08x: stats %+v, want %+v", base, kst, kwst)
					}
					if pass == 0 {
						ks.Add(kst)
					}
				}
			}
			mu.Lock()
			total.Add(sum)
			ksum.Add(ks)
			mu.Unlock()
		})
	}
	for base := uint64(0); base < 1<<32; base += n {
		next <- uint32(base)
	}
	close(next)
	wg.Wait()
	// NaN: 2 × (2^23 - 1); inf: 2; overflow: 2 × (0x7f800000 - 0x477ff000).
	want := Stats{NaN: 2 * (1<<23 - 1), Inf: 2, OutOfRange: 2 * (0x7f800000 - 0x477ff000)}
	if total != want || ksum != want {
		t.Errorf("total stats %+v (kernel %+v), want %+v", total, ksum, want)
	}
	t.Logf("all 2^32 float32 values: stats %+v", total)
}

// TestBF16ToHalf checks every bfloat16 bit pattern: bf16ToHalfBlock
// against its pure-Go twin, and bf16ToHalfSlice and the bfloat16 →
// float16 Kernel against f32ToHalf of the float32 value, with the counts,
// whole and at lengths that are not multiples of 8 or of the chunk size.
func TestBF16ToHalf(t *testing.T) {
	s := make([]uint16, 1<<16)
	f := make([]float32, len(s))
	for i := range s {
		s[i] = uint16(i)
		f[i] = math.Float32frombits(uint32(i) << 16)
	}
	want, wst := halfWant(f)
	got := make([]uint16, len(s))
	if haveF16C {
		tw := make([]uint16, len(s))
		for _, n := range []int{8, 16, 24, 1024} {
			for i := 0; i+n <= len(s); i += n {
				sp, wsp := bf16ToHalfBlock(got[i:i+n], s[i:i+n]), bf16ToHalfBlockGo(tw[i:i+n], s[i:i+n])
				if sp != wsp {
					t.Fatalf("n=%d at %#04x: special %v, want %v", n, i, sp, wsp)
				}
			}
			for i := range s {
				if got[i] != tw[i] {
					t.Fatalf("n=%d: block %#04x → %#04x, want %#04x", n, s[i], got[i], tw[i])
				}
			}
		}
	}
	k, err := New(dtype.Of(dtype.BFloat16), dtype.Of(dtype.Float16))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 7, 9, 1023, 1025, 4099, len(s)} {
		clear(got)
		var st, kst Stats
		for i := 0; i < len(s); i += n {
			j := min(i+n, len(s))
			bf16ToHalfSlice(got[i:j], s[i:j], &st)
		}
		kgot := make([]uint16, len(s))
		for i := 0; i < len(s); i += n {
			j := min(i+n, len(s))
			k(bytesOf(kgot[i:j]), bytesOf(s[i:j]), &kst)
		}
		for i := range s {
			if got[i] != want[i] || kgot[i] != want[i] {
				t.Fatalf("pieces of %d: %#04x → %#04x (kernel %#04x), want %#04x", n, s[i], got[i], kgot[i], want[i])
			}
		}
		if st != wst || kst != wst {
			t.Fatalf("pieces of %d: stats %+v (kernel %+v), want %+v", n, st, kst, wst)
		}
	}
}
