package cast

import (
	"github.com/bigconv/bigconv/dtype"
)

// rawKernel is a Kernel on little-endian data, for two different types.
type rawKernel func(dst, src []byte, st *Stats)

// native returns the little-endian kernel for from → to (from != to, to a
// NumPy numeric type).
func native(from, to dtype.Type) rawKernel {
	if k := simdKernel(from, to); k != nil {
		return k
	}
	if to == dtype.Complex64 || to == dtype.Complex128 {
		return toComplex(from, to)
	}
	switch from {
	case dtype.Bool:
		return fromBoolKernel(to)
	case dtype.Int8:
		return direct[int8](to)
	case dtype.Int16:
		return direct[int16](to)
	case dtype.Int32:
		return direct[int32](to)
	case dtype.Int64:
		return direct[int64](to)
	case dtype.Uint8:
		return direct[uint8](to)
	case dtype.Uint16:
		return direct[uint16](to)
	case dtype.Uint32:
		return direct[uint32](to)
	case dtype.Uint64:
		return direct[uint64](to)
	case dtype.Float32:
		return direct[float32](to)
	case dtype.Float64:
		return direct[float64](to)
	case dtype.Float16:
		switch to {
		case dtype.Bool:
			return func(dst, src []byte, st *Stats) { halfToBool(dst, view[uint16](src), st) }
		case dtype.Int8:
			return func(dst, src []byte, st *Stats) { halfToInt(view[int8](dst), view[uint16](src), st) }
		case dtype.Uint8:
			return func(dst, src []byte, st *Stats) { halfToInt(view[uint8](dst), view[uint16](src), st) }
		case dtype.Int16:
			return func(dst, src []byte, st *Stats) { halfToInt(view[int16](dst), view[uint16](src), st) }
		case dtype.Uint16:
			return func(dst, src []byte, st *Stats) { halfToInt(view[uint16](dst), view[uint16](src), st) }
		case dtype.Float32:
			return func(dst, src []byte, _ *Stats) { halfToF32Slice(view[uint32](dst), view[uint16](src)) }
		case dtype.Float64:
			return func(dst, src []byte, _ *Stats) { halfToF64Slice(view[uint64](dst), view[uint16](src)) }
		}
	case dtype.BFloat16:
		switch to {
		case dtype.Float32:
			return func(dst, src []byte, _ *Stats) { bf16ToF32Slice(view[uint32](dst), view[uint16](src)) }
		case dtype.Float16:
			return func(dst, src []byte, st *Stats) { bf16ToHalfSlice(view[uint16](dst), view[uint16](src), st) }
		}
	case dtype.Float8E4M3FN:
		switch to {
		case dtype.Float32:
			return func(dst, src []byte, _ *Stats) { e4m3ToF32Slice(view[uint32](dst), src) }
		case dtype.Float16:
			return func(dst, src []byte, _ *Stats) { e4m3ToHalfSlice(view[uint16](dst), src) }
		}
	case dtype.Float8E5M2:
		switch to {
		case dtype.Float32:
			return func(dst, src []byte, _ *Stats) { e5m2ToF32Slice(view[uint32](dst), src) }
		case dtype.Float16:
			return func(dst, src []byte, _ *Stats) { e5m2ToHalfSlice(view[uint16](dst), src) }
		}
	case dtype.Float8E4M3FNUZ:
		if to == dtype.Float32 {
			return func(dst, src []byte, _ *Stats) { e4m3fnuzToF32Slice(view[uint32](dst), src) }
		}
	case dtype.Float8E5M2FNUZ:
		if to == dtype.Float32 {
			return func(dst, src []byte, _ *Stats) { e5m2fnuzToF32Slice(view[uint32](dst), src) }
		}
	case dtype.Complex64:
		if to == dtype.Bool {
			return func(dst, src []byte, st *Stats) { complexToBool(dst, view[float32](src), st) }
		}
	case dtype.Complex128:
		if to == dtype.Bool {
			return func(dst, src []byte, st *Stats) { complexToBool(dst, view[float64](src), st) }
		}
		return via64(from, to)
	}
	// float16, bfloat16, float8 and complex64 sources, to anything else
	return via32(from, to)
}

