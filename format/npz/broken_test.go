package npz

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/brokentest"
	"github.com/bigconv/bigconv/tensor"
)

// The members of the good archives: a C-order <i4 (3, 5), a Fortran-order
// big-endian (2, 3) float64, and a |S3 scalar.
var (
	memA = npyOf("<i4", dtype.Shape{3, 5}, false, seq(60))
	memB = npyOf(">f8", dtype.Shape{2, 3}, true, seq(48))
	memC = npyOf("|S3", dtype.Shape{}, false, []byte("csr"))
)

func goodStored() []byte {
	return zipOf(zmember{name: "a.npy", body: memA}, zmember{name: "b.npy", body: memB}, zmember{name: "c.npy", body: memC})
}

func goodDeflated() []byte {
	return zipOf(zmember{name: "a.npy", body: memA, method: zip.Deflate}, zmember{name: "b.npy", body: memB, method: zip.Deflate},
		zmember{name: "c.npy", body: memC, method: zip.Deflate})
}

// errUnsupportedTensor marks a case that opens with a member listed as
// Unsupported.
var errUnsupportedTensor = errors.New("listed as unsupported")

type brokenCase struct {
	name string
	b    []byte
	want error  // sentinel; nil = opens and reads; errUnsupportedTensor
	msg  string // must appear in the message besides the file name
}

// patch returns b with v written little-endian at off (2 or 4 bytes).
func patch(b []byte, off int, v uint32, width int) []byte {
	b = bytes.Clone(b)
	if width == 2 {
		binary.LittleEndian.PutUint16(b[off:], uint16(v))
	} else {
		binary.LittleEndian.PutUint32(b[off:], v)
	}
	return b
}

// centralDir is the offset of the first central directory header of b.
func centralDir(b []byte) int {
	eocd := bytes.LastIndex(b, []byte("PK\x05\x06"))
	return int(binary.LittleEndian.Uint32(b[eocd+16:]))
}

