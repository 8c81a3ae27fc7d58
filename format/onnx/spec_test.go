package onnx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/bigconv/bigconv/cast"
	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/format/tensorproto"
	"github.com/bigconv/bigconv/internal/brokentest"
	"github.com/bigconv/bigconv/internal/numpytest"
	"github.com/bigconv/bigconv/internal/onnxproto"
	"github.com/bigconv/bigconv/internal/tfgen"
	"github.com/bigconv/bigconv/tensor"
)

var (
	vf  = brokentest.VarintField
	bf  = brokentest.BytesField
	cat = brokentest.Cat
)

// dims writes unpacked dims, as onnx (proto2) does.
func dims(ds ...uint64) []byte {
	var b []byte
	for _, d := range ds {
		b = append(b, vf(onnxproto.FieldDims, d)...)
	}
	return b
}

func packedVarints(vs ...uint64) []byte {
	var b []byte
	for _, v := range vs {
		b = protowire.AppendVarint(b, v)
	}
	return b
}

// openBytes opens an in-memory ONNX file named name.
func openBytes(b []byte, name string) (*format.Input, error) {
	return Open(format.Source{R: bytes.NewReader(b), Size: int64(len(b)), Name: name})
}

func one(t *testing.T, b []byte) *tensor.Tensor {
	t.Helper()
	in, err := openBytes(b, "t.pb")
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Tensors) != 1 {
		t.Fatalf("%d tensors", len(in.Tensors))
	}
	return in.Tensors[0]
}

// TestInt4 checks INT4/UINT4 unpacking against the spec (two elements
// per byte, low nibble first; int4 sign-extended as numpy_helper does),
// raw and typed (one int32_data value per packed byte), at odd counts,
// and at sizes that cross the reader's 64 KiB rounds.
func TestInt4(t *testing.T) {
	packed := []byte{0x21, 0xF8, 0x07}
	for _, c := range []struct {
		dt   onnxproto.DataType
		out  dtype.Type
		want []byte
	}{
		{onnxproto.Int4, dtype.Int8, []byte{1, 2, 0xF8, 0xFF, 7}}, // 1, 2, -8, -1, 7
		{onnxproto.Uint4, dtype.Uint8, []byte{1, 2, 8, 15, 7}},
	} {
		raw := cat(dims(5), vf(onnxproto.FieldDataType, uint64(c.dt)), bf(onnxproto.FieldRawData, packed))
		typed := cat(dims(5), vf(onnxproto.FieldDataType, uint64(c.dt)), bf(onnxproto.FieldInt32Data, packedVarints(0x21, 0xF8, 0x07)))
		for name, b := range map[string][]byte{"raw": raw, "typed": typed} {
			tt := one(t, b)
			if tt.DType.Type != c.out || !tt.Shape.Equal(dtype.Shape{5}) {
				t.Fatalf("%v %s: %v %v", c.dt, name, tt.DType, tt.Shape)
			}
			if got := readAll(t, tt); !bytes.Equal(got, c.want) {
				t.Errorf("%v %s: % x, want % x", c.dt, name, got, c.want)
			}
			p := make([]byte, 2)
			if n, err := tt.Data.ReadAt(p, 3); n != 2 || !bytes.Equal(p, c.want[3:]) {
				t.Errorf("%v %s: ReadAt(2 at 3) = %d %v % x", c.dt, name, n, err, p)
			}
		}
	}
	const n = 300001
	src := make([]byte, (n+1)/2)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range src {
		src[i] = byte(rng.Uint32())
	}
	tt := one(t, cat(dims(n), vf(onnxproto.FieldDataType, uint64(onnxproto.Int4)), bf(onnxproto.FieldRawData, src)))
	got := readAll(t, tt)
	for i := 0; i < n; i++ {
		v := int8(src[i/2]<<4) >> 4
		if i%2 == 1 {
			v = int8(src[i/2]) >> 4
		}
		if int8(got[i]) != v {
			t.Fatalf("element %d: %d, want %d", i, int8(got[i]), v)
		}
	}
}

