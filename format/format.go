// Package format is the registry of input formats. Each reader registers
// itself from init, as image codecs do:
//
//	func init() { format.Register(format.Format{Name: "npy", Exts: []string{".npy"}, Sniff: sniff, Open: open}) }
//
// Detect picks a format by magic bytes, then by file extension. Open
// functions read headers only: they describe tensors (tensor.Tensor)
// and never load tensor data.
//
// OpenPath is the door for paths, as archive/zip's OpenReader is beside
// NewReader: it takes whatever a user names (a file, "-" for stdin, a
// checkpoint PREFIX, a SavedModel directory), resolves it through the
// formats' own Resolve rules, detects the format and returns an Input to
// Close. The registry knows only the readers a program imports; import
// format/all for every one:
//
//	import _ "github.com/bigconv/bigconv/format/all"
//
//	in, err := format.OpenPath("model.ckpt-100", format.Options{})
//	defer in.Close()
//	for _, t := range in.Tensors { fmt.Println(t.Describe()) }
package format

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/readat"
	"github.com/bigconv/bigconv/tensor"
)

// SniffLen is how many leading bytes Detect passes to Sniff functions.
const SniffLen = 512

// Source is an input file as a format reader sees it.
type Source struct {
	// R reads the file; Size is its length in bytes.
	R    io.ReaderAt
	Size int64
	// Name is the file's path as the user gave it, for messages.
	Name string
	// Sibling opens another file of the same input by name relative to
	// this file's directory (a bundle's data shards). Nil when the input
	// has no directory (stdin). Files it opens are closed by the caller
	// of Open, not by the format reader.
	Sibling func(name string) (io.ReaderAt, int64, error)
	// Stream is the input as a one-pass reader, set (with R nil) when the
	// input is not seekable (stdin).
	Stream io.Reader
}

// Options are the user's settings that some formats need.
type Options struct {
	// Format forces a format by name ("" = detect it). OpenPath only.
	Format string
	// Stdin is read when OpenPath is given "-" (nil = os.Stdin).
	Stdin io.Reader

	// Raw dumps: element type, shape and byte offset of the data.
	DType  dtype.DType
	Shape  dtype.Shape
	Offset int64
	// TFRecord: take this tf.train.Example feature ("" = records are
	// serialized TensorProtos); Compression is "", "none", "gzip" or "zlib".
	Feature     string
	Compression string
}

// Input is what a format reader found in a file.
type Input struct {
	Format  string
	Tensors []*tensor.Tensor
	// Collection is set by readers of inputs that hold named tensors (a
	// checkpoint, an archive): such an input converts to a directory even
	// when one tensor is selected, unless the output names a .npy file.
	Collection bool

	// Path is the file OpenPath opened (a checkpoint PREFIX resolved to
	// PREFIX.index), or "-" for stdin. Empty for an Input from a reader.
	Path string
	// files are the files OpenPath opened (main file and siblings, also
	// those a reader opens later), for Identity and Close.
	files *openFiles
	// Warnings are things the user should know that do not stop the
	// conversion (a raw shape that uses only a prefix of the file), one
	// sentence each naming the file; the CLI prints them on stderr.
	Warnings []string
}

// openFiles is the list of files an Input opened, shared with the
// Sibling opener it gave the reader.
type openFiles struct {
	mu      sync.Mutex
	files   []*os.File
	mapped  []io.Closer // mappings of some of them (internal/readat)
	mode    readat.Mode // how files opened from now on are read
	modeSet bool        // mode was chosen (the format is known)
}

// addMapping records a mapping to unmap at Close.
func (o *openFiles) addMapping(c io.Closer) {
	o.mu.Lock()
	o.mapped = append(o.mapped, c)
	o.mu.Unlock()
}

// takeMappings returns the mappings made so far and forgets them.
func (o *openFiles) takeMappings() []io.Closer {
	if o == nil {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	m := o.mapped
	o.mapped = nil
	return m
}

func (o *openFiles) add(f *os.File) {
	o.mu.Lock()
	o.files = append(o.files, f)
	o.mu.Unlock()
}

// take returns the files opened so far and forgets them.
func (o *openFiles) take() []*os.File {
	if o == nil {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	fs := o.files
	o.files = nil
	return fs
}

// list returns the files opened so far.
func (o *openFiles) list() []*os.File {
	if o == nil {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]*os.File(nil), o.files...)
}

// Format is one input format.
type Format struct {
	Name string
	// Exts are file name suffixes, with the dot (".npy", ".index").
	Exts []string
	// Sniff reports whether head (the first SniffLen bytes, or fewer) is
	// this format's magic. Nil for formats with no magic (raw).
	Sniff func(head []byte) bool
	// Open describes the tensors of src without reading their data.
	Open func(src Source, opt Options) (*Input, error)

	// Resolve, if set, maps a path that is not a regular file (a
	// directory, or a name that does not exist such as a checkpoint
	// PREFIX) to the file to open. It returns "" and a nil error when
	// path is not this format's; an error explains why a path that looks
	// like this format's cannot be read (OpenPath reports the first such
	// error when no format resolves the path).
	Resolve func(path string) (string, error)
	// Select, if set, reports whether the user's options or the file's
	// name choose this format before any magic is sniffed (raw: a dtype
	// was given; TFRecord: a feature, a compression or "tfrecord" in the
	// name, since compressed TFRecords have no magic of their own).
	Select func(name string, opt Options) bool
}

var (
	mu      sync.RWMutex
	formats []Format
)

// Register adds a format. It panics on a duplicate name (a programming
// error, as in database/sql).
func Register(f Format) {
	mu.Lock()
	defer mu.Unlock()
	for _, g := range formats {
		if g.Name == f.Name {
			panic("format: Register called twice for " + f.Name)
		}
	}
	formats = append(formats, f)
}

// Names lists the registered formats, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	var ns []string
	for _, f := range formats {
		ns = append(ns, f.Name)
	}
	sort.Strings(ns)
	return ns
}

// Lookup finds a format by name.
func Lookup(name string) (Format, error) {
	mu.RLock()
	defer mu.RUnlock()
	for _, f := range formats {
		if strings.EqualFold(f.Name, name) {
			return f, nil
		}
	}
	return Format{}, fmt.Errorf("%w: no format named %q (known: %s)", tensor.ErrFormat, name, strings.Join(namesLocked(), ", "))
}

func namesLocked() []string {
	var ns []string
	for _, f := range formats {
		ns = append(ns, f.Name)
	}
	sort.Strings(ns)
	return ns
}

// Detect picks the format of a file from its first bytes, then from its
// name's extension. Magic wins over extension.
func Detect(head []byte, name string) (Format, error) {
	mu.RLock()
	defer mu.RUnlock()
	for _, f := range formats {
		if f.Sniff != nil && f.Sniff(head) {
			return f, nil
		}
	}
	lname := strings.ToLower(name)
	for _, f := range formats {
		for _, e := range f.Exts {
			if strings.HasSuffix(lname, e) {
				return f, nil
			}
		}
	}
	return Format{}, fmt.Errorf("%w: %s: no known magic bytes or extension (use --format; known: %s)",
		tensor.ErrFormat, filepath.Base(name), strings.Join(namesLocked(), ", "))
}
