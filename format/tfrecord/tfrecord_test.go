package tfrecord

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/internal/numpytest"
	"github.com/bigconv/bigconv/internal/tfgen"
	"github.com/bigconv/bigconv/tensor"
)

func pattern(rec int, off int64) byte { return byte(off*7 + off>>9 + int64(rec)*29 + 3) }

func fillRec(rec int, off int64, p []byte) {
	for i := range p {
		p[i] = pattern(rec, off+int64(i))
	}
}

// stacked is the expected tensor bytes of n records of rowBytes each.
func stacked(n int, rowBytes int64) []byte {
	b := make([]byte, int64(n)*rowBytes)
	for i := range n {
		fillRec(i, 0, b[int64(i)*rowBytes:int64(i+1)*rowBytes])
	}
	return b
}

func tensorRecords(t testing.TB, comp string, n int, dt dtype.DType, row dtype.Shape) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := tfgen.WriteTensorRecords(&buf, comp, n, dt, row, fillRec); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readAt(t testing.TB, r io.ReaderAt, n int64) []byte {
	t.Helper()
	b := make([]byte, n)
	k, err := r.ReadAt(b, 0)
	if int64(k) != n || (err != nil && err != io.EOF) {
		t.Fatalf("ReadAt: %d of %d bytes: %v", k, n, err)
	}
	return b
}

func openBytes(t testing.TB, b []byte, name string, opt format.Options) (*tensor.Tensor, error) {
	t.Helper()
	f, err := format.Lookup("tfrecord")
	if err != nil {
		t.Fatal(err)
	}
	in, err := f.Open(format.Source{R: bytes.NewReader(b), Size: int64(len(b)), Name: name}, opt)
	if err != nil {
		return nil, err
	}
	return in.Tensors[0], nil
}

// readTensor reads a tensor's bytes, from Data or Stream.
func readTensor(t testing.TB, tt *tensor.Tensor) ([]byte, error) {
	t.Helper()
	if tt.Stream != nil {
		return io.ReadAll(tt.Stream)
	}
	n, err := tt.NumBytes()
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	k, err := tt.Data.ReadAt(b, 0)
	if err == io.EOF && int64(k) == n {
		err = nil
	}
	return b[:k], err
}

func TestRoundTripTensors(t *testing.T) {
	row := dtype.Shape{3, 5}
	for _, ty := range dtype.Types() {
		dt := dtype.Of(ty)
		for _, comp := range []string{"", "gzip", "zlib"} {
			t.Run(fmt.Sprintf("%v/comp=%s", ty, comp), func(t *testing.T) {
				const n = 7
				b := tensorRecords(t, comp, n, dt, row)
				tt, err := openBytes(t, b, "x.tfrecord", format.Options{Compression: comp})
				if err != nil {
					t.Fatal(err)
				}
				wantShape := dtype.Shape{n, 3, 5}
				if comp != "" {
					wantShape[0] = 0
					if tt.Stream == nil || tt.Data != nil {
						t.Fatal("compressed input must give a Stream")
					}
				}
				if !tt.DType.Equal(dt) || !tt.Shape.Equal(wantShape) {
					t.Fatalf("got %v %v, want %v %v", tt.DType, tt.Shape, dt, wantShape)
				}
				got, err := readTensor(t, tt)
				if err != nil {
					t.Fatal(err)
				}
				if want := stacked(n, 15*int64(dt.Size())); !bytes.Equal(got, want) {
					t.Fatalf("data differs (%d vs %d bytes)", len(got), len(want))
				}
			})
		}
	}
}

func TestScalarRecordsAndOneRecord(t *testing.T) {
	b := tensorRecords(t, "", 5, dtype.Of(dtype.Int64), dtype.Shape{})
	tt, err := Open(bytes.NewReader(b), int64(len(b)), "s.tfrecord", "")
	if err != nil {
		t.Fatal(err)
	}
	if !tt.Shape.Equal(dtype.Shape{5}) || !bytes.Equal(readAt(t, tt.Data, 40), stacked(5, 8)) {
		t.Fatalf("scalars: %v", tt.Shape)
	}
	b = tensorRecords(t, "", 1, dtype.Of(dtype.Float32), dtype.Shape{4})
	tt, err = Open(bytes.NewReader(b), int64(len(b)), "one.tfrecord", "")
	if err != nil {
		t.Fatal(err)
	}
	if !tt.Contiguous || tt.Offset != int64(len(b))-4-16 {
		t.Errorf("one record: Contiguous %v Offset %d", tt.Contiguous, tt.Offset)
	}
}