// direct converts a Go number type straight to the target.
func direct[S number](to dtype.Type) rawKernel {
	return func(dst, src []byte, st *Stats) { convert(to, dst, view[S](src), st) }
}

// convert runs S → to from s into dst. It is called directly (never
// through a function value) so that s may live on the caller's stack.
func convert[S number](to dtype.Type, dst []byte, s []S, st *Stats) {
	switch to {
	case dtype.Bool:
		if b, ok := any(s).([]uint8); ok {
			bytesToBool(dst, b)
		} else if b, ok := any(s).([]int8); ok {
			bytesToBool(dst, view[uint8](bytesOf(b)))
		} else {
			toBool(dst, s, st)
		}
	case dtype.Int8:
		toInt(view[int8](dst), s, st)
	case dtype.Int16:
		toInt(view[int16](dst), s, st)
	case dtype.Int32:
		toInt(view[int32](dst), s, st)
	case dtype.Int64:
		toInt(view[int64](dst), s, st)
	case dtype.Uint8:
		toInt(view[uint8](dst), s, st)
	case dtype.Uint16:
		toInt(view[uint16](dst), s, st)
	case dtype.Uint32:
		toInt(view[uint32](dst), s, st)
	case dtype.Uint64:
		toInt(view[uint64](dst), s, st)
	case dtype.Float16:
		toHalf(view[uint16](dst), s, st)
	case dtype.Float32:
		if f64, ok := any(s).([]float64); ok {
			f64ToF32(view[float32](dst), f64, st)
		} else {
			convSlice(view[float32](dst), s)
		}
	case dtype.Float64:
		convSlice(view[float64](dst), s)
	default:
		panic("cast: internal error: no kernel to " + to.String())
	}
}

func toInt[S number, T integer](d []T, s []S, st *Stats) {
	switch f := any(s).(type) {
	case []float32:
		f32ToInt(d, f, st)
	case []float64:
		f64ToInt(d, f, st)
	default:
		intToInt(d, s, st)
	}
}

// toHalf rounds to float16 bits: float64 directly, everything else
// through float32 as NumPy does.
func toHalf[S number](d []uint16, s []S, st *Stats) {
	switch x := any(s).(type) {
	case []float32:
		f32ToHalfSlice(d, x, st)
	case []float64:
		f64ToHalfSlice(d, x, st)
	case []int8:
		byteLookup(d, view[uint8](bytesOf(x)), &int8HalfTable)
	case []uint8:
		byteLookup(d, x, &uint8HalfTable)
	case []int16:
		shortToHalfSlice(d, view[uint16](bytesOf(x)), int16HalfTable(), st)
	case []uint16:
		shortToHalfSlice(d, x, uint16HalfTable(), st)
	default:
		intToHalf(d, s, st)
	}
}

func fromBoolKernel(to dtype.Type) rawKernel {
	switch to {
	case dtype.Int8, dtype.Uint8:
		return func(dst, src []byte, _ *Stats) { bytesToBool(dst, src) }
	case dtype.Int16:
		return func(dst, src []byte, _ *Stats) { fromBool(view[int16](dst), src) }
	case dtype.Int32:
		return func(dst, src []byte, _ *Stats) { fromBool(view[int32](dst), src) }
	case dtype.Int64:
		return func(dst, src []byte, _ *Stats) { fromBool(view[int64](dst), src) }
	case dtype.Uint16:
		return func(dst, src []byte, _ *Stats) { fromBool(view[uint16](dst), src) }
	case dtype.Uint32:
		return func(dst, src []byte, _ *Stats) { fromBool(view[uint32](dst), src) }
	case dtype.Uint64:
		return func(dst, src []byte, _ *Stats) { fromBool(view[uint64](dst), src) }
	case dtype.Float16:
		return func(dst, src []byte, _ *Stats) { fromBoolHalf(view[uint16](dst), src) }
	case dtype.Float32:
		return func(dst, src []byte, _ *Stats) { fromBool(view[float32](dst), src) }
	case dtype.Float64:
		return func(dst, src []byte, _ *Stats) { fromBool(view[float64](dst), src) }
	}
	panic("cast: internal error: no kernel bool → " + to.String())
}

