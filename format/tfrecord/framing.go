package tfrecord

import (
	"compress/gzip"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/bigconv/bigconv/internal/crc32c"
	"github.com/bigconv/bigconv/tensor"
)

// Record framing (tensorflow/core/lib/io/record_writer.cc):
//
//	+---------------------+------------------------+------------+------------------------+
//	| length uint64 LE    | masked crc32c(length)  | data       | masked crc32c(data)    |
//	| 8 bytes             | 4 bytes                | length     | 4 bytes                |
//	+---------------------+------------------------+------------+------------------------+
const (
	headerLen = 12
	footerLen = 4
)

// MaxStreamRecord caps one record read from a stream (compressed input,
// stdin), where it must be held in memory.
const MaxStreamRecord = 1 << 30

// walkWindow is how much of the file Walk reads at a time.
const walkWindow = 1 << 20

// Record locates one record of a TFRecord file.
type Record struct {
	Index  int64 // 0-based
	Offset int64 // of the record's header
	Len    int64 // data bytes
}

// DataOffset is where the record's data starts.
func (r Record) DataOffset() int64 { return r.Offset + headerLen }

func errf(sentinel error, file string, off int64, format string, args ...any) error {
	return fmt.Errorf("tfrecord: %w", tensor.Errorf(sentinel, file, "", off, format, args...))
}

// ValidHeader reports whether the 12 bytes of b are a record header
// whose masked CRC matches its length.
func ValidHeader(b []byte) bool {
	if len(b) < headerLen {
		return false
	}
	return crc32c.Mask(crc32c.Checksum(b[:8])) == binary.LittleEndian.Uint32(b[8:12])
}

// window serves reads from one buffered stretch of a file, falling back
// to the file for anything outside it. Not safe for concurrent use.
type window struct {
	r    io.ReaderAt
	size int64
	buf  []byte
	off  int64
}

// get returns the n bytes at off (n ≤ walkWindow, off+n ≤ size).
func (w *window) get(off int64, n int) ([]byte, error) {
	if off >= w.off && off+int64(n) <= w.off+int64(len(w.buf)) {
		i := off - w.off
		return w.buf[i : i+int64(n)], nil
	}
	m := min(int64(cap(w.buf)), w.size-off)
	w.buf = w.buf[:m]
	k, err := w.r.ReadAt(w.buf, off)
	w.buf, w.off = w.buf[:k], off
	if k < n {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		w.buf, w.off = w.buf[:0], 0
		return nil, err
	}
	return w.buf[:n], nil
}

func (w *window) ReadAt(p []byte, off int64) (int, error) {
	if off >= w.off && off+int64(len(p)) <= w.off+int64(len(w.buf)) {
		return copy(p, w.buf[off-w.off:]), nil
	}
	return w.r.ReadAt(p, off)
}

// Walk checks the framing of the size bytes of r — each header, both
// CRCs, lengths against the file size — reading through the file in
// bounded chunks, and calls fn for each record once its CRCs are
// verified. fn gets a reader that serves the record's bytes from the
// chunk in memory when it can; it must not keep it. An error from fn
// stops the walk and is returned as is. name is used in messages.
func Walk(r io.ReaderAt, size int64, name string, fn func(rec Record, ra io.ReaderAt) error) error {
	w := &window{r: r, size: size, buf: make([]byte, 0, min(walkWindow, max(size, headerLen)))}
	var pos, i int64
	for pos < size {
		if size-pos < headerLen {
			return errf(tensor.ErrCorrupt, name, pos, "record %d: truncated header (%d of %d bytes)", i, size-pos, headerLen)
		}
		hdr, err := w.get(pos, headerLen)
		if err != nil {
			return readErr(err, name, pos, i)
		}
		length := binary.LittleEndian.Uint64(hdr)
		if got, want := crc32c.Mask(crc32c.Checksum(hdr[:8])), binary.LittleEndian.Uint32(hdr[8:]); got != want {
			return errf(tensor.ErrChecksum, name, pos, "record %d: header checksum %#08x, computed %#08x", i, want, got)
		}
		if left := size - pos - headerLen - footerLen; length > uint64(max(left, 0)) {
			return errf(tensor.ErrCorrupt, name, pos, "record %d: length %d runs past the end of the file (%d bytes left)", i, length, max(left, 0))
		}
		n := int64(length)
		var crc uint32
		for done := int64(0); done < n; {
			k := min(n-done, walkWindow)
			b, err := w.get(pos+headerLen+done, int(k))
			if err != nil {
				return readErr(err, name, pos, i)
			}
			crc = crc32c.Update(crc, b)
			done += k
		}
		ftr, err := w.get(pos+headerLen+n, footerLen)
		if err != nil {
			return readErr(err, name, pos, i)
		}
		if want := binary.LittleEndian.Uint32(ftr); crc32c.Mask(crc) != want {
			return errf(tensor.ErrChecksum, name, pos, "record %d: data checksum %#08x, computed %#08x", i, want, crc32c.Mask(crc))
		}
		if err := fn(Record{Index: i, Offset: pos, Len: n}, w); err != nil {
			return err
		}
		pos += headerLen + n + footerLen
		i++
	}
	return nil
}

