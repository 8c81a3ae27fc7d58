package engine

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/mmapnpy"
	"github.com/bigconv/bigconv/tensor"
)

// fileF64Tensor is f64Tensor(n) held in a file of dir, 100 bytes in (so
// that neither the input nor the output offsets are aligned), as a
// format reader hands it: a plain copy of it is a file range.
func fileF64Tensor(t *testing.T, dir string, n int) *tensor.Tensor {
	t.Helper()
	tt, b := f64Tensor(n)
	inFile(t, filepath.Join(dir, "in.bin"), tt, b)
	return tt
}

// inFile writes b at byte 100 of a new file at path and makes tt's data
// that range of it, open until the test ends; it returns the file.
func inFile(t *testing.T, path string, tt *tensor.Tensor, b []byte) *os.File {
	t.Helper()
	if err := os.WriteFile(path, append(make([]byte, 100), b...), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	tt.Data, tt.Contiguous, tt.Offset = io.NewSectionReader(f, 100, int64(len(b))), true, 100
	return f
}

// sameFile fails unless the files at got and want hold the same bytes.
func sameFile(t *testing.T, got, want string) {
	t.Helper()
	g, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g, w) {
		t.Fatalf("%s (%d bytes) differs from %s (%d bytes)", got, len(g), want, len(w))
	}
}

// checkDirect fails unless a run that asked for direct writes made most
// of its output with them where dir's file system takes O_DIRECT, and
// none where it does not (or when it did not ask).
func checkDirect(t *testing.T, dir string, res Result, asked bool) {
	t.Helper()
	switch {
	case asked && mmapnpy.DirectWorks(dir):
		if res.DirectBytes < res.OutBytes/2 {
			t.Errorf("%d of %d output bytes written with O_DIRECT", res.DirectBytes, res.OutBytes)
		}
	case asked:
		t.Logf("%s does not take O_DIRECT: the run wrote through the page cache", dir)
		fallthrough
	default:
		if res.DirectBytes != 0 {
			t.Errorf("%d output bytes written with O_DIRECT, want none", res.DirectBytes)
		}
	}
}

// TestWriteDirect converts a cast, a plain copy of a file range (which
// direct writes read into memory instead of leaving to copy_file_range)
// and a Fortran-order gather with WriteDirect, each byte for byte as
// WritePwrite writes it, and resumes an interrupted direct run.
func TestWriteDirect(t *testing.T) {
	dir := t.TempDir()
	ft := fileF64Tensor(t, dir, 1<<20) // 8 MiB
	fortran := *ft
	fortran.Fortran, fortran.Contiguous = true, false
	for _, c := range []struct {
		name string
		t    *tensor.Tensor
		to   string
	}{{"cast", ft, "<f4"}, {"copy", ft, ""}, {"fortran", &fortran, ""}} {
		t.Run(c.name, func(t *testing.T) {
			opt := Options{BlockSize: 1 << 20, Workers: 3, CheckpointBytes: 1}
			if c.to != "" {
				opt.DType = dtype.MustParse(c.to)
			}
			want := filepath.Join(dir, "want.npy")
			opt.Write = WritePwrite
			if _, err := Convert(context.Background(), c.t, want, opt); err != nil {
				t.Fatal(err)
			}
			defer os.Remove(want)
			out := filepath.Join(dir, "o.npy")
			defer os.Remove(out)
			opt.Write = WriteDirect
			res, err := Convert(context.Background(), c.t, out, opt)
			if err != nil {
				t.Fatal(err)
			}
			sameFile(t, out, want)
			checkDirect(t, dir, res, true)
			os.Remove(out)

			interrupt(t, c.t, out, opt, 3)
			opt.Resume = true
			res, err = Convert(context.Background(), c.t, out, opt)
			if err != nil {
				t.Fatal(err)
			}
			if res.Resumed == 0 {
				t.Fatal("the direct run was not resumed")
			}
			sameFile(t, out, want)
		})
	}
}

