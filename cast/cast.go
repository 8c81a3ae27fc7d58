package cast

import (
	"errors"
	"fmt"

	"github.com/bigconv/bigconv/dtype"
)

// ErrUnsupported reports a pair of types New has no kernel for.
var ErrUnsupported = errors.New("cast: unsupported cast")

// Kernel converts n = len(src)/from.Size() elements from src (in from's
// byte order) to the first n*to.Size() bytes of dst (in to's byte order).
//
// src may be clobbered (today no kernel writes to it: a big-endian
// source is swapped a chunk at a time into a buffer); dst and src must
// not overlap. st receives the counts of a lossy cast and
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
		swap := 1
		if from.Swapped() != to.Swapped() {
			swap = partSize(from)
		}
		return func(dst, src []byte, _ *Stats) {
			swapTo(check(dst, src), src, swap)
		}, nil
	}
	raw := native(from.Type, to.Type)
	if swapIn != 0 || swapOut != 0 {
		raw = staged(raw, fs, ts, swapIn, swapOut)
	}
	count := !dtype.IsSafe(from.Type, to.Type)
	return func(dst, src []byte, st *Stats) {
		dst = check(dst, src)
		if !count {
			st = nil
		}
		raw(dst, src, st)
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
