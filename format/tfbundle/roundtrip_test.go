package tfbundle

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/tfgen"
	"github.com/bigconv/bigconv/internal/tfproto"
	"github.com/bigconv/bigconv/tensor"
)

// pattern is a deterministic byte stream for tensor seed.
func pattern(seed int64) func(off int64, p []byte) {
	return func(off int64, p []byte) {
		for i := range p {
			x := uint64(off+int64(i))*0x9e3779b97f4a7c15 + uint64(seed)*0x632be59bd9b4e019
			p[i] = byte(x >> 56)
		}
	}
}

func want(fill func(int64, []byte), n int64) []byte {
	b := make([]byte, n)
	fill(0, b)
	return b
}

func ext(start, length int64) tfgen.BundleExtent {
	return tfgen.BundleExtent{Start: start, Length: length}
}

type rtCase struct {
	name string
	opt  tfgen.BundleOptions
	big  bool
}

func rtTensors(big bool) []tfgen.BundleTensor {
	var ts []tfgen.BundleTensor
	for i, ty := range dtype.Types() {
		ts = append(ts, tfgen.BundleTensor{Name: "num/" + ty.String(), DType: dtype.Of(ty), Shape: dtype.Shape{3, 5}, Fill: pattern(int64(i))})
	}
	for i, q := range []struct {
		tf tfproto.DataType
		ty dtype.Type
	}{{tfproto.DTQint8, dtype.Int8}, {tfproto.DTQuint8, dtype.Uint8}, {tfproto.DTQint16, dtype.Int16},
		{tfproto.DTQuint16, dtype.Uint16}, {tfproto.DTQint32, dtype.Int32}} {
		ts = append(ts, tfgen.BundleTensor{Name: "quant/" + q.tf.String(), DType: dtype.Of(q.ty), TFType: q.tf, Shape: dtype.Shape{7}, Fill: pattern(int64(100 + i))})
	}
	ts = append(ts,
		tfgen.BundleTensor{Name: "scalar", DType: dtype.Of(dtype.Float64), Shape: dtype.Shape{}, Fill: pattern(200)},
		tfgen.BundleTensor{Name: "empty", DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{0, 4}},
		tfgen.BundleTensor{Name: "str/mixed", Shape: dtype.Shape{2, 2}, Strings: [][]byte{
			[]byte(""), []byte("a"), []byte("hello\x00world\xff"), bytes.Repeat([]byte("x"), 300)}},
		tfgen.BundleTensor{Name: "str/empty", Shape: dtype.Shape{0}, Strings: [][]byte{}},
		tfgen.BundleTensor{Name: "str/blanks", Shape: dtype.Shape{3}, Strings: [][]byte{{}, {}, {}}},
		tfgen.BundleTensor{Name: "str/scalar", Shape: dtype.Shape{}, Strings: [][]byte{[]byte("only")}},
		tfgen.BundleTensor{Name: "res", TFType: tfproto.DTResource, DType: dtype.Of(dtype.Uint8), Shape: dtype.Shape{}, Fill: pattern(1)},
		tfgen.BundleTensor{Name: "part/both", DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{7, 10}, Fill: pattern(300),
			Slices: [][]tfgen.BundleExtent{
				{ext(0, 3), ext(0, 4)}, {ext(0, 3), ext(4, 6)}, {ext(3, 4), ext(0, 4)}, {ext(3, 4), ext(4, 6)}}},
		tfgen.BundleTensor{Name: "part/rows", DType: dtype.Of(dtype.Int16), Shape: dtype.Shape{5, 6}, Fill: pattern(301),
			Slices: [][]tfgen.BundleExtent{{ext(0, 2), ext(0, -1)}, {ext(2, 3), ext(0, -1)}}},
		tfgen.BundleTensor{Name: "part/3d", DType: dtype.Of(dtype.Complex64), Shape: dtype.Shape{4, 3, 5}, Fill: pattern(302),
			Slices: [][]tfgen.BundleExtent{{ext(0, 4), ext(0, 2), ext(0, -1)}, {ext(0, 4), ext(2, 1), ext(0, 2)}, {ext(0, 4), ext(2, 1), ext(2, 3)}}},
	)
	if big {
		ts = append(ts,
			tfgen.BundleTensor{Name: "big/f64", DType: dtype.Of(dtype.Float64), Shape: dtype.Shape{2_200_000}, Fill: pattern(400)},
			tfgen.BundleTensor{Name: "big/part", DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{2100, 2048}, Fill: pattern(401),
				Slices: [][]tfgen.BundleExtent{{ext(0, 1000), ext(0, 1024)}, {ext(0, 1000), ext(1024, 1024)}, {ext(1000, 1100), ext(0, -1)}}},
		)
	}
	return ts
}

