package pytorch

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/internal/brokentest"
	"github.com/bigconv/bigconv/tensor"
)

// FuzzOpen opens whole files and reads the data of every tensor it
// accepts, as the engine would. Seeds: the broken table's good inputs and
// the gopickle fixtures (real torch.save files, both formats, protocols
// 1–5) of the shared test data, when present. The pickle machine's limits
// are lowered so that the fuzzer meets them, and data.pkl's zip CRC is not
// checked, so that mutated pickles reach the machine.
func FuzzOpen(f *testing.F) {
	f.Add(torchZip(goodPkl(), f32s(6)))
	f.Add(torchZip(proto2(dict(str("a"), rebuild(storageID("FloatStorage", "0", 6), 1, []int{2, 2}, []int{1, 2}),
		str("b"), tuple(rebuild(storageID("HalfStorage", "1", 4), 0, []int{3, 2}, []int{0, 1}), i32(3)))), f32s(6), f32s(2)))
	f.Add(torchZip(proto2(dict(str("perm"), rebuild(storageID("FloatStorage", "0", 24), 1, []int{2, 3, 3}, []int{1, 6, 2}),
		str("col"), rebuild(storageID("FloatStorage", "0", 24), 2, []int{4, 2}, []int{6, 3}))), f32s(24)))
	files, _ := filepath.Glob(filepath.Join("..", "..", "..", "shared", "testdata", "real", "nlpodyssey+gopickle", "pytorch", "testdata", "*.pt"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	defer func(m int64, e int, c bool) { MaxPickleMemory, MaxEntries, checkPickleCRC = m, e, c }(MaxPickleMemory, MaxEntries, checkPickleCRC)
	MaxPickleMemory, MaxEntries, checkPickleCRC = 4<<20, 4096, false
	f.Fuzz(func(t *testing.T, b []byte) {
		pf, err := Open(brokentest.EOFAtEnd(b), int64(len(b)), "f.pt")
		if err != nil {
			if !errors.Is(err, tensor.ErrFormat) && !errors.Is(err, tensor.ErrCorrupt) && !errors.Is(err, tensor.ErrUnsupported) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			if !strings.HasPrefix(err.Error(), "pytorch: f.pt: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, tt := range pf.Tensors {
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
			if tt.Contiguous || tt.Fortran {
				if tt.Offset < 0 || n > int64(len(b))-tt.Offset {
					t.Fatalf("%q: data [%d, +%d) outside the %d-byte file", tt.Name, tt.Offset, n, len(b))
				}
			}
			if n > 1<<20 {
				continue // a zero-stride expand may be large; reading it in 61-byte pieces only slows the fuzzer
			}
			if _, err := brokentest.ReadData(tt, 61); err != nil {
				t.Fatalf("%q: %v", tt.Name, err)
			}
		}
	})
}
