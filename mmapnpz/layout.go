package mmapnpz

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format/npy/npyhdr"
)

// The archive, computed from the member list before anything is written:
//
//	member 0   local file header (30 bytes, NAME.npy, zip64 extra when the
//	           member reaches 4 GiB, alignment extra) — CRC patched at Commit
//	           .npy header (npyhdr.Encode: data starts at a multiple of 64)
//	           data                                   ← Entry(0) writes here
//	member 1   …
//	central directory (one record per member; zip64 extra with the sizes
//	           and offset that do not fit in 32 bits)  — written at Commit
//	zip64 end of central directory record and locator (when there are
//	           65535 members or more, or the directory passes 4 GiB)
//	end of central directory record (22 bytes)
//
// Every member is stored (method 0), with its sizes in the local header
// (no data descriptor). Each member's .npy header starts at a multiple
// of 64 in the file (the alignment extra field pads the local header, as
// Android's zipalign does), so the data of every member is 64-byte
// aligned in the file and a reader can map it.

const (
	sigLocal   = 0x04034b50
	sigCentral = 0x02014b50
	sigEnd64   = 0x06064b50
	sigLoc64   = 0x07064b50
	sigEnd     = 0x06054b50

	localLen   = 30
	centralLen = 46
	end64Len   = 56
	loc64Len   = 20
	endLen     = 22

	extraZip64 = 0x0001
	extraAlign = 0xd935 // zipalign's alignment extra: uint16 alignment, then padding

	align    = 64
	max32    = 0xffffffff
	max16    = 0xffff
	flagUTF8 = 1 << 11

	versionStored = 20 // what Python's zipfile writes for stored members
	versionZip64  = 45
	madeByUnix    = 3 << 8
)

// Member is one array of the archive: np.load(out)[Name] is it. Its zip
// member is Name+".npy", as np.savez names them.
type Member struct {
	Name  string
	DType dtype.DType
	Shape dtype.Shape
}

// memberLayout is where member i's pieces sit in the file.
type memberLayout struct {
	Member
	file     string // zip member name
	hdr      []byte // .npy header
	hdrCRC   uint32 // CRC-32 of hdr
	local    int64  // offset of the local file header
	localLen int64  // local header with name and extras
	dataLen  int64  // array bytes
	zip64    bool   // the member's size needs zip64 fields
}

// size is the member's uncompressed (= stored) size: .npy header and data.
func (m *memberLayout) size() int64 { return int64(len(m.hdr)) + m.dataLen }

// content is the file offset of the .npy header; data follows it.
func (m *memberLayout) content() int64 { return m.local + m.localLen }

// dataOff is the file offset of the array data.
func (m *memberLayout) dataOff() int64 { return m.content() + int64(len(m.hdr)) }

type layout struct {
	members []memberLayout
	cdOff   int64 // central directory
	cdLen   int64
	zip64   bool // zip64 end records
	total   int64
	dosTime uint16
	dosDate uint16
}

func plan(members []Member, mod time.Time) (*layout, error) {
	l := &layout{members: make([]memberLayout, len(members))}
	l.setTime(mod)
	seen := make(map[string]bool, len(members))
	var off int64
	for i, m := range members {
		if err := checkName(m.Name); err != nil {
			return nil, err
		}
		if seen[m.Name] {
			return nil, fmt.Errorf("mmapnpz: two arrays named %q", m.Name)
		}
		seen[m.Name] = true
		if !m.DType.Type.NumPy() || m.DType.Size() == 0 {
			return nil, fmt.Errorf("mmapnpz: %q: %s cannot be written to .npy", m.Name, m.DType)
		}
		dataLen, err := m.Shape.NumBytes(m.DType.Size())
		if err != nil {
			return nil, fmt.Errorf("mmapnpz: %q: %w", m.Name, err)
		}
		hdr, err := npyhdr.Encode(m.DType, m.Shape, false)
		if err != nil {
			return nil, fmt.Errorf("mmapnpz: %q: %w", m.Name, err)
		}
		ml := memberLayout{Member: Member{Name: m.Name, DType: m.DType, Shape: m.Shape.Clone()},
			file: m.Name + ".npy", hdr: hdr, hdrCRC: crcIEEE(hdr), local: off, dataLen: dataLen}
		ml.zip64 = ml.size() >= max32
		base := off + localLen + int64(len(ml.file))
		if ml.zip64 {
			base += 20
		}
		ml.localLen = base - off + alignPad(base)
		if off, err = addCheck(ml.content(), ml.size()); err != nil {
			return nil, fmt.Errorf("mmapnpz: %q: %w", m.Name, err)
		}
		l.members[i] = ml
	}
	l.cdOff = off
	for i := range l.members {
		l.cdLen += int64(centralLen + len(l.members[i].file) + len(l.centralExtra(i)))
	}
	l.zip64 = len(l.members) >= max16 || l.cdOff >= max32 || l.cdLen >= max32
	l.total = l.cdOff + l.cdLen + endLen
	if l.zip64 {
		l.total += end64Len + loc64Len
	}
	return l, nil
}

