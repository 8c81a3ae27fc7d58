package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format/npy/npyhdr"
	"github.com/bigconv/bigconv/internal/tfgen"
)

// TestInspectRowsSingle: single-input inspect --rows shows the shape
// convert --rows writes and fails where convert fails: a good range cuts
// the first axis; a scalar among other tensors is shown skipped (convert
// skips it), a lone scalar is refused as convert refuses it; a range a
// one-pass stream cannot take (a bound from the end of a gzip TFRecord)
// is an error, exit 1, as for convert.
func TestInspectRowsSingle(t *testing.T) {
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	writeNPY := func(name string, shape dtype.Shape) {
		t.Helper()
		h, err := npyhdr.Encode(dtype.Of(dtype.Float32), shape, false)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := shape.NumElements()
		if err := os.WriteFile(p(name), append(h, make([]byte, 4*n)...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeNPY("m.npy", dtype.Shape{10, 3})
	writeNPY("s.npy", dtype.Shape{})
	// safetensors: a scalar "s" and a matrix "m" [6, 2]
	h := []byte(`{"m":{"dtype":"F32","shape":[6,2],"data_offsets":[0,48]},"s":{"dtype":"F32","shape":[],"data_offsets":[48,52]}}`)
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	st := append(binary.LittleEndian.AppendUint64(nil, uint64(len(h))), h...)
	os.WriteFile(p("ms.safetensors"), append(st, make([]byte, 52)...), 0o644)
	writeGzipRecords(t, p("r.tfrecord.gz"))

	for _, c := range []struct {
		name, in, rows string
		ok             bool
		want           []string // in inspect's stdout (ok) or stderr
	}{
		{"good range", "m.npy", "2:-3", true, []string{"(5, 3)", "rows=2:7 of 10"}},
		{"scalar among others", "ms.safetensors", "1:3", true, []string{"(2, 2)", "rows=1:3 of 6", "not convertible: --rows 1:3: it has no rows (a scalar)"}},
		{"lone scalar", "s.npy", "1:3", false, []string{"a scalar (0-d tensor) has no rows"}},
		{"from the end of a stream", "r.tfrecord.gz", "-5:", false, []string{"bounds cannot count from the end"}},
		{"stream, good range", "r.tfrecord.gz", "2:4", true, []string{"rows=2:4"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := bigconv(t, "inspect", "--rows="+c.rows, p(c.in))
			out := p(strings.ReplaceAll(c.name, " ", "_")) // a directory for safetensors
			if !strings.Contains(c.in, "safetensors") {
				out += ".npy"
			}
			ccode, _, cerr := bigconv(t, "convert", "--progress", "never", "--rows="+c.rows, p(c.in), out)
			if ccode != code {
				t.Errorf("inspect exits %d, convert %d (%s)", code, ccode, cerr)
			}
			got := stdout
			if !c.ok {
				got = stderr
				if code != 1 {
					t.Fatalf("exit %d, want 1:\n%s%s", code, stdout, stderr)
				}
			} else if code != 0 {
				t.Fatalf("exit %d:\n%s", code, stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("%q not in:\n%s", w, got)
				}
			}
		})
	}
}

// TestInspectHelpReads: inspect's help says when it reads data — a
// TFRecord file is read through to index its records, and compressed
// TFRecords joined with --stack/--concat are decompressed whole to count
// theirs — and inspect --stack of gzip shards does count them.
func TestInspectHelpReads(t *testing.T) {
	code, help, _ := bigconv(t, "inspect", "-h")
	if code != 0 {
		t.Fatalf("inspect -h: exit %d", code)
	}
	text := strings.Join(strings.Fields(help), " ")
	for _, w := range []string{"TFRecord", "decompress", "count"} {
		if !strings.Contains(text, w) {
			t.Errorf("help does not say %q:\n%s", w, help)
		}
	}
	if strings.Contains(text, "size without reading data.") {
		t.Errorf("help still claims inspect never reads data:\n%s", help)
	}
	dir := t.TempDir()
	var shards []string
	for i := range 2 {
		p := filepath.Join(dir, "r"+string(rune('0'+i))+".tfrecord.gz")
		writeGzipRecords(t, p)
		shards = append(shards, p)
	}
	code, stdout, stderr := bigconv(t, append([]string{"inspect", "--concat"}, shards...)...)
	if code != 0 || !strings.Contains(stdout, "(14, 3)") {
		t.Fatalf("inspect --concat of two gzip shards of 7 records: exit %d, want shape (14, 3):\n%s%s", code, stdout, stderr)
	}
}

// writeGzipRecords writes a GZIP TFRecord file of 7 float32 [3] tensors.
func writeGzipRecords(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	err = tfgen.WriteTensorRecords(f, "gzip", 7, dtype.Of(dtype.Float32), dtype.Shape{3}, func(int, int64, []byte) {})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}
