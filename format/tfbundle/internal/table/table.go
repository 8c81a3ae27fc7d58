// Package table reads the LevelDB-style sorted string tables that
// TensorFlow writes as a tensor bundle's .index file (and as legacy V1
// checkpoints). It reads a whole table in key order, verifying every block
// checksum, and trusts nothing in the file: every block handle is checked
// against the file size before use, block sizes are capped, and malformed
// input yields an error, never a panic.
//
// Layout (tensorflow/core/lib/io/table_format.txt):
//
//	[data block 0][trailer] … [data block N-1][trailer]
//	[metaindex block][trailer]          (empty in TensorFlow's tables)
//	[index block][trailer]              key ≥ last key of block i → handle of block i
//	[footer: 48 bytes]                  metaindex handle, index handle (varints),
//	                                    zero padding to 40 bytes, magic (fixed64 LE)
//
//	block   = entries, restarts [uint32 LE]…, num_restarts uint32 LE
//	entry   = shared varint32, unshared varint32, value_len varint32,
//	          key[shared:] (unshared bytes), value
//	trailer = compression type (0 none, 1 snappy), masked CRC-32C of block+type
//
// A Table is safe for concurrent use once opened: its methods only read.
package table

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/golang/snappy"

	"github.com/bigconv/bigconv/internal/crc32c"
	"github.com/bigconv/bigconv/tensor"
)

const (
	// Magic ends every table (fixed64 little-endian).
	Magic = 0xdb4775248b80fb57
	// FooterLen is the size of the footer.
	FooterLen = 48
	// TrailerLen is the size of the per-block trailer (type + crc).
	TrailerLen = 5
	// MaxBlock caps a block's stored and decoded size (TensorFlow writes
	// 256 KiB blocks; a 1 M-entry index block is still far below this).
	MaxBlock = 256 << 20

	// Compression types of a block trailer.
	NoCompression     = 0
	SnappyCompression = 1
)

// Handle locates a block in the file (without its trailer).
type Handle struct {
	Offset, Size uint64
}

// Table is an opened table: the footer and index block are read and checked.
type Table struct {
	r      io.ReaderAt
	size   int64
	name   string
	blocks []Handle // data blocks in key order
	limit  uint64   // data blocks end before this offset (the metaindex)
}

func corrupt(name string, off int64, format string, args ...any) error {
	return tensor.Errorf(tensor.ErrCorrupt, name, "", off, "index table: "+format, args...)
}

// Open reads and checks the footer and index block of the table in r
// (size bytes; name is for messages). A file that does not end in the
// table magic is an ErrFormat error; damage is ErrCorrupt or ErrChecksum.
func Open(r io.ReaderAt, size int64, name string) (*Table, error) {
	if size < FooterLen {
		return nil, tensor.Errorf(tensor.ErrFormat, name, "", -1, "index table: %d bytes is too short for a table footer", size)
	}
	var foot [FooterLen]byte
	footOff := size - FooterLen
	if err := readFull(r, foot[:], footOff); err != nil {
		return nil, tensor.Errorf(tensor.ErrCorrupt, name, "", footOff, "index table: reading footer: %v", err)
	}
	if binary.LittleEndian.Uint64(foot[40:]) != Magic {
		return nil, tensor.Errorf(tensor.ErrFormat, name, "", footOff+40, "index table: no table magic 0x%x at the end of the file", uint64(Magic))
	}
	meta, n := decodeHandle(foot[:40])
	if n <= 0 {
		return nil, corrupt(name, footOff, "bad metaindex handle in footer")
	}
	index, m := decodeHandle(foot[n:40])
	if m <= 0 {
		return nil, corrupt(name, footOff+int64(n), "bad index handle in footer")
	}
	t := &Table{r: r, size: size, name: name}
	if err := t.check(meta, uint64(footOff)); err != nil {
		return nil, err
	}
	if err := t.check(index, uint64(footOff)); err != nil {
		return nil, err
	}
	t.limit = meta.Offset
	if index.Offset < t.limit {
		t.limit = index.Offset
	}
	// TensorFlow's metaindex is empty; read it anyway, so that its
	// checksum and format are verified like every other byte of the table.
	mb, err := t.ReadBlock(meta)
	if err != nil {
		return nil, err
	}
	if err := iterBlock(mb, func(key, value []byte, _ int) error { return nil }); err != nil {
		return nil, corrupt(name, int64(meta.Offset), "metaindex block: %v", err)
	}
	ib, err := t.ReadBlock(index)
	if err != nil {
		return nil, err
	}
	var prevEnd uint64
	err = iterBlock(ib, func(key, value []byte, _ int) error {
		h, n := decodeHandle(value)
		if n <= 0 || n != len(value) {
			return corrupt(name, int64(index.Offset), "bad block handle in index block (key %q)", key)
		}
		if err := t.check(h, t.limit); err != nil {
			return err
		}
		if h.Offset < prevEnd {
			return corrupt(name, int64(h.Offset), "data blocks overlap or are out of order")
		}
		prevEnd = h.Offset + h.Size + TrailerLen
		t.blocks = append(t.blocks, h)
		return nil
	})
	if err != nil {
		if e := new(tensor.Error); errors.As(err, &e) {
			return nil, err
		}
		return nil, corrupt(name, int64(index.Offset), "index block: %v", err)
	}
	return t, nil
}

