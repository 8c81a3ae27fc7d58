package tfrecord

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/tfgen"
	"github.com/bigconv/bigconv/tensor"
)

var realDir = filepath.Join("..", "..", "shared", "testdata", "real")

func FuzzRecords(f *testing.F) {
	for _, ty := range []dtype.Type{dtype.Float32, dtype.Int8, dtype.Complex128} {
		f.Add(tensorRecords(f, "", 3, dtype.Of(ty), dtype.Shape{2}))
	}
	for _, unpacked := range []bool{false, true} {
		var buf bytes.Buffer
		tfgen.WriteExamples(&buf, "", 3, func(rec int) []tfgen.Feature {
			return []tfgen.Feature{
				{Name: "x", Floats: []float32{float32(rec), 2}, Unpacked: unpacked},
				{Name: "y", Int64s: []int64{int64(rec), -1}, Unpacked: unpacked},
				{Name: "z", Bytes: [][]byte{[]byte("ab")}},
			}
		})
		f.Add(buf.Bytes())
	}
	for _, p := range []string{
		"tensorflow+rust/test_resources/io/expected.tfrecord",
		"tensorflow+tfx/tfx/components/testdata/statistics_gen/train/stats_tfrecord",
		"tensorflow+tfx/tfx/components/testdata/trainer/current/Format-Serving/eval_chicago-taxi-eval/events.out.tfevents.1646034751.jiyongjung.c.googlers.com",
		"tensorflow+tfx/tfx/components/testdata/penguin/data/Split-eval/data_tfrecord-00000-of-00001.gz",
		"tensorflow+tfx/tfx/examples/tfjs_next_page_prediction/data/data.tfrecord.gz",
	} {
		b, err := os.ReadFile(filepath.Join(realDir, p))
		if err != nil {
			continue
		}
		if z, err := gzip.NewReader(bytes.NewReader(b)); err == nil {
			if raw, err := io.ReadAll(z); err == nil {
				b = raw
			}
		}
		f.Add(b[:min(len(b), 8192)])
	}
	sentinel := func(t *testing.T, err error) {
		t.Helper()
		if err != nil && err != io.EOF && !errors.Is(err, tensor.ErrFormat) && !errors.Is(err, tensor.ErrCorrupt) &&
			!errors.Is(err, tensor.ErrChecksum) && !errors.Is(err, tensor.ErrUnsupported) {
			t.Fatalf("error wraps no sentinel: %v", err)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		Sniff(b)
		r := bytes.NewReader(b)
		n, err := Count(r, r.Size())
		sentinel(t, err)
		for _, feat := range []string{"", "x", "y", "z"} {
			tt, err := Open(r, r.Size(), "f.tfrecord", feat)
			sentinel(t, err)
			if err == nil {
				if tt.Shape[0] != n {
					t.Fatalf("feature %q: %d rows, Count %d", feat, tt.Shape[0], n)
				}
				size, err := tt.NumBytes()
				if err != nil {
					t.Fatal(err)
				}
				p := make([]byte, min(size, 1<<16))
				k, err := tt.Data.ReadAt(p, 0)
				sentinel(t, err)
				if err == nil && k != len(p) {
					t.Fatalf("short read without error")
				}
			}
			ts, err := OpenStream(bytes.NewReader(b), "f.tfrecord", feat)
			sentinel(t, err)
			if err == nil {
				_, err := io.Copy(io.Discard, io.LimitReader(ts.Stream, 1<<20))
				sentinel(t, err)
			}
		}
	})
}

// FuzzRecordPayload fuzzes the contents of records inside valid framing
// (a mutated whole file rarely gets past the CRCs): three copies of the
// payload as a file and as a stream, in each mode. What Open accepts
// reads without error, and the stream of the same records yields the
// same bytes.
func FuzzRecordPayload(f *testing.F) {
	for _, ty := range []dtype.Type{dtype.Float32, dtype.Int8, dtype.Complex128} {
		var buf bytes.Buffer
		tfgen.WriteTensorProto(&buf, dtype.Of(ty), dtype.Shape{2, 3}, func(off int64, p []byte) { fillRec(1, off, p) })
		f.Add(buf.Bytes())
	}
	for _, unpacked := range []bool{false, true} {
		f.Add(tfgen.AppendExample(nil,
			tfgen.Feature{Name: "x", Floats: []float32{1, 2}, Unpacked: unpacked},
			tfgen.Feature{Name: "y", Int64s: []int64{3, -4}, Unpacked: unpacked},
			tfgen.Feature{Name: "z", Bytes: [][]byte{[]byte("ab"), nil}}))
	}
	if b, err := os.ReadFile(filepath.Join(realDir, "tensorflow+rust/test_resources/io/expected.tfrecord")); err == nil {
		r := NewReader(bytes.NewReader(b), "seed")
		for i := 0; i < 3; i++ {
			if rec, err := r.Next(); err == nil {
				f.Add(bytes.Clone(rec))
			}
		}
	}
	sentinel := func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, tensor.ErrFormat) && !errors.Is(err, tensor.ErrCorrupt) &&
			!errors.Is(err, tensor.ErrChecksum) && !errors.Is(err, tensor.ErrUnsupported) {
			t.Fatalf("error wraps no sentinel: %v", err)
		}
		if !strings.HasPrefix(err.Error(), "tfrecord: f.tfrecord") {
			t.Fatalf("error does not name the file: %v", err)
		}
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		file := frame(t, payload, payload, payload)
		for _, feat := range []string{"", "x", "y", "z"} {
			var fromFile []byte
			byteStrings := false // a bytes_list: refused from a stream
			tt, err := Open(bytes.NewReader(file), int64(len(file)), "f.tfrecord", feat)
			if err != nil {
				sentinel(t, err)
			} else {
				if tt.Shape[0] != 3 {
					t.Fatalf("feature %q: %d rows of 3 records", feat, tt.Shape[0])
				}
				byteStrings = tt.DType.Type == dtype.Bytes
				n, err := tt.NumBytes()
				if err != nil {
					t.Fatal(err)
				}
				if n > 1<<20 {
					continue
				}
				fromFile = make([]byte, n)
				for off := int64(0); off < n; off += 7 { // as the slicer reads: n == len(p) is success
					p := fromFile[off:min(n, off+7)]
					if k, err := tt.Data.ReadAt(p, off); k != len(p) {
						t.Fatalf("feature %q: ReadAt(%d): %d of %d bytes: %v", feat, off, k, len(p), err)
					}
				}
			}
			ts, err := OpenStream(bytes.NewReader(file), "f.tfrecord", feat)
			if err != nil {
				sentinel(t, err)
				if fromFile != nil && !byteStrings {
					t.Fatalf("feature %q: Open accepts what OpenStream refuses: %v", feat, err)
				}
				continue
			}
			fromStream, err := io.ReadAll(io.LimitReader(ts.Stream, 1<<21))
			if err != nil {
				sentinel(t, err)
			}
			if fromFile != nil && (err != nil || !bytes.Equal(fromFile, fromStream)) {
				t.Fatalf("feature %q: stream gives %d bytes (%v), file %d", feat, len(fromStream), err, len(fromFile))
			}
		}
	})
}
