package engine_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/engine"
	"github.com/bigconv/bigconv/tensor"
)

// Convert an int64 tensor to float32 with a progress callback.
func ExampleConvert() {
	raw := make([]byte, 8*1000)
	for i := 0; i < 1000; i++ {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(i))
	}
	t := &tensor.Tensor{Name: "ramp", DType: dtype.MustParse("<i8"), Shape: dtype.Shape{100, 10}, Data: bytes.NewReader(raw)}

	dir, _ := os.MkdirTemp("", "engine")
	defer os.RemoveAll(dir)
	var last int64
	res, err := engine.Convert(context.Background(), t, filepath.Join(dir, "ramp.npy"), engine.Options{
		DType:     dtype.MustParse("float32"),
		BlockSize: 800, // ten rows of int64 per block
		Workers:   1,
		Progress:  func(done, total int64) { last = done },
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.From, "→", res.To, res.Shape, res.Blocks, "blocks,", last, "input bytes")
	// Output:
	// <i8 → <f4 (100, 10) 10 blocks, 8000 input bytes
}

// Stack three clips of shape (2, 3) into one (3, 2, 3) array, as
// np.stack does, each cast to the common type.
func ExampleStack() {
	var clips []*tensor.Tensor
	for i := range 3 {
		raw := make([]byte, 2*6)
		for k := range 6 {
			binary.LittleEndian.PutUint16(raw[2*k:], uint16(10*i+k))
		}
		clips = append(clips, &tensor.Tensor{File: fmt.Sprintf("clip_%d.bin", i), DType: dtype.MustParse("<i2"),
			Shape: dtype.Shape{2, 3}, Data: bytes.NewReader(raw)})
	}
	clips[2].DType = dtype.MustParse("<u2") // int16 and uint16 promote to int32

	dir, _ := os.MkdirTemp("", "engine")
	defer os.RemoveAll(dir)
	res, err := engine.Stack(context.Background(), clips, filepath.Join(dir, "clips.npy"), engine.StackOptions{Join: engine.JoinStack})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.To, res.Shape, res.InBytes, "input bytes")
	// Output:
	// <i4 (3, 2, 3) 36 input bytes
}
