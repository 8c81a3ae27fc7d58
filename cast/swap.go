package cast

import (
	"fmt"
	"math/bits"
	"sync"
	"unsafe"
)

// Swap reverses the bytes of each size-byte element of b in place, for
// size 1 (nothing to do), 2, 4, 8 or 16. Complex values swap each part:
// pass 4 for complex64; 16 is taken as complex128 (two 8-byte parts).
// len(b) must be a multiple of size.
func Swap(b []byte, size int) {
	swapTo(b, b, size)
}

// swapTo writes src to dst with the bytes of each size-byte element
// reversed (size as for Swap); dst and src are the same length and are
// either the same slice or do not overlap. It works a 64-bit word (and
// four words a step) at a time whatever the element size.
func swapTo(dst, src []byte, size int) {
	if len(src)%size != 0 || len(dst) != len(src) {
		panic(fmt.Sprintf("cast: Swap: %d bytes is not a multiple of %d", len(src), size))
	}
	if size == 1 {
		copy(dst, src)
		return
	}
	if size != 2 && size != 4 && size != 8 && size != 16 {
		panic(fmt.Sprintf("cast: Swap: unsupported element size %d", size))
	}
	if v := swapVector(dst, src, size); v > 0 { // whole 64-byte units
		dst, src = dst[v:], src[v:]
	}
	n := len(src) / 8
	d, s := view[uint64](dst)[:n], view[uint64](src)[:n]
	i := 0
	switch size {
	case 2:
		for ; i <= n-4; i += 4 {
			s4, d4 := s[i:i+4:i+4], d[i:i+4:i+4]
			d4[0], d4[1], d4[2], d4[3] = swap16x4(s4[0]), swap16x4(s4[1]), swap16x4(s4[2]), swap16x4(s4[3])
		}
		for ; i < n; i++ {
			d[i] = swap16x4(s[i])
		}
		for i := n * 8; i < len(src); i += 2 {
			dst[i], dst[i+1] = src[i+1], src[i]
		}
	case 4:
		for ; i <= n-4; i += 4 {
			s4, d4 := s[i:i+4:i+4], d[i:i+4:i+4]
			d4[0], d4[1], d4[2], d4[3] = swap32x2(s4[0]), swap32x2(s4[1]), swap32x2(s4[2]), swap32x2(s4[3])
		}
		for ; i < n; i++ {
			d[i] = swap32x2(s[i])
		}
		if i := n * 8; i < len(src) {
			dst[i], dst[i+1], dst[i+2], dst[i+3] = src[i+3], src[i+2], src[i+1], src[i]
		}
	default:
		for ; i <= n-4; i += 4 {
			s4, d4 := s[i:i+4:i+4], d[i:i+4:i+4]
			d4[0], d4[1], d4[2], d4[3] = bits.ReverseBytes64(s4[0]), bits.ReverseBytes64(s4[1]), bits.ReverseBytes64(s4[2]), bits.ReverseBytes64(s4[3])
		}
		for ; i < n; i++ {
			d[i] = bits.ReverseBytes64(s[i])
		}
	}
}

// swap16x4 reverses the bytes of each 16-bit quarter of v.
func swap16x4(v uint64) uint64 {
	return v>>8&0x00ff00ff00ff00ff | v&0x00ff00ff00ff00ff<<8
}

// swap32x2 reverses the bytes of each 32-bit half of v.
func swap32x2(v uint64) uint64 {
	return bits.RotateLeft64(bits.ReverseBytes64(v), 32)
}

// stageBytes is the size of the chunks a byte-swapping kernel works in:
// small enough that a chunk of source and of result stay in L1 cache
// between the swap and the conversion.
const stageBytes = 8 << 10

// stagePool holds the buffers that big-endian sources are swapped into,
// so that a Kernel leaves its source alone. (A buffer on the stack would
// escape: it is handed to a rawKernel, a function value.)
var stagePool = sync.Pool{New: func() any { return new([stageBytes / 8]uint64) }}

// staged wraps raw, a little-endian kernel, for a source and/or target in
// the other byte order: a chunk at a time, the source is swapped into a
// staging buffer and raw's result is swapped in place in dst while both
// are in cache. swapIn and swapOut are the part sizes to swap (0: none).
func staged(raw rawKernel, fs, ts, swapIn, swapOut int) rawKernel {
	m := stageBytes / max(fs, ts) // items per chunk
	return func(dst, src []byte, st *Stats) {
		var buf *[stageBytes / 8]uint64
		if swapIn != 0 {
			buf = stagePool.Get().(*[stageBytes / 8]uint64)
			defer stagePool.Put(buf)
		}
		for len(src) > 0 {
			k := min(m, len(src)/fs)
			s, d := src[:k*fs], dst[:k*ts]
			if swapIn != 0 {
				b := unsafe.Slice((*byte)(unsafe.Pointer(buf)), stageBytes)[:len(s)]
				swapTo(b, s, swapIn)
				s = b
			}
			raw(d, s, st)
			if swapOut != 0 {
				swapTo(d, d, swapOut)
			}
			src, dst = src[k*fs:], dst[k*ts:]
		}
	}
}
