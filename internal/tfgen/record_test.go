package tfgen

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/crc32c"
)

// The framing tf.io.TFRecordWriter writes for "The Quick Brown Fox"
// (tensorflow/rust test_resources/io/expected.tfrecord).
func TestRecordWriterFraming(t *testing.T) {
	var buf bytes.Buffer
	rw, err := NewRecordWriter(&buf, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := rw.Write([]byte("The Quick Brown Fox")); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if len(b) != 35 || binary.LittleEndian.Uint64(b) != 19 || binary.LittleEndian.Uint32(b[8:]) != 0x1b32910c {
		t.Fatalf("header % x", b[:12])
	}
	if got := binary.LittleEndian.Uint32(b[31:]); crc32c.Unmask(got) != crc32c.Checksum(b[12:31]) {
		t.Fatalf("data crc %#x", got)
	}
	if err := rw.WriteFunc(3, func(w io.Writer) error { _, err := w.Write([]byte("ab")); return err }); err == nil {
		t.Fatal("short body not reported")
	}
}

func TestDeterministicAndCompressed(t *testing.T) {
	fill := func(rec int, off int64, p []byte) {
		for i := range p {
			p[i] = byte(rec + int(off) + i)
		}
	}
	gen := func(comp string) []byte {
		var buf bytes.Buffer
		if err := WriteTensorRecords(&buf, comp, 3, dtype.Of(dtype.Int16), dtype.Shape{2, 2}, fill); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	a, b := gen(""), gen("")
	if !bytes.Equal(a, b) {
		t.Fatal("output not deterministic")
	}
	z, err := gzip.NewReader(bytes.NewReader(gen("gzip")))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(z)
	if err != nil || !bytes.Equal(raw, a) {
		t.Fatalf("gzip payload differs: %v", err)
	}
	if _, err := NewRecordWriter(io.Discard, "snappy"); err == nil {
		t.Fatal("unknown compression accepted")
	}
}
