package engine_test

import (
	"archive/zip"
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/engine"
	"github.com/bigconv/bigconv/format"
	_ "github.com/bigconv/bigconv/format/all"
	"github.com/bigconv/bigconv/tensor"
)

// Convert a whole TensorFlow checkpoint into one .npz, as `bigconv
// convert ckpt/ ckpt.npz --rows :5` does: np.load("ckpt.npz")["a/kernel"]
// is rows 0–4 of that variable, as float16. (A row range cannot be
// checked against the checksum of the whole tensor; without Rows every
// tensor's crc32c is verified.)
func ExampleConvertArchive() {
	dir, _ := os.MkdirTemp("", "engine")
	defer os.RemoveAll(dir)
	writeCheckpoint(dir) // model.ckpt-100: a/bias, a/kernel, b/kernel

	in, err := format.OpenPath(filepath.Join(dir, "model.ckpt-100"), format.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer in.Close()
	rows, _ := tensor.ParseRows(":5")
	out := filepath.Join(dir, "ckpt.npz")
	sum, err := engine.ConvertArchive(context.Background(), in, out, engine.InputOptions{
		Options: engine.Options{DType: dtype.MustParse("float16"), Casting: dtype.Unsafe},
		Rows:    &rows,
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range sum.Tensors {
		fmt.Println(e.File, e.DType, e.Shape, "rows", e.Rows, "crc checked:", e.CRCChecked)
	}
	zr, _ := zip.OpenReader(out)
	defer zr.Close()
	for _, f := range zr.File {
		fmt.Println(f.Name, f.Method == zip.Store, f.UncompressedSize64)
	}
	// Output:
	// a/bias.npy <f2 [5] rows 0:5 of 10 crc checked: false
	// a/kernel.npy <f2 [5 10] rows 0:5 of 784 crc checked: false
	// b/kernel.npy <f2 [5 10] rows 0:5 of 10 crc checked: false
	// a/bias.npy true 138
	// a/kernel.npy true 228
	// b/kernel.npy true 228
}
