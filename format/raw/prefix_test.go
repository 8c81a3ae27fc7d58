package raw

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/tensor"
)

// TestPrefixThroughRegistry: opened through the format registry (as the
// CLI does), a shape smaller than the file converts the prefix and the
// Input carries the warning for stderr; a shape larger is still corrupt.
func TestPrefixThroughRegistry(t *testing.T) {
	f, err := format.Lookup("raw")
	if err != nil {
		t.Fatal(err)
	}
	file := make([]byte, 100)
	for i := range file {
		file[i] = byte(i)
	}
	src := format.Source{R: bytes.NewReader(file), Size: 100, Name: "dump.bin"}
	in, err := f.Open(src, format.Options{DType: dtype.MustParse("<i2"), Shape: dtype.Shape{3, 4}, Offset: 8})
	if err != nil {
		t.Fatal(err)
	}
	tt := in.Tensors[0]
	got := make([]byte, 24)
	if _, err := tt.Data.ReadAt(got, 0); err != nil || !bytes.Equal(got, file[8:32]) {
		t.Fatalf("data %v (%v), want bytes 8…31 of the file", got, err)
	}
	if len(in.Warnings) != 1 {
		t.Fatalf("warnings %q", in.Warnings)
	}
	w := in.Warnings[0]
	for _, s := range []string{"dump.bin", "(3, 4)", "uses only 24 of the 92 bytes from offset 8", "last 68 bytes"} {
		if !strings.Contains(w, s) {
			t.Errorf("warning %q lacks %q", w, s)
		}
	}
	if tt.Extra[ExtraUnused] != "68" {
		t.Errorf("Extra %v", tt.Extra)
	}

	in, err = f.Open(src, format.Options{DType: dtype.MustParse("<i2"), Shape: dtype.Shape{2, 23}, Offset: 8})
	if err != nil || len(in.Warnings) != 0 {
		t.Fatalf("exact fit: %v, warnings %q", err, in.Warnings)
	}
	_, err = f.Open(src, format.Options{DType: dtype.MustParse("<i2"), Shape: dtype.Shape{2, 24}, Offset: 8})
	if !errors.Is(err, tensor.ErrCorrupt) || !strings.Contains(err.Error(), "needs 96 bytes but the file has 92 bytes from offset 8") {
		t.Fatalf("shape past the end: %v", err)
	}
}
