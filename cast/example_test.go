package cast_test

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/bigconv/bigconv/cast"
	"github.com/bigconv/bigconv/dtype"
)

func ExampleNew() {
	// Five big-endian float64 values, as a TensorFlow bundle might store them.
	in := []float64{1.9, -2.7, math.NaN(), math.Inf(1), 3e9}
	src := make([]byte, 8*len(in))
	for i, v := range in {
		binary.BigEndian.PutUint64(src[8*i:], math.Float64bits(v))
	}

	k, err := cast.New(dtype.MustParse(">f8"), dtype.MustParse("<i4"))
	if err != nil {
		fmt.Println(err)
		return
	}
	dst := make([]byte, 4*len(in))
	var st cast.Stats
	k(dst, src, &st) // src is byte-swapped in place: do not reuse it
	out := make([]int32, len(in))
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(dst[4*i:]))
	}
	fmt.Println(out)
	fmt.Println(st)

	_, err = cast.New(dtype.MustParse("<f4"), dtype.MustParse("bfloat16"))
	fmt.Println(err)
	// Output:
	// [1 -2 0 2147483647 2147483647]
	// 1 NaN, 1 inf, 1 out of range
	// cast: unsupported cast: bfloat16 has no NumPy type and can only be a source, not a target
}
