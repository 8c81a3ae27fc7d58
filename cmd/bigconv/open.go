package main

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/tensor"

	// input formats register themselves
	_ "github.com/bigconv/bigconv/format/npy"
	_ "github.com/bigconv/bigconv/format/npz"
	_ "github.com/bigconv/bigconv/format/pytorch"
	_ "github.com/bigconv/bigconv/format/raw"
	_ "github.com/bigconv/bigconv/format/safetensors"
	_ "github.com/bigconv/bigconv/format/tensorproto"
	_ "github.com/bigconv/bigconv/format/tfbundle"
	_ "github.com/bigconv/bigconv/format/tfrecord"
)

// input is an opened input and the files to close when done.
type input struct {
	*format.Input
	path    string
	closers []io.Closer
	files   []*os.File // the files read, for identity
}

// identity describes the input files as a resumed run must find them
// again: for each, its name, size, modification time and the sha256 of
// its first 64 KiB (where the headers are).
func (in *input) identity() string {
	var parts []string
	for _, f := range in.files {
		st, err := f.Stat()
		if err != nil {
			parts = append(parts, filepath.Base(f.Name())+": "+err.Error())
			continue
		}
		head := make([]byte, min(st.Size(), 64<<10))
		n, _ := f.ReadAt(head, 0)
		sum := sha256.Sum256(head[:n])
		parts = append(parts, fmt.Sprintf("%s size=%d mtime=%s head=%x", filepath.Base(f.Name()), st.Size(),
			st.ModTime().UTC().Format(time.RFC3339Nano), sum[:8]))
	}
	return strings.Join(parts, "; ")
}

func (in *input) Close() {
	for _, c := range in.closers {
		c.Close()
	}
}

// resolvePath turns what a user names into the file to read: a bundle
// PREFIX becomes PREFIX.index; a SavedModel directory its
// variables/variables.index; a directory holding one .index file that file.
func resolvePath(p string) (string, error) {
	st, err := os.Stat(p)
	if err == nil && !st.IsDir() {
		return p, nil
	}
	if err != nil {
		if _, err2 := os.Stat(p + ".index"); err2 == nil {
			return p + ".index", nil
		}
		return "", err
	}
	for _, cand := range []string{
		filepath.Join(p, "variables", "variables.index"),
		filepath.Join(p, "variables.index"),
	} {
		if _, err := os.Stat(cand); err == nil {
			return cand, nil
		}
	}
	idx, _ := filepath.Glob(filepath.Join(p, "*.index"))
	if len(idx) == 1 {
		return idx[0], nil
	}
	if len(idx) > 1 {
		return "", fmt.Errorf("%s: directory holds %d checkpoints (%s); name one prefix", p, len(idx), strings.Join(idx, ", "))
	}
	return "", fmt.Errorf("%s is a directory without a SavedModel variables/ or checkpoint .index file", p)
}

// openInput opens the input at path ("-" for stdin) and describes its
// tensors. formatName forces a format; otherwise it is detected.
func openInput(path string, stdin io.Reader, formatName string, opt format.Options) (*input, error) {
	in := &input{path: path}
	var src format.Source
	var head []byte
	if path == "-" {
		br := bufio.NewReaderSize(stdin, 1<<20)
		head, _ = br.Peek(format.SniffLen)
		src = format.Source{Stream: br, Name: "<stdin>", Size: -1}
	} else {
		p, err := resolvePath(path)
		if err != nil {
			return nil, err
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		in.closers, in.files = append(in.closers, f), append(in.files, f)
		st, err := f.Stat()
		if err != nil {
			in.Close()
			return nil, err
		}
		head = make([]byte, format.SniffLen)
		n, _ := f.ReadAt(head, 0)
		head = head[:n]
		dir := filepath.Dir(p)
		src = format.Source{R: f, Size: st.Size(), Name: p,
			Sibling: func(name string) (io.ReaderAt, int64, error) {
				g, err := os.Open(filepath.Join(dir, name))
				if err != nil {
					return nil, 0, err
				}
				in.closers, in.files = append(in.closers, g), append(in.files, g)
				st, err := g.Stat()
				if err != nil {
					return nil, 0, err
				}
				return g, st.Size(), nil
			}}
		in.path = p
	}
	var fm format.Format
	var err error
	switch {
	case formatName != "":
		fm, err = format.Lookup(formatName)
	case opt.DType.Type.Valid():
		fm, err = format.Lookup("raw")
	case opt.Feature != "" || opt.Compression != "" ||
		strings.Contains(strings.ToLower(filepath.Base(src.Name)), "tfrecord"):
		// compressed TFRecords have no magic of their own (only gzip's)
		fm, err = format.Lookup("tfrecord")
	default:
		fm, err = format.Detect(head, src.Name)
	}
	if err != nil {
		in.Close()
		return nil, err
	}
	if src.R == nil && fm.Name != "tfrecord" {
		in.Close()
		return nil, fmt.Errorf("%s: reading %s from a pipe is not supported; give a file", src.Name, fm.Name)
	}
	got, err := fm.Open(src, opt)
	if err != nil {
		in.Close()
		return nil, err
	}
	if got.Format == "" {
		got.Format = fm.Name
	}
	for _, t := range got.Tensors {
		if t.File == "" {
			t.File = src.Name
		}
	}
	in.Input = got
	return in, nil
}

// selectTensors picks the tensors whose names match any of the globs
// (all when there are none). A glob that matches nothing is an error.
func selectTensors(ts []*tensor.Tensor, globs []string) ([]*tensor.Tensor, error) {
	if len(globs) == 0 {
		return ts, nil
	}
	var out []*tensor.Tensor
	seen := map[*tensor.Tensor]bool{}
	for _, g := range globs {
		matched := false
		for _, t := range ts {
			ok, err := filepath.Match(g, t.Name)
			if err != nil {
				return nil, usageError{fmt.Errorf("--tensor %q: %v", g, err)}
			}
			if ok || g == t.Name {
				matched = true
				if !seen[t] {
					seen[t] = true
					out = append(out, t)
				}
			}
		}
		if !matched {
			var names []string
			for i, t := range ts {
				if i == 8 {
					names = append(names, "…")
					break
				}
				names = append(names, t.Name)
			}
			return nil, fmt.Errorf("--tensor %q matches no tensor (have: %s)", g, strings.Join(names, ", "))
		}
	}
	return out, nil
}
