package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/crc32c"
	"github.com/bigconv/bigconv/mmapnpy"
	"github.com/bigconv/bigconv/tensor"
)

func f64Tensor(n int) (*tensor.Tensor, []byte) {
	b := make([]byte, 8*n)
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(float64(i)+0.25))
	}
	return &tensor.Tensor{Name: "x", File: "x.bin", DType: dtype.MustParse("<f8"), Shape: dtype.Shape{int64(n / 16), 16}, Data: bytes.NewReader(b)}, b
}

func emptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Fatalf("files left behind: %v", ents)
	}
}

func TestConvertValues(t *testing.T) {
	tt, _ := f64Tensor(1 << 16)
	out := filepath.Join(t.TempDir(), "o.npy")
	res, err := Convert(context.Background(), tt, out, Options{DType: dtype.MustParse("<f4"), BlockSize: 4096, Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Blocks != 128 || res.OutBytes != 4<<16 {
		t.Fatalf("result %+v", res)
	}
	b, _ := os.ReadFile(out)
	data := b[len(b)-4<<16:]
	for i := 0; i < 1<<16; i++ {
		if v := math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:])); v != float32(float64(i)+0.25) {
			t.Fatalf("element %d = %v", i, v)
		}
	}
}

func TestCastRefusedNamesFlag(t *testing.T) {
	tt, _ := f64Tensor(64)
	_, err := Convert(context.Background(), tt, filepath.Join(t.TempDir(), "o.npy"), Options{DType: dtype.MustParse("<i4")})
	if !errors.Is(err, dtype.ErrCast) {
		t.Fatalf("err = %v, want ErrCast", err)
	}
	res, err := Convert(context.Background(), tt, filepath.Join(t.TempDir(), "o.npy"), Options{DType: dtype.MustParse("<i4"), Casting: dtype.Unsafe})
	if err != nil || res.Stats.Lost() {
		t.Fatalf("unsafe cast: %v, stats %v", err, res.Stats)
	}
}

func TestCancelLeavesNothing(t *testing.T) {
	tt, _ := f64Tensor(1 << 16)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	_, err := Convert(ctx, tt, filepath.Join(dir, "o.npy"), Options{BlockSize: 4096, Workers: 2,
		Progress: func(done, total int64) {
			if calls++; calls == 10 {
				cancel()
			}
		}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want Canceled", err)
	}
	emptyDir(t, dir)
}

type failingReader struct {
	r     *bytes.Reader
	after int64
}

func (f failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= f.after {
		return 0, errors.New("device gone")
	}
	return f.r.ReadAt(p, off)
}

func TestReadErrorLeavesNothingAndNamesOffset(t *testing.T) {
	tt, b := f64Tensor(1 << 16)
	tt.Data = failingReader{bytes.NewReader(b), 200000}
	dir := t.TempDir()
	_, err := Convert(context.Background(), tt, filepath.Join(dir, "o.npy"), Options{BlockSize: 8192})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte(`x.bin: tensor "x": offset`)) {
		t.Fatalf("err = %v", err)
	}
	emptyDir(t, dir)
}

func TestChecksum(t *testing.T) {
	tt, b := f64Tensor(1 << 14)
	good := crc32c.Checksum(b)
	for _, c := range []struct {
		name string
		crc  uint32
		cast bool
		ok   bool
	}{{"copy/good", good, false, true}, {"cast/good", good, true, true}, {"copy/bad", good ^ 1, false, false}, {"cast/bad", good ^ 1, true, false}} {
		t.Run(c.name, func(t *testing.T) {
			crc := c.crc
			tt.CRC32C = &crc
			dir := t.TempDir()
			opt := Options{BlockSize: 3000, Workers: 2}
			if c.cast {
				opt.DType = dtype.MustParse("<f4")
			}
			res, err := Convert(context.Background(), tt, filepath.Join(dir, "o.npy"), opt)
			if c.ok {
				if err != nil || !res.CRCVerify {
					t.Fatalf("err %v, verified %v", err, res.CRCVerify)
				}
				return
			}
			if !errors.Is(err, tensor.ErrChecksum) {
				t.Fatalf("err = %v, want ErrChecksum", err)
			}
			emptyDir(t, dir)
			opt.NoVerify = true
			if _, err := Convert(context.Background(), tt, filepath.Join(dir, "o.npy"), opt); err != nil {
				t.Fatalf("--no-verify: %v", err)
			}
		})
	}
}

func TestUnsupportedRefused(t *testing.T) {
	tt := &tensor.Tensor{Name: "r", DType: dtype.Of(dtype.Int8), Unsupported: "resource handle"}
	if _, err := NewPlan(tt, Options{}); !errors.Is(err, tensor.ErrUnsupported) {
		t.Fatalf("err = %v", err)
	}
}

func TestDefaultTargets(t *testing.T) {
	cases := []struct {
		from    string
		raw     bool
		want    string
		wantErr bool
	}{
		{">f8", false, "<f8", false},
		{"bfloat16", false, "<f4", false},
		{"bfloat16", true, "<u2", false},
		{"float8_e4m3fn", true, "|u1", false},
		{"float8_e5m2", false, "<f4", false},
	}
	for _, c := range cases {
		tt := &tensor.Tensor{DType: dtype.MustParse(c.from), Shape: dtype.Shape{1}, Data: bytes.NewReader(make([]byte, 8))}
		p, err := NewPlan(tt, Options{RawBits: c.raw})
		if err != nil {
			t.Errorf("%s: %v", c.from, err)
			continue
		}
		if p.To.String() != c.want {
			t.Errorf("%s raw=%v: target %s, want %s", c.from, c.raw, p.To, c.want)
		}
	}
}

func TestStream(t *testing.T) {
	_, b := f64Tensor(3 * 1000)
	tt := &tensor.Tensor{Name: "s", DType: dtype.MustParse("<f8"), Shape: dtype.Shape{0, 3}, Stream: bytes.NewReader(b)}
	out := filepath.Join(t.TempDir(), "s.npy")
	res, err := Convert(context.Background(), tt, out, Options{DType: dtype.MustParse("<f4"), BlockSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Shape.Equal(dtype.Shape{1000, 3}) {
		t.Fatalf("shape %v", res.Shape)
	}
	if _, err := os.Stat(mmapnpy.PartialPath(out)); !os.IsNotExist(err) {
		t.Fatal("partial left")
	}
}
