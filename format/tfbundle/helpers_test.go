package tfbundle

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/bigconv/bigconv/internal/crc32c"
	"github.com/bigconv/bigconv/tensor"
)

// openPath opens the bundle with the given .index path from disk; files
// are closed at the end of the test.
func openPath(t testing.TB, index string) (*Bundle, error) {
	t.Helper()
	f, err := os.Open(index)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(index)
	return Open(f, st.Size(), index, func(name string) (io.ReaderAt, int64, error) {
		g, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return nil, 0, err
		}
		t.Cleanup(func() { g.Close() })
		st, err := g.Stat()
		if err != nil {
			return nil, 0, err
		}
		return g, st.Size(), nil
	})
}

func mustOpen(t testing.TB, index string) *Bundle {
	t.Helper()
	b, err := openPath(t, index)
	if err != nil {
		t.Fatalf("Open(%s): %v", index, err)
	}
	return b
}

// readAll reads a tensor's whole Data stream in chunks of the given size
// and returns it with its CRC-32C (combined per chunk, as the engine does).
func readAll(t testing.TB, tt *tensor.Tensor, chunk int) ([]byte, uint32, error) {
	t.Helper()
	n, err := tt.NumBytes()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, n)
	var crc uint32
	for off := int64(0); off < n; off += int64(chunk) {
		p := out[off:min(n, off+int64(chunk))]
		m, err := tt.Data.ReadAt(p, off)
		if m != len(p) || (err != nil && !errors.Is(err, io.EOF)) {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return nil, 0, err
		}
		crc = crc32c.Combine(crc, crc32c.Checksum(p), int64(len(p)))
	}
	return out, crc, nil
}

func byName(b *Bundle) map[string]*tensor.Tensor {
	m := map[string]*tensor.Tensor{}
	for _, t := range b.Tensors() {
		m[t.Name] = t
	}
	return m
}

func isSentinel(err error) bool {
	return errors.Is(err, tensor.ErrCorrupt) || errors.Is(err, tensor.ErrChecksum) ||
		errors.Is(err, tensor.ErrFormat) || errors.Is(err, tensor.ErrUnsupported)
}

func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