func TestRoundTrip(t *testing.T) {
	cases := []rtCase{
		{name: "plain", opt: tfgen.BundleOptions{}, big: true},
		{name: "shards=3,snappy,blocks=256", opt: tfgen.BundleOptions{Shards: 3, SnappyIndex: true, BlockSize: 256}},
		{name: "shards=2,bigendian,align=8", opt: tfgen.BundleOptions{Shards: 2, BigEndian: true, Alignment: 8, BlockSize: 512}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.big && testing.Short() {
				c.big = false
			}
			dir := t.TempDir()
			src := rtTensors(c.big)
			if err := tfgen.WriteBundle(dir, "ckpt", src, c.opt); err != nil {
				t.Fatal(err)
			}
			b := mustOpen(t, filepath.Join(dir, "ckpt.index"))
			if b.BigEndian() != c.opt.BigEndian {
				t.Errorf("BigEndian %v", b.BigEndian())
			}
			got := byName(b)
			if len(got) != len(src) {
				t.Errorf("%d tensors, want %d (slice entries must be hidden)", len(got), len(src))
			}
			for _, s := range src {
				tt := got[s.Name]
				if tt == nil {
					t.Errorf("missing %s", s.Name)
					continue
				}
				t.Run(s.Name, func(t *testing.T) { checkTensor(t, s, tt, c.opt.BigEndian) })
			}
		})
	}
}

func checkTensor(t *testing.T, s tfgen.BundleTensor, tt *tensor.Tensor, bigEndian bool) {
	if !tt.Shape.Equal(s.Shape) {
		t.Fatalf("shape %v, want %v", tt.Shape, s.Shape)
	}
	if s.TFType == tfproto.DTResource {
		if tt.Unsupported == "" || tt.Data != nil {
			t.Fatalf("resource tensor not marked unsupported: %+v", tt)
		}
		return
	}
	if tt.Unsupported != "" {
		t.Fatalf("unsupported: %s", tt.Unsupported)
	}
	if s.Strings != nil {
		w := 1
		for _, x := range s.Strings {
			w = max(w, len(x))
		}
		if tt.DType != dtype.BytesOf(w) {
			t.Fatalf("dtype %v, want |S%d", tt.DType, w)
		}
		var exp []byte
		for _, x := range s.Strings {
			exp = append(exp, x...)
			exp = append(exp, make([]byte, w-len(x))...)
		}
		for _, chunk := range []int{1, 3, w, w + 1, 2*w + 5, 1 << 20} {
			data, _, err := readAll(t, tt, chunk)
			if err != nil || !bytes.Equal(data, exp) {
				t.Fatalf("chunk %d: %q, %v; want %q", chunk, data, err, exp)
			}
		}
		return
	}
	wantDT := s.DType
	wantDT.BigEndian = bigEndian
	if !tt.DType.Equal(wantDT) || tt.DType.BigEndian != bigEndian {
		t.Fatalf("dtype %v, want %v", tt.DType, wantDT)
	}
	n, _ := tt.NumBytes()
	exp := make([]byte, n)
	if s.Fill != nil {
		exp = want(s.Fill, n)
	}
	chunks := []int{4096, 1 << 20}
	if n < 1<<16 {
		chunks = append(chunks, 1, 3, 7, 13)
	}
	for _, chunk := range chunks {
		data, crc, err := readAll(t, tt, chunk)
		if err != nil {
			t.Fatalf("chunk %d: %v", chunk, err)
		}
		if !bytes.Equal(data, exp) {
			t.Fatalf("chunk %d: data differs", chunk)
		}
		if len(s.Slices) == 0 && (tt.CRC32C == nil || crc != *tt.CRC32C) {
			t.Fatalf("crc %08x, index %v", crc, tt.CRC32C)
		}
	}
	if len(s.Slices) > 0 {
		if tt.CRC32C != nil || tt.Contiguous {
			t.Errorf("partitioned tensor claims CRC32C or contiguity")
		}
		concurrentRead(t, tt, exp)
	}
}