// TestFloat8 checks the float8 kinds: all four keep their bits as the
// dtype package's types (raw, and typed: one int32_data value each), and
// the cast kernel widens E4M3FNUZ and E5M2FNUZ to the values of the ONNX
// Float8 spec table (onnx 1.12 predates them, so no numpy_helper check).
func TestFloat8(t *testing.T) {
	bits := []byte{0x00, 0x01, 0x38, 0x40, 0x7F, 0x80, 0xFF}
	for _, c := range []struct {
		dt  onnxproto.DataType
		out dtype.Type
	}{{onnxproto.Float8E4M3FN, dtype.Float8E4M3FN}, {onnxproto.Float8E5M2, dtype.Float8E5M2},
		{onnxproto.Float8E4M3FNUZ, dtype.Float8E4M3FNUZ}, {onnxproto.Float8E5M2FNUZ, dtype.Float8E5M2FNUZ}} {
		var vals []uint64
		for _, b := range bits {
			vals = append(vals, uint64(b))
		}
		for name, b := range map[string][]byte{
			"raw":   cat(dims(uint64(len(bits))), vf(2, uint64(c.dt)), bf(onnxproto.FieldRawData, bits)),
			"typed": cat(dims(uint64(len(bits))), vf(2, uint64(c.dt)), bf(onnxproto.FieldInt32Data, packedVarints(vals...))),
		} {
			tt := one(t, b)
			if tt.DType.Type != c.out {
				t.Fatalf("%v %s: %v", c.dt, name, tt.DType)
			}
			if got := readAll(t, tt); !bytes.Equal(got, bits) {
				t.Errorf("%v %s: % x", c.dt, name, got)
			}
		}
	}
	nan := float32(math.NaN())
	for _, c := range []struct {
		dt   onnxproto.DataType
		want []float32
	}{
		// E4M3FNUZ: bias 8; 0x01 = 2^-10 (smallest subnormal), 0x38 = 0.5,
		// 0x40 = 1, 0x7F = 240 (largest), 0x80 = NaN, 0xFF = -240
		{onnxproto.Float8E4M3FNUZ, []float32{0, 1.0 / 1024, 0.5, 1, 240, nan, -240}},
		// E5M2FNUZ: bias 16; 0x01 = 2^-17, 0x38 = 2^-2, 0x40 = 1,
		// 0x7F = 57344 (largest), 0x80 = NaN, 0xFF = -57344
		{onnxproto.Float8E5M2FNUZ, []float32{0, 1.0 / (1 << 17), 0.25, 1, 57344, nan, -57344}},
	} {
		tt := one(t, cat(dims(uint64(len(bits))), vf(2, uint64(c.dt)), bf(onnxproto.FieldRawData, bits)))
		k, err := cast.New(tt.DType, dtype.Of(dtype.Float32))
		if err != nil {
			t.Fatalf("%v: %v", c.dt, err)
		}
		got := make([]byte, 4*len(bits))
		k(got, readAll(t, tt), nil)
		for i, w := range c.want {
			g := math.Float32frombits(binary.LittleEndian.Uint32(got[4*i:]))
			if g != w && !(math.IsNaN(float64(g)) && math.IsNaN(float64(w))) {
				t.Errorf("%v 0x%02x: %g, want %g", c.dt, bits[i], g, w)
			}
		}
	}
}

// TestEncodings covers what onnx's own writer does not produce: packed
// dims, unpacked float_data, values split over several runs, and one
// packed run served straight from the file.
func TestEncodings(t *testing.T) {
	f32 := func(vs ...float32) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
		return b
	}
	want := f32(1, 2, 3, 4, 5, 6)
	var unpacked []byte
	for i := 0; i < 6; i++ {
		unpacked = protowire.AppendTag(unpacked, onnxproto.FieldFloatData, protowire.Fixed32Type)
		unpacked = protowire.AppendFixed32(unpacked, binary.LittleEndian.Uint32(want[4*i:]))
	}
	for _, c := range []struct {
		name       string
		b          []byte
		contiguous bool
	}{
		{"packed dims, one run", cat(bf(1, packedVarints(2, 3)), vf(2, 1), bf(4, want)), true},
		{"unpacked float_data", cat(dims(2, 3), vf(2, 1), unpacked), false},
		{"two runs", cat(dims(2, 3), vf(2, 1), bf(4, want[:8]), bf(8, []byte("n")), bf(4, want[8:])), false},
	} {
		tt := one(t, c.b)
		if !tt.Shape.Equal(dtype.Shape{2, 3}) || tt.DType.Type != dtype.Float32 || tt.Contiguous != c.contiguous {
			t.Errorf("%s: %v %v contiguous=%v", c.name, tt.DType, tt.Shape, tt.Contiguous)
		}
		if got := readAll(t, tt); !bytes.Equal(got, want) {
			t.Errorf("%s: % x", c.name, got)
		}
	}
}

