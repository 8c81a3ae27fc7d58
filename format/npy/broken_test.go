package npy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/format/npy/npyhdr"
	"github.com/bigconv/bigconv/internal/brokentest"
	"github.com/bigconv/bigconv/tensor"
)

// npyFile builds a .npy file of the given version (1, 2 or 3) whose
// header text is dict, padded with spaces and a '\n' so that the data
// starts at a multiple of 64, as NumPy writes it; data follows.
func npyFile(major byte, dict string, data []byte) []byte {
	pre := 10
	if major != 1 {
		pre = 12
	}
	hlen := len(dict) + 1
	hlen += (npyhdr.Align - (pre+hlen)%npyhdr.Align) % npyhdr.Align
	b := append([]byte(npyhdr.Magic), major, 0)
	if pre == 10 {
		b = binary.LittleEndian.AppendUint16(b, uint16(hlen))
	} else {
		b = binary.LittleEndian.AppendUint32(b, uint32(hlen))
	}
	b = append(b, dict...)
	b = append(b, bytes.Repeat([]byte{' '}, hlen-len(dict)-1)...)
	b = append(b, '\n')
	return append(b, data...)
}

// goodDict is the header of goodData: 15 int32 values.
const goodDict = "{'descr': '<i4', 'fortran_order': False, 'shape': (3, 5), }"

// goodData is 60 bytes of letters: no byte of it is white space, so a
// header that runs into the data fails to parse.
var goodData = func() []byte {
	b := make([]byte, 60)
	for i := range b {
		b[i] = 'A' + byte(i%26)
	}
	return b
}()

// errUnsupportedTensor marks a case that opens with Tensor.Unsupported set.
var errUnsupportedTensor = errors.New("listed as unsupported")

type brokenCase struct {
	name string
	b    []byte
	want error  // sentinel; nil = opens and reads; errUnsupportedTensor
	msg  string // must appear in the message besides the file name
}

