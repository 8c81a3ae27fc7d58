// Command mksample writes the small TensorFlow checkpoint that ships in
// testdata/sample/ for the README's first command: "video-model
// activations" — a few tensors shaped like a video encoder's, with
// deterministic values. Run from the repository root:
//
//	go run ./internal/cmd/mksample
package main

import (
	"encoding/binary"
	"log"
	"math"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/tfgen"
)

func main() {
	f32 := func(f func(i int64) float64) func(off int64, p []byte) {
		return func(off int64, p []byte) {
			for i := 0; i+4 <= len(p); i += 4 {
				v := float32(f((off + int64(i)) / 4))
				binary.LittleEndian.PutUint32(p[i:], math.Float32bits(v))
			}
		}
	}
	bf16 := func(f func(i int64) float64) func(off int64, p []byte) {
		return func(off int64, p []byte) {
			for i := 0; i+2 <= len(p); i += 2 {
				bits := math.Float32bits(float32(f((off + int64(i)) / 2)))
				binary.LittleEndian.PutUint16(p[i:], uint16(bits>>16))
			}
		}
	}
	tensors := []tfgen.BundleTensor{
		// activations of 8 frames: [frames, height, width, channels]
		{Name: "encoder/block1/activations", DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{8, 28, 28, 32},
			Fill: f32(func(i int64) float64 { return math.Max(0, math.Sin(float64(i)*0.001)*3) })},
		{Name: "encoder/block1/conv/kernel", DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{3, 3, 3, 32},
			Fill: f32(func(i int64) float64 { return math.Cos(float64(i)) * 0.1 })},
		{Name: "encoder/frame_embeddings", DType: dtype.Of(dtype.BFloat16), Shape: dtype.Shape{256, 64},
			Fill: bf16(func(i int64) float64 { return math.Sin(float64(i) * 0.37) })},
		{Name: "global_step", DType: dtype.Of(dtype.Int64), Shape: dtype.Shape{},
			Fill: func(off int64, p []byte) { binary.LittleEndian.PutUint64(p, 12000) }},
	}
	if err := tfgen.WriteBundle("testdata/sample", "video_ckpt", tensors, tfgen.BundleOptions{}); err != nil {
		log.Fatal(err)
	}
}
