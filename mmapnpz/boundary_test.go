package mmapnpz

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/crccombine"
	"github.com/bigconv/bigconv/internal/numpytest"
)

// zeroCRC is the CRC-32 of n zero bytes, by doubling with Combine.
func zeroCRC(n int64) uint32 {
	crc, sq, sqLen := uint32(0), crc32.ChecksumIEEE([]byte{0}), int64(1) // sq: CRC of sqLen zeros
	for ; n > 0; n >>= 1 {
		if n&1 != 0 {
			crc = crccombine.IEEE.Combine(crc, sq, sqLen)
		}
		sq = crccombine.IEEE.Combine(sq, sq, sqLen)
		sqLen *= 2
	}
	return crc
}

func TestZeroCRC(t *testing.T) {
	for _, n := range []int64{0, 1, 2, 3, 1000, 65537} {
		if got, want := zeroCRC(n), crc32.ChecksumIEEE(make([]byte, n)); got != want {
			t.Fatalf("zeroCRC(%d) = %#x, want %#x", n, got, want)
		}
	}
}

// boundaryScript checks, for each member, what zipfile reads from the
// central directory (size, local header offset, CRC) against what the
// layout planned, opens the member (which parses its local header) and
// reads its .npy header; members under 1 MiB are read whole, so zipfile
// checks their CRC.
const boundaryScript = `
import json, sys, zipfile
import numpy as np
for out, want in json.load(open(sys.argv[1])):
    z = zipfile.ZipFile(out)
    infos = z.infolist()
    assert [i.filename for i in infos] == [w["file"] for w in want]
    for zi, w in zip(infos, want):
        assert (zi.file_size, zi.compress_size, zi.header_offset, zi.CRC) == (w["size"], w["size"], w["local"], w["crc"]), (out, zi, w)
        with z.open(zi) as f:
            v = np.lib.format.read_magic(f)
            shape, fo, dt = np.lib.format._read_array_header(f, v)
            assert list(shape) == w["shape"] and dt.str == w["descr"], (shape, dt)
            if zi.file_size < 1 << 20:
                f.read()
    print("ok", out.split("/")[-1], [(zi.filename, hex(zi.file_size), hex(zi.header_offset)) for zi in infos])
`

type boundaryWant struct {
	File  string  `json:"file"`
	Size  int64   `json:"size"`
	Local int64   `json:"local"`
	CRC   uint32  `json:"crc"`
	Shape []int64 `json:"shape"`
	Descr string  `json:"descr"`
}