func brokenCases() []brokenCase {
	var cases []brokenCase
	add := func(name string, b []byte, want error, msg string) {
		cases = append(cases, brokenCase{name, b, want, msg})
	}
	// Truncated at every byte, stored and deflated: the end of central
	// directory record is at the end, so every cut loses it.
	for _, g := range []struct {
		kind string
		b    []byte
	}{{"stored", goodStored()}, {"deflated", goodDeflated()}} {
		add(g.kind+"/whole", g.b, nil, "")
		for cut := range len(g.b) {
			want, msg := tensor.ErrCorrupt, "read zip directory"
			if cut == 0 {
				want = tensor.ErrFormat
			}
			add(fmt.Sprintf("%s/cut=%d", g.kind, cut), g.b[:cut], want, msg)
		}
	}
	add("empty archive (np.savez())", zipOf(), nil, "")
	add("not a zip (a .npy)", memA, tensor.ErrFormat, "read zip directory")
	add("not a zip (text)", []byte("hello, world, this is not a zip file at all"), tensor.ErrFormat, "")
	add("a torch.save archive", zipOf(zmember{name: "archive/data.pkl", body: []byte("\x80\x02N.")}, zmember{name: "archive/data/0", body: memA}), tensor.ErrFormat, "use --format pytorch")
	add("an .npz holding a data.pkl beside arrays", zipOf(zmember{name: "a.npy", body: memA}, zmember{name: "archive/data.pkl", body: []byte("x")}), errUnsupportedTensor, "")

	// Central directory fields damaged.
	good := goodStored()
	cd := centralDir(good)
	add("local header offset past the end", patch(good, cd+42, 1<<30, 4), tensor.ErrCorrupt, "local header")
	add("local header offset into data", patch(good, cd+42, 100, 4), tensor.ErrCorrupt, "local header")
	add("compressed size past the end", patch(patch(good, cd+20, 1<<30, 4), cd+24, 1<<30, 4), tensor.ErrCorrupt, "runs past the end")
	add("sizes disagree (stored)", patch(good, cd+24, uint32(len(memA)+5), 4), tensor.ErrCorrupt, "uncompressed size")
	add("sizes shrunk (stored)", patch(patch(good, cd+20, 100, 4), cd+24, 100, 4), tensor.ErrCorrupt, "runs past the end")
	add("method 12 (bzip2)", zipOf(zmember{name: "a.npy", method: 12, raw: memA, csize: uint64(len(memA)), usize: uint64(len(memA))}),
		errUnsupportedTensor, "")
	add("method 99 in directory", patch(good, cd+10, 99, 2), errUnsupportedTensor, "")
	add("encrypted", zipOf(zmember{name: "a.npy", flags: 1, raw: memA, csize: uint64(len(memA)), usize: uint64(len(memA))}),
		errUnsupportedTensor, "")
	add("central signature", patch(good, cd, 0x12345678, 4), tensor.ErrCorrupt, "read zip directory")
	add("local signature", patch(good, 0, 0x12345678, 4), tensor.ErrCorrupt, "local header")
	eocd := bytes.LastIndex(good, []byte("PK\x05\x06"))
	add("directory offset past the end", patch(good, eocd+16, 1<<30, 4), tensor.ErrCorrupt, "local header")
	add("record count too high", patch(patch(good, eocd+8, 1000, 2), eocd+10, 1000, 2), tensor.ErrCorrupt, "read zip directory")

	// Members.
	add("duplicate member", zipOf(zmember{name: "a.npy", body: memA}, zmember{name: "a.npy", body: memA}), tensor.ErrCorrupt, `two members named "a.npy"`)
	add("directory entry (skipped)", zipOf(zmember{name: "d/"}, zmember{name: "d/a.npy", body: memA}), nil, "")
	add("not .npy (listed)", zipOf(zmember{name: "notes.txt", body: []byte("hi")}, zmember{name: "a.npy", body: memA}), errUnsupportedTensor, "")
	add("member without magic", zipOf(zmember{name: "a.npy", body: []byte("this is not an npy file, it is text...")}), tensor.ErrFormat, "no .npy magic")
	add("empty member", zipOf(zmember{name: "a.npy"}), tensor.ErrFormat, "no .npy magic")
	add("member header cut", zipOf(zmember{name: "a.npy", body: memA[:40]}), tensor.ErrCorrupt, "runs past the end")
	add("member data cut", zipOf(zmember{name: "a.npy", body: memA[:len(memA)-1]}), tensor.ErrCorrupt, "truncated")
	add("member data cut (deflated)", zipOf(zmember{name: "a.npy", body: memA[:len(memA)-1], method: zip.Deflate}), tensor.ErrCorrupt, "truncated")
	add("member header cut (deflated)", zipOf(zmember{name: "a.npy", body: memA[:40], method: zip.Deflate}), tensor.ErrCorrupt, "runs past the end")
	add("object array", zipOf(zmember{name: "x.npy", body: npyHeader("|O", "(4,)")}), errUnsupportedTensor, "")
	add("unicode", zipOf(zmember{name: "x.npy", body: npyHeader("<U3", "()")}), errUnsupportedTensor, "")
	add("object array (deflated)", zipOf(zmember{name: "x.npy", body: npyHeader("|O", "(4,)"), method: zip.Deflate}), errUnsupportedTensor, "")
	add("npy version 9", zipOf(zmember{name: "a.npy", body: setByte(memA, 6, 9)}), tensor.ErrUnsupported, "version 9.0")

	// Deflated data damaged.
	d := deflate(memA)
	crc := func(b []byte) uint32 { return crc32IEEE(b) }
	add("deflate CRC wrong", zipOf(zmember{name: "a.npy", method: zip.Deflate, raw: d, crc: crc(memA) ^ 1, csize: uint64(len(d)), usize: uint64(len(memA))}),
		tensor.ErrChecksum, "CRC-32")
	add("deflate stream damaged", zipOf(zmember{name: "a.npy", method: zip.Deflate, raw: setByte(d, len(d)/2, d[len(d)/2]^0xff), crc: crc(memA), csize: uint64(len(d)), usize: uint64(len(memA))}),
		nil, "") // replaced below: any of corrupt or checksum
	cases = cases[:len(cases)-1]
	add("deflate stream cut", zipOf(zmember{name: "a.npy", method: zip.Deflate, raw: d[:len(d)/2], crc: crc(memA), csize: uint64(len(d) / 2), usize: uint64(len(memA))}),
		tensor.ErrCorrupt, "")
	add("deflate garbage", zipOf(zmember{name: "a.npy", method: zip.Deflate, raw: bytes.Repeat([]byte{0xff}, 40), crc: crc(memA), csize: 40, usize: uint64(len(memA))}),
		tensor.ErrCorrupt, "inflate")
	add("usize too small", zipOf(zmember{name: "a.npy", method: zip.Deflate, raw: d, crc: crc(memA), csize: uint64(len(d)), usize: uint64(len(memA) - 8)}),
		tensor.ErrCorrupt, "truncated")
	add("usize too large", zipOf(zmember{name: "a.npy", method: zip.Deflate, raw: d, crc: crc(memA), csize: uint64(len(d)), usize: uint64(len(memA) + 8)}),
		tensor.ErrCorrupt, "")
	add("usize 2^63", zipOf(zmember{name: "a.npy", method: zip.Deflate, raw: d, crc: crc(memA), csize: uint64(len(d)), usize: 1 << 63}),
		tensor.ErrCorrupt, "claims")
	// The same, for a member read as a Stream (over SmallMember).
	big := npyOf("<f4", dtype.Shape{520, 512}, false, seq(520*512*4))
	bd := deflate(big)
	add("stream CRC wrong", zipOf(zmember{name: "a.npy", method: zip.Deflate, raw: bd, crc: crc(big) ^ 1, csize: uint64(len(bd)), usize: uint64(len(big))}),
		tensor.ErrChecksum, "CRC-32")
	add("stream cut", zipOf(zmember{name: "a.npy", method: zip.Deflate, raw: bd[:len(bd)/2], crc: crc(big), csize: uint64(len(bd) / 2), usize: uint64(len(big))}),
		tensor.ErrCorrupt, "")
	add("stream usize too large", zipOf(zmember{name: "a.npy", method: zip.Deflate, raw: bd, crc: crc(big), csize: uint64(len(bd)), usize: uint64(len(big) + 64)}),
		tensor.ErrCorrupt, "")
	return cases
}

