package onnx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/format"
)

// TestExternalSymlinks: external data reached through a symbolic link is
// read when the link's target stays inside the model's directory (or the
// directory of the model file the model's own link leads to, as in a
// Hugging Face cache), and refused with ErrEscape when it leads out.
func TestExternalSymlinks(t *testing.T) {
	data := make([]byte, 32)
	for i := range data {
		data[i] = byte(i * 7)
	}
	model := cat(vf(1, 8), bf(2, []byte("t")), bf(7, bf(5, ext("w.bin", "0", "32"))))
	subModel := cat(vf(1, 8), bf(2, []byte("t")), bf(7, bf(5, ext("sub/w.bin", "0", "32"))))
	write := func(t *testing.T, p string, b []byte) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(t *testing.T, target, p string) {
		t.Helper()
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name   string
		set    func(t *testing.T, root string) string // lays out files, returns the model's path
		escape bool
	}{
		{"plain file", func(t *testing.T, root string) string {
			write(t, filepath.Join(root, "m", "w.bin"), data)
			write(t, filepath.Join(root, "m", "model.onnx"), model)
			return filepath.Join(root, "m", "model.onnx")
		}, false},
		{"link inside, relative", func(t *testing.T, root string) string {
			write(t, filepath.Join(root, "m", "data", "real.bin"), data)
			link(t, filepath.Join("data", "real.bin"), filepath.Join(root, "m", "w.bin"))
			write(t, filepath.Join(root, "m", "model.onnx"), model)
			return filepath.Join(root, "m", "model.onnx")
		}, false},
		{"link inside, absolute, model dir itself a link", func(t *testing.T, root string) string {
			write(t, filepath.Join(root, "real", "real.bin"), data)
			write(t, filepath.Join(root, "real", "model.onnx"), model)
			link(t, filepath.Join(root, "real"), filepath.Join(root, "m"))
			link(t, filepath.Join(root, "real", "real.bin"), filepath.Join(root, "real", "w.bin"))
			return filepath.Join(root, "m", "model.onnx")
		}, false},
		{"hugging face cache", func(t *testing.T, root string) string {
			write(t, filepath.Join(root, "blobs", "aaa"), model)
			write(t, filepath.Join(root, "blobs", "bbb"), data)
			os.MkdirAll(filepath.Join(root, "snapshots", "rev"), 0o755)
			link(t, filepath.Join("..", "..", "blobs", "aaa"), filepath.Join(root, "snapshots", "rev", "model.onnx"))
			link(t, filepath.Join("..", "..", "blobs", "bbb"), filepath.Join(root, "snapshots", "rev", "w.bin"))
			return filepath.Join(root, "snapshots", "rev", "model.onnx")
		}, false},
		{"link out", func(t *testing.T, root string) string {
			write(t, filepath.Join(root, "secret.bin"), data)
			os.MkdirAll(filepath.Join(root, "m"), 0o755)
			link(t, filepath.Join("..", "secret.bin"), filepath.Join(root, "m", "w.bin"))
			write(t, filepath.Join(root, "m", "model.onnx"), model)
			return filepath.Join(root, "m", "model.onnx")
		}, true},
		{"link out, absolute", func(t *testing.T, root string) string {
			write(t, filepath.Join(root, "secret.bin"), data)
			os.MkdirAll(filepath.Join(root, "m"), 0o755)
			link(t, filepath.Join(root, "secret.bin"), filepath.Join(root, "m", "w.bin"))
			write(t, filepath.Join(root, "m", "model.onnx"), model)
			return filepath.Join(root, "m", "model.onnx")
		}, true},
		{"directory link out", func(t *testing.T, root string) string {
			write(t, filepath.Join(root, "other", "w.bin"), data)
			os.MkdirAll(filepath.Join(root, "m"), 0o755)
			link(t, filepath.Join("..", "other"), filepath.Join(root, "m", "sub"))
			write(t, filepath.Join(root, "m", "model.onnx"), subModel)
			return filepath.Join(root, "m", "model.onnx")
		}, true},
		{"model linked in, data beside the link only", func(t *testing.T, root string) string {
			// the model file's real directory holds no data; the data file
			// links out of both directories
			write(t, filepath.Join(root, "store", "model.onnx"), model)
			write(t, filepath.Join(root, "secret.bin"), data)
			os.MkdirAll(filepath.Join(root, "m"), 0o755)
			link(t, filepath.Join(root, "store", "model.onnx"), filepath.Join(root, "m", "model.onnx"))
			link(t, filepath.Join(root, "secret.bin"), filepath.Join(root, "m", "w.bin"))
			return filepath.Join(root, "m", "model.onnx")
		}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			path := c.set(t, root)
			in, err := openPath(t, path)
			if c.escape {
				if !errors.Is(err, ErrEscape) || !strings.Contains(err.Error(), "symbolic link") {
					t.Fatalf("want ErrEscape through a symbolic link, got %v", err)
				}
				t.Log(err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, in.Tensors[0]); !bytes.Equal(got, data) {
				t.Fatalf("read % x", got)
			}
			// the same by a path relative to the working directory (an
			// absolute link target is then compared with absolute paths)
			wd, err := os.Getwd()
			if err != nil {
				t.Fatal(err)
			}
			rel, err := filepath.Rel(wd, path)
			if err != nil {
				t.Fatal(err)
			}
			if in, err = openPath(t, rel); err != nil {
				t.Fatalf("by relative path %s: %v", rel, err)
			}
			if got := readAll(t, in.Tensors[0]); !bytes.Equal(got, data) {
				t.Fatalf("by relative path: read % x", got)
			}
		})
	}
}