func brokenCases() []brokenCase {
	var cases []brokenCase
	add := func(name string, b []byte, want error, msg string) {
		cases = append(cases, brokenCase{name, b, want, msg})
	}
	dict := func(descr, fortran, shape string) string {
		return fmt.Sprintf("{'descr': %s, 'fortran_order': %s, 'shape': %s, }", descr, fortran, shape)
	}

	// Truncated at every byte of every version: through the preamble,
	// the header text and the data.
	for _, v := range []byte{1, 2, 3} {
		full := npyFile(v, goodDict, goodData)
		add(fmt.Sprintf("v%d/whole", v), full, nil, "")
		for cut := range len(full) {
			want := tensor.ErrCorrupt
			if cut == 0 {
				want = tensor.ErrFormat // an empty file is not a .npy
			}
			add(fmt.Sprintf("v%d/cut=%d", v, cut), full[:cut], want, "")
		}
		// header intact, data cut: detected at Open, at the file's end
		hdr := len(full) - len(goodData)
		for _, cut := range []int{hdr, hdr + 1, hdr + 4, len(full) - 1} {
			add(fmt.Sprintf("v%d/data-cut=%d", v, cut), full[:cut], tensor.ErrCorrupt, fmt.Sprintf("offset %d: truncated", cut))
		}
	}

	// One byte of each preamble field changed.
	good := npyFile(1, goodDict, goodData)
	hlen := int(binary.LittleEndian.Uint16(good[8:]))
	set := func(b []byte, at int, v byte) []byte {
		b = bytes.Clone(b)
		b[at] = v
		return b
	}
	for i := range 6 {
		add(fmt.Sprintf("magic[%d]", i), set(good, i, good[i]^0xff), tensor.ErrFormat, "no .npy magic")
	}
	add("major=0", set(good, 6, 0), tensor.ErrUnsupported, "version 0.0")
	add("major=4", set(good, 6, 4), tensor.ErrUnsupported, "version 4.0")
	add("major=255", set(good, 6, 255), tensor.ErrUnsupported, "version 255.0")
	add("major=1→2", set(good, 6, 2), tensor.ErrCorrupt, "exceeds")
	add("major=1→3", set(good, 6, 3), tensor.ErrCorrupt, "exceeds")
	add("minor=1", set(good, 7, 1), tensor.ErrUnsupported, "version 1.1")
	add("minor=255", set(good, 7, 255), tensor.ErrUnsupported, "version 1.255")
	v2 := npyFile(2, goodDict, goodData)
	add("v2/major=2→1", set(v2, 6, 1), tensor.ErrCorrupt, "")
	add("v2/minor=1", set(v2, 7, 1), tensor.ErrUnsupported, "version 2.1")
	hl := func(b []byte, n int) []byte {
		b = bytes.Clone(b)
		binary.LittleEndian.PutUint16(b[8:], uint16(n))
		return b
	}
	add("hlen=0", hl(good, 0), tensor.ErrCorrupt, "unexpected end")
	add("hlen+1 (into the data)", hl(good, hlen+1), tensor.ErrCorrupt, "trailing text")
	add("hlen+256 (past the end)", hl(good, hlen+256), tensor.ErrCorrupt, "runs past the end")
	add("hlen-64 (inside the dict)", hl(good, hlen-64), tensor.ErrCorrupt, "")
	add("hlen=0xffff", hl(good, 0xffff), tensor.ErrCorrupt, "runs past the end")
	// Shortened into the padding: the dict still parses, the data starts
	// early and one trailing byte is left over. NumPy loads such a file
	// the same way (it checks neither the '\n' nor trailing bytes).
	add("hlen-8 (inside the padding)", hl(good, hlen-8), nil, "")
	v2len := func(n uint32) []byte {
		b := bytes.Clone(v2)
		binary.LittleEndian.PutUint32(b[8:], n)
		return b
	}
	add("v2/hlen=2^32-1", v2len(0xffffffff), tensor.ErrCorrupt, "exceeds the 1048576-byte cap")
	add("v2/hlen=cap", v2len(npyhdr.MaxHeaderLen), tensor.ErrCorrupt, "runs past the end")
	add("v2/hlen=cap+1", v2len(npyhdr.MaxHeaderLen+1), tensor.ErrCorrupt, "exceeds")
	add("v2/hlen+1", v2len(uint32(binary.LittleEndian.Uint32(v2[8:])+1)), tensor.ErrCorrupt, "trailing text")

	// The header text: each of its fields damaged.
	text := func(name, d string, data []byte, want error, msg string) {
		for _, v := range []byte{1, 3} {
			add(fmt.Sprintf("v%d/%s", v, name), npyFile(v, d, data), want, msg)
		}
	}
	text("descr=<i5", dict("'<i5'", "False", "(3, 5)"), goodData, errUnsupportedTensor, "")
	text("descr=|O", dict("'|O'", "False", "(3, 5)"), goodData, errUnsupportedTensor, "")
	text("descr=|S0", dict("'|S0'", "False", "(3, 5)"), goodData, errUnsupportedTensor, "")
	text("descr=5", dict("5", "False", "(3, 5)"), goodData, tensor.ErrCorrupt, "not a type string")
	text("descr unterminated", dict("'<i4", "False", "(3, 5)"), goodData, tensor.ErrCorrupt, "")
	text("descr=None", dict("None", "False", "(3, 5)"), goodData, tensor.ErrCorrupt, "")
	text("fortran=Fals", dict("'<i4'", "Fals", "(3, 5)"), goodData, tensor.ErrCorrupt, "")
	text("fortran=1", dict("'<i4'", "1", "(3, 5)"), goodData, tensor.ErrCorrupt, "not True or False")
	text("fortran=True", dict("'<i4'", "True", "(3, 5)"), goodData, nil, "")
	text("shape=(3, 6)", dict("'<i4'", "False", "(3, 6)"), goodData, tensor.ErrCorrupt, "promises 72 data bytes")
	text("shape=(3, -5)", dict("'<i4'", "False", "(3, -5)"), goodData, tensor.ErrCorrupt, "non-negative")
	text("shape=(3, 5.0)", dict("'<i4'", "False", "(3, 5.0)"), goodData, tensor.ErrCorrupt, "")
	text("shape=[3, 5]", dict("'<i4'", "False", "[3, 5]"), goodData, tensor.ErrCorrupt, "not a tuple")
	text("shape=(3, 'x')", dict("'<i4'", "False", "(3, 'x')"), goodData, tensor.ErrCorrupt, "non-negative")
	text("shape=(3, 5", dict("'<i4'", "False", "(3, 5"), goodData, tensor.ErrCorrupt, "")
	text("key misspelt", strings.Replace(goodDict, "descr", "dexcr", 1), goodData, tensor.ErrCorrupt, "keys")
	text("key repeated", "{'descr': '<i4', 'descr': '<i4', 'shape': (3, 5), }", goodData, tensor.ErrCorrupt, "duplicate key")
	text("extra key", "{'descr': '<i4', 'fortran_order': False, 'shape': (3, 5), 'x': 0}", goodData, tensor.ErrCorrupt, "keys")
	text("no closing brace", strings.TrimSuffix(goodDict, "}"), goodData, tensor.ErrCorrupt, "")
	text("not a dict", "('<i4', False, (3, 5))", goodData, tensor.ErrCorrupt, "not a dict")
	text("nested too deep", strings.Repeat("(", 200)+strings.Repeat(")", 200), goodData, tensor.ErrCorrupt, "nesting too deep")
	text("NUL in text", strings.Replace(goodDict, " ", "\x00", 1), goodData, tensor.ErrCorrupt, "")
	text("latin-1/utf-8 in descr", dict("'<i4\u00e9'", "False", "(3, 5)"), goodData, errUnsupportedTensor, "")
	add("v1/0xff in padding", func() []byte {
		b := bytes.Clone(good)
		b[hlen+10-2] = 0xff
		return b
	}(), tensor.ErrCorrupt, "trailing text")

	// Sizes: negative, overflowing int64 as elements or as bytes, huge
	// but well-formed (refused against the file size), and huge rank.
	text("dim=-1", dict("'<i4'", "False", "(-1,)"), goodData, tensor.ErrCorrupt, "non-negative")
	text("dims 2^32×2^32", dict("'<i4'", "False", "(4294967296, 4294967296)"), goodData, tensor.ErrCorrupt, "2^63-1")
	text("dims 2^62×4", dict("'<i4'", "False", "(4611686018427387904, 4)"), goodData, tensor.ErrCorrupt, "2^63-1")
	text("dim 2^64", dict("'<i4'", "False", "(18446744073709551616,)"), goodData, tensor.ErrCorrupt, "out of range")
	text("dim 2^63", dict("'<i4'", "False", "(9223372036854775808,)"), goodData, tensor.ErrCorrupt, "out of range")
	text("bytes 2^61×8", dict("'<f8'", "False", "(2305843009213693952,)"), goodData, tensor.ErrCorrupt, "overflows int64")
	text("bytes 2^31×|S2^32", dict("'|S4294967296'", "False", "(2147483648,)"), goodData, tensor.ErrCorrupt, "overflows int64")
	text("dim 2^40", dict("'<i4'", "False", "(1099511627776,)"), goodData, tensor.ErrCorrupt, "truncated")
	text("dims (2^62, 0)", dict("'<i4'", "False", "(4611686018427387904, 0)"), nil, nil, "")
	text("object 2^62", dict("'|O'", "False", "(4611686018427387904,)"), nil, errUnsupportedTensor, "")
	text("rank 64", dict("'<i4'", "False", "("+strings.Repeat("1, ", 64)+")"), goodData[:4], nil, "")
	text("rank 65", dict("'<i4'", "False", "("+strings.Repeat("1, ", 65)+")"), goodData[:4], tensor.ErrCorrupt, "dimensions")
	add("v2/rank 100000", npyFile(2, dict("'<i4'", "False", "("+strings.Repeat("1,", 100000)+")"), goodData[:4]), tensor.ErrCorrupt, "dimensions")
	return cases
}