// chunk is how many values the two-step kernels stage on the stack.
const chunk = 1024

// via32 decodes the source to float32 (or takes a complex64's real part)
// a chunk at a time on the stack, then converts the chunk to the target.
func via32(from, to dtype.Type) rawKernel {
	fs, ts := from.Size(), to.Size()
	return func(dst, src []byte, st *Stats) {
		var buf [chunk]float32
		for len(src) > 0 {
			m := min(chunk, len(src)/fs)
			b := buf[:m]
			bits := view[uint32](bytesOf(b))
			s := src[:m*fs]
			switch from {
			case dtype.Float16:
				halfToF32Slice(bits, view[uint16](s))
			case dtype.BFloat16:
				bf16ToF32Slice(bits, view[uint16](s))
			case dtype.Float8E4M3FN:
				e4m3ToF32Slice(bits, s)
			case dtype.Float8E5M2:
				e5m2ToF32Slice(bits, s)
			case dtype.Float8E4M3FNUZ:
				e4m3fnuzToF32Slice(bits, s)
			case dtype.Float8E5M2FNUZ:
				e5m2fnuzToF32Slice(bits, s)
			case dtype.Complex64:
				realParts(b, view[float32](s), st)
			default:
				panic("cast: internal error: no decoder for " + from.String())
			}
			convert(to, dst[:m*ts], b, st)
			src, dst = src[m*fs:], dst[m*ts:]
		}
	}
}

// via64 takes the real parts of complex128 values a chunk at a time.
func via64(from, to dtype.Type) rawKernel {
	fs, ts := from.Size(), to.Size()
	return func(dst, src []byte, st *Stats) {
		var buf [chunk]float64
		for len(src) > 0 {
			m := min(chunk, len(src)/fs)
			b := buf[:m]
			realParts(b, view[float64](src[:m*fs]), st)
			convert(to, dst[:m*ts], b, st)
			src, dst = src[m*fs:], dst[m*ts:]
		}
	}
}

// toComplex converts to the part type, then spreads the reals out into
// complex values with zero imaginary parts: a chunk at a time, the reals
// are written to the second half of the chunk's place in dst and spread
// in place while it is in cache.
func toComplex(from, to dtype.Type) rawKernel {
	switch {
	case from == dtype.Complex64: // → complex128
		return func(dst, src []byte, _ *Stats) { convSlice(view[float64](dst), view[float32](src)) }
	case from == dtype.Complex128: // → complex64
		return func(dst, src []byte, st *Stats) { c128ToC64(view[float32](dst), view[float64](src), st) }
	}
	part := dtype.Float32
	if to == dtype.Complex128 {
		part = dtype.Float64
	}
	var k rawKernel
	if from != part {
		k = native(from, part)
	}
	fs, ps := from.Size(), part.Size()
	return func(dst, src []byte, st *Stats) {
		for len(src) > 0 {
			m := min(chunk, len(src)/fs)
			d := dst[:2*m*ps]
			if k == nil {
				copy(d[m*ps:], src[:m*fs])
			} else {
				k(d[m*ps:], src[:m*fs], st)
			}
			if part == dtype.Float32 {
				spread(view[float32](d))
			} else {
				spread(view[float64](d))
			}
			src, dst = src[m*fs:], dst[2*m*ps:]
		}
	}
}