func addCheck(a, b int64) (int64, error) {
	if a > (1<<63-1)-b {
		return 0, fmt.Errorf("%w: archive size overflows int64", dtype.ErrShape)
	}
	return a + b, nil
}

// alignPad is the alignment extra field's length that makes a local
// header ending at base end at a multiple of 64: 0, or 6 to 69 bytes
// (the field's 4-byte header and 2-byte alignment must fit).
func alignPad(base int64) int64 {
	r := (align - base%align) % align
	switch {
	case r == 0:
		return 0
	case r < 6:
		return r + align
	}
	return r
}

// checkName refuses names np.load could not give back: empty ones are
// allowed (np.savez writes ".npy" for **{"": a}), NUL (zipfile cuts names
// there) and names too long for a zip header are not; neither is
// invalid UTF-8.
func checkName(name string) error {
	switch {
	case strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("mmapnpz: array name %q holds a NUL byte", name)
	case !utf8.ValidString(name):
		return fmt.Errorf("mmapnpz: array name %q is not valid UTF-8", name)
	case len(name)+4 > max16:
		return fmt.Errorf("mmapnpz: array name of %d bytes is longer than a zip member name may be", len(name))
	}
	return nil
}

func (l *layout) setTime(t time.Time) {
	if t.Year() < 1980 {
		t = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	l.dosDate = uint16((t.Year()-1980)<<9 | int(t.Month())<<5 | t.Day())
	l.dosTime = uint16(t.Hour()<<11 | t.Minute()<<5 | t.Second()/2)
}

// modTimeForTest decodes the DOS time (tests).
func (l *layout) modTimeForTest() time.Time {
	return time.Date(int(l.dosDate>>9)+1980, time.Month(l.dosDate>>5&15), int(l.dosDate&31),
		int(l.dosTime>>11), int(l.dosTime>>5&63), int(l.dosTime&31)*2, 0, time.Local)
}

func flags(name string) uint16 {
	for i := 0; i < len(name); i++ {
		if name[i] >= 0x80 {
			return flagUTF8 // as zipfile: set only for names that need it
		}
	}
	return 0
}

// localHeader is member i's local file header with crc.
func (l *layout) localHeader(i int, crc uint32) []byte {
	m := &l.members[i]
	b := make([]byte, 0, m.localLen)
	le := binary.LittleEndian
	b = le.AppendUint32(b, sigLocal)
	version, size32 := uint16(versionStored), uint32(m.size())
	extra := m.localLen - localLen - int64(len(m.file))
	if m.zip64 {
		version, size32 = versionZip64, max32
	}
	b = le.AppendUint16(b, version)
	b = le.AppendUint16(b, flags(m.file))
	b = le.AppendUint16(b, 0) // stored
	b = le.AppendUint16(b, l.dosTime)
	b = le.AppendUint16(b, l.dosDate)
	b = le.AppendUint32(b, crc)
	b = le.AppendUint32(b, size32) // compressed
	b = le.AppendUint32(b, size32) // uncompressed
	b = le.AppendUint16(b, uint16(len(m.file)))
	b = le.AppendUint16(b, uint16(extra))
	b = append(b, m.file...)
	if m.zip64 {
		b = le.AppendUint16(b, extraZip64)
		b = le.AppendUint16(b, 16)
		b = le.AppendUint64(b, uint64(m.size())) // uncompressed first, as the spec orders them
		b = le.AppendUint64(b, uint64(m.size()))
		extra -= 20
	}
	if extra > 0 {
		b = le.AppendUint16(b, extraAlign)
		b = le.AppendUint16(b, uint16(extra-4))
		b = le.AppendUint16(b, align)
		b = append(b, make([]byte, extra-6)...)
	}
	return b
}

// localCRCOffset is where the CRC sits in a local header.
const localCRCOffset = 14

// localTimeOffset is where the DOS time and date sit in a local header.
const localTimeOffset = 10

// centralExtra is member i's zip64 extra in the central directory: only
// the fields whose 32-bit slot holds 0xffffffff, in the spec's order.
func (l *layout) centralExtra(i int) []byte {
	m := &l.members[i]
	var vals []uint64
	if m.zip64 {
		vals = append(vals, uint64(m.size()), uint64(m.size()))
	}
	if m.local >= max32 {
		vals = append(vals, uint64(m.local))
	}
	if len(vals) == 0 {
		return nil
	}
	le := binary.LittleEndian
	b := le.AppendUint16(nil, extraZip64)
	b = le.AppendUint16(b, uint16(8*len(vals)))
	for _, v := range vals {
		b = le.AppendUint64(b, v)
	}
	return b
}

// appendCentral appends member i's central directory record.
func (l *layout) appendCentral(b []byte, i int, crc uint32) []byte {
	m := &l.members[i]
	le := binary.LittleEndian
	extra := l.centralExtra(i)
	version, size32, off32 := uint16(versionStored), uint32(m.size()), uint32(m.local)
	if m.zip64 {
		size32 = max32
	}
	if m.local >= max32 {
		off32 = max32
	}
	if len(extra) > 0 {
		version = versionZip64
	}
	b = le.AppendUint32(b, sigCentral)
	b = le.AppendUint16(b, madeByUnix|version)
	b = le.AppendUint16(b, version)
	b = le.AppendUint16(b, flags(m.file))
	b = le.AppendUint16(b, 0)
	b = le.AppendUint16(b, l.dosTime)
	b = le.AppendUint16(b, l.dosDate)
	b = le.AppendUint32(b, crc)
	b = le.AppendUint32(b, size32)
	b = le.AppendUint32(b, size32)
	b = le.AppendUint16(b, uint16(len(m.file)))
	b = le.AppendUint16(b, uint16(len(extra)))
	b = le.AppendUint16(b, 0)         // comment
	b = le.AppendUint16(b, 0)         // disk
	b = le.AppendUint16(b, 0)         // internal attributes
	b = le.AppendUint32(b, 0o644<<16) // external: a regular file, rw-r--r--
	b = le.AppendUint32(b, off32)
	b = append(b, m.file...)
	return append(b, extra...)
}

// appendEnd appends the end records that follow the central directory.
func (l *layout) appendEnd(b []byte) []byte {
	le := binary.LittleEndian
	n := uint64(len(l.members))
	if l.zip64 {
		end64 := l.cdOff + l.cdLen
		b = le.AppendUint32(b, sigEnd64)
		b = le.AppendUint64(b, end64Len-12)
		b = le.AppendUint16(b, madeByUnix|versionZip64)
		b = le.AppendUint16(b, versionZip64)
		b = le.AppendUint32(b, 0)
		b = le.AppendUint32(b, 0)
		b = le.AppendUint64(b, n)
		b = le.AppendUint64(b, n)
		b = le.AppendUint64(b, uint64(l.cdLen))
		b = le.AppendUint64(b, uint64(l.cdOff))
		b = le.AppendUint32(b, sigLoc64)
		b = le.AppendUint32(b, 0)
		b = le.AppendUint64(b, uint64(end64))
		b = le.AppendUint32(b, 1)
	}
	n16, cdLen32, cdOff32 := uint16(min(n, max16)), uint32(min(l.cdLen, max32)), uint32(min(l.cdOff, max32))
	if l.zip64 {
		n16, cdLen32, cdOff32 = max16, max32, max32
	}
	b = le.AppendUint32(b, sigEnd)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint16(b, n16)
	b = le.AppendUint16(b, n16)
	b = le.AppendUint32(b, cdLen32)
	b = le.AppendUint32(b, cdOff32)
	return le.AppendUint16(b, 0)
}
