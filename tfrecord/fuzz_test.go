package tfrecord

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
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