// TestExternalUnresolvable: an external data file whose path does not
// resolve to a file in an allowed directory once opened — a link to an
// open descriptor of a deleted file or of a pipe (/proc/self/fd/N, which
// opens though it resolves nowhere) — is refused with ErrEscape, as is a
// file that is not the one its path resolves to (replaced between the
// check and the open).
func TestExternalUnresolvable(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	data := make([]byte, 32)
	model := cat(vf(1, 8), bf(2, []byte("t")), bf(7, bf(5, ext("w.bin", "0", "32"))))
	setup := func(t *testing.T) (root, m string) {
		root = t.TempDir()
		m = filepath.Join(root, "m")
		if err := os.MkdirAll(m, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(m, "model.onnx"), model, 0o644); err != nil {
			t.Fatal(err)
		}
		return root, m
	}
	refused := func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, ErrEscape) {
			t.Fatalf("want ErrEscape, got %v", err)
		}
		t.Log(err)
	}
	t.Run("deleted file by descriptor", func(t *testing.T) {
		root, m := setup(t)
		outside := filepath.Join(root, "secret.bin")
		if err := os.WriteFile(outside, data, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(outside)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		os.Remove(outside)
		if err := os.Symlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd()), filepath.Join(m, "w.bin")); err != nil {
			t.Fatal(err)
		}
		_, err = openPath(t, filepath.Join(m, "model.onnx"))
		refused(t, err)
	})
	t.Run("pipe by descriptor", func(t *testing.T) {
		_, m := setup(t)
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer pr.Close()
		defer pw.Close()
		pw.Write(data)
		if err := os.Symlink(fmt.Sprintf("/proc/self/fd/%d", pr.Fd()), filepath.Join(m, "w.bin")); err != nil {
			t.Fatal(err)
		}
		_, err = openPath(t, filepath.Join(m, "model.onnx"))
		refused(t, err)
	})
	t.Run("file replaced while opened", func(t *testing.T) {
		// the path names a file inside; the opener hands back another
		// (outside), as a swap between check and open would
		root, m := setup(t)
		if err := os.WriteFile(filepath.Join(m, "w.bin"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "secret.bin"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(m, "model.onnx")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		swapped := func(string) (io.ReaderAt, int64, error) {
			return dirSibling(t, root)("secret.bin")
		}
		_, err = Open(format.Source{R: bytes.NewReader(b), Size: int64(len(b)), Name: path, Sibling: swapped})
		refused(t, err)
	})
}
