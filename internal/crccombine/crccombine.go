// Package crccombine joins the CRC-32 checksums of adjacent pieces of data
// (zlib's crc32_combine) for any CRC-32 polynomial in hash/crc32's
// reversed notation: crc32.IEEE (zip, gzip, PNG), crc32.Castagnoli
// (TensorFlow, LevelDB), crc32.Koopman or any other. Blocks checksummed in
// parallel, in any order, can so be joined into the checksum of the whole
// without reading them again.
//
//	whole := crccombine.IEEE.Combine(crc32.ChecksumIEEE(a), crc32.ChecksumIEEE(b), int64(len(b)))
//
// A Combiner is immutable after New and safe for concurrent use.
package crccombine

import "hash/crc32"

// Combiner joins checksums of one polynomial.
type Combiner struct {
	poly uint32
	// x2n[k] is x^(2^k) modulo the polynomial (reflected), k = 0…66:
	// enough for 2^63 bytes, that is 2^66 bits.
	x2n [67]uint32
}

// Shared combiners for the polynomials bigconv meets.
var (
	IEEE       = New(crc32.IEEE)
	Castagnoli = New(crc32.Castagnoli)
)

// New builds the combiner of the reversed polynomial poly (as the
// constants of hash/crc32).
func New(poly uint32) *Combiner {
	c := &Combiner{poly: poly}
	p := uint32(1) << 30 // x^1
	c.x2n[0] = p
	for k := 1; k < len(c.x2n); k++ {
		p = c.mult(p, p)
		c.x2n[k] = p
	}
	return c
}

// Poly is the reversed polynomial of c.
func (c *Combiner) Poly() uint32 { return c.poly }

// mult is a·b modulo the polynomial, both reflected (bit 31 is x^0).
func (c *Combiner) mult(a, b uint32) uint32 {
	m := uint32(1) << 31
	var p uint32
	for {
		if a&m != 0 {
			p ^= b
			if a&(m-1) == 0 {
				return p
			}
		}
		m >>= 1
		if b&1 != 0 {
			b = b>>1 ^ c.poly
		} else {
			b >>= 1
		}
	}
}

// shift is x^(n·2^k) modulo the polynomial.
func (c *Combiner) shift(n uint64, k int) uint32 {
	p := uint32(1) << 31 // x^0
	for ; n != 0; n, k = n>>1, k+1 {
		if n&1 != 0 {
			p = c.mult(c.x2n[k], p)
		}
	}
	return p
}

// Combine returns the CRC of A‖B given crc1 = CRC(A), crc2 = CRC(B) and
// len2 = len(B) in bytes. It costs O(log len2) and does not depend on
// len(A). len2 ≤ 0 returns crc1.
func (c *Combiner) Combine(crc1, crc2 uint32, len2 int64) uint32 {
	if len2 <= 0 {
		return crc1
	}
	return c.mult(c.shift(uint64(len2), 3), crc1) ^ crc2
}