// concurrentRead reads tt with 4 goroutines in random order and odd chunk
// sizes, as a parallel engine would.
func concurrentRead(t *testing.T, tt *tensor.Tensor, exp []byte) {
	n := int64(len(exp))
	chunk := max(int64(1), n/37)
	var offs []int64
	for off := int64(0); off < n; off += chunk {
		offs = append(offs, off)
	}
	rand.New(rand.NewSource(1)).Shuffle(len(offs), func(i, j int) { offs[i], offs[j] = offs[j], offs[i] })
	got := make([]byte, n)
	var wg sync.WaitGroup
	errs := make(chan error, len(offs))
	next := make(chan int64)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for off := range next {
				p := got[off:min(n, off+chunk)]
				if m, err := tt.Data.ReadAt(p, off); m != len(p) {
					errs <- fmt.Errorf("ReadAt(%d): %d, %v", off, m, err)
				}
			}
		}()
	}
	for _, o := range offs {
		next <- o
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if !bytes.Equal(got, exp) {
		t.Fatal("concurrent read differs")
	}
}

// TestPartitionedChecksum corrupts one slice: a full read fails with
// ErrChecksum, and the other partitioned tensor still reads.
func TestPartitionedChecksum(t *testing.T) {
	dir := t.TempDir()
	ts := []tfgen.BundleTensor{
		{Name: "p", DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{7, 10}, Fill: pattern(1),
			Slices: [][]tfgen.BundleExtent{{ext(0, 3), ext(0, 4)}, {ext(0, 3), ext(4, 6)}, {ext(3, 4), ext(0, -1)}}},
	}
	if err := tfgen.WriteBundle(dir, "m", ts, tfgen.BundleOptions{}); err != nil {
		t.Fatal(err)
	}
	shard := filepath.Join(dir, "m.data-00000-of-00001")
	data, err := os.ReadFile(shard)
	if err != nil {
		t.Fatal(err)
	}
	data[3*4*4+5] ^= 0x40 // inside the second slice
	if err := os.WriteFile(shard, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, chunk := range []int{7, 40, 1000} {
		b := mustOpen(t, filepath.Join(dir, "m.index"))
		_, _, err := readAll(t, b.Tensors()[0], chunk)
		if !errors.Is(err, tensor.ErrChecksum) {
			t.Errorf("chunk %d: %v, want ErrChecksum", chunk, err)
		}
	}
}

// TestPartitionedBadCover: slices that overlap or leave gaps are refused.
func TestPartitionedBadCover(t *testing.T) {
	for name, sl := range map[string][][]tfgen.BundleExtent{
		"gap":     {{ext(0, 3), ext(0, -1)}, {ext(4, 3), ext(0, -1)}},
		"overlap": {{ext(0, 4), ext(0, -1)}, {ext(3, 4), ext(0, -1)}, {ext(0, 1), ext(0, 1)}},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			ts := []tfgen.BundleTensor{{Name: "p", DType: dtype.Of(dtype.Uint8), Shape: dtype.Shape{7, 2}, Fill: pattern(1), Slices: sl}}
			if err := tfgen.WriteBundle(dir, "m", ts, tfgen.BundleOptions{}); err != nil {
				t.Fatal(err)
			}
			b, err := openPath(t, filepath.Join(dir, "m.index"))
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Err("p"); !errors.Is(err, tensor.ErrCorrupt) || b.Tensors()[0].Unsupported == "" {
				t.Errorf("tensor p: %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestSliceKey(t *testing.T) {
	// Signed OrderedCode values from ordered_code.cc's comments and the
	// length table: one byte holds [-64, 64), two bytes [-2^13, 2^13).
	for _, c := range []struct {
		v    int64
		want string
	}{{0, "\x80"}, {1, "\x81"}, {-1, "\x7f"}, {63, "\xbf"}, {-64, "\x40"}, {64, "\xc0\x40"},
		{-65, "\x3f\xbf"}, {0x424242, "\xf0\x42\x42\x42"}, {-0x800, "\x38\x00"}} {
		if got := string(tfproto.AppendSignedIncreasing(nil, c.v)); got != c.want {
			t.Errorf("signed(%d) = %q, want %q", c.v, got, c.want)
		}
	}
	got := sliceKey("a\x00b", []extent{{0, -1}, {3, 2}})
	want := "\x00" + "a\x00\xffb\x00\x01" + "\x01\x02" + "\x80\x7f" + "\x83\x82"
	if got != want {
		t.Errorf("sliceKey = %q, want %q", got, want)
	}
}
