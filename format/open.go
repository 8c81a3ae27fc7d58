package format

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/bigconv/bigconv/internal/readat"
	"github.com/bigconv/bigconv/tensor"
)

// A Hint recognises a file that no registered format reads but whose
// kind is known — a legacy TensorFlow V1 checkpoint, the index.json of a
// sharded model — and returns the error that says what it is (wrapping
// tensor.ErrFormat or tensor.ErrUnsupported), or nil when src is not its
// kind. head is the file's first SniffLen bytes (or fewer); src.R is nil
// for a stream.
type Hint func(src Source, head []byte) error

var hints []Hint

// RegisterHint adds a Hint, consulted in registration order when no
// format's magic or extension matches a file.
func RegisterHint(h Hint) {
	mu.Lock()
	defer mu.Unlock()
	hints = append(hints, h)
}

// OpenPath opens what a user names as an input and describes its
// tensors, as `bigconv inspect` and `bigconv convert` do: a file; "-"
// for opt.Stdin (os.Stdin when nil), read in one pass; or a path a
// format resolves (a checkpoint PREFIX or PREFIX.index, a SavedModel
// directory, a directory holding one checkpoint). The format is
// opt.Format when set, else the one a format's Select picks from the
// options and name, else detected from magic bytes, then extension; a
// file no format reads but a Hint recognises gets the hint's error.
//
// Only headers are read. The Input's tensors read the files it opened
// until Close.
func OpenPath(path string, opt Options) (*Input, error) {
	in := &Input{Path: path, files: &openFiles{mode: readat.Pread}}
	src, head, err := in.openSource(path, opt)
	if err != nil {
		in.Close()
		return nil, err
	}
	fm, err := pick(src, head, opt)
	if err != nil {
		in.Close()
		return nil, err
	}
	if f, ok := src.R.(*os.File); ok {
		// read as measured best for this format (internal/readat): pread
		// on the file, or a mapping of a small file of many small reads;
		// the shards the reader opens get the same mode
		in.files.mode = readat.For(fm.Name)
		if src.R, err = in.reader(f); err != nil {
			in.Close()
			return nil, err
		}
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
	got.Path, got.files = in.Path, in.files
	return got, nil
}

// openSource opens path (or stdin for "-") as a Source and reads its
// first SniffLen bytes.
func (in *Input) openSource(path string, opt Options) (Source, []byte, error) {
	if path == "-" {
		r := opt.Stdin
		if r == nil {
			r = os.Stdin
		}
		br := bufio.NewReaderSize(r, 1<<20)
		head, _ := br.Peek(SniffLen)
		return Source{Stream: br, Name: "<stdin>", Size: -1}, head, nil
	}
	p, err := Resolve(path)
	if err != nil {
		return Source{}, nil, err
	}
	f, err := in.open(p)
	if err != nil {
		return Source{}, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		return Source{}, nil, err
	}
	head := make([]byte, SniffLen)
	n, _ := f.ReadAt(head, 0)
	dir := filepath.Dir(p)
	in.Path = p
	return Source{R: f, Size: st.Size(), Name: p,
		Sibling: func(name string) (io.ReaderAt, int64, error) {
			g, err := in.open(filepath.Join(dir, name))
			if err != nil {
				return nil, 0, err
			}
			st, err := g.Stat()
			if err != nil {
				return nil, 0, err
			}
			r, err := in.reader(g)
			if err != nil {
				return nil, 0, err
			}
			return r, st.Size(), nil
		}}, head[:n], nil
}

// reader is how f is read: f itself (pread), or a mapping of it, as the
// mode chosen for the input's format says.
func (in *Input) reader(f *os.File) (io.ReaderAt, error) {
	r, c, err := readat.Open(f, in.files.mode)
	if err != nil {
		return nil, err
	}
	if c != nil {
		if _, mapped := r.(*readat.Mapping); mapped {
			in.files.addMapping(c)
		}
	}
	return r, nil
}

func (in *Input) open(name string) (*os.File, error) {
	f, err := os.Open(name)
	if err == nil {
		in.files.add(f)
	}
	return f, err
}

// Resolve turns what a user names into the file to read: a regular file
// is itself; any other path (a directory, a checkpoint PREFIX that is no
// file) is offered to each format's Resolve in turn.
func Resolve(path string) (string, error) {
	st, statErr := os.Stat(path)
	if statErr == nil && !st.IsDir() {
		return path, nil
	}
	mu.RLock()
	var rs []func(string) (string, error)
	for _, f := range formats {
		if f.Resolve != nil {
			rs = append(rs, f.Resolve)
		}
	}
	mu.RUnlock()
	var first error
	for _, r := range rs {
		p, err := r(path)
		if p != "" && err == nil {
			return p, nil
		}
		if err != nil && first == nil {
			first = err
		}
	}
	switch {
	case first != nil:
		return "", first
	case statErr != nil:
		return "", statErr
	}
	return "", fmt.Errorf("%s is a directory that no format reads (known: %s)", path, strings.Join(Names(), ", "))
}

// pick chooses the format of src: forced by name, selected by a
// format's Select, or detected; a file nothing detects may get a Hint's
// more precise error.
func pick(src Source, head []byte, opt Options) (Format, error) {
	if opt.Format != "" {
		return Lookup(opt.Format)
	}
	mu.RLock()
	for _, f := range formats {
		if f.Select != nil && f.Select(src.Name, opt) {
			mu.RUnlock()
			return f, nil
		}
	}
	hs := hints
	mu.RUnlock()
	fm, err := Detect(head, src.Name)
	if err == nil {
		return fm, nil
	}
	for _, h := range hs {
		if herr := h(src, head); herr != nil {
			return Format{}, herr
		}
	}
	return Format{}, err
}

// Close closes the files OpenPath opened. The Input's tensors must not
// be read after it. Close on an Input from a reader does nothing.
func (in *Input) Close() error {
	var errs []error
	for _, m := range in.files.takeMappings() {
		errs = append(errs, m.Close())
	}
	for _, f := range in.files.take() {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

// identityHead is how much of each file's start Identity hashes.
const identityHead = 64 << 10

// heads holds Identity's read buffers, so that a stack of thousands of
// inputs does not allocate (and collect) a buffer for each.
var heads = sync.Pool{New: func() any { b := make([]byte, identityHead); return &b }}

// Identity describes the files OpenPath opened as a resumed conversion
// must find them again: for each, its name, size, modification time and
// the sha256 of its first 64 KiB (where the headers are). It is "" for
// stdin and for an Input from a reader.
func (in *Input) Identity() string {
	var parts []string
	for _, f := range in.files.list() {
		st, err := f.Stat()
		if err != nil {
			parts = append(parts, filepath.Base(f.Name())+": "+err.Error())
			continue
		}
		hp := heads.Get().(*[]byte)
		head := (*hp)[:min(st.Size(), identityHead)]
		n, _ := f.ReadAt(head, 0)
		sum := sha256.Sum256(head[:n])
		heads.Put(hp)
		parts = append(parts, fmt.Sprintf("%s size=%d mtime=%s head=%x", filepath.Base(f.Name()), st.Size(),
			st.ModTime().UTC().Format(time.RFC3339Nano), sum[:8]))
	}
	return strings.Join(parts, "; ")
}

// ErrNoMatch is returned by Select for a glob that matches no tensor.
var ErrNoMatch = errors.New("matches no tensor")

// Select picks the tensors whose names match any of the globs (path.Match
// syntax, or the exact name), in input order of first match; all of them
// when there are no globs. A glob that matches nothing is an error
// (ErrNoMatch) listing some of the names there are; a malformed one
// wraps filepath.ErrBadPattern.
func (in *Input) Select(globs []string) ([]*tensor.Tensor, error) {
	if len(globs) == 0 {
		return in.Tensors, nil
	}
	var out []*tensor.Tensor
	seen := map[*tensor.Tensor]bool{}
	for _, g := range globs {
		matched := false
		for _, t := range in.Tensors {
			ok, err := filepath.Match(g, t.Name)
			if err != nil {
				return nil, fmt.Errorf("--tensor %q: %w", g, err) // filepath.ErrBadPattern
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
			for i, t := range in.Tensors {
				if i == 8 {
					names = append(names, "…")
					break
				}
				names = append(names, t.Name)
			}
			return nil, fmt.Errorf("--tensor %q %w (have: %s)", g, ErrNoMatch, strings.Join(names, ", "))
		}
	}
	return out, nil
}
