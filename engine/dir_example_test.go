package engine_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/engine"
	"github.com/bigconv/bigconv/format"
	_ "github.com/bigconv/bigconv/format/all"
	"github.com/bigconv/bigconv/internal/tfgen"
)

// Convert a whole TensorFlow checkpoint directory into a directory of
// .npy files and manifest.json, as `bigconv convert ckpt/ npy/` does: the
// first run is interrupted after one tensor (as by Ctrl-C), the second
// resumes it, keeping the finished tensor.
func ExampleConvertDir() {
	dir, _ := os.MkdirTemp("", "engine")
	defer os.RemoveAll(dir)
	ckptDir := filepath.Join(dir, "ckpt")
	os.Mkdir(ckptDir, 0o755)
	writeCheckpoint(ckptDir) // ckpt/model.ckpt-100: a/bias, a/kernel, b/kernel

	convert := func(ctx context.Context, resume bool, event func(engine.Event)) (engine.Summary, error) {
		in, err := format.OpenPath(ckptDir, format.Options{}) // the directory holding the checkpoint
		if err != nil {
			return engine.Summary{}, err
		}
		defer in.Close()
		return engine.ConvertDir(ctx, in, filepath.Join(dir, "npy"), engine.InputOptions{
			Options: engine.Options{DType: dtype.MustParse("float16"), Casting: dtype.Unsafe, Resume: resume},
			Event:   event,
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, err := convert(ctx, false, func(e engine.Event) {
		fmt.Println(e.Kind, e.Tensor.Name)
		cancel() // as Ctrl-C would, after the first tensor
	})
	fmt.Println("interrupted:", errors.Is(err, engine.ErrInterrupted))

	sum, err := convert(context.Background(), true, func(e engine.Event) { fmt.Println(e.Kind, e.Tensor.Name) })
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range sum.Tensors {
		fmt.Println(e.File, e.DType, e.Shape)
	}
	// Output:
	// converted a/bias
	// interrupted: true
	// kept a/bias
	// converted a/kernel
	// converted b/kernel
	// a/bias.npy <f2 [10]
	// a/kernel.npy <f2 [784 10]
	// b/kernel.npy <f2 [10 10]
}

// Convert whatever a path names, deciding between one .npy file and a
// directory as `bigconv convert` does.
func ExampleConvertInput() {
	dir, _ := os.MkdirTemp("", "engine")
	defer os.RemoveAll(dir)
	writeCheckpoint(dir)
	in, err := format.OpenPath(filepath.Join(dir, "model.ckpt-100.index"), format.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer in.Close()

	// One tensor of a checkpoint to a .npy file.
	sum, err := engine.ConvertInput(context.Background(), in, filepath.Join(dir, "kernel.npy"),
		engine.InputOptions{Tensors: []string{"a/kernel"}})
	fmt.Println(filepath.Base(sum.Output), sum.Dir, err)

	// Several tensors cannot go into one .npy file.
	_, err = engine.ConvertInput(context.Background(), in, filepath.Join(dir, "all.npy"), engine.InputOptions{})
	fmt.Println(errors.Is(err, engine.ErrManyTensors))

	// Into a directory: one .npy per tensor, and manifest.json.
	sum, err = engine.ConvertInput(context.Background(), in, filepath.Join(dir, "all"), engine.InputOptions{})
	fmt.Println(filepath.Base(sum.Output), sum.Dir, len(sum.Tensors), err)
	// Output:
	// kernel.npy false <nil>
	// true
	// all true 3 <nil>
}

func writeCheckpoint(dir string) {
	f32 := dtype.Of(dtype.Float32)
	err := tfgen.WriteBundle(dir, "model.ckpt-100", []tfgen.BundleTensor{
		{Name: "a/kernel", DType: f32, Shape: dtype.Shape{784, 10}},
		{Name: "a/bias", DType: f32, Shape: dtype.Shape{10}},
		{Name: "b/kernel", DType: f32, Shape: dtype.Shape{10, 10}},
	}, tfgen.BundleOptions{})
	if err != nil {
		log.Fatal(err)
	}
}
