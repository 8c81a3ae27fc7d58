package pytorch

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/numpytest"
)

// TestGopickleFixtures opens the torch.save files of
// nlpodyssey/gopickle's test data (shared real test data, MANIFEST.tsv):
// torch.save(torch.tensor(VALUES, dtype=T), pickle_protocol=P) for every
// T of its generate_fixtures.py and P in 1–5, legacy and zip format. Each
// must be one tensor named "" of shape [4] whose values are the
// documented ones.
func TestGopickleFixtures(t *testing.T) {
	dir := filepath.Join(numpytest.SharedDir(t), "nlpodyssey+gopickle", "pytorch", "testdata")
	files, _ := filepath.Glob(filepath.Join(dir, "*.pt"))
	if len(files) != 100 {
		t.Fatalf("%d fixture files, MANIFEST lists 100 (10 dtypes × 5 protocols × 2 formats)", len(files))
	}
	floats := []float64{1.2, -3.4, 5.6, -7.8}
	ints := []float64{1, -2, 3, -4}
	want := map[string]struct {
		dt   string
		vals []float64
		tol  float64
	}{
		"float32":  {"<f4", floats, 0},
		"float64":  {"<f8", floats, 0},
		"float16":  {"<f2", floats, 1.0 / 256},
		"bfloat16": {"bfloat16", floats, 1.0 / 32},
		"int8":     {"|i1", ints, 0},
		"int16":    {"<i2", ints, 0},
		"int32":    {"<i4", ints, 0},
		"int64":    {"<i8", ints, 0},
		"uint8":    {"|u1", []float64{1, 10, 100, 255}, 0},
		"bool":     {"|b1", []float64{1, 0, 1, 0}, 0},
	}
	for _, p := range files {
		base := strings.TrimSuffix(filepath.Base(p), ".pt")
		parts := strings.Split(base, "_") // tensor_T_protoP[_zip]
		w, ok := want[parts[1]]
		if !ok {
			t.Fatalf("%s: no expectation", p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !Sniff(b[:min(len(b), 512)]) {
			t.Errorf("%s: not sniffed", base)
		}
		f, err := Open(bytes.NewReader(b), int64(len(b)), base)
		if err != nil {
			t.Errorf("%s: %v", base, err)
			continue
		}
		wantFmt := "legacy"
		if strings.HasSuffix(base, "_zip") {
			wantFmt = "zip"
		}
		if f.Format != wantFmt || len(f.Tensors) != 1 {
			t.Fatalf("%s: %s with %d tensors", base, f.Format, len(f.Tensors))
		}
		tt := f.Tensors[0]
		if tt.Name != "" || tt.DType.String() != w.dt || !tt.Shape.Equal(dtype.Shape{4}) || !tt.Contiguous {
			t.Errorf("%s: %q %s %v contiguous=%v", base, tt.Name, tt.DType, tt.Shape, tt.Contiguous)
			continue
		}
		raw := make([]byte, 4*tt.DType.Size())
		if n, err := tt.Data.ReadAt(raw, 0); n != len(raw) {
			t.Fatalf("%s: read %d: %v", base, n, err)
		}
		for i, v := range w.vals {
			got := decode(tt.DType, raw[i*tt.DType.Size():])
			want := v
			if tt.DType.Type == dtype.Float32 {
				want = float64(float32(v))
			}
			if math.Abs(got-want) > w.tol*math.Abs(v) {
				t.Errorf("%s: [%d] = %v, want %v", base, i, got, v)
			}
		}
	}
}

// decode reads one little-endian element as float64.
func decode(d dtype.DType, b []byte) float64 {
	le := binary.LittleEndian
	switch d.Type {
	case dtype.Float32:
		return float64(math.Float32frombits(le.Uint32(b)))
	case dtype.Float64:
		return math.Float64frombits(le.Uint64(b))
	case dtype.Float16:
		return f16(le.Uint16(b))
	case dtype.BFloat16:
		return float64(math.Float32frombits(uint32(le.Uint16(b)) << 16))
	case dtype.Int8:
		return float64(int8(b[0]))
	case dtype.Int16:
		return float64(int16(le.Uint16(b)))
	case dtype.Int32:
		return float64(int32(le.Uint32(b)))
	case dtype.Int64:
		return float64(int64(le.Uint64(b)))
	case dtype.Uint8, dtype.Bool:
		return float64(b[0])
	}
	panic(d.String())
}

func f16(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	e, m := int(h>>10&0x1f), float64(h&0x3ff)
	switch e {
	case 0:
		return sign * m * math.Pow(2, -24)
	case 31:
		if m == 0 {
			return sign * math.Inf(1)
		}
		return math.NaN()
	}
	return sign * (1 + m/1024) * math.Pow(2, float64(e-15))
}
