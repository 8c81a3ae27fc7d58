package tensor_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/tensor"
)

// FuzzRows checks views of C- and Fortran-order tensors of fuzzed shapes
// and bounds against the rows cut out by hand: the shape NumPy's a[r]
// has, and the bytes at a fuzzed read offset and length.
func FuzzRows(f *testing.F) {
	f.Add(uint16(37), uint8(5), uint8(3), int64(2), int64(10), true, true, false, uint32(0), uint32(1000))
	f.Add(uint16(1000), uint8(40), uint8(1), int64(-900), int64(-1), true, false, true, uint32(77), uint32(5))
	f.Add(uint16(3), uint8(0), uint8(2), int64(0), int64(0), false, false, true, uint32(0), uint32(1))
	f.Fuzz(func(t *testing.T, s0 uint16, s1, s2 uint8, a, b int64, hasA, hasB, fortran bool, off, n uint32) {
		shape := dtype.Shape{int64(s0 % 2000), int64(s1 % 64), int64(s2%4) + 1}
		const item = 2
		total, _ := shape.NumBytes(item)
		data := make([]byte, total)
		for i := range data {
			data[i] = byte(i*7 + i/251)
		}
		var r tensor.RowRange
		if hasA {
			r.Start = &a
		}
		if hasB {
			r.Stop = &b
		}
		full := &tensor.Tensor{DType: dtype.MustParse("<u2"), Shape: shape, Fortran: fortran, Data: bytes.NewReader(data)}
		v, err := tensor.Rows(full, r)
		if err != nil {
			t.Fatal(err)
		}
		start, stop := r.Resolve(shape[0])
		if start < 0 || stop < start || stop > shape[0] || v.Shape[0] != stop-start || !v.Shape[1:].Equal(shape[1:]) {
			t.Fatalf("%v[%s]: [%d, %d), view shape %v", shape, r, start, stop, v.Shape)
		}
		// the view's bytes in its own order
		inner := shape[1] * shape[2]
		var want []byte
		if fortran {
			for c := int64(0); c < inner; c++ {
				want = append(want, data[(c*shape[0]+start)*item:(c*shape[0]+stop)*item]...)
			}
		} else {
			want = data[start*inner*item : stop*inner*item]
		}
		if len(want) == 0 {
			return
		}
		o := int64(off) % int64(len(want))
		k := min(int64(n)%(3<<20)+1, int64(len(want))-o)
		p := make([]byte, k)
		if got, err := v.Data.ReadAt(p, o); got != len(p) || (err != nil && err != io.EOF) {
			t.Fatalf("%v[%s] fortran=%v: read %d+%d: %d, %v", shape, r, fortran, o, k, got, err)
		}
		if !bytes.Equal(p, want[o:o+k]) {
			t.Fatalf("%v[%s] fortran=%v: read %d+%d differs", shape, r, fortran, o, k)
		}
	})
}