// TestNotTensors: segments and unknown data types are listed as
// unsupported; sequences and optionals (ONNX test data keeps them in .pb
// files too) are refused as such; a sparse_initializer is listed with
// its dense shape.
func TestNotTensors(t *testing.T) {
	seg := one(t, cat(dims(4), vf(2, 1), bf(3, cat(vf(1, 0), vf(2, 4))), bf(9, make([]byte, 16))))
	if !strings.Contains(seg.Unsupported, "segment") {
		t.Errorf("segment: %q", seg.Unsupported)
	}
	f4 := one(t, cat(dims(4), vf(2, uint64(onnxproto.Float4E2M1)), bf(9, make([]byte, 2))))
	if !strings.Contains(f4.Unsupported, "FLOAT4E2M1") {
		t.Errorf("float4: %q", f4.Unsupported)
	}
	unknown := one(t, cat(dims(4), vf(2, 99), bf(9, make([]byte, 2))))
	if unknown.Unsupported == "" {
		t.Error("data type 99 is not unsupported")
	}
	// inspect names what has no DType by ONNX's name for it
	for tt, want := range map[*tensor.Tensor]string{seg: "onnx:FLOAT", f4: "onnx:FLOAT4E2M1", unknown: "onnx:DataType(99)"} {
		if got := tt.TypeName(); got != want {
			t.Errorf("TypeName %q, want %q (%s)", got, want, tt.Unsupported)
		}
	}
	elem := cat(dims(2), vf(2, 1), bf(9, make([]byte, 8)))
	for name, b := range map[string][]byte{
		"sequence of one": cat(bf(1, []byte("seq")), vf(2, 1), bf(3, elem)),
		"sequence of two": cat(bf(1, []byte("seq")), vf(2, 1), bf(3, elem), bf(3, elem)),
		"unnamed":         cat(vf(2, 1), bf(3, elem)),
	} {
		_, err := openBytes(b, "s.pb")
		if !errors.Is(err, ErrNotTensor) || !errors.Is(err, tensor.ErrUnsupported) || !strings.Contains(err.Error(), "SequenceProto or OptionalProto (elem_type TENSOR)") {
			t.Errorf("%s: %v", name, err)
		}
	}
	sparse := cat(bf(1, cat(dims(2), vf(2, 1), bf(8, []byte("sp")), bf(9, make([]byte, 8)))),
		bf(2, cat(dims(2), vf(2, 7), bf(9, make([]byte, 16)))), vf(3, 3), vf(3, 4))
	graph := cat(bf(1, []byte("node")), bf(5, cat(dims(1), vf(2, 1), bf(8, []byte("w")), bf(9, make([]byte, 4)))), bf(15, sparse))
	model := cat(vf(1, 8), bf(2, []byte("test")), bf(7, graph), bf(8, cat(vf(2, 17))))
	if !Sniff(model) {
		t.Error("model not sniffed")
	}
	in, err := openBytes(model, "m.onnx")
	if err != nil {
		t.Fatal(err)
	}
	if in.Format != FormatModel || len(in.Tensors) != 2 || in.Tensors[1].Name != "sp" ||
		!in.Tensors[1].Shape.Equal(dtype.Shape{3, 4}) || in.Tensors[1].Unsupported == "" || in.Tensors[0].Unsupported != "" {
		t.Errorf("model: %s %d tensors %+v", in.Format, len(in.Tensors), in.Tensors)
	}
	if got := in.Tensors[1].TypeName(); got != "<f4" {
		t.Errorf("sparse_initializer of FLOAT values: TypeName %q", got)
	}
}

