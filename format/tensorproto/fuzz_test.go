package tensorproto

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/internal/onnxproto"
	"github.com/bigconv/bigconv/internal/tfgen"
	"github.com/bigconv/bigconv/tensor"
)

// realDir is the shared real files, seen from this package's directory.
var realDir = filepath.Join("..", "..", "shared", "testdata", "real")

func FuzzTensorProto(f *testing.F) {
	for _, ty := range dtype.Types() {
		var buf bytes.Buffer
		tfgen.WriteTensorProto(&buf, dtype.Of(ty), dtype.Shape{2, 3}, fillPattern(int(ty)))
		f.Add(buf.Bytes())
		v, err := tfgen.TensorProtoVals(dtype.Of(ty), dtype.Shape{4}, expectPattern(int(ty), int64(2*dtype.Of(ty).Size())), int(ty)%2 == 0)
		if err == nil {
			f.Add(v)
		}
	}
	f.Add(tfgen.TensorProtoStrings(dtype.Shape{3}, [][]byte{[]byte("ab"), nil}))
	f.Add(savedModelLike())
	// records of real TFRecord files: Event protos embed TensorProtos
	for _, p := range []string{
		"tensorflow+tfx/tfx/components/testdata/trainer/current/Format-Serving/eval_chicago-taxi-eval/events.out.tfevents.1646034751.jiyongjung.c.googlers.com",
		"tensorflow+rust/test_resources/io/expected.tfrecord",
	} {
		if b, err := os.ReadFile(filepath.Join(realDir, p)); err == nil {
			f.Add(b[12:min(len(b), 4096)])
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// no head reads both as TensorFlow's and as ONNX's (docs/formats.md)
		if head := b[:min(len(b), format.SniffLen)]; Sniff(head) && (onnxproto.SniffTensor(head) || onnxproto.SniffModel(head)) {
			t.Fatalf("sniffed as both TensorFlow and ONNX: % x", head)
		}
		tt, err := Open(bytes.NewReader(b), int64(len(b)), "f.pb")
		if err != nil {
			if !errors.Is(err, tensor.ErrFormat) && !errors.Is(err, tensor.ErrCorrupt) && !errors.Is(err, tensor.ErrUnsupported) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		n, err := tt.NumBytes()
		if err != nil {
			t.Fatalf("Open gave a tensor without a size: %v", err)
		}
		p := make([]byte, min(n, 1<<16))
		for _, off := range []int64{0, n / 3, max(n-int64(len(p)), 0)} {
			k, err := tt.Data.ReadAt(p, off)
			if err != nil && err != io.EOF {
				t.Fatalf("ReadAt(%d): %v", off, err)
			}
			if int64(k) != min(int64(len(p)), n-off) {
				t.Fatalf("ReadAt(%d) = %d bytes of %d", off, k, n)
			}
		}
		// the same message inside a larger file
		file := append(append([]byte("xx"), b...), 'y')
		h, err := Locate(bytes.NewReader(file), 2, int64(len(b)))
		if err != nil || !h.Shape.Equal(tt.Shape) {
			t.Fatalf("Locate inside a file: %v %v vs %v", err, h.Shape, tt.Shape)
		}
	})
}
