package npz

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/crc32"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format/npy/npyhdr"
)

// npyOf is a .npy file: NumPy's header for dt, shape and order, then data.
func npyOf(dt string, shape dtype.Shape, fortran bool, data []byte) []byte {
	h, err := npyhdr.Encode(dtype.MustParse(dt), shape, fortran)
	if err != nil {
		panic(err)
	}
	return append(h, data...)
}

// seq is n bytes counting from 1.
func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i + 1)
	}
	return b
}

// member is one zip member as a test writes it. Zero sizes and CRC are
// computed; set them (with raw) to write what a broken writer would.
type zmember struct {
	name   string
	body   []byte // uncompressed
	method uint16
	flags  uint16
	// raw, when set, is written as the member's stored bytes as is, with
	// crc and the sizes below.
	raw          []byte
	crc          uint32
	csize, usize uint64
}

// zipOf writes a zip archive of the members, as np.savez (method 0) or
// np.savez_compressed (method 8) would.
func zipOf(ms ...zmember) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range ms {
		raw := m.raw
		if raw == nil {
			raw = m.body
			if m.method == zip.Deflate {
				var c bytes.Buffer
				fw, _ := flate.NewWriter(&c, flate.DefaultCompression)
				fw.Write(m.body)
				fw.Close()
				raw = c.Bytes()
			}
			m.crc = crc32.ChecksumIEEE(m.body)
			m.csize, m.usize = uint64(len(raw)), uint64(len(m.body))
		}
		w, err := zw.CreateRaw(&zip.FileHeader{Name: m.name, Method: m.method, Flags: m.flags,
			CRC32: m.crc, CompressedSize64: m.csize, UncompressedSize64: m.usize})
		if err != nil {
			panic(err)
		}
		w.Write(raw)
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// deflate compresses b as a zip member's data.
func deflate(b []byte) []byte {
	var c bytes.Buffer
	fw, _ := flate.NewWriter(&c, flate.DefaultCompression)
	fw.Write(b)
	fw.Close()
	return c.Bytes()
}

// zip64Of writes stored members with every Zip64 structure a writer can
// use: local and central headers whose sizes and offset are 0xFFFFFFFF
// with the real values in a Zip64 extra field, a Zip64 end of central
// directory record and its locator, and a classic end record of 0xFFFF
// counts. (archive/zip's writer uses Zip64 only past 4 GiB.)
func zip64Of(ms ...zmember) []byte {
	le := binary.LittleEndian
	var out, cd []byte
	for _, m := range ms {
		off := uint64(len(out))
		crc := crc32.ChecksumIEEE(m.body)
		size := uint64(len(m.body))
		extra := le.AppendUint16(nil, 1)
		extra = le.AppendUint16(extra, 16)
		extra = le.AppendUint64(extra, size)
		extra = le.AppendUint64(extra, size)
		out = le.AppendUint32(out, 0x04034b50)
		out = le.AppendUint16(out, 45) // version needed: Zip64
		out = le.AppendUint16(out, 0)  // flags
		out = le.AppendUint16(out, 0)  // stored
		out = le.AppendUint32(out, 0)  // time, date
		out = le.AppendUint32(out, crc)
		out = le.AppendUint32(out, 0xffffffff)
		out = le.AppendUint32(out, 0xffffffff)
		out = le.AppendUint16(out, uint16(len(m.name)))
		out = le.AppendUint16(out, uint16(len(extra)))
		out = append(out, m.name...)
		out = append(out, extra...)
		out = append(out, m.body...)

		cextra := le.AppendUint16(nil, 1)
		cextra = le.AppendUint16(cextra, 24)
		cextra = le.AppendUint64(cextra, size)
		cextra = le.AppendUint64(cextra, size)
		cextra = le.AppendUint64(cextra, off)
		cd = le.AppendUint32(cd, 0x02014b50)
		cd = le.AppendUint16(cd, 45) // version made by
		cd = le.AppendUint16(cd, 45) // version needed
		cd = le.AppendUint16(cd, 0)
		cd = le.AppendUint16(cd, 0)
		cd = le.AppendUint32(cd, 0)
		cd = le.AppendUint32(cd, crc)
		cd = le.AppendUint32(cd, 0xffffffff)
		cd = le.AppendUint32(cd, 0xffffffff)
		cd = le.AppendUint16(cd, uint16(len(m.name)))
		cd = le.AppendUint16(cd, uint16(len(cextra)))
		cd = le.AppendUint16(cd, 0) // comment
		cd = le.AppendUint16(cd, 0) // disk
		cd = le.AppendUint16(cd, 0) // internal attributes
		cd = le.AppendUint32(cd, 0) // external attributes
		cd = le.AppendUint32(cd, 0xffffffff)
		cd = append(cd, m.name...)
		cd = append(cd, cextra...)
	}
	cdOff := uint64(len(out))
	out = append(out, cd...)
	eocd64 := uint64(len(out))
	out = le.AppendUint32(out, 0x06064b50)
	out = le.AppendUint64(out, 44)
	out = le.AppendUint16(out, 45)
	out = le.AppendUint16(out, 45)
	out = le.AppendUint32(out, 0)
	out = le.AppendUint32(out, 0)
	out = le.AppendUint64(out, uint64(len(ms)))
	out = le.AppendUint64(out, uint64(len(ms)))
	out = le.AppendUint64(out, uint64(len(cd)))
	out = le.AppendUint64(out, cdOff)
	out = le.AppendUint32(out, 0x07064b50) // locator
	out = le.AppendUint32(out, 0)
	out = le.AppendUint64(out, eocd64)
	out = le.AppendUint32(out, 1)
	out = le.AppendUint32(out, 0x06054b50)
	out = le.AppendUint16(out, 0)
	out = le.AppendUint16(out, 0)
	out = le.AppendUint16(out, 0xffff)
	out = le.AppendUint16(out, 0xffff)
	out = le.AppendUint32(out, 0xffffffff)
	out = le.AppendUint32(out, 0xffffffff)
	out = le.AppendUint16(out, 0)
	return out
}

func crc32IEEE(b []byte) uint32 { return crc32.ChecksumIEEE(b) }
