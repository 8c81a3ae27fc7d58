package npz

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/internal/brokentest"
	"github.com/bigconv/bigconv/tensor"
)

// FuzzOpen opens whole archives and reads the data of every member it
// accepts, as the engine would (at most 1 MiB of a Stream). Seeds: the
// table's good archives, a Zip64 one, and the real .npz files of the
// shared test data, when present.
func FuzzOpen(f *testing.F) {
	f.Add(goodStored())
	f.Add(goodDeflated())
	f.Add(zip64Of(zmember{name: "a.npy", body: memA}))
	f.Add(zipOf(zmember{name: "x.npy", body: npyHeader("|O", "(4,)")}, zmember{name: "n.txt", body: []byte("x")}))
	filepath.WalkDir(filepath.Join("..", "..", "shared", "testdata", "real"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".npz") {
			if b, err := os.ReadFile(p); err == nil && len(b) <= 1<<16 {
				f.Add(b)
			}
		}
		return nil
	})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Open(bytes.NewReader(b), int64(len(b)), "f.npz")
		if err != nil {
			if !errors.Is(err, tensor.ErrFormat) && !errors.Is(err, tensor.ErrCorrupt) && !errors.Is(err, tensor.ErrUnsupported) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			if !strings.HasPrefix(err.Error(), "npz: f.npz: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, tt := range a.Tensors {
			if tt.Unsupported != "" {
				if tt.Data != nil || tt.Stream != nil {
					t.Fatal("unsupported member with data")
				}
				continue
			}
			n, err := tt.NumBytes()
			if err != nil {
				t.Fatalf("accepted with a bad size: %v", err)
			}
			if tt.Extra["compression"] == "" && (tt.Offset < 0 || n > int64(len(b))-tt.Offset) {
				t.Fatalf("stored data [%d, +%d) outside the %d-byte file", tt.Offset, n, len(b))
			}
			if tt.Stream != nil {
				tt.Stream = io.LimitReader(tt.Stream, 1<<20)
			}
			if _, err := brokentest.ReadData(tt, 61); err != nil {
				if tt.Extra["compression"] == "" && tt.Extra["member"] != "" && zipMethod(tt) == zip.Store {
					t.Fatalf("stored member %q: %v", tt.Name, err) // opened means readable
				}
				if !errors.Is(err, tensor.ErrCorrupt) && !errors.Is(err, tensor.ErrChecksum) {
					t.Fatalf("member %q: read error wraps no sentinel: %v", tt.Name, err)
				}
				if !strings.Contains(err.Error(), "npz: f.npz: ") {
					t.Fatalf("read error does not name the file: %v", err)
				}
			}
		}
	})
}

// zipMethod is how a member that opened is stored: deflated members say so
// in Extra.
func zipMethod(tt *tensor.Tensor) uint16 {
	if tt.Extra["compression"] == "deflate" {
		return zip.Deflate
	}
	return zip.Store
}
