package cast

import (
	"errors"
	"fmt"
	"math/bits"

	"github.com/bigconv/bigconv/dtype"
)

// ErrUnsupported reports a pair of types New has no kernel for.
var ErrUnsupported = errors.New("cast: unsupported cast")

// Kernel converts n = len(src)/from.Size() elements from src (in from's
// byte order) to the first n*to.Size() bytes of dst (in to's byte order).
//
// src may be clobbered (a big-endian source is byte-swapped in place);
// dst and src must not overlap. st receives the counts of a lossy cast and
// may be nil. A Kernel panics if len(src) is not a multiple of from.Size()
// or dst is too short. It holds no state and is safe for concurrent use.
type Kernel func(dst, src []byte, st *Stats)

// New returns the kernel for from → to. Targets must be NumPy types
// (to.Type.NumPy()): bfloat16 and the float8 types are sources only.
// Bytes converts only to Bytes at least as wide (a NUL-padded copy).
// Errors wrap ErrUnsupported.
func New(from, to dtype.DType) (Kernel, error) {
	switch {
	case !from.Type.Valid():
		return nil, fmt.Errorf("%w: invalid source type %v", ErrUnsupported, from.Type)
	case !to.Type.Valid():
		return nil, fmt.Errorf("%w: invalid target type %v", ErrUnsupported, to.Type)
	case !to.Type.NumPy():
		return nil, fmt.Errorf("%w: %s has no NumPy type and can only be a source, not a target", ErrUnsupported, to.Type)
	case from.Type == dtype.Bytes || to.Type == dtype.Bytes:
		return newBytes(from, to)
	}
	fs, ts := from.Size(), to.Size()
	check := func(dst, src []byte) []byte {
		n := len(src) / fs
		if n*fs != len(src) || len(dst) < n*ts {
			panic(fmt.Sprintf("cast: %s → %s: %d source bytes is not a whole number of items, or %d destination bytes are too few",
				from, to, len(src), len(dst)))
		}
		return dst[:n*ts]
	}
	swapIn, swapOut := partSize(from), partSize(to)
	if !from.Swapped() {
		swapIn = 0
	}
	if !to.Swapped() {
		swapOut = 0
	}
	if from.Type == to.Type {
		reorder := from.Swapped() != to.Swapped()
		return func(dst, src []byte, _ *Stats) {
			dst = check(dst, src)
			copy(dst, src)
			if reorder {
				Swap(dst, swapOut|swapIn)
			}
		}, nil
	}
	raw := native(from.Type, to.Type)
	count := !dtype.IsSafe(from.Type, to.Type)
	return func(dst, src []byte, st *Stats) {
		dst = check(dst, src)
		if swapIn != 0 {
			Swap(src, swapIn)
		}
		if !count {
			st = nil
		}
		raw(dst, src, st)
		if swapOut != 0 {
			Swap(dst, swapOut)
		}
	}, nil
}

// partSize is the size of the units that a byte swap reverses: the item
// size, or the size of one part of a complex number.
func partSize(d dtype.DType) int {
	switch d.Type {
	case dtype.Complex64:
		return 4
	case dtype.Complex128:
		return 8
	case dtype.Bytes:
		return 1
	}
	return d.Type.Size()
}

func newBytes(from, to dtype.DType) (Kernel, error) {
	if from.Type != to.Type {
		return nil, fmt.Errorf("%w: %s → %s: byte strings convert only to byte strings", ErrUnsupported, from, to)
	}
	fw, tw := from.Width, to.Width
	if fw <= 0 || tw < fw {
		return nil, fmt.Errorf("%w: %s → %s: byte strings can only be copied to an equal or wider width", ErrUnsupported, from, to)
	}
	return func(dst, src []byte, _ *Stats) {
		n := len(src) / fw
		if n*fw != len(src) || len(dst) < n*tw {
			panic(fmt.Sprintf("cast: %s → %s: %d source bytes is not a whole number of items, or %d destination bytes are too few",
				from, to, len(src), len(dst)))
		}
		if fw == tw {
			copy(dst, src[:n*fw])
			return
		}
		for i := range n {
			d := dst[i*tw : (i+1)*tw]
			c := copy(d, src[i*fw:(i+1)*fw])
			clear(d[c:])
		}
	}, nil
}

// Swap reverses the bytes of each size-byte element of b in place, for
// size 1 (nothing to do), 2, 4, 8 or 16. Complex values swap each part:
// pass 4 for complex64; 16 is taken as complex128 (two 8-byte parts).
// len(b) must be a multiple of size.
func Swap(b []byte, size int) {
	if len(b)%size != 0 {
		panic(fmt.Sprintf("cast: Swap: %d bytes is not a multiple of %d", len(b), size))
	}
	switch size {
	case 1:
	case 2:
		s := view[uint16](b)
		for i, v := range s {
			s[i] = bits.ReverseBytes16(v)
		}
	case 4:
		s := view[uint32](b)
		for i, v := range s {
			s[i] = bits.ReverseBytes32(v)
		}
	case 8, 16:
		s := view[uint64](b)
		for i, v := range s {
			s[i] = bits.ReverseBytes64(v)
		}
	default:
		panic(fmt.Sprintf("cast: Swap: unsupported element size %d", size))
	}
}
