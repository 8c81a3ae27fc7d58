package tfbundle

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/crc32c"
	"github.com/bigconv/bigconv/tensor"
)

// A DT_STRING entry is stored as
//
//	varint64 len[0] … len[n-1] | masked crc32c of the lengths (4 bytes) | bytes
//
// The lengths' checksum covers each length as a uint32 (a uint64 when it
// exceeds 2^32-1) in the bundle's byte order; the entry's crc32c continues
// over the 4 stored checksum bytes and then the string bytes.
//
// bigconv exposes a string tensor as NumPy "|S<w>" records, w being the
// longest string (at least 1), each NUL-padded. Open makes one pass over
// the entry: it reads the lengths into an offset table (8 bytes per
// string), verifies both checksums and reads each string byte once. A
// failed check does not fail Open: the tensor is listed, and every ReadAt
// of its Data returns the error (ErrChecksum or ErrCorrupt).

func (o *opener) strings(key string, e *entry, t *tensor.Tensor) (*tensor.Tensor, error) {
	n, err := e.shape.NumElements()
	if err != nil {
		return nil, errorf(tensor.ErrCorrupt, o.b.name, key, e.at, "BundleEntryProto: shape %v: %v", e.shape, err)
	}
	// Each string takes at least one length byte; this also caps the
	// offset table at 8 bytes per byte of the entry.
	if n > 0 && n > e.size-4 || n == 0 && e.size != 0 && e.size != 4 {
		return nil, errorf(tensor.ErrCorrupt, o.b.name, key, e.at, "BundleEntryProto: %d strings cannot fit in %d bytes", n, e.size)
	}
	s, err := o.place(key, e)
	if err != nil {
		return nil, err
	}
	sd := &stringData{r: s.r, file: s.file, name: key, width: 1}
	sd.err = sd.index(s, e, n, o.b.bigEndian)
	t.DType = dtype.BytesOf(int(sd.width))
	t.Data = sd
	t.File = s.file
	t.Offset = e.offset
	t.Extra["shard"] = strconv.FormatInt(e.shard, 10)
	t.Extra["strings"] = strconv.FormatInt(n, 10)
	if sd.err != nil {
		t.Extra["error"] = sd.err.Error()
	}
	return t, nil
}

// stringData reads a string tensor as fixed-width NUL-padded records.
// It is safe for concurrent use: after Open it is read-only.
type stringData struct {
	r     io.ReaderAt
	file  string
	name  string
	base  int64   // shard offset of the first string byte
	offs  []int64 // offs[i] is string i's offset from base; offs[n] the total
	width int64
	err   error // sticky: a failed check at Open
}

const maxWidth = 1<<31 - 1

// index reads the lengths, builds the offset table and verifies the
// checksums. It returns the first problem found.
func (sd *stringData) index(s *shardFile, e *entry, n int64, bigEndian bool) error {
	sd.offs = []int64{0}
	if n == 0 {
		return nil
	}
	br := bufio.NewReaderSize(io.NewSectionReader(s.r, e.offset, e.size), 64<<10)
	// n is only checked against the entry's size: the table grows as
	// lengths are read, so a false count costs nothing up front.
	sd.offs = make([]int64, 0, min(n, 1<<16)+1)
	sd.offs = append(sd.offs, 0)
	var (
		crc   uint32
		tmp   [8]byte
		total int64
		pos   int64
		order binary.ByteOrder = binary.LittleEndian
	)
	if bigEndian {
		order = binary.BigEndian
	}
	for i := int64(0); i < n; i++ {
		l, err := binary.ReadUvarint(br)
		if err != nil {
			return errorf(tensor.ErrCorrupt, s.file, sd.name, e.offset+pos, "string %d: bad length varint: %v", i, err)
		}
		pos += int64(varintLen(l))
		if l > uint64(e.size) || total+int64(l) > e.size {
			return errorf(tensor.ErrCorrupt, s.file, sd.name, e.offset+pos, "string lengths add up to more than the entry's %d bytes", e.size)
		}
		if l <= 0xffffffff {
			order.PutUint32(tmp[:4], uint32(l))
			crc = crc32c.Update(crc, tmp[:4])
		} else {
			order.PutUint64(tmp[:], l)
			crc = crc32c.Update(crc, tmp[:])
		}
		total += int64(l)
		sd.offs = append(sd.offs, total)
		sd.width = max(sd.width, int64(l))
	}
	if sd.width > maxWidth {
		return errorf(tensor.ErrUnsupported, s.file, sd.name, e.offset, "a string of %d bytes is too long for a fixed-width record", sd.width)
	}
	if pos+4+total != e.size {
		return errorf(tensor.ErrCorrupt, s.file, sd.name, e.offset,
			"%d length bytes + 4 + %d string bytes != entry size %d", pos, total, e.size)
	}
	if _, err := io.ReadFull(br, tmp[:4]); err != nil {
		return errorf(tensor.ErrCorrupt, s.file, sd.name, e.offset+pos, "reading the lengths' checksum: %v", err)
	}
	if want := crc32c.Unmask(order.Uint32(tmp[:4])); want != crc {
		return errorf(tensor.ErrChecksum, s.file, sd.name, e.offset+pos,
			"string lengths' crc32c is %08x, stored %08x", crc, want)
	}
	crc = crc32c.Update(crc, tmp[:4])
	sd.base = e.offset + pos + 4
	buf := make([]byte, 64<<10)
	for left := total; left > 0; {
		k := min(left, int64(len(buf)))
		if _, err := io.ReadFull(br, buf[:k]); err != nil {
			return errorf(tensor.ErrCorrupt, s.file, sd.name, sd.base+total-left, "reading strings: %v", err)
		}
		crc = crc32c.Update(crc, buf[:k])
		left -= k
	}
	if want := crc32c.Unmask(e.crc); want != crc {
		return errorf(tensor.ErrChecksum, s.file, sd.name, e.offset,
			"string tensor crc32c is %08x, index says %08x", crc, want)
	}
	return nil
}

func varintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// ReadAt reads the records' bytes [off, off+len(p)).
func (sd *stringData) ReadAt(p []byte, off int64) (int, error) {
	if sd.err != nil {
		return 0, sd.err
	}
	w := sd.width
	total := int64(len(sd.offs)-1) * w
	if off < 0 {
		return 0, fmt.Errorf("tfbundle: %s: tensor %q: negative offset %d", sd.file, sd.name, off)
	}
	if off >= total {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	var eof error
	if int64(len(p)) > total-off {
		p, eof = p[:total-off], io.EOF
	}
	q := p
	i, j := off/w, off%w
	if j != 0 || int64(len(q)) < w { // leading partial record
		k, err := sd.part(q, i, j)
		if err != nil {
			return 0, err
		}
		q, i = q[k:], i+1
	}
	if cnt := int64(len(q)) / w; cnt > 0 {
		if err := sd.whole(q[:cnt*w], i, cnt); err != nil {
			return len(p) - len(q), err
		}
		q, i = q[cnt*w:], i+cnt
	}
	if len(q) > 0 { // trailing partial record
		if _, err := sd.part(q, i, 0); err != nil {
			return len(p) - len(q), err
		}
	}
	return len(p), eof
}

// part fills q with record i from byte j, up to the record's end.
func (sd *stringData) part(q []byte, i, j int64) (int, error) {
	m := min(int64(len(q)), sd.width-j)
	l := sd.offs[i+1] - sd.offs[i]
	c := max(0, min(l, j+m)-j)
	if c > 0 {
		if err := sd.read(q[:c], sd.base+sd.offs[i]+j); err != nil {
			return 0, err
		}
	}
	clear(q[c:m])
	return int(m), nil
}

// whole fills dst with cnt whole records from record i0, with one read:
// the packed strings go to the end of dst, then each moves forward to its
// record. Record k's source lies at or after byte k×width, and after the
// bytes of records before it, so no string is overwritten before it moves.
func (sd *stringData) whole(dst []byte, i0, cnt int64) error {
	w := sd.width
	first := sd.offs[i0]
	src := int64(len(dst)) - (sd.offs[i0+cnt] - first)
	if err := sd.read(dst[src:], sd.base+first); err != nil {
		return err
	}
	for k := int64(0); k < cnt; k++ {
		s := src + sd.offs[i0+k] - first
		l := sd.offs[i0+k+1] - sd.offs[i0+k]
		copy(dst[k*w:k*w+l], dst[s:s+l])
		clear(dst[k*w+l : (k+1)*w])
	}
	return nil
}

func (sd *stringData) read(p []byte, off int64) error {
	n, err := sd.r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return errorf(tensor.ErrCorrupt, sd.file, sd.name, off, "reading strings: %v", err)
}