// check validates that block h and its trailer end at or before limit.
func (t *Table) check(h Handle, limit uint64) error {
	if h.Size > MaxBlock {
		return corrupt(t.name, int64(min(h.Offset, uint64(t.size))), "block of %d bytes exceeds the %d-byte cap", h.Size, MaxBlock)
	}
	end := h.Offset + h.Size + TrailerLen // Size ≤ MaxBlock: no overflow unless Offset is huge
	if h.Offset > limit || end < h.Offset || end > limit {
		return corrupt(t.name, -1, "block handle (offset %d, size %d) points past byte %d", h.Offset, h.Size, limit)
	}
	return nil
}

// NumBlocks is the number of data blocks.
func (t *Table) NumBlocks() int { return len(t.blocks) }

// Block is the handle of data block i (0 ≤ i < NumBlocks).
func (t *Table) Block(i int) Handle { return t.blocks[i] }

// ReadBlock reads block h, verifies its checksum and decompresses it.
func (t *Table) ReadBlock(h Handle) ([]byte, error) {
	b, _, err := t.readBlock(h)
	return b, err
}

// readBlock is ReadBlock, and says whether the block was compressed.
func (t *Table) readBlock(h Handle) (b []byte, compressed bool, err error) {
	if err := t.check(h, uint64(t.size)); err != nil {
		return nil, false, err
	}
	buf := make([]byte, h.Size+TrailerLen)
	if err := readFull(t.r, buf, int64(h.Offset)); err != nil {
		return nil, false, corrupt(t.name, int64(h.Offset), "reading block: %v", err)
	}
	data, typ := buf[:h.Size], buf[h.Size]
	want := crc32c.Unmask(binary.LittleEndian.Uint32(buf[h.Size+1:]))
	if got := crc32c.Checksum(buf[:h.Size+1]); got != want {
		return nil, false, tensor.Errorf(tensor.ErrChecksum, t.name, "", int64(h.Offset),
			"index table: block crc32c is %08x, trailer says %08x", got, want)
	}
	switch typ {
	case NoCompression:
		return data, false, nil
	case SnappyCompression:
		n, err := snappy.DecodedLen(data)
		if err != nil {
			return nil, false, corrupt(t.name, int64(h.Offset), "bad snappy block header: %v", err)
		}
		// A snappy element expands at most 64/3 times (a 3-byte copy of 64
		// bytes): a longer decoded length is refused before allocating.
		if n < 0 || n > MaxBlock || int64(n) > 22*int64(len(data)) {
			return nil, false, corrupt(t.name, int64(h.Offset), "snappy block of %d bytes claims to decode to %d bytes", len(data), n)
		}
		out, err := snappy.Decode(make([]byte, n), data)
		if err != nil {
			return nil, false, corrupt(t.name, int64(h.Offset), "snappy block: %v", err)
		}
		return out, true, nil
	default:
		return nil, false, tensor.Errorf(tensor.ErrUnsupported, t.name, "", int64(h.Offset+h.Size),
			"index table: block compression type %d (only none and snappy exist)", typ)
	}
}

