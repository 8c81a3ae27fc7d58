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