// TestBrokenInputs opens every case, with a plain reader and with one that
// returns io.EOF along with the last bytes, and reads the data of those
// that open as the engine would.
func TestBrokenInputs(t *testing.T) {
	for _, c := range brokenCases() {
		t.Run(c.name, func(t *testing.T) {
			for _, r := range []io.ReaderAt{bytes.NewReader(c.b), brokentest.EOFAtEnd(c.b)} {
				tt, err := Open(r, int64(len(c.b)), "b.npy")
				if err == nil {
					switch {
					case tt.Unsupported != "":
						err = errUnsupportedTensor
					case tt.Data == nil:
						t.Fatal("no Data and not Unsupported")
					default:
						_, err = brokentest.ReadData(tt, 7)
					}
				}
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
				if !strings.HasPrefix(msg, "b.npy: ") || !strings.Contains(msg, c.msg) {
					t.Errorf("%T: message %q does not name the file or lacks %q", r, msg, c.msg)
				}
			}
		})
	}
}

// TestBrokenAllocation: a header length that points far past the end is
// refused before anything is allocated for it.
func TestBrokenAllocation(t *testing.T) {
	v2 := npyFile(2, goodDict, goodData)
	for _, n := range []uint32{npyhdr.MaxHeaderLen, 0xffffffff} {
		b := bytes.Clone(v2)
		binary.LittleEndian.PutUint32(b[8:], n)
		brokentest.Allocation(t, fmt.Sprintf("hlen %d", n), 64<<10, func() error {
			_, err := Open(bytes.NewReader(b), int64(len(b)), "b.npy")
			return err
		})
	}
}

// TestBrokenFlips flips each bit of every header byte of each version:
// whatever the result, Open does not panic, and an error wraps a
// sentinel and names the file.
func TestBrokenFlips(t *testing.T) {
	for _, v := range []byte{1, 2, 3} {
		good := npyFile(v, goodDict, goodData)
		for i := range len(good) - len(goodData) {
			for bit := range 8 {
				b := bytes.Clone(good)
				b[i] ^= 1 << bit
				tt, err := Open(bytes.NewReader(b), int64(len(b)), "b.npy")
				if err == nil && tt.Data != nil {
					_, err = brokentest.ReadData(tt, 64)
				}
				if err == nil {
					continue
				}
				if !errors.Is(err, tensor.ErrFormat) && !errors.Is(err, tensor.ErrCorrupt) && !errors.Is(err, tensor.ErrUnsupported) {
					t.Errorf("v%d byte %d bit %d: %v wraps no sentinel", v, i, bit, err)
				}
				if !strings.HasPrefix(err.Error(), "b.npy: ") {
					t.Errorf("v%d byte %d bit %d: %q does not name the file", v, i, bit, err)
				}
			}
		}
	}
}
