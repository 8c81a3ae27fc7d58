package tfgen

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/golang/snappy"

	"github.com/bigconv/bigconv/internal/crc32c"
)

// bundleTableWriter writes a LevelDB-style table as TensorFlow's
// table::TableBuilder does: data blocks of about blockSize bytes with a
// restart point every 16 keys, an empty metaindex block, an index block
// and the 48-byte footer. Keys must be added in increasing order.
type bundleTableWriter struct {
	w         io.Writer
	off       uint64
	blockSize int
	snappy    bool
	data      bundleBlock
	index     bundleBlock
	lastKey   []byte
	pending   bool // a finished data block awaits its index entry
	pendingH  [2]uint64
	err       error
}

const (
	bundleRestartInterval = 16
	bundleTableMagic      = 0xdb4775248b80fb57
)

type bundleBlock struct {
	buf      bytes.Buffer
	restarts []uint32
	counter  int
	lastKey  []byte
}

func (b *bundleBlock) add(key, value []byte) {
	shared := 0
	if b.counter < bundleRestartInterval && len(b.restarts) > 0 {
		for shared < len(key) && shared < len(b.lastKey) && key[shared] == b.lastKey[shared] {
			shared++
		}
	} else {
		b.restarts = append(b.restarts, uint32(b.buf.Len()))
		b.counter = 0
	}
	var tmp [3 * binary.MaxVarintLen64]byte
	n := binary.PutUvarint(tmp[:], uint64(shared))
	n += binary.PutUvarint(tmp[n:], uint64(len(key)-shared))
	n += binary.PutUvarint(tmp[n:], uint64(len(value)))
	b.buf.Write(tmp[:n])
	b.buf.Write(key[shared:])
	b.buf.Write(value)
	b.lastKey = append(b.lastKey[:0], key...)
	b.counter++
}

func (b *bundleBlock) empty() bool { return b.buf.Len() == 0 }

func (b *bundleBlock) size() int { return b.buf.Len() + 4*len(b.restarts) + 4 }

// finish returns the block contents and resets b.
func (b *bundleBlock) finish() []byte {
	if len(b.restarts) == 0 {
		b.restarts = append(b.restarts, 0)
	}
	var tmp [4]byte
	for _, r := range b.restarts {
		binary.LittleEndian.PutUint32(tmp[:], r)
		b.buf.Write(tmp[:])
	}
	binary.LittleEndian.PutUint32(tmp[:], uint32(len(b.restarts)))
	b.buf.Write(tmp[:])
	out := append([]byte(nil), b.buf.Bytes()...)
	b.buf.Reset()
	b.restarts = b.restarts[:0]
	b.counter = 0
	b.lastKey = b.lastKey[:0]
	return out
}

func (t *bundleTableWriter) add(key, value []byte) {
	if t.pending {
		t.addIndexEntry()
	}
	t.data.add(key, value)
	t.lastKey = append(t.lastKey[:0], key...)
	if t.data.size() >= t.blockSize {
		t.flush()
	}
}

// addIndexEntry indexes the last finished data block under its last key
// (a valid separator: ≥ every key in the block, < the next block's keys).
func (t *bundleTableWriter) addIndexEntry() {
	t.index.add(t.lastKey, bundleHandle(t.pendingH[0], t.pendingH[1]))
	t.pending = false
}

func (t *bundleTableWriter) flush() {
	if t.data.empty() {
		return
	}
	off, size := t.writeBlock(t.data.finish(), t.snappy)
	t.pendingH = [2]uint64{off, size}
	t.pending = true
}

// writeBlock writes contents and its trailer, returning the block handle.
func (t *bundleTableWriter) writeBlock(contents []byte, compress bool) (uint64, uint64) {
	typ := byte(0)
	if compress {
		contents = snappy.Encode(nil, contents)
		typ = 1
	}
	var trailer [5]byte
	trailer[0] = typ
	crc := crc32c.Update(crc32c.Checksum(contents), trailer[:1])
	binary.LittleEndian.PutUint32(trailer[1:], crc32c.Mask(crc))
	off := t.off
	t.write(contents)
	t.write(trailer[:])
	return off, uint64(len(contents))
}

func (t *bundleTableWriter) write(p []byte) {
	if t.err != nil {
		return
	}
	_, t.err = t.w.Write(p)
	t.off += uint64(len(p))
}

// close writes the last data block, the metaindex and index blocks and
// the footer.
func (t *bundleTableWriter) close() error {
	t.flush()
	if t.pending {
		t.addIndexEntry()
	}
	var meta bundleBlock
	mOff, mSize := t.writeBlock(meta.finish(), false)
	iOff, iSize := t.writeBlock(t.index.finish(), t.snappy)
	var foot [48]byte
	n := binary.PutUvarint(foot[:], mOff)
	n += binary.PutUvarint(foot[n:], mSize)
	n += binary.PutUvarint(foot[n:], iOff)
	binary.PutUvarint(foot[n:], iSize)
	binary.LittleEndian.PutUint64(foot[40:], bundleTableMagic)
	t.write(foot[:])
	return t.err
}

func bundleHandle(off, size uint64) []byte {
	var tmp [2 * binary.MaxVarintLen64]byte
	n := binary.PutUvarint(tmp[:], off)
	n += binary.PutUvarint(tmp[n:], size)
	return append([]byte(nil), tmp[:n]...)
}

// WriteTable writes a table of the given entries (keys strictly
// increasing) as TensorFlow's TableBuilder does, with opt's BlockSize and
// SnappyIndex: a bundle's .index file whose header and entries the
// caller encodes itself (tests of damaged entries).
func WriteTable(w io.Writer, keys, values [][]byte, opt BundleOptions) error {
	if len(keys) != len(values) {
		return errors.New("tfgen: WriteTable: as many keys as values needed")
	}
	if opt.BlockSize <= 0 {
		opt.BlockSize = 262144
	}
	tw := &bundleTableWriter{w: w, blockSize: opt.BlockSize, snappy: opt.SnappyIndex}
	for i := range keys {
		if i > 0 && bytes.Compare(keys[i-1], keys[i]) >= 0 {
			return fmt.Errorf("tfgen: WriteTable: key %q after %q", keys[i], keys[i-1])
		}
		tw.add(keys[i], values[i])
	}
	return tw.close()
}