// Walk calls fn for every key and value in key order. Keys must be
// strictly increasing. at is where the value lies in the file, for
// messages; a value in a snappy-compressed block has no offset of its
// own, and at is then the block's. The slices passed to fn are only
// valid during the call. Walk stops at the first error, from the table
// or from fn.
func (t *Table) Walk(fn func(key, value []byte, at int64) error) error {
	var last []byte
	first := true
	for _, h := range t.blocks {
		b, compressed, err := t.readBlock(h)
		if err != nil {
			return err
		}
		err = iterBlock(b, func(key, value []byte, pos int) error {
			if !first && string(key) <= string(last) {
				return corrupt(t.name, int64(h.Offset), "keys out of order: %q after %q", key, last)
			}
			first = false
			last = append(last[:0], key...)
			at := int64(h.Offset)
			if !compressed {
				at += int64(pos)
			}
			return fn(key, value, at)
		})
		if err != nil {
			if e := new(tensor.Error); errors.As(err, &e) {
				return err
			}
			if errors.Is(err, errBlock) {
				return corrupt(t.name, int64(h.Offset), "data block: %v", err)
			}
			return err
		}
	}
	return nil
}

var errBlock = errors.New("malformed block")

// iterBlock calls fn for each entry of a decoded block; pos is where the
// value starts in b.
func iterBlock(b []byte, fn func(key, value []byte, pos int) error) error {
	if len(b) < 4 {
		return fmt.Errorf("%w: %d bytes is too short", errBlock, len(b))
	}
	nr := uint64(binary.LittleEndian.Uint32(b[len(b)-4:]))
	if nr == 0 || nr > uint64(len(b)-4)/4 {
		return fmt.Errorf("%w: %d restart points in %d bytes", errBlock, nr, len(b))
	}
	end := len(b) - 4 - int(nr)*4
	for i := 0; i < int(nr); i++ {
		if r := binary.LittleEndian.Uint32(b[end+4*i:]); uint64(r) > uint64(end) {
			return fmt.Errorf("%w: restart point %d past the entries", errBlock, r)
		}
	}
	var key []byte
	p := b[:end]
	for len(p) > 0 {
		shared, n1 := binary.Uvarint(p)
		if n1 <= 0 {
			return fmt.Errorf("%w: bad shared length", errBlock)
		}
		p = p[n1:]
		unshared, n2 := binary.Uvarint(p)
		if n2 <= 0 {
			return fmt.Errorf("%w: bad key length", errBlock)
		}
		p = p[n2:]
		vlen, n3 := binary.Uvarint(p)
		if n3 <= 0 {
			return fmt.Errorf("%w: bad value length", errBlock)
		}
		p = p[n3:]
		if shared > uint64(len(key)) {
			return fmt.Errorf("%w: entry shares %d bytes of a %d-byte key", errBlock, shared, len(key))
		}
		if unshared > uint64(len(p)) || vlen > uint64(len(p))-unshared {
			return fmt.Errorf("%w: entry runs past the block", errBlock)
		}
		key = append(key[:shared], p[:unshared]...)
		value := p[unshared : unshared+vlen]
		pos := end - len(p) + int(unshared)
		p = p[unshared+vlen:]
		if err := fn(key, value, pos); err != nil {
			return err
		}
	}
	return nil
}

func decodeHandle(b []byte) (Handle, int) {
	off, n := binary.Uvarint(b)
	if n <= 0 {
		return Handle{}, -1
	}
	size, m := binary.Uvarint(b[n:])
	if m <= 0 {
		return Handle{}, -1
	}
	return Handle{off, size}, n + m
}

func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}