// TestDetect: every ONNX file of the tests and the real test data is
// sniffed as ONNX and never as TensorFlow's TensorProto, every TensorFlow
// TensorProto the other way round; the registry agrees.
func TestDetect(t *testing.T) {
	var onnxFiles, tfFiles [][]byte
	dir := generate(t)
	for _, c := range lines(t, filepath.Join(dir, "tensors", "MANIFEST")) {
		b, err := os.ReadFile(filepath.Join(dir, "tensors", c+".pb"))
		if err != nil {
			t.Fatal(err)
		}
		onnxFiles = append(onnxFiles, b)
	}
	for _, k := range []string{"inline", "one", "many"} {
		b, _ := os.ReadFile(filepath.Join(dir, "models", k, "model.onnx"))
		onnxFiles = append(onnxFiles, b)
	}
	real := filepath.Join(numpytest.SharedDir(t), "pinluis+MDM-LN1")
	for _, n := range []string{"version-RFB-640.onnx", "test_data_set_0/input_0.pb", "test_data_set_0/output_0.pb", "test_data_set_0/output_1.pb"} {
		b, err := os.ReadFile(filepath.Join(real, n))
		if err != nil {
			t.Fatal(err)
		}
		onnxFiles = append(onnxFiles, b)
	}
	for _, ty := range dtype.Types() {
		for _, sh := range []dtype.Shape{{}, {3}, {2, 5}, {0, 4}} {
			var buf bytes.Buffer
			if err := tfgen.WriteTensorProto(&buf, dtype.Of(ty), sh, func(off int64, p []byte) {
				for i := range p {
					p[i] = byte(off) + byte(i)
				}
			}); err != nil {
				continue // a dtype TensorFlow lacks
			}
			tfFiles = append(tfFiles, buf.Bytes())
		}
	}
	head := func(b []byte) []byte { return b[:min(len(b), format.SniffLen)] }
	for i, b := range onnxFiles {
		if h := head(b); !Sniff(h) || tensorproto.Sniff(h) {
			t.Errorf("ONNX file %d: onnx.Sniff %v, tensorproto.Sniff %v", i, Sniff(h), tensorproto.Sniff(h))
		}
		if f, err := format.Detect(head(b), "x.pb"); err != nil || f.Name != "onnx" {
			t.Errorf("ONNX file %d: detected %v %v", i, f.Name, err)
		}
	}
	for i, b := range tfFiles {
		if h := head(b); Sniff(h) || !tensorproto.Sniff(h) {
			t.Errorf("TF file %d: onnx.Sniff %v, tensorproto.Sniff %v", i, Sniff(h), tensorproto.Sniff(h))
		}
	}
	if len(tfFiles) < 40 {
		t.Errorf("only %d TF TensorProtos", len(tfFiles))
	}
	t.Logf("%d ONNX and %d TensorFlow files told apart", len(onnxFiles), len(tfFiles))
}

// TestTypedConcurrent reads a decoded (typed) tensor from several
// goroutines at once, as the engine's workers do, twice over: the buffer
// is dropped after the first full pass and decoded again for the second.
func TestTypedConcurrent(t *testing.T) {
	const n = 10000
	vals := make([]uint64, n)
	want := make([]byte, 0, 8*n)
	for i := range vals {
		vals[i] = uint64(i * 7919)
		want = binary.LittleEndian.AppendUint64(want, vals[i])
	}
	tt := one(t, cat(dims(n), vf(2, uint64(onnxproto.Int64)), bf(7, packedVarints(vals...))))
	for pass := 0; pass < 2; pass++ {
		got := make([]byte, 8*n)
		done := make(chan error, 4)
		for w := 0; w < 4; w++ {
			go func(w int) {
				for off := w * 1000; off < len(got); off += 4000 {
					end := min(off+1000, len(got))
					if k, err := tt.Data.ReadAt(got[off:end], int64(off)); k != end-off {
						done <- fmt.Errorf("ReadAt at %d: %d, %v", off, k, err)
						return
					}
				}
				done <- nil
			}(w)
		}
		for w := 0; w < 4; w++ {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("pass %d: values differ", pass)
		}
	}
}