// TestLargeStack stacks more than 16 MiB and reads it concurrently at
// record-straddling offsets.
func TestLargeStack(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "big.tfrecord")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	const n = 18
	row := dtype.Shape{256, 1024} // 1 MiB of float32 per record
	if err := tfgen.WriteTensorRecords(f, "", n, dtype.Of(dtype.Float32), row, fillRec); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	f, err = os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	tt, err := Open(f, st.Size(), path, "")
	if err != nil {
		t.Fatal(err)
	}
	rowBytes := int64(1 << 20)
	if !tt.Shape.Equal(dtype.Shape{n, 256, 1024}) {
		t.Fatalf("shape %v", tt.Shape)
	}
	want := stacked(n, rowBytes)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := make([]byte, 3*rowBytes/2+int64(g)*4097)
			for off := int64(g) * 12345; off < int64(len(want)); off += int64(len(p)) {
				k, err := tt.Data.ReadAt(p, off)
				if err != nil && err != io.EOF {
					errs <- err
					return
				}
				if !bytes.Equal(p[:k], want[off:off+int64(k)]) {
					errs <- fmt.Errorf("goroutine %d: bytes at %d differ", g, off)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// the same file gzip-compressed, read as a stream
	var gz bytes.Buffer
	if err := tfgen.WriteTensorRecords(&gz, "gzip", n, dtype.Of(dtype.Float32), row, fillRec); err != nil {
		t.Fatal(err)
	}
	ts, err := openBytes(t, gz.Bytes(), "big.tfrecord.gz", format.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := readTensor(t, ts)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("gzip stream: %v (%d bytes)", err, len(got))
	}
}

func examples(n, k int, unpacked bool) func(rec int) []tfgen.Feature {
	return func(rec int) []tfgen.Feature {
		fl := make([]float32, k)
		in := make([]int64, k)
		bs := make([][]byte, k)
		for j := range k {
			fl[j] = float32(rec) + float32(j)/8
			in[j] = int64(rec*1000+j) - 500 // negatives too
			bs[j] = bytes.Repeat([]byte{'a' + byte(j)}, (rec+j)%4)
		}
		return []tfgen.Feature{
			{Name: "label", Int64s: []int64{int64(rec)}},
			{Name: "x", Floats: fl, Unpacked: unpacked},
			{Name: "ids", Int64s: in, Unpacked: unpacked},
			{Name: "words", Bytes: bs},
		}
	}
}

func TestFeatures(t *testing.T) {
	const n, k = 9, 5
	for _, unpacked := range []bool{false, true} {
		for _, comp := range []string{"", "gzip"} {
			var buf bytes.Buffer
			if err := tfgen.WriteExamples(&buf, comp, n, examples(n, k, unpacked)); err != nil {
				t.Fatal(err)
			}
			for _, feat := range []string{"x", "ids", "words"} {
				t.Run(fmt.Sprintf("%s/comp=%s/unpacked=%v", feat, comp, unpacked), func(t *testing.T) {
					tt, err := openBytes(t, buf.Bytes(), "e.tfrecord", format.Options{Feature: feat, Compression: comp})
					if feat == "words" && comp != "" {
						if !errors.Is(err, tensor.ErrUnsupported) {
							t.Fatalf("bytes_list in a stream: %v", err)
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					var want []byte
					for rec := range n {
						for _, f := range examples(n, k, unpacked)(rec) {
							if f.Name != feat {
								continue
							}
							for _, v := range f.Floats {
								want = binary.LittleEndian.AppendUint32(want, math.Float32bits(v))
							}
							for _, v := range f.Int64s {
								want = binary.LittleEndian.AppendUint64(want, uint64(v))
							}
							for _, v := range f.Bytes {
								want = append(want, v...)
								want = append(want, make([]byte, 3-len(v))...)
							}
						}
					}
					if feat == "words" && tt.DType.Descr() != "|S3" {
						t.Fatalf("dtype %v", tt.DType)
					}
					if tt.Name != feat || tt.Shape[1] != k {
						t.Fatalf("name %q shape %v", tt.Name, tt.Shape)
					}
					got, err := readTensor(t, tt)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("got %x\nwant %x", got, want)
					}
				})
			}
		}
	}
}

func TestFeatureErrors(t *testing.T) {
	var buf bytes.Buffer
	err := tfgen.WriteExamples(&buf, "", 6, func(rec int) []tfgen.Feature {
		f := []tfgen.Feature{{Name: "a", Floats: []float32{1, 2}}}
		if rec == 4 {
			f[0].Floats = f[0].Floats[:1]
		}
		if rec != 5 {
			f = append(f, tfgen.Feature{Name: "b", Int64s: []int64{1}})
		}
		return f
	})
	if err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	for _, c := range []struct{ feat, want string }{
		{"a", "record 4 "}, {"b", "record 5 "}, {"zz", "no feature \"zz\" (it has a, b)"},
	} {
		_, err := Open(bytes.NewReader(b), int64(len(b)), "e.tfrecord", c.feat)
		if !errors.Is(err, tensor.ErrUnsupported) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("feature %s: got %v, want ErrUnsupported with %q", c.feat, err, c.want)
		}
	}
	// Example records without --feature: a NotTensorsError naming the features
	_, err = Open(bytes.NewReader(b), int64(len(b)), "e.tfrecord", "")
	var nt *NotTensorsError
	if !errors.As(err, &nt) || nt.Records != 6 || !errors.Is(err, tensor.ErrUnsupported) || len(nt.Features) != 2 {
		t.Fatalf("got %v", err)
	}
}

func TestBroken(t *testing.T) {
	good := tensorRecords(t, "", 4, dtype.Of(dtype.Int32), dtype.Shape{10})
	recLen := len(good) / 4
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x10
		return b
	}
	type tc struct {
		name string
		b    []byte
		want error
		msg  string
	}
	cases := []tc{
		{"header-len", flip(2*recLen + 1), tensor.ErrChecksum, "record 2"},
		{"header-crc", flip(3*recLen + 9), tensor.ErrChecksum, "record 3"},
		{"data", flip(recLen + 20), tensor.ErrChecksum, "record 1"},
		{"footer", flip(recLen - 2), tensor.ErrChecksum, "record 0"},
		{"huge-length", func() []byte {
			b := bytes.Clone(good)
			binary.LittleEndian.PutUint64(b[recLen:], 1<<40)
			binary.LittleEndian.PutUint32(b[recLen+8:], maskedCRC(b[recLen:recLen+8]))
			return b
		}(), tensor.ErrCorrupt, "record 1"},
	}
	for _, cut := range []int{1, 11, 12, 13, recLen - 1, recLen + 5, 3*recLen + 30, len(good) - 1} {
		cases = append(cases, tc{fmt.Sprintf("cut=%d", cut), good[:cut], tensor.ErrCorrupt, "record " + fmt.Sprint(cut/recLen)})
	}
	// a record whose shape disagrees
	other := tensorRecords(t, "", 1, dtype.Of(dtype.Int32), dtype.Shape{11})
	cases = append(cases, tc{"shape", append(bytes.Clone(good[:3*recLen]), other...), tensor.ErrUnsupported, "record 3 at offset " + fmt.Sprint(3*recLen)})
	other = tensorRecords(t, "", 1, dtype.Of(dtype.Int64), dtype.Shape{10})
	cases = append(cases, tc{"dtype", append(bytes.Clone(good[:recLen]), other...), tensor.ErrUnsupported, "record 1"})

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			check := func(mode string, err error) {
				t.Helper()
				want := c.want
				if mode == "stream" && c.name == "huge-length" {
					want = tensor.ErrUnsupported // over MaxStreamRecord
				}
				if !errors.Is(err, want) || !strings.Contains(err.Error(), c.msg) || !strings.HasPrefix(err.Error(), "tfrecord: ") {
					t.Errorf("%s: got %v, want %v naming %q", mode, err, c.want, c.msg)
				}
			}
			_, err := Open(bytes.NewReader(c.b), int64(len(c.b)), "b.tfrecord", "")
			check("Open", err)
			// the same bytes as a stream: the error comes from OpenStream or Read
			tt, err := OpenStream(bytes.NewReader(c.b), "b.tfrecord", "")
			if err == nil {
				_, err = io.ReadAll(tt.Stream)
			}
			if c.name == "cut=1" || c.name == "cut=11" { // no whole first record
				if !errors.Is(err, tensor.ErrCorrupt) {
					t.Errorf("stream: %v", err)
				}
				return
			}
			check("stream", err)
		})
	}
}

func maskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))
	return ((c >> 15) | (c << 17)) + 0xa282ead8
}

func TestTypedValsRefused(t *testing.T) {
	v, _ := tfgen.TensorProtoVals(dtype.Of(dtype.Float32), dtype.Shape{3}, []byte{0, 0, 128, 63}, true)
	var buf bytes.Buffer
	rw, _ := tfgen.NewRecordWriter(&buf, "")
	rw.Write(v)
	_, err := Open(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "v.tfrecord", "")
	if !errors.Is(err, tensor.ErrUnsupported) || !strings.Contains(err.Error(), "float_val") {
		t.Fatalf("got %v", err)
	}
}

func TestEmpty(t *testing.T) {
	if _, err := Open(bytes.NewReader(nil), 0, "e.tfrecord", ""); !errors.Is(err, tensor.ErrUnsupported) {
		t.Fatalf("got %v", err)
	}
	if _, err := OpenStream(bytes.NewReader(nil), "-", ""); !errors.Is(err, tensor.ErrUnsupported) {
		t.Fatalf("stream: %v", err)
	}
	if n, err := Count(bytes.NewReader(nil), 0); n != 0 || err != nil {
		t.Fatalf("Count: %d %v", n, err)
	}
}

func TestSniffAndCompression(t *testing.T) {
	b := tensorRecords(t, "", 1, dtype.Of(dtype.Int8), dtype.Shape{2})
	if !Sniff(b) || Sniff([]byte("\x93NUMPY\x01\x00v\x00{'descr'")) {
		t.Fatal("Sniff")
	}
	f, err := format.Detect(b, "events.out.tfevents.1.host")
	if err != nil || f.Name != "tfrecord" {
		t.Fatalf("Detect: %v %v", f.Name, err)
	}
	gz := tensorRecords(t, "gzip", 1, dtype.Of(dtype.Int8), dtype.Shape{2})
	zl := tensorRecords(t, "zlib", 1, dtype.Of(dtype.Int8), dtype.Shape{2})
	for _, c := range []struct {
		opt, name string
		head      []byte
		want      string
	}{
		{"", "a.tfrecord", b, ""}, {"", "a.tfrecord.gz", b, "gzip"}, {"", "x", gz, "gzip"},
		{"", "x", zl, "zlib"}, {"none", "a.gz", gz, ""}, {"ZLIB", "a", b, "zlib"},
	} {
		if got, err := Compression(c.opt, c.name, c.head); got != c.want || err != nil {
			t.Errorf("Compression(%q, %q) = %q, %v; want %q", c.opt, c.name, got, err, c.want)
		}
	}
	// a gzip file with a name that says nothing, as a ReaderAt and as stdin
	tt, err := openBytes(t, gz, "data-00000-of-00001", format.Options{})
	if err != nil || tt.Stream == nil {
		t.Fatalf("gzip by magic: %v", err)
	}
	fm, _ := format.Lookup("tfrecord")
	in, err := fm.Open(format.Source{Stream: bytes.NewReader(zl), Name: "-"}, format.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(in.Tensors[0].Stream); !bytes.Equal(got, stacked(1, 2)) {
		t.Fatalf("stdin zlib: %x", got)
	}
}

// --- real files ---

func real(t *testing.T, parts ...string) []byte {
	t.Helper()
	dir := numpytest.SharedDir(t)
	b, err := os.ReadFile(filepath.Join(append([]string{dir}, parts...)...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	rustExpected = "tensorflow+rust/test_resources/io/expected.tfrecord"
	penguin      = "tensorflow+tfx/tfx/components/testdata/penguin/data/Split-eval/data_tfrecord-00000-of-00001.gz"
	pagesGz      = "tensorflow+tfx/tfx/examples/tfjs_next_page_prediction/data/data.tfrecord.gz"
	evalEvents   = "tensorflow+tfx/tfx/components/testdata/trainer/current/Format-Serving/eval_chicago-taxi-eval/events.out.tfevents.1646034751.jiyongjung.c.googlers.com"
	trainEvents  = "tensorflow+tfx/tfx/components/testdata/trainer/current/Format-Serving/events.out.tfevents.1646034739.jiyongjung.c.googlers.com"
	statsRecord  = "tensorflow+tfx/tfx/components/testdata/statistics_gen/train/stats_tfrecord"
)

func TestRealExpected(t *testing.T) {
	b := real(t, rustExpected)
	if len(b) != 35 || !Sniff(b) {
		t.Fatalf("%d bytes, Sniff %v", len(b), Sniff(b))
	}
	if got := binary.LittleEndian.Uint32(b[8:]); got != 0x1b32910c {
		t.Errorf("header CRC %#x", got)
	}
	rr := NewReader(bytes.NewReader(b), "expected.tfrecord")
	rec, err := rr.Next()
	if err != nil || string(rec) != "The Quick Brown Fox" {
		t.Fatalf("record %q, %v", rec, err)
	}
	if _, err := rr.Next(); err != io.EOF {
		t.Fatalf("second Next: %v", err)
	}
	var seen []Record
	if err := Walk(bytes.NewReader(b), int64(len(b)), "", func(r Record, ra io.ReaderAt) error {
		seen = append(seen, r)
		return nil
	}); err != nil || len(seen) != 1 || seen[0] != (Record{0, 0, 19}) {
		t.Fatalf("Walk: %v %v", seen, err)
	}
	// and our writer writes the same bytes, as the tensorflow/rust test checks
	var buf bytes.Buffer
	rw, _ := tfgen.NewRecordWriter(&buf, "")
	rw.Write([]byte("The Quick Brown Fox"))
	if !bytes.Equal(buf.Bytes(), b) {
		t.Errorf("writer output differs from expected.tfrecord")
	}
	_, err = Open(bytes.NewReader(b), int64(len(b)), "expected.tfrecord", "")
	var nt *NotTensorsError
	if !errors.As(err, &nt) || nt.Records != 1 {
		t.Fatalf("Open: %v", err)
	}
}

// decodeExamples decodes every record of an uncompressed TFRecord as
// tf.train.Example with protowire alone — an independent check of the
// reader — returning feature → list of values per record.
func decodeExamples(t *testing.T, b []byte) []map[string][]float64 {
	t.Helper()
	var out []map[string][]float64
	for len(b) > 0 {
		n := binary.LittleEndian.Uint64(b)
		rec := b[12 : 12+n]
		b = b[16+n:]
		m := map[string][]float64{}
		forEach := func(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64)) {
			for len(b) > 0 {
				num, typ, k := protowire.ConsumeTag(b)
				b = b[k:]
				var v []byte
				var x uint64
				switch typ {
				case protowire.BytesType:
					v, k = protowire.ConsumeBytes(b)
				case protowire.VarintType:
					x, k = protowire.ConsumeVarint(b)
				case protowire.Fixed32Type:
					var y uint32
					y, k = protowire.ConsumeFixed32(b)
					x = uint64(y)
				default:
					k = protowire.ConsumeFieldValue(num, typ, b)
				}
				if k < 0 {
					t.Fatal("bad proto")
				}
				b = b[k:]
				fn(num, typ, v, x)
			}
		}
		forEach(rec, func(_ protowire.Number, _ protowire.Type, feats []byte, _ uint64) {
			forEach(feats, func(_ protowire.Number, _ protowire.Type, entry []byte, _ uint64) {
				var key string
				var vals []float64
				forEach(entry, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) {
					if num == 1 {
						key = string(v)
						return
					}
					forEach(v, func(kind protowire.Number, _ protowire.Type, list []byte, _ uint64) {
						forEach(list, func(_ protowire.Number, typ protowire.Type, p []byte, x uint64) {
							switch {
							case kind == 2 && typ == protowire.BytesType:
								for i := 0; i+4 <= len(p); i += 4 {
									vals = append(vals, float64(math.Float32frombits(binary.LittleEndian.Uint32(p[i:]))))
								}
							case kind == 3 && typ == protowire.BytesType:
								for len(p) > 0 {
									y, k := protowire.ConsumeVarint(p)
									vals = append(vals, float64(int64(y)))
									p = p[k:]
								}
							case kind == 3:
								vals = append(vals, float64(int64(x)))
							case kind == 2:
								vals = append(vals, float64(math.Float32frombits(uint32(x))))
							}
						})
					})
				})
				m[key] = vals
			})
		})
		out = append(out, m)
	}
	return out
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	z, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(z)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestRealPenguin(t *testing.T) {
	gz := real(t, penguin)
	raw := gunzip(t, gz)
	indep := decodeExamples(t, raw)
	if len(indep) != 100 {
		t.Fatalf("independent decode: %d records", len(indep))
	}
	for _, c := range []struct {
		feat     string
		lo, hi   float64
		wantType dtype.Type
	}{
		// the tfx penguin data is min-max scaled to [0, 1]
		{"culmen_length_mm", 0, 1, dtype.Float32},
		{"culmen_depth_mm", 0, 1, dtype.Float32},
		{"species", 0, 2, dtype.Int64},
	} {
		t.Run(c.feat, func(t *testing.T) {
			// the gzip file as registered format sees it (a stream), and
			// the decompressed bytes (indexed)
			for _, src := range []struct {
				name string
				b    []byte
			}{{"data_tfrecord-00000-of-00001.gz", gz}, {"data.tfrecord", raw}} {
				tt, err := openBytes(t, src.b, src.name, format.Options{Feature: c.feat})
				if err != nil {
					t.Fatal(err)
				}
				if tt.DType.Type != c.wantType || tt.Shape[1] != 1 {
					t.Fatalf("%s: %v %v", src.name, tt.DType, tt.Shape)
				}
				data, err := readTensor(t, tt)
				if err != nil {
					t.Fatal(err)
				}
				isz := tt.DType.Size()
				if len(data)/isz != 100 {
					t.Fatalf("%s: %d values, want 100", src.name, len(data)/isz)
				}
				for i := range 100 {
					var v float64
					if isz == 4 {
						v = float64(math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:])))
					} else {
						v = float64(int64(binary.LittleEndian.Uint64(data[8*i:])))
					}
					if v < c.lo || v > c.hi {
						t.Errorf("record %d: %s = %v, implausible", i, c.feat, v)
					}
					if want := indep[i][c.feat]; len(want) != 1 || want[0] != v {
						t.Errorf("record %d: %v, independent decode %v", i, v, want)
					}
				}
			}
		})
	}
	_, err := openBytes(t, gz, "data_tfrecord-00000-of-00001.gz", format.Options{})
	var nt *NotTensorsError
	if !errors.As(err, &nt) || nt.Records != 100 || !strings.Contains(err.Error(), "species") {
		t.Fatalf("without --feature: %v", err)
	}
}

