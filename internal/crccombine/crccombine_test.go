package crccombine

import (
	"hash/crc32"
	"math/rand"
	"testing"
)

func TestCombineMatchesWhole(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	b := make([]byte, 100003)
	r.Read(b)
	for _, poly := range []uint32{crc32.IEEE, crc32.Castagnoli, crc32.Koopman, 0xeb31d82e} {
		tab := crc32.MakeTable(poly)
		c := New(poly)
		whole := crc32.Checksum(b, tab)
		for _, cut := range []int{0, 1, 7, 4096, 50000, 99999, len(b)} {
			got := c.Combine(crc32.Checksum(b[:cut], tab), crc32.Checksum(b[cut:], tab), int64(len(b)-cut))
			if got != whole {
				t.Errorf("poly %#x cut %d: Combine = %#x, want %#x", poly, cut, got, whole)
			}
		}
		// many pieces joined left to right
		crc, off := uint32(0), 0
		for off < len(b) {
			n := min(1+r.Intn(3000), len(b)-off)
			crc = c.Combine(crc, crc32.Checksum(b[off:off+n], tab), int64(n))
			off += n
		}
		if crc != whole {
			t.Errorf("poly %#x: pieces = %#x, want %#x", poly, crc, whole)
		}
	}
}

// TestCombineLong checks lengths far beyond what a test can hash against
// zlib's matrix method (the code crc32c used before), which shares no
// code with the x^(2^k) table.
func TestCombineLong(t *testing.T) {
	for _, poly := range []uint32{crc32.IEEE, crc32.Castagnoli} {
		c := New(poly)
		for _, n := range []int64{1, 3, 1 << 20, 1<<32 + 17, 5<<40 + 12345, 1<<62 + 1} {
			for _, pair := range [][2]uint32{{0, 0}, {0xdeadbeef, 0x12345678}, {0xffffffff, 1}} {
				want := matrixCombine(poly, pair[0], pair[1], n)
				if got := c.Combine(pair[0], pair[1], n); got != want {
					t.Errorf("poly %#x len %d %#x: got %#x, want %#x", poly, n, pair, got, want)
				}
			}
		}
	}
}

func matrixCombine(poly, crc1, crc2 uint32, len2 int64) uint32 {
	times := func(mat *[32]uint32, vec uint32) uint32 {
		var sum uint32
		for i := 0; vec != 0; i, vec = i+1, vec>>1 {
			if vec&1 != 0 {
				sum ^= mat[i]
			}
		}
		return sum
	}
	square := func(sq, mat *[32]uint32) {
		for n := 0; n < 32; n++ {
			sq[n] = times(mat, mat[n])
		}
	}
	var even, odd [32]uint32
	odd[0] = poly
	row := uint32(1)
	for n := 1; n < 32; n++ {
		odd[n] = row
		row <<= 1
	}
	square(&even, &odd)
	square(&odd, &even)
	for {
		square(&even, &odd)
		if len2&1 != 0 {
			crc1 = times(&even, crc1)
		}
		len2 >>= 1
		if len2 == 0 {
			break
		}
		square(&odd, &even)
		if len2&1 != 0 {
			crc1 = times(&odd, crc1)
		}
		len2 >>= 1
		if len2 == 0 {
			break
		}
	}
	return crc1 ^ crc2
}

func BenchmarkCombine(b *testing.B) {
	b.Run("method=x2n", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			IEEE.Combine(uint32(i), 0x1234, 4<<20+int64(i&1023))
		}
	})
	b.Run("method=matrix", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			matrixCombine(crc32.IEEE, uint32(i), 0x1234, 4<<20+int64(i&1023))
		}
	})
}
