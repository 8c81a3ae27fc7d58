package slicer_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/slicer"
	"github.com/bigconv/bigconv/tensor"
)

// Iterate a 6×2 int16 tensor in blocks of at most 8 bytes (two rows).
func ExampleSlicer_Each() {
	raw := make([]byte, 24)
	for i := 0; i < 12; i++ {
		binary.LittleEndian.PutUint16(raw[2*i:], uint16(i))
	}
	t := &tensor.Tensor{DType: dtype.MustParse("<i2"), Shape: dtype.Shape{6, 2}, Data: bytes.NewReader(raw)}
	s, _ := slicer.New(t, slicer.Options{BlockSize: 8})
	s.Each(context.Background(), func(b slicer.Block, data []byte) error {
		fmt.Printf("block %d: rows %d-%d, %d bytes\n", b.Index, b.Row0, b.Row0+b.Rows-1, len(data))
		return nil
	})
	// Output:
	// block 0: rows 0-1, 8 bytes
	// block 1: rows 2-3, 8 bytes
	// block 2: rows 4-5, 8 bytes
}
