package tensorproto

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/internal/tfgen"
	"github.com/bigconv/bigconv/tensor"
)

// pattern is the deterministic test content: byte off of a tensor.
func pattern(seed int, off int64) byte { return byte(off*7 + off>>8 + int64(seed)*13 + 1) }

func fillPattern(seed int) func(off int64, p []byte) {
	return func(off int64, p []byte) {
		for i := range p {
			p[i] = pattern(seed, off+int64(i))
		}
	}
}

func expectPattern(seed int, n int64) []byte {
	b := make([]byte, n)
	fillPattern(seed)(0, b)
	return b
}

func readAll(t *testing.T, r io.ReaderAt, n int64) []byte {
	t.Helper()
	b := make([]byte, n)
	k, err := r.ReadAt(b, 0)
	if int64(k) != n || (err != nil && err != io.EOF) {
		t.Fatalf("ReadAt: %d of %d bytes, %v", k, n, err)
	}
	return b
}

func writeProto(t *testing.T, dt dtype.DType, shape dtype.Shape, seed int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := tfgen.WriteTensorProto(&buf, dt, shape, fillPattern(seed)); err != nil {
		t.Fatal(err)
	}
	if n, _ := tfgen.TensorProtoSize(dt, shape); n != int64(buf.Len()) {
		t.Fatalf("TensorProtoSize %d, wrote %d", n, buf.Len())
	}
	return buf.Bytes()
}

func TestRoundTripContent(t *testing.T) {
	shapes := []dtype.Shape{{}, {1}, {7}, {3, 5}, {2, 0, 4}, {2, 3, 4, 5}}
	for _, ty := range dtype.Types() {
		for _, shape := range shapes {
			dt := dtype.Of(ty)
			t.Run(ty.String()+shape.String(), func(t *testing.T) {
				b := writeProto(t, dt, shape, int(ty))
				if !Sniff(b[:min(len(b), format.SniffLen)]) {
					t.Errorf("Sniff rejects writer output")
				}
				tt, err := Open(bytes.NewReader(b), int64(len(b)), "x.pb")
				if err != nil {
					t.Fatal(err)
				}
				if !tt.DType.Equal(dt) || !tt.Shape.Equal(shape) {
					t.Fatalf("got %v %v, want %v %v", tt.DType, tt.Shape, dt, shape)
				}
				n, _ := tt.NumBytes()
				if got, want := readAll(t, tt.Data, n), expectPattern(int(ty), n); !bytes.Equal(got, want) {
					t.Fatalf("data differs")
				}
				if n > 0 && (!tt.Contiguous || tt.Offset != int64(len(b))-n) {
					t.Errorf("Contiguous %v Offset %d, want true %d", tt.Contiguous, tt.Offset, int64(len(b))-n)
				}
			})
		}
	}
}

func TestTypedValues(t *testing.T) {
	shape := dtype.Shape{2, 3}
	for _, ty := range dtype.Types() {
		dt := dtype.Of(ty)
		isz := dt.Size()
		for _, k := range []int{6, 1, 4, 0, 9} {
			for _, packed := range []bool{true, false} {
				name := ty.String() + "/k=" + string(rune('0'+k))
				if !packed {
					name += "/unpacked"
				}
				t.Run(name, func(t *testing.T) {
					vals := expectPattern(int(ty), int64(k*isz))
					if ty == dtype.Bool {
						for i := range vals {
							vals[i] &= 1
						}
					}
					b, err := tfgen.TensorProtoVals(dt, shape, vals, packed)
					if err != nil {
						t.Fatal(err)
					}
					tt, err := Open(bytes.NewReader(b), int64(len(b)), "v.pb")
					if err != nil {
						t.Fatal(err)
					}
					if !tt.DType.Equal(dt) || !tt.Shape.Equal(shape) {
						t.Fatalf("got %v %v", tt.DType, tt.Shape)
					}
					// TensorFlow (tensor.cc FromProtoField): extra values are
					// ignored, missing ones repeat the last, none gives zeros.
					want := make([]byte, 6*isz)
					for i := range 6 {
						j := min(i, k-1)
						if j >= 0 {
							copy(want[i*isz:], vals[j*isz:(j+1)*isz])
						}
					}
					if got := readAll(t, tt.Data, int64(len(want))); !bytes.Equal(got, want) {
						t.Fatalf("got %x\nwant %x", got, want)
					}
					// reads at odd offsets and lengths
					for off := 0; off < len(want); off += 3 {
						p := make([]byte, 5)
						n, _ := tt.Data.ReadAt(p, int64(off))
						if !bytes.Equal(p[:n], want[off:off+n]) || n != min(5, len(want)-off) {
							t.Fatalf("ReadAt(%d): %x, want %x", off, p[:n], want[off:min(off+5, len(want))])
						}
					}
				})
			}
		}
	}
}

func TestBroadcastLarge(t *testing.T) {
	// one float broadcast over 64 Mi elements is never materialised
	b, err := tfgen.TensorProtoVals(dtype.Of(dtype.Float32), dtype.Shape{1 << 13, 1 << 13}, []byte{1, 2, 3, 4}, true)
	if err != nil {
		t.Fatal(err)
	}
	tt, err := Open(bytes.NewReader(b), int64(len(b)), "big.pb")
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 11)
	n, err := tt.Data.ReadAt(p, 1<<28-5)
	if n != 5 || err != io.EOF || !bytes.Equal(p[:5], []byte{4, 1, 2, 3, 4}) {
		t.Fatalf("tail read: %d %v %x", n, err, p[:n])
	}
}

