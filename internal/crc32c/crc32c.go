// Package crc32c is CRC-32C (Castagnoli) as TensorFlow and LevelDB use it:
// the checksum itself (hash/crc32, which uses the CPU's CRC instruction),
// the mask applied to stored checksums, and Combine, which joins the
// checksums of two adjacent pieces so that blocks checked in parallel can
// be verified against one checksum of the whole.
package crc32c

import (
	"hash/crc32"

	"github.com/bigconv/bigconv/internal/crccombine"
)

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

// Combine returns the CRC-32C of A||B given crc1 = CRC(A), crc2 = CRC(B)
// and len2 = len(B). It runs in O(log len2) (zlib's crc32_combine; the
// polynomial-generic code is in internal/crccombine).
func Combine(crc1, crc2 uint32, len2 int64) uint32 {
	return crccombine.Castagnoli.Combine(crc1, crc2, len2)
}
