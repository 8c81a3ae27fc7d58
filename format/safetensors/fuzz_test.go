package safetensors

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/internal/brokentest"
	"github.com/bigconv/bigconv/tensor"
)

// FuzzOpen opens whole files and reads the data of every tensor it
// accepts, as the engine would. Seeds: the table's good files and the
// real samples of the shared test data, when present.
func FuzzOpen(f *testing.F) {
	f.Add(build(goodHeader, goodData))
	f.Add(build(`{}`, nil))
	f.Add(build(one(`"F4"`, "[4]", "[0,2]"), goodData[:2]))
	f.Add(build(`{"b":{"dtype":"BF16","shape":[1,2],"data_offsets":[4,8]},"a":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}`, goodData[:8]))
	files, _ := filepath.Glob(filepath.Join("..", "..", "shared", "testdata", "real", "huggingface+safetensors", "samples", "*.safetensors"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sf, err := Open(bytes.NewReader(b), int64(len(b)), "f.safetensors")
		if err != nil {
			if !errors.Is(err, tensor.ErrFormat) && !errors.Is(err, tensor.ErrCorrupt) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			if !strings.HasPrefix(err.Error(), "safetensors: f.safetensors: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		end := sf.DataOffset
		for _, tt := range sf.Tensors {
			if tt.Unsupported != "" {
				if tt.Data != nil {
					t.Fatal("unsupported tensor with Data")
				}
				continue
			}
			n, err := tt.NumBytes()
			if err != nil {
				t.Fatalf("accepted with a bad size: %v", err)
			}
			if tt.Offset < end && n > 0 {
				t.Fatalf("tensor %q at %d overlaps data ending at %d", tt.Name, tt.Offset, end)
			}
			if tt.Offset < sf.DataOffset || n > int64(len(b))-tt.Offset {
				t.Fatalf("data [%d, +%d) outside the %d-byte file", tt.Offset, n, len(b))
			}
			end = tt.Offset + n
			if _, err := brokentest.ReadData(tt, 61); err != nil {
				t.Fatal(err)
			}
		}
	})
}