// TestZip64Boundaries lays out archives whose sizes and offsets sit on
// the 32-bit limits (0xfffffffe, 0xffffffff, 2^32) as sparse files of
// zeros, gives Commit the zeros' CRCs, and has zipfile and archive/zip
// read the directories: every member's size, offset and CRC, its local
// header and its .npy header.
func TestZip64Boundaries(t *testing.T) {
	defer func(v bool) { sparseForTest = v }(sparseForTest)
	sparseForTest = true
	u1 := dtype.MustParse("|u1")
	// size of the first member's local header + .npy header for a shape of 10 digits
	probe, err := plan([]Member{{Name: "a", DType: u1, Shape: dtype.Shape{4000000000}}}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	head := probe.members[0].dataOff() // same for the sizes below (10-digit shapes, no zip64 in a's local header)
	small := Member{Name: "small", DType: dtype.MustParse("<f4"), Shape: dtype.Shape{3, 2}}
	dir := t.TempDir()
	var runs [][2]any // archive path, []boundaryWant
	for ci, c := range []struct {
		name    string
		members []Member
		zip64   []bool // per member: sizes in zip64 fields
		local   int64  // the second member's local header (0: any)
	}{
		// a's size (npy header + data) one under the limit: no zip64 for a; small's offset is past it
		{"size=0xfffffffe", []Member{{Name: "a", DType: u1, Shape: dtype.Shape{0xfffffffe - (head - 64)}}, small}, []bool{false, false}, 0},
		{"size=0xffffffff", []Member{{Name: "a", DType: u1, Shape: dtype.Shape{0xffffffff - (head - 64)}}, small}, []bool{true, false}, 0},
		{"size=2^32", []Member{{Name: "a", DType: u1, Shape: dtype.Shape{1<<32 - (head - 64)}}, small}, []bool{true, false}, 0},
		// small's local header exactly at 0xfffffffe, 0xffffffff (zip64 offset) and 2^32
		{"offset=0xfffffffe", []Member{{Name: "a", DType: u1, Shape: dtype.Shape{0xfffffffe - head}}, small}, []bool{false, false}, 0xfffffffe},
		{"offset=0xffffffff", []Member{{Name: "a", DType: u1, Shape: dtype.Shape{0xffffffff - head}}, small}, []bool{false, false}, 0xffffffff},
		{"offset=2^32", []Member{{Name: "a", DType: u1, Shape: dtype.Shape{1<<32 - head}}, small}, []bool{false, false}, 1 << 32},
		// the central directory starting just under the limit, ending past it
		{"cd across 4 GiB", []Member{{Name: "a", DType: u1, Shape: dtype.Shape{cdAcross(t, head)}}, {Name: "z", DType: u1, Shape: dtype.Shape{1}}}, []bool{false, false}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, fmt.Sprintf("b%d.npz", ci))
			w, err := Create(out, c.members, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Abort()
			var ws []boundaryWant
			for i := range c.members {
				m := &w.lay.members[i]
				if m.zip64 != c.zip64[i] {
					t.Fatalf("member %d: zip64 %v, want %v (size %#x)", i, m.zip64, c.zip64[i], m.size())
				}
				w.crcs[i].add(Range{Off: 0, Len: m.dataLen, CRC: zeroCRC(m.dataLen)})
				ws = append(ws, boundaryWant{m.file, m.size(), m.local, crccombine.IEEE.Combine(m.hdrCRC, zeroCRC(m.dataLen), m.dataLen),
					[]int64(m.Shape), m.DType.Descr()})
			}
			if w.lay.members[1].local != c.local && c.local != 0 {
				t.Fatalf("second member at %#x, want %#x", w.lay.members[1].local, c.local)
			}
			if c.name == "cd across 4 GiB" && !(w.lay.cdOff < max32 && w.lay.cdOff+w.lay.cdLen > max32) {
				t.Fatalf("directory at %#x+%d", w.lay.cdOff, w.lay.cdLen)
			}
			t.Logf("sizes %#x, offsets %#x %#x, directory at %#x, zip64 end records %v",
				w.lay.members[0].size(), w.lay.members[0].local, w.lay.members[1].local, w.lay.cdOff, w.lay.zip64)
			if err := w.Commit(); err != nil {
				t.Fatal(err)
			}
			runs = append(runs, [2]any{out, ws})
			zr, err := zip.OpenReader(out)
			if err != nil {
				t.Fatal(err)
			}
			defer zr.Close()
			for i, f := range zr.File {
				off, err := f.DataOffset()
				if err != nil || off != w.lay.members[i].content() || int64(f.UncompressedSize64) != ws[i].Size || f.CRC32 != ws[i].CRC {
					t.Fatalf("archive/zip: %s at %d (%v), size %d, crc %#x; want %d, %d, %#x",
						f.Name, off, err, f.UncompressedSize64, f.CRC32, w.lay.members[i].content(), ws[i].Size, ws[i].CRC)
				}
			}
		})
	}
	b, _ := json.Marshal(runs)
	spec := filepath.Join(dir, "want.json")
	os.WriteFile(spec, b, 0o644)
	res := strings.TrimSpace(string(numpytest.Run(t, boundaryScript, spec)))
	if strings.Count(res, "ok ") != len(runs) {
		t.Fatal(res)
	}
	t.Log(res)
}

// cdAcross is the length of a member "a" before a 1-byte member "z"
// that puts the central directory across 0xffffffff.
func cdAcross(t *testing.T, head int64) int64 {
	n := int64(0xffffffff) - head - 200
	for range 10 {
		l, err := plan([]Member{{Name: "a", DType: dtype.MustParse("|u1"), Shape: dtype.Shape{n}}, {Name: "z", DType: dtype.MustParse("|u1"), Shape: dtype.Shape{1}}}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if l.cdOff < max32 && l.cdOff+l.cdLen > max32 {
			return n
		}
		n += max32 - l.cdOff - l.cdLen/2
	}
	t.Fatal("no length puts the directory across 4 GiB")
	return 0
}
