package crc32c

import (
	"math/rand"
	"testing"
)

func TestMask(t *testing.T) {
	// TFRecord header of the real expected.tfrecord (tensorflow/rust): the
	// length 19 as uint64 LE has masked CRC 0x1b32910c.
	hdr := []byte{0x13, 0, 0, 0, 0, 0, 0, 0}
	if got := Mask(Checksum(hdr)); got != 0x1b32910c {
		t.Fatalf("masked crc = %#x, want 0x1b32910c", got)
	}
	for _, c := range []uint32{0, 1, 0xffffffff, 0x12345678} {
		if Unmask(Mask(c)) != c {
			t.Fatalf("Unmask(Mask(%#x)) != %#x", c, c)
		}
	}
}

func TestCombine(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	b := make([]byte, 100000)
	r.Read(b)
	whole := Checksum(b)
	for _, cut := range []int{0, 1, 7, 4096, 50000, 99999, 100000} {
		got := Combine(Checksum(b[:cut]), Checksum(b[cut:]), int64(len(b)-cut))
		if got != whole {
			t.Errorf("cut %d: Combine = %#x, want %#x", cut, got, whole)
		}
	}
}
