package tfproto

// OrderedCode (tensorflow/core/lib/strings/ordered_code.cc), as far as
// checkpoint keys of partitioned variables need it.

import (
	"encoding/binary"
	"math/bits"
)

// Extent is a slice's range in one dimension; Length -1 (any negative)
// is the whole dimension (TensorFlow's kFullExtent).
type Extent struct {
	Start, Length int64
}

// SliceKey is the index key of one slice of a partitioned tensor, as
// TensorFlow's checkpoint::EncodeTensorNameSlice builds it with
// OrderedCode: the number 0, the escaped name, the rank, then each
// extent's start and length as signed numbers (a full extent is start 0,
// length -1).
func SliceKey(name string, ext []Extent) string {
	b := AppendNumIncreasing(nil, 0)
	for i := 0; i < len(name); i++ {
		switch c := name[i]; c {
		case 0x00:
			b = append(b, 0x00, 0xff)
		case 0xff:
			b = append(b, 0xff, 0x00)
		default:
			b = append(b, c)
		}
	}
	b = append(b, 0x00, 0x01)
	b = AppendNumIncreasing(b, uint64(len(ext)))
	for _, e := range ext {
		start, length := e.Start, e.Length
		if length < 0 {
			start, length = 0, -1
		}
		b = AppendSignedIncreasing(b, start)
		b = AppendSignedIncreasing(b, length)
	}
	return string(b)
}

// AppendNumIncreasing appends v as OrderedCode: a length byte, then the value big-endian without
// leading zero bytes.
func AppendNumIncreasing(b []byte, v uint64) []byte {
	n := (bits.Len64(v) + 7) / 8
	b = append(b, byte(n))
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

// signedHeader holds the length bits OrderedCode puts in the first two
// bytes of an n-byte signed number.
var signedHeader = [11][2]byte{
	{0, 0}, {0x80, 0}, {0xc0, 0}, {0xe0, 0}, {0xf0, 0}, {0xf8, 0},
	{0xfc, 0}, {0xfe, 0}, {0xff, 0}, {0xff, 0x80}, {0xff, 0xc0},
}

// AppendSignedIncreasing appends v as OrderedCode: n bytes hold numbers in [-2^(7n-1), 2^(7n-1));
// the leading bits give the sign and the length.
func AppendSignedIncreasing(b []byte, v int64) []byte {
	x := uint64(v)
	if v < 0 {
		x = ^x
	}
	if x < 64 {
		return append(b, 0x80^byte(v))
	}
	n := bits.Len64(x)/7 + 1
	var buf [10]byte
	if v < 0 {
		buf[0], buf[1] = 0xff, 0xff
	}
	binary.BigEndian.PutUint64(buf[2:], uint64(v))
	p := buf[10-n:]
	p[0] ^= signedHeader[n][0]
	p[1] ^= signedHeader[n][1]
	return append(b, p...)
}
