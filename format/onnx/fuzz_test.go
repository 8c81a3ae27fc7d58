package onnx

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/format/tensorproto"
	"github.com/bigconv/bigconv/internal/onnxproto"
	"github.com/bigconv/bigconv/tensor"
)

// realDir is the shared real files, seen from this package's directory.
var realDir = filepath.Join("..", "..", "..", "shared", "testdata", "real", "pinluis+MDM-LN1")

// miniModel rebuilds a small model from the real one: its leading
// fields, its first node and its first k initializers, byte for byte.
func miniModel(b []byte, k int) []byte {
	var out, graph []byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return nil
		}
		if num != 7 {
			out = append(out, b[:n+m]...)
			b = b[n+m:]
			continue
		}
		g, _ := protowire.ConsumeBytes(b[n:])
		nodes, inits := 0, 0
		for len(g) > 0 {
			gn, gt, x := protowire.ConsumeTag(g)
			y := protowire.ConsumeFieldValue(gn, gt, g[x:])
			if x < 0 || y < 0 {
				break
			}
			if (gn == 1 && nodes < 1) || (gn == 5 && inits < k) || (gn != 1 && gn != 5) {
				graph = append(graph, g[:x+y]...)
				if gn == 1 {
					nodes++
				} else if gn == 5 {
					inits++
				}
			}
			g = g[x+y:]
		}
		out = protowire.AppendBytes(protowire.AppendTag(out, 7, protowire.BytesType), graph)
		b = b[n+m:]
	}
	return out
}

// extModel is a model with one initializer in external file w.bin.
func extModel(loc, off, length string) []byte {
	kv := func(k, v string) []byte { return cat(bf(1, []byte(k)), bf(2, []byte(v))) }
	t := cat(dims(4, 2), vf(2, 1), bf(8, []byte("ext")), bf(13, kv("location", loc)), bf(13, kv("offset", off)),
		bf(13, kv("length", length)), vf(14, 1))
	return cat(vf(1, 8), bf(2, []byte("fuzz")), bf(7, cat(bf(5, t))), bf(8, vf(2, 17)))
}

var extFileData = bytes.Repeat([]byte{0x3f, 0x80, 0, 0}, 32) // 128 bytes

func memSibling(name string) (io.ReaderAt, int64, error) {
	if name == "w.bin" {
		return bytes.NewReader(extFileData), int64(len(extFileData)), nil
	}
	return nil, 0, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

func FuzzONNX(f *testing.F) {
	for _, n := range []string{"test_data_set_0/output_0.pb"} {
		if b, err := os.ReadFile(filepath.Join(realDir, n)); err == nil {
			f.Add(b)
		}
	}
	if b, err := os.ReadFile(filepath.Join(realDir, "version-RFB-640.onnx")); err == nil {
		f.Add(miniModel(b, 4))
		f.Add(b[:4096])
	}
	elem := cat(dims(2), vf(2, 1), bf(9, make([]byte, 8)))
	for _, b := range [][]byte{
		cat(dims(5), vf(2, uint64(onnxproto.Int4)), bf(9, []byte{0x21, 0xF8, 0x07})),
		cat(dims(5), vf(2, uint64(onnxproto.Uint4)), bf(5, packedVarints(0x21, 0xF8, 0x07))),
		cat(dims(3), vf(2, uint64(onnxproto.Float8E4M3FNUZ)), bf(9, []byte{1, 0x80, 0xff})),
		cat(bf(1, packedVarints(2, 3)), vf(2, 1), bf(4, make([]byte, 24))),
		cat(dims(2), vf(2, 7), bf(7, packedVarints(1, 1<<40))),
		cat(dims(2), vf(2, 8), bf(6, []byte("ab")), bf(6, []byte("c"))),
		cat(dims(1), vf(2, 14), bf(4, make([]byte, 8))),
		cat(dims(2), vf(2, 9), bf(5, packedVarints(0, 7))),
		cat(bf(1, []byte("seq")), vf(2, 1), bf(3, elem)),
		extModel("w.bin", "64", "32"),
		extModel("../w.bin", "0", "32"),
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		head := b[:min(len(b), format.SniffLen)]
		if Sniff(head) && tensorproto.Sniff(head) {
			t.Fatalf("sniffed as both ONNX and TensorFlow TensorProto: % x", head)
		}
		in, err := Open(format.Source{R: bytes.NewReader(b), Size: int64(len(b)), Name: "f.onnx", Sibling: memSibling})
		if err != nil {
			if !errors.Is(err, tensor.ErrFormat) && !errors.Is(err, tensor.ErrCorrupt) && !errors.Is(err, tensor.ErrUnsupported) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			var te *tensor.Error
			if !errors.As(err, &te) || te.File == "" {
				t.Fatalf("error does not name its file: %v", err)
			}
			return
		}
		for _, tt := range in.Tensors {
			if tt.Unsupported != "" {
				continue
			}
			n, err := tt.NumBytes()
			if err != nil {
				t.Fatalf("%q: no size: %v", tt.Name, err)
			}
			p := make([]byte, min(n, 1<<16))
			for _, off := range []int64{0, n / 3, max(n-int64(len(p)), 0)} {
				k, err := tt.Data.ReadAt(p, off)
				if int64(k) != min(int64(len(p)), n-off) || (err != nil && err != io.EOF) {
					t.Fatalf("%q: ReadAt(%d at %d of %d) = %d, %v", tt.Name, len(p), off, n, k, err)
				}
			}
		}
	})
}