func readErr(err error, name string, pos, i int64) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errf(tensor.ErrCorrupt, name, pos, "record %d: file ends early", i)
	}
	return fmt.Errorf("tfrecord: %s: record %d at offset %d: %w", name, i, pos, err)
}

// Count checks the framing and both CRCs of every record of a TFRecord
// file (any records: tensors, tf.train.Example, TensorBoard events) and
// returns how many records it holds.
func Count(r io.ReaderAt, size int64) (int64, error) {
	var n int64
	err := Walk(r, size, "", func(Record, io.ReaderAt) error { n++; return nil })
	return n, err
}

// Reader reads records one after another from a stream (a decompressed
// GZIP/ZLIB file, stdin), checking both CRCs of each. Offsets are in
// the uncompressed stream. Not safe for concurrent use.
type Reader struct {
	r    io.Reader
	name string
	off  int64 // of the next record
	idx  int64 // index of the next record
	last Record
	buf  []byte
	// Max caps a record's length (MaxStreamRecord by default).
	Max int64
}

// NewReader reads records from r; name is used in messages.
func NewReader(r io.Reader, name string) *Reader {
	return &Reader{r: r, name: name, Max: MaxStreamRecord}
}

// Record is the location of the record Next returned last.
func (r *Reader) Record() Record { return r.last }

// Next returns the next record's data, valid until the following call.
// At the end of the stream it returns io.EOF; a stream that ends inside
// a record is ErrCorrupt.
func (r *Reader) Next() ([]byte, error) {
	var hdr [headerLen]byte
	k, err := io.ReadFull(r.r, hdr[:])
	if k == 0 && errors.Is(err, io.EOF) {
		return nil, io.EOF
	}
	if err != nil {
		return nil, r.readErr(err, r.off, "header (%d of %d bytes)", k, headerLen)
	}
	length := binary.LittleEndian.Uint64(hdr[:])
	if got, want := crc32c.Mask(crc32c.Checksum(hdr[:8])), binary.LittleEndian.Uint32(hdr[8:]); got != want {
		return nil, errf(tensor.ErrChecksum, r.name, r.off, "record %d: header checksum %#08x, computed %#08x", r.idx, want, got)
	}
	if length > uint64(r.Max) {
		return nil, errf(tensor.ErrUnsupported, r.name, r.off, "record %d: length %d is over the %d-byte limit for streamed records", r.idx, length, r.Max)
	}
	n := int(length)
	r.buf = r.buf[:0]
	for len(r.buf) < n { // grow as data arrives: a truncated stream allocates little
		chunk := min(n-len(r.buf), 1<<20)
		r.buf = slices.Grow(r.buf, chunk)
		k, err := io.ReadFull(r.r, r.buf[len(r.buf):len(r.buf)+chunk])
		r.buf = r.buf[:len(r.buf)+k]
		if err != nil {
			return nil, r.readErr(err, r.off, "data (%d of %d bytes)", len(r.buf), n)
		}
	}
	var ftr [footerLen]byte
	if k, err := io.ReadFull(r.r, ftr[:]); err != nil {
		return nil, r.readErr(err, r.off, "data checksum (%d of %d bytes)", k, footerLen)
	}
	crc := crc32c.Mask(crc32c.Checksum(r.buf))
	if want := binary.LittleEndian.Uint32(ftr[:]); crc != want {
		return nil, errf(tensor.ErrChecksum, r.name, r.off, "record %d: data checksum %#08x, computed %#08x", r.idx, want, crc)
	}
	r.last = Record{Index: r.idx, Offset: r.off, Len: int64(n)}
	r.off += headerLen + int64(n) + footerLen
	r.idx++
	return r.buf, nil
}

func (r *Reader) readErr(err error, off int64, format string, args ...any) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errf(tensor.ErrCorrupt, r.name, off, "record %d: stream ends inside the record's %s", r.idx, fmt.Sprintf(format, args...))
	}
	// decompression errors (flate/gzip) mean a damaged file
	sentinel := tensor.ErrCorrupt
	if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, zlib.ErrChecksum) {
		sentinel = tensor.ErrChecksum
	}
	return fmt.Errorf("tfrecord: %w", &tensor.Error{File: r.name, Offset: off,
		Msg: fmt.Sprintf("record %d: reading %s: %v", r.idx, fmt.Sprintf(format, args...), err), Err: sentinel})
}
