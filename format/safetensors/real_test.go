package safetensors

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/brokentest"
	"github.com/bigconv/bigconv/internal/numpytest"
)

// TestRealFiles opens the safetensors samples of the shared real test
// data. MANIFEST.tsv: each holds tensors named by a NumPy type code whose
// values are range(-3, 3) cast to that type (unsigned ones wrap), with
// __metadata__ {"test": "a"}; overall.safetensors holds all nine.
func TestRealFiles(t *testing.T) {
	dir := filepath.Join(numpytest.SharedDir(t), "huggingface+safetensors", "samples")
	files, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if len(files) != 10 {
		t.Fatalf("%d sample files, MANIFEST lists 10", len(files))
	}
	want := map[string]string{"B": "|u1", "H": "<u2", "I": "<u4", "b": "|i1", "d": "<f8", "e": "<f2", "f": "<f4", "h": "<i2", "i": "<i4"}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !Sniff(b) {
			t.Errorf("%s: not sniffed", p)
		}
		f, err := Open(bytes.NewReader(b), int64(len(b)), p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if f.Metadata["test"] != "a" {
			t.Errorf("%s: metadata %v", p, f.Metadata)
		}
		n := 1
		if strings.HasSuffix(p, "overall.safetensors") {
			n = 9
		}
		if len(f.Tensors) != n {
			t.Fatalf("%s: %d tensors", p, len(f.Tensors))
		}
		for _, tt := range f.Tensors {
			if want[tt.Name] != tt.DType.String() || !tt.Shape.Equal(dtype.Shape{6}) {
				t.Errorf("%s: %s is %s %v", p, tt.Name, tt.DType, tt.Shape)
			}
			if n == 1 && filepath.Base(p) != tt.Name+".safetensors" {
				t.Errorf("%s: tensor %q", p, tt.Name)
			}
			if _, err := brokentest.ReadData(tt, 5); err != nil {
				t.Fatal(err)
			}
			raw := make([]byte, tt.DType.Size()*6)
			tt.Data.ReadAt(raw, 0)
			for i := range 6 {
				if got, exp := value(tt.DType, raw[i*tt.DType.Size():]), float64(i-3); got != exp && got != wrap(tt.DType, exp) {
					t.Errorf("%s: %s[%d] = %v, want %v", p, tt.Name, i, got, exp)
				}
			}
		}
	}
}

// value decodes one little-endian element as a float64.
func value(dt dtype.DType, b []byte) float64 {
	switch dt.Type {
	case dtype.Uint8:
		return float64(b[0])
	case dtype.Int8:
		return float64(int8(b[0]))
	case dtype.Uint16:
		return float64(binary.LittleEndian.Uint16(b))
	case dtype.Int16:
		return float64(int16(binary.LittleEndian.Uint16(b)))
	case dtype.Uint32:
		return float64(binary.LittleEndian.Uint32(b))
	case dtype.Int32:
		return float64(int32(binary.LittleEndian.Uint32(b)))
	case dtype.Float32:
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
	case dtype.Float64:
		return math.Float64frombits(binary.LittleEndian.Uint64(b))
	case dtype.Float16: // the samples hold small integers: exact
		h := binary.LittleEndian.Uint16(b)
		sign, exp, man := h>>15, int(h>>10&0x1f), float64(h&0x3ff)
		v := 0.0
		if exp != 0 {
			v = math.Ldexp(1+man/1024, exp-15)
		}
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.NaN()
}

// wrap is a negative value as an unsigned type stores it.
func wrap(dt dtype.DType, v float64) float64 {
	if v >= 0 {
		return v
	}
	return v + math.Ldexp(1, 8*dt.Size())
}