func TestStrings(t *testing.T) {
	strs := [][]byte{[]byte("a"), []byte("hello"), {}, []byte("xyz")}
	b := tfgen.TensorProtoStrings(dtype.Shape{2, 3}, strs)
	tt, err := Open(bytes.NewReader(b), int64(len(b)), "s.pb")
	if err != nil {
		t.Fatal(err)
	}
	if tt.DType.Descr() != "|S5" {
		t.Fatalf("dtype %v", tt.DType)
	}
	want := "a\x00\x00\x00\x00hello\x00\x00\x00\x00\x00xyz\x00\x00xyz\x00\x00xyz\x00\x00"
	if got := readAll(t, tt.Data, 30); string(got) != want {
		t.Fatalf("got %q", got)
	}
}

func TestDecodeCap(t *testing.T) {
	defer func(old int64) { maxDecoded = old }(maxDecoded)
	maxDecoded = 16
	b, _ := tfgen.TensorProtoVals(dtype.Of(dtype.Float32), dtype.Shape{5}, make([]byte, 20), true)
	_, err := Open(bytes.NewReader(b), int64(len(b)), "cap.pb")
	if !errors.Is(err, tensor.ErrUnsupported) {
		t.Fatalf("got %v, want ErrUnsupported", err)
	}
}

// savedModelLike is a proto shaped like saved_model.pb: schema version
// 1, then a MetaGraphDef {meta_info_def {meta_graph_version}, graph_def
// {node {name, op}}}.
func savedModelLike() []byte {
	msg := func(fields ...[]byte) []byte { return bytes.Join(fields, nil) }
	bytesField := func(num protowire.Number, v []byte) []byte {
		b := protowire.AppendTag(nil, num, protowire.BytesType)
		return protowire.AppendBytes(b, v)
	}
	node := msg(bytesField(1, []byte("Const")), bytesField(2, []byte("Const")))
	graph := bytesField(1, node)
	meta := msg(bytesField(1, bytesField(1, []byte("v1"))), bytesField(2, graph))
	b := protowire.AppendTag(nil, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, 1)
	return append(b, bytesField(2, meta)...)
}

func TestSavedModelRejected(t *testing.T) {
	b := savedModelLike()
	if Sniff(b) {
		t.Errorf("Sniff accepts a SavedModel")
	}
	_, err := Open(bytes.NewReader(b), int64(len(b)), "saved_model.pb")
	if !errors.Is(err, tensor.ErrFormat) || !strings.Contains(err.Error(), "SavedModel") {
		t.Fatalf("got %v, want ErrFormat naming SavedModel", err)
	}
	if !strings.HasPrefix(err.Error(), "tensorproto: saved_model.pb: ") {
		t.Errorf("message %q", err)
	}
}

func TestBroken(t *testing.T) {
	good := writeProto(t, dtype.Of(dtype.Float32), dtype.Shape{4, 4}, 1)
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, tensor.ErrFormat},
		{"not-proto", []byte("hello world, not a tensor"), tensor.ErrFormat},
		{"event-like", protowire.AppendFixed64(protowire.AppendTag(nil, 1, protowire.Fixed64Type), 42), tensor.ErrFormat},
		{"bad-dtype", []byte{0x08, 0x63}, tensor.ErrFormat},
		{"content-short", func() []byte {
			b := protowire.AppendTag(nil, 1, protowire.VarintType)
			b = protowire.AppendVarint(b, 1)
			b = protowire.AppendTag(b, 2, protowire.BytesType)
			b = protowire.AppendBytes(b, tfgen.AppendShape(nil, dtype.Shape{4}))
			b = protowire.AppendTag(b, 4, protowire.BytesType)
			return protowire.AppendBytes(b, make([]byte, 12))
		}(), tensor.ErrCorrupt},
		{"string", tfgen.TensorProtoStrings(dtype.Shape{1}, nil), nil},
		{"resource", []byte{0x08, 20, 0x12, 0}, tensor.ErrUnsupported},
	}
	for cut := 3; cut < len(good); cut += 5 {
		cases = append(cases, struct {
			name string
			b    []byte
			want error
		}{"truncated", good[:cut], tensor.ErrCorrupt})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Open(bytes.NewReader(c.b), int64(len(c.b)), "b.pb")
			if c.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if !strings.HasPrefix(err.Error(), "tensorproto: ") {
				t.Errorf("message %q", err)
			}
		})
	}
}

func TestLocateInside(t *testing.T) {
	b := writeProto(t, dtype.Of(dtype.Int16), dtype.Shape{3}, 2)
	file := append(append([]byte("prefix.."), b...), "suffix"...)
	h, err := Locate(bytes.NewReader(file), 8, int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if !h.HasContent || h.ContentLen != 6 || h.ContentOff != 8+int64(len(b))-6 {
		t.Fatalf("header %+v", h)
	}
	if !bytes.Equal(readAll(t, h.Data(bytes.NewReader(file)), 6), expectPattern(2, 6)) {
		t.Fatal("data differs")
	}
}

func TestRegistered(t *testing.T) {
	f, err := format.Lookup("tensorproto")
	if err != nil {
		t.Fatal(err)
	}
	b := writeProto(t, dtype.Of(dtype.Float64), dtype.Shape{2}, 3)
	in, err := f.Open(format.Source{R: bytes.NewReader(b), Size: int64(len(b)), Name: "x.pb"}, format.Options{})
	if err != nil || len(in.Tensors) != 1 {
		t.Fatal(err)
	}
	if _, err := f.Open(format.Source{Stream: bytes.NewReader(b), Name: "-"}, format.Options{}); !errors.Is(err, tensor.ErrUnsupported) {
		t.Fatalf("stream: %v", err)
	}
}
