// Package readat opens an input file for random reads, as the
// io.ReaderAt that format readers take, in one of two ways: pread on the
// *os.File, or a read-only mapping of the whole file
// (golang.org/x/exp/mmap), whose reads are copies out of mapped pages
// with no system call.
//
// The choice is a trade measured in docs/benchmarks.md: a mapped read
// costs no system call, which pays where a reader makes many small reads
// (TFRecords of small records, bundles of small tensors, Fortran gathers
// of short column runs); but every page read through the mapping counts
// in the process's RSS until the file is closed, and x/exp/mmap maps the
// whole file with no way to drop pages already read. Auto therefore maps
// only files of at most MapLimit bytes and reads larger ones with pread,
// so RSS stays flat whatever the input size.
//
//	f, _ := os.Open(path)
//	r, unmap, err := readat.Open(f, readat.Auto)
//	defer unmap.Close() // f stays the caller's to close
//	src := format.Source{R: r, Size: size, Name: path}
//
// With pread the reader is f itself, so that code looking for an
// *os.File behind a tensor's data (the engine's copy_file_range path)
// still finds it. A Mapping is safe for concurrent ReadAt calls; Close
// must not run concurrently with them.
package readat

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"golang.org/x/exp/mmap"
)

// Mode is how a File reads.
type Mode int

const (
	// Auto maps files of at most MapLimit bytes and preads larger ones.
	Auto Mode = iota
	// Pread reads with pread(2) on the *os.File (os.File.ReadAt).
	Pread
	// Map reads from a read-only mapping of the whole file, whatever its
	// size: RSS grows by every page read, up to the file's size.
	Map
)

func (m Mode) String() string {
	switch m {
	case Auto:
		return "auto"
	case Pread:
		return "pread"
	case Map:
		return "map"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// MapLimit is the largest file Auto maps. Mapped pages read stay in RSS
// until Close, so this is also the most RSS a mapped input can add: half
// of the 64 MiB budget, the other half being the workers' buffers and the
// Go runtime.
const MapLimit = 32 << 20

// For is the mode to open a file of the named format (a format registry
// name) with, as measured in BenchmarkReadAtPair: Auto for the formats
// whose reads are many and small — TFRecord files (one read per record)
// and TF bundles (index blocks, one read per tensor) — so that such files
// up to MapLimit are mapped; Pread for every other format, whose tensors
// are contiguous ranges read in blocks of megabytes (pread was faster
// there, and an *os.File lets the engine copy with copy_file_range).
func For(format string) Mode {
	switch format {
	case "tfrecord", "tfbundle":
		return Auto
	}
	return Pread
}

// ErrChanged reports that the file's size differs between the *os.File
// and the mapping of its name: it was replaced or resized while opening.
var ErrChanged = errors.New("readat: file changed while being opened")

// Open returns the reader to read f by in the given mode, and what to
// close when done: f itself and a no-op closer for pread, or a Mapping
// (its own closer) made from f.Name() and checked to have f's size.
// Closing f stays the caller's job.
func Open(f *os.File, mode Mode) (io.ReaderAt, io.Closer, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	size := st.Size()
	if mode == Auto {
		mode = Pread
		if st.Mode().IsRegular() && size > 0 && size <= MapLimit {
			mode = Map
		}
	}
	if mode != Map {
		return f, nopCloser{}, nil
	}
	m, err := NewMapping(f)
	if err != nil {
		return nil, nil, err
	}
	return m, m, nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// Mapping reads a file from a read-only mapping of all of it
// (golang.org/x/exp/mmap).
type Mapping struct {
	m    *mmap.ReaderAt
	size int64
	name string
}

// NewMapping maps f (by name, checked to have f's size) for reading.
func NewMapping(f *os.File) (*Mapping, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	m, err := mmap.Open(f.Name())
	if err != nil {
		return nil, fmt.Errorf("readat: map %s: %w", f.Name(), err)
	}
	if int64(m.Len()) != st.Size() {
		m.Close()
		return nil, fmt.Errorf("%w: %s is %d bytes, its mapping %d", ErrChanged, f.Name(), st.Size(), m.Len())
	}
	return &Mapping{m: m, size: st.Size(), name: f.Name()}, nil
}

// Size is the mapped file's size.
func (r *Mapping) Size() int64 { return r.size }

// ReadAt reads len(p) bytes at off, as os.File.ReadAt: fewer bytes only
// with an error, io.EOF at the end of the file. A page that can no
// longer be read (the file was truncated under us) is an error, not a
// crash.
func (r *Mapping) ReadAt(p []byte, off int64) (n int, err error) {
	if off < 0 {
		return 0, fmt.Errorf("readat: %s: negative offset %d", r.name, off)
	}
	if off >= r.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if e := recover(); e != nil {
			n, err = 0, fmt.Errorf("readat: %s: reading %d bytes at offset %d from the mapping: %v", r.name, len(p), off, e)
		}
	}()
	return r.m.ReadAt(p, off)
}

// Close unmaps the file; reads after it fail.
func (r *Mapping) Close() error { return r.m.Close() }
