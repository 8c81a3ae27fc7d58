// Package crc32c is CRC-32C (Castagnoli) as TensorFlow and LevelDB use it:
// the checksum itself (hash/crc32, which uses the CPU's CRC instruction),
// the mask applied to stored checksums, and Combine, which joins the
// checksums of two adjacent pieces so that blocks checked in parallel can
// be verified against one checksum of the whole.
package crc32c

import "hash/crc32"

// Table is the Castagnoli table, built once.
var Table = crc32.MakeTable(crc32.Castagnoli)

const maskDelta = 0xa282ead8

// Checksum is the CRC-32C of b.
func Checksum(b []byte) uint32 { return crc32.Checksum(b, Table) }

// Update continues crc over b.
func Update(crc uint32, b []byte) uint32 { return crc32.Update(crc, Table, b) }

// Mask is TensorFlow's and LevelDB's masked form of a stored CRC.
func Mask(c uint32) uint32 { return ((c >> 15) | (c << 17)) + maskDelta }

// Unmask inverts Mask.
func Unmask(m uint32) uint32 {
	r := m - maskDelta
	return (r >> 17) | (r << 15)
}

// Castagnoli polynomial, reversed.
const poly = 0x82f63b78

func gf2MatrixTimes(mat *[32]uint32, vec uint32) uint32 {
	var sum uint32
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2MatrixSquare(square, mat *[32]uint32) {
	for n := 0; n < 32; n++ {
		square[n] = gf2MatrixTimes(mat, mat[n])
	}
}

// Combine returns the CRC-32C of A||B given crc1 = CRC(A), crc2 = CRC(B)
// and len2 = len(B). It runs in O(log len2) (zlib's crc32_combine).
func Combine(crc1, crc2 uint32, len2 int64) uint32 {
	if len2 <= 0 {
		return crc1
	}
	var even, odd [32]uint32
	odd[0] = poly
	row := uint32(1)
	for n := 1; n < 32; n++ {
		odd[n] = row
		row <<= 1
	}
	gf2MatrixSquare(&even, &odd) // 2 zero bits
	gf2MatrixSquare(&odd, &even) // 4 zero bits
	for {
		gf2MatrixSquare(&even, &odd)
		if len2&1 != 0 {
			crc1 = gf2MatrixTimes(&even, crc1)
		}
		len2 >>= 1
		if len2 == 0 {
			break
		}
		gf2MatrixSquare(&odd, &even)
		if len2&1 != 0 {
			crc1 = gf2MatrixTimes(&odd, crc1)
		}
		len2 >>= 1
		if len2 == 0 {
			break
		}
	}
	return crc1 ^ crc2
}