func setByte(b []byte, at int, v byte) []byte {
	b = bytes.Clone(b)
	b[at] = v
	return b
}

// npyHeader is a v1.0 .npy header with this descr and shape, no data.
func npyHeader(descr, shape string) []byte {
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape)
	hlen := len(dict) + 1
	hlen += (64 - (10+hlen)%64) % 64
	b := append([]byte("\x93NUMPY\x01\x00"), byte(hlen), byte(hlen>>8))
	b = append(b, dict...)
	b = append(b, bytes.Repeat([]byte{' '}, hlen-len(dict)-1)...)
	return append(b, '\n')
}

// openAndRead opens an archive and reads every member's data as the
// engine would; a member listed as unsupported gives errUnsupportedTensor.
func openAndRead(r io.ReaderAt, size int64, name string) error {
	a, err := Open(r, size, name)
	if err != nil {
		return err
	}
	var unsupported bool
	for _, tt := range a.Tensors {
		if tt.Unsupported != "" {
			if tt.Data != nil || tt.Stream != nil {
				return errors.New("unsupported tensor with data")
			}
			unsupported = true
			continue
		}
		if tt.Data == nil && tt.Stream == nil {
			return errors.New("no data and not Unsupported")
		}
		if _, err := brokentest.ReadData(tt, 7); err != nil {
			return err
		}
	}
	if unsupported {
		return errUnsupportedTensor
	}
	return nil
}

// TestBrokenInputs opens every case, with a plain reader and with one that
// returns io.EOF along with the last bytes, and reads the members' data.
func TestBrokenInputs(t *testing.T) {
	for _, c := range brokenCases() {
		t.Run(c.name, func(t *testing.T) {
			for _, r := range []io.ReaderAt{bytes.NewReader(c.b), brokentest.EOFAtEnd(c.b)} {
				err := openAndRead(r, int64(len(c.b)), "b.npz")
				if c.want == nil {
					if err != nil {
						t.Fatalf("%T: %v", r, err)
					}
					continue
				}
				if !errors.Is(err, c.want) {
					t.Fatalf("%T: got %v, want %v", r, err, c.want)
				}
				if c.want == errUnsupportedTensor {
					continue
				}
				msg := err.Error()
				if !strings.Contains(msg, "npz: b.npz: ") || !strings.Contains(msg, c.msg) {
					t.Errorf("%T: message %q does not name the file or lacks %q", r, msg, c.msg)
				}
			}
		})
	}
}

// TestBrokenFlips flips each bit of every byte of a stored and a deflated
// archive: whatever the result, nothing panics, and an error wraps a
// sentinel and names the file.
func TestBrokenFlips(t *testing.T) {
	for _, good := range [][]byte{goodStored(), goodDeflated()} {
		for i := range good {
			for bit := range 8 {
				b := bytes.Clone(good)
				b[i] ^= 1 << bit
				err := openAndRead(bytes.NewReader(b), int64(len(b)), "b.npz")
				if err == nil || err == errUnsupportedTensor {
					continue
				}
				if !errors.Is(err, tensor.ErrFormat) && !errors.Is(err, tensor.ErrCorrupt) &&
					!errors.Is(err, tensor.ErrChecksum) && !errors.Is(err, tensor.ErrUnsupported) {
					t.Errorf("byte %d bit %d: %v wraps no sentinel", i, bit, err)
				}
				if !strings.Contains(err.Error(), "npz: b.npz: ") {
					t.Errorf("byte %d bit %d: %q does not name the file", i, bit, err)
				}
			}
		}
	}
}

// TestDeflateDamage: a damaged deflate stream is found either when the
// header is inflated or when the data is read, as corrupt or as a
// checksum mismatch, never read silently.
func TestDeflateDamage(t *testing.T) {
	body := npyOf("<f4", dtype.Shape{64, 64}, false, seq(64*64*4))
	d := deflate(body)
	for i := 0; i < len(d); i += 7 {
		raw := setByte(d, i, d[i]^0x5a)
		b := zipOf(zmember{name: "a.npy", method: zip.Deflate, raw: raw, crc: crc32IEEE(body), csize: uint64(len(raw)), usize: uint64(len(body))})
		err := openAndRead(bytes.NewReader(b), int64(len(b)), "b.npz")
		if err == nil {
			t.Fatalf("byte %d: damage not found", i)
		}
		if !errors.Is(err, tensor.ErrCorrupt) && !errors.Is(err, tensor.ErrChecksum) && !errors.Is(err, tensor.ErrFormat) && !errors.Is(err, tensor.ErrUnsupported) {
			t.Errorf("byte %d: %v", i, err)
		}
	}
}
