package format_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format"
	_ "github.com/bigconv/bigconv/format/all" // every reader registers itself
	"github.com/bigconv/bigconv/internal/tfgen"
)

// Open a TensorFlow checkpoint by its PREFIX, as `bigconv inspect` does,
// and list its tensors. PREFIX.index, the SavedModel directory or the
// directory holding the checkpoint open the same way.
func ExampleOpenPath() {
	dir, _ := os.MkdirTemp("", "format")
	defer os.RemoveAll(dir)
	err := tfgen.WriteBundle(dir, "model.ckpt-100", []tfgen.BundleTensor{
		{Name: "dense/kernel", DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{784, 10}},
		{Name: "dense/bias", DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{10}},
	}, tfgen.BundleOptions{})
	if err != nil {
		log.Fatal(err)
	}

	in, err := format.OpenPath(filepath.Join(dir, "model.ckpt-100"), format.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer in.Close()
	fmt.Println(filepath.Base(in.Path), in.Format)
	for _, t := range in.Tensors {
		fmt.Println(t.Name, t.DType, t.Shape)
	}
	// Output:
	// model.ckpt-100.index tfbundle
	// dense/bias <f4 (10,)
	// dense/kernel <f4 (784, 10)
}

// Select tensors by glob, as `bigconv convert --tensor` does.
func ExampleInput_Select() {
	dir, _ := os.MkdirTemp("", "format")
	defer os.RemoveAll(dir)
	tfgen.WriteBundle(dir, "ckpt", []tfgen.BundleTensor{
		{Name: "a/kernel", DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{2, 2}},
		{Name: "a/bias", DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{2}},
		{Name: "b/kernel", DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{2, 2}},
	}, tfgen.BundleOptions{})
	in, err := format.OpenPath(dir, format.Options{}) // the directory holding one checkpoint
	if err != nil {
		log.Fatal(err)
	}
	defer in.Close()
	kernels, err := in.Select([]string{"*/kernel"})
	if err != nil {
		log.Fatal(err)
	}
	for _, t := range kernels {
		fmt.Println(t.Name)
	}
	_, err = in.Select([]string{"c/*"})
	fmt.Println(err)
	// Output:
	// a/kernel
	// b/kernel
	// --tensor "c/*" matches no tensor (have: a/bias, a/kernel, b/kernel)
}