// TestWriteAutoDirect: WriteAuto writes past the page cache exactly when
// the output reaches directFrom, synced or not (--no-sync).
func TestWriteAutoDirect(t *testing.T) {
	dir := t.TempDir()
	tt := fileF64Tensor(t, dir, 1<<20) // 8 MiB in, 4 MiB out as float32
	defer func(f func() int64) { directFrom = f }(directFrom)
	for _, c := range []struct {
		name   string
		from   int64
		opt    Options
		direct bool
	}{
		{"past the threshold", 4 << 20, Options{}, true},
		{"below it", 4<<20 + 1, Options{}, false},
		{"not synced", 4 << 20, Options{NoSync: true}, true},
		{"not synced, below it", 4<<20 + 1, Options{NoSync: true}, false},
		{"pwrite asked for", 1 << 20, Options{Write: WritePwrite}, false},
		{"mapped windows asked for", 1 << 20, Options{Write: WriteMapped}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			directFrom = func() int64 { return c.from }
			opt := c.opt
			opt.DType = dtype.MustParse("<f4")
			out := filepath.Join(dir, "o.npy")
			res, err := Convert(context.Background(), tt, out, opt)
			if err != nil {
				t.Fatal(err)
			}
			os.Remove(out)
			checkDirect(t, dir, res, c.direct)
		})
	}
	if n := dirtyLimit(); n <= 0 || n == 1<<63-1 {
		t.Errorf("dirtyLimit() = %d: this Linux's dirty limit could not be read", n)
	}
}

// TestStackDirect stacks file-backed inputs (copies and casts) with
// WriteDirect, byte for byte as WritePwrite does.
func TestStackDirect(t *testing.T) {
	dir := t.TempDir()
	a := fileF64Tensor(t, dir, 1<<18)
	b, _ := f64Tensor(1 << 18)
	for _, to := range []string{"", "<f4"} {
		opt := StackOptions{Join: JoinStack, Options: Options{BlockSize: 512 << 10, Workers: 3}}
		if to != "" {
			opt.DType = dtype.MustParse(to)
		}
		want := filepath.Join(dir, "want.npy")
		opt.Write = WritePwrite
		if _, err := Stack(context.Background(), []*tensor.Tensor{a, b, a}, want, opt); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "o.npy")
		opt.Write = WriteDirect
		res, err := Stack(context.Background(), []*tensor.Tensor{a, b, a}, out, opt)
		if err != nil {
			t.Fatal(err)
		}
		sameFile(t, out, want)
		checkDirect(t, dir, res, true)
		os.Remove(out)
		os.Remove(want)
	}
}

// TestConvertDirDirect: a directory output is one output to the
// threshold: two tensors below it, together past it, go direct.
func TestConvertDirDirect(t *testing.T) {
	dir := t.TempDir()
	defer func(f func() int64) { directFrom = f }(directFrom)
	directFrom = func() int64 { return 6 << 20 }
	in := &format.Input{Format: "mem", Collection: true, Path: "mem"}
	for _, name := range []string{"a", "b"} {
		tt := fileF64Tensor(t, t.TempDir(), 1<<19) // 4 MiB each
		tt.Name = name
		in.Tensors = append(in.Tensors, tt)
	}
	for _, c := range []struct {
		name   string
		opt    Options
		direct bool
	}{{"auto", Options{}, true}, {"pwrite", Options{Write: WritePwrite}, false}, {"no-sync", Options{NoSync: true}, true}} {
		t.Run(c.name, func(t *testing.T) {
			var results []Result
			out := filepath.Join(dir, c.name)
			_, err := ConvertDir(context.Background(), in, out, InputOptions{Options: c.opt, Event: func(e Event) {
				if e.Kind == Converted {
					results = append(results, e.Result)
				}
			}})
			if err != nil {
				t.Fatal(err)
			}
			if len(results) != 2 {
				t.Fatalf("%d tensors converted, want 2", len(results))
			}
			for _, res := range results {
				checkDirect(t, dir, res, c.direct)
			}
		})
	}
}
