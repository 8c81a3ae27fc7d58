package readat

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

func mapped(r io.ReaderAt) bool { _, ok := r.(*Mapping); return ok }

func tempFile(t *testing.T, data []byte) *os.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f.bin")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestModesReadAlike: pread and the mapping return the same bytes, counts
// and end-of-file errors as os.File.ReadAt, at random offsets and lengths
// and across the end of the file.
func TestModesReadAlike(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	data := make([]byte, 100_003)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	f := tempFile(t, data)
	for _, mode := range []Mode{Pread, Map, Auto} {
		t.Run("mode="+mode.String(), func(t *testing.T) {
			r, c, err := Open(f, mode)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if want := mode != Pread; mapped(r) != want {
				t.Fatalf("mapped = %v, want %v", mapped(r), want)
			}
			if !mapped(r) && r != io.ReaderAt(f) {
				t.Fatal("pread reader is not the *os.File itself")
			}
			for i := 0; i < 2000; i++ {
				off := int64(rng.IntN(len(data) + 10))
				n := rng.IntN(5000)
				got, want := make([]byte, n), make([]byte, n)
				gn, gerr := r.ReadAt(got, off)
				wn, werr := f.ReadAt(want, off)
				if gn != wn || !bytes.Equal(got[:gn], want[:wn]) || (gerr == nil) != (werr == nil) || errors.Is(gerr, io.EOF) != errors.Is(werr, io.EOF) {
					t.Fatalf("ReadAt(%d bytes, %d) = %d, %v; os.File gives %d, %v", n, off, gn, gerr, wn, werr)
				}
			}
			if _, err := r.ReadAt(make([]byte, 1), -1); err == nil {
				t.Fatal("negative offset read without error")
			}
		})
	}
}

// TestAutoMapsOnlySmallFiles: Auto maps up to MapLimit and preads above.
func TestAutoMapsOnlySmallFiles(t *testing.T) {
	for _, size := range []int64{1, MapLimit, MapLimit + 1} {
		f := tempFile(t, nil)
		g, err := os.OpenFile(f.Name(), os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Truncate(size); err != nil { // sparse
			t.Fatal(err)
		}
		g.Close()
		r, c, err := Open(f, Auto)
		if err != nil {
			t.Fatal(err)
		}
		if want := size <= MapLimit; mapped(r) != want {
			t.Errorf("size %d: mapped = %v, want %v", size, mapped(r), want)
		}
		c.Close()
	}
	// an empty file is read with pread (nothing to map)
	r, _, err := Open(tempFile(t, nil), Auto)
	if err != nil {
		t.Fatal(err)
	}
	if mapped(r) {
		t.Error("empty file mapped")
	}
	if n, err := r.ReadAt(make([]byte, 4), 0); n != 0 || err != io.EOF {
		t.Errorf("empty file: %d, %v", n, err)
	}
}

// TestTruncatedUnderMapping: a file cut short after it was mapped gives
// an error for the pages that no longer exist, not a crash.
func TestTruncatedUnderMapping(t *testing.T) {
	f := tempFile(t, bytes.Repeat([]byte{7}, 64<<10))
	r, c, err := Open(f, Map)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := os.Truncate(f.Name(), 4096); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadAt(make([]byte, 4096), 0); err != nil {
		t.Fatalf("first page: %v", err)
	}
	_, err = r.ReadAt(make([]byte, 4096), 32<<10)
	if err == nil {
		t.Fatal("read past the truncated end without error")
	}
	t.Log(err)
}

func TestFor(t *testing.T) {
	for name, want := range map[string]Mode{"tfrecord": Auto, "tfbundle": Auto, "npy": Pread, "npz": Pread,
		"raw": Pread, "safetensors": Pread, "tensorproto": Pread, "": Pread} {
		if got := For(name); got != want {
			t.Errorf("For(%q) = %v, want %v", name, got, want)
		}
	}
}
