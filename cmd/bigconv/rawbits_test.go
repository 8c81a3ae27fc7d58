package main

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/bigconv/bigconv/format/npy/npyhdr"
)

// TestRawBitsONNXFloat8 converts a bare ONNX TensorProto of each float8
// kind and of bfloat16 with and without --raw-bits: widened, the values
// are the ONNX float8 spec's (and bfloat16's upper float32 half); with
// --raw-bits, the stored bits as |u1 (<u2 for bfloat16).
func TestRawBitsONNXFloat8(t *testing.T) {
	bits := []byte{0x00, 0x01, 0x38, 0x40, 0x7F, 0x80, 0xFF}
	nan := float32(math.NaN())
	for _, c := range []struct {
		name string
		dt   uint64 // ONNX TensorProto.DataType
		raw  []byte
		want []float32
		bits string // descr with --raw-bits
	}{
		{"e4m3fn", 17, bits, []float32{0, 1.0 / 512, 1, 2, nan, 0, nan}, "|u1"}, // 0x7F, 0xFF: NaN; 0x80: -0
		{"e4m3fnuz", 18, bits, []float32{0, 1.0 / 1024, 0.5, 1, 240, nan, -240}, "|u1"},
		{"e5m2", 19, bits, []float32{0, 1.0 / (1 << 16), 0.5, 2, nan, 0, nan}, "|u1"},
		{"e5m2fnuz", 20, bits, []float32{0, 1.0 / (1 << 17), 0.25, 1, 57344, nan, -57344}, "|u1"},
		{"bfloat16", 16, []byte{0x80, 0x3f, 0x00, 0xc0}, []float32{1, -2}, "<u2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			n := len(c.raw)
			if c.dt == 16 {
				n /= 2
			}
			var pb []byte
			pb = protowire.AppendTag(pb, 1, protowire.VarintType) // dims
			pb = protowire.AppendVarint(pb, uint64(n))
			pb = protowire.AppendTag(pb, 2, protowire.VarintType) // data_type
			pb = protowire.AppendVarint(pb, c.dt)
			pb = protowire.AppendTag(pb, 9, protowire.BytesType) // raw_data
			pb = protowire.AppendBytes(pb, c.raw)
			in := filepath.Join(dir, "t.pb")
			if err := os.WriteFile(in, pb, 0o644); err != nil {
				t.Fatal(err)
			}
			wide, raw := filepath.Join(dir, "wide.npy"), filepath.Join(dir, "raw.npy")
			if code, _, stderr := bigconv(t, "convert", "--progress", "never", in, wide); code != 0 {
				t.Fatalf("convert: exit %d: %s", code, stderr)
			}
			if code, _, stderr := bigconv(t, "convert", "--progress", "never", "--raw-bits", in, raw); code != 0 {
				t.Fatalf("convert --raw-bits: exit %d: %s", code, stderr)
			}
			h, data := readNPYFile(t, wide)
			if h.Descr != "<f4" || len(h.Shape) != 1 || h.Shape[0] != int64(n) {
				t.Fatalf("widened: %s %v", h.Descr, h.Shape)
			}
			for i, w := range c.want {
				g := math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
				if g != w && !(math.IsNaN(float64(g)) && math.IsNaN(float64(w))) {
					t.Errorf("element %d: %g, want %g", i, g, w)
				}
			}
			h, data = readNPYFile(t, raw)
			if h.Descr != c.bits || !bytes.Equal(data, c.raw) {
				t.Errorf("--raw-bits: %s % x, want %s % x", h.Descr, data, c.bits, c.raw)
			}
		})
	}
}

// readNPYFile returns the header and data of a .npy file.
func readNPYFile(t *testing.T, path string) (*npyhdr.Header, []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := npyhdr.Read(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return h, b[h.DataOffset:]
}