func TestRealPages(t *testing.T) {
	gz := real(t, pagesGz)
	tt, err := openBytes(t, gz, "data.tfrecord.gz", format.Options{Feature: "session_index"})
	if err != nil {
		t.Fatal(err)
	}
	data, err := readTensor(t, tt)
	if err != nil || len(data) != 800 {
		t.Fatalf("%d bytes, %v", len(data), err)
	}
	// bytes_list features need the decompressed, seekable file
	raw := gunzip(t, gz)
	tt, err = Open(bytes.NewReader(raw), int64(len(raw)), "data.tfrecord", "cur_page")
	if err != nil {
		t.Fatal(err)
	}
	if tt.DType.Type != dtype.Bytes || tt.Shape[0] != 100 {
		t.Fatalf("cur_page: %v %v", tt.DType, tt.Shape)
	}
	if _, err := readTensor(t, tt); err != nil {
		t.Fatal(err)
	}
}

func TestRealEvents(t *testing.T) {
	for _, c := range []struct {
		path string
		want int64
	}{{evalEvents, 7}, {trainEvents, -1}, {statsRecord, -1}} {
		b := real(t, c.path)
		n, err := Count(bytes.NewReader(b), int64(len(b)))
		if err != nil || n < 1 || (c.want > 0 && n != c.want) {
			t.Errorf("%s: Count %d, %v; want %d", filepath.Base(c.path), n, err, c.want)
		}
		if !Sniff(b) {
			t.Errorf("%s: Sniff false", filepath.Base(c.path))
		}
		_, err = Open(bytes.NewReader(b), int64(len(b)), filepath.Base(c.path), "")
		var nt *NotTensorsError
		if !errors.As(err, &nt) || nt.Records != n || !errors.Is(err, tensor.ErrUnsupported) {
			t.Errorf("%s: Open: %v", filepath.Base(c.path), err)
		}
		t.Logf("%s: %d records; %v", filepath.Base(c.path), n, err)
	}
}

// TestRowsCancelled: counting a compressed file's records stops between
// records when its context is done.
func TestRowsCancelled(t *testing.T) {
	gz := tensorRecords(t, "gzip", 1000, dtype.Of(dtype.Int8), dtype.Shape{2})
	tt, err := openBytes(t, gz, "a.tfrecord.gz", format.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rc, ok := tt.Stream.(interface {
		Rows(context.Context) (int64, error)
	})
	if !ok {
		t.Fatalf("the stream of a gzip file (%T) cannot count its rows", tt.Stream)
	}
	if n, err := rc.Rows(context.Background()); n != 1000 || err != nil {
		t.Fatalf("Rows = %d, %v; want 1000", n, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n, err := rc.Rows(ctx); n != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("Rows with a cancelled context = %d, %v; want 0, context.Canceled", n, err)
	}
}
