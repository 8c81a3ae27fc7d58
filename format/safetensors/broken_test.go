package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/internal/brokentest"
	"github.com/bigconv/bigconv/tensor"
)

// build writes a safetensors file: the header length, the header JSON
// padded with spaces to a multiple of 8 (as the reference writer pads
// it), then data.
func build(header string, data []byte) []byte {
	h := []byte(header)
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	return append(append(b, h...), data...)
}

// withLen replaces the header length of b.
func withLen(b []byte, n uint64) []byte {
	b = bytes.Clone(b)
	binary.LittleEndian.PutUint64(b, n)
	return b
}

// goodHeader describes goodData: a 2×3 float32, a 4-element int16 and
// a bool scalar, in this order, with metadata.
const goodHeader = `{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},` +
	`"b":{"dtype":"I16","shape":[4],"data_offsets":[24,32]},"c":{"dtype":"BOOL","shape":[],"data_offsets":[32,33]}}`

// goodData is 33 bytes of letters.
var goodData = func() []byte {
	b := make([]byte, 33)
	for i := range b {
		b[i] = 'A' + byte(i%26)
	}
	return b
}()

// one is a header with one tensor.
func one(dtype, shape, offsets string) string {
	return fmt.Sprintf(`{"t":{"dtype":%s,"shape":%s,"data_offsets":%s}}`, dtype, shape, offsets)
}

// errUnsupportedTensor marks a case that opens with a tensor listed as
// Unsupported.
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
	good := build(goodHeader, goodData)
	add("whole", good, nil, "")
	hdrEnd := len(good) - len(goodData)
	// Truncated at every byte: through the length, the header and the data.
	for cut := range len(good) {
		want, msg := tensor.ErrCorrupt, ""
		switch {
		case cut == 0:
			want, msg = tensor.ErrFormat, "empty file"
		case cut < 8:
			msg = "shorter than the 8-byte header length"
		case cut < hdrEnd:
			msg = "truncated: header of"
		default:
			msg = "truncated: data_offsets"
		}
		add(fmt.Sprintf("cut=%d", cut), good[:cut], want, msg)
	}
	// Bad header lengths.
	n := uint64(hdrEnd - 8)
	add("len=0", withLen(good, 0), tensor.ErrFormat, "not a JSON object")
	add("len=1", withLen(good, 1), tensor.ErrCorrupt, "")
	add("len-1 (inside the padding)", withLen(good, n-1), tensor.ErrCorrupt, "bytes after the last tensor")
	add("len-8 (inside the JSON)", withLen(good, n-8), tensor.ErrCorrupt, "header")
	add("len+1 (into the data)", withLen(good, n+1), tensor.ErrCorrupt, "after its JSON object")
	add("len past the end", withLen(good, n+34), tensor.ErrCorrupt, "runs past the end")
	add("len=limit", withLen(good, MaxHeaderLen), tensor.ErrCorrupt, "runs past the end")
	add("len=limit+1", withLen(good, MaxHeaderLen+1), tensor.ErrCorrupt, "exceeds the format's limit")
	add("len=2^63", withLen(good, 1<<63), tensor.ErrCorrupt, "exceeds")
	add("len=2^64-1", withLen(good, 1<<64-1), tensor.ErrCorrupt, "exceeds")

	// Offsets.
	hd := func(name, header string, data []byte, want error, msg string) {
		add(name, build(header, data), want, msg)
	}
	f32 := func(offsets string) string { return one(`"F32"`, "[2]", offsets) }
	hd("offsets past end", f32("[0,8]"), goodData[:4], tensor.ErrCorrupt, "run past the end")
	hd("offsets far past end", f32("[18446744073709551607,18446744073709551615]"), goodData[:8], tensor.ErrCorrupt, "run past the end")
	hd("end before begin", f32("[8,0]"), goodData[:8], tensor.ErrCorrupt, "end before they begin")
	hd("leading gap", f32("[4,12]"), goodData[:12], tensor.ErrCorrupt, "unused at the start")
	hd("trailing bytes", f32("[0,8]"), goodData[:12], tensor.ErrCorrupt, "4 bytes after the last tensor")
	hd("size mismatch (short)", f32("[0,4]"), goodData[:4], tensor.ErrCorrupt, "hold 4 bytes, but F32 (2,) needs 8")
	hd("size mismatch (long)", f32("[0,12]"), goodData[:12], tensor.ErrCorrupt, "needs 8")
	hd("overlap", `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`,
		goodData[:12], tensor.ErrCorrupt, `overlap tensor "a"`)
	hd("same range twice", `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`,
		goodData[:8], tensor.ErrCorrupt, "overlap")
	hd("hole", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`,
		goodData[:12], tensor.ErrCorrupt, `hole of 4 bytes after tensor "a"`)
	hd("out of order (fine)", `{"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`,
		goodData[:8], nil, "")
	hd("offsets 1 value", f32("[0]"), goodData[:8], tensor.ErrCorrupt, "has 1 values, want 2")
	hd("offsets 3 values", f32("[0,8,8]"), goodData[:8], tensor.ErrCorrupt, "want 2")
	hd("offsets negative", f32("[-8,0]"), goodData[:8], tensor.ErrCorrupt, "non-negative")
	hd("offsets float", f32("[0,8.0]"), goodData[:8], tensor.ErrCorrupt, "non-negative integer")
	hd("offsets 2^64", f32("[0,18446744073709551616]"), goodData[:8], tensor.ErrCorrupt, "below 2^64")
	hd("offsets string", f32(`["0","8"]`), goodData[:8], tensor.ErrCorrupt, `"0" is not a non-negative integer`)
	hd("offsets missing", `{"t":{"dtype":"F32","shape":[2]}}`, goodData[:8], tensor.ErrCorrupt, "data_offsets is missing")
	hd("offsets null", f32("null"), goodData[:8], tensor.ErrCorrupt, "data_offsets is null")

	// Shapes and sizes.
	hd("scalar", one(`"F64"`, "[]", "[0,8]"), goodData[:8], nil, "")
	hd("zero elements", one(`"F64"`, "[3,0]", "[0,0]"), nil, nil, "")
	hd("shape negative", one(`"F32"`, "[-2]", "[0,8]"), goodData[:8], tensor.ErrCorrupt, "non-negative")
	hd("shape float", one(`"F32"`, "[2.0]", "[0,8]"), goodData[:8], tensor.ErrCorrupt, "shape is [2.0]")
	hd("shape 2^63", one(`"F32"`, "[9223372036854775808]", "[0,8]"), goodData[:8], tensor.ErrCorrupt, "overflows int64")
	hd("elements overflow", one(`"F32"`, "[4294967296,4294967296]", "[0,8]"), goodData[:8], tensor.ErrCorrupt, "shape")
	hd("bytes overflow", one(`"F64"`, "[2305843009213693952]", "[0,8]"), goodData[:8], tensor.ErrCorrupt, "overflows int64")
	hd("huge but well-formed", one(`"F32"`, "[1099511627776]", "[0,4398046511104]"), goodData[:8], tensor.ErrCorrupt, "run past the end")
	hd("shape missing", `{"t":{"dtype":"F32","data_offsets":[0,8]}}`, goodData[:8], tensor.ErrCorrupt, "shape is missing")
	hd("shape not array", one(`"F32"`, `"2"`, "[0,8]"), goodData[:8], tensor.ErrCorrupt, "not an array")
	hd("rank 64", one(`"U8"`, "["+strings.Repeat("1,", 63)+"1]", "[0,1]"), goodData[:1], nil, "")
	hd("rank 65", one(`"U8"`, "["+strings.Repeat("1,", 64)+"1]", "[0,1]"), goodData[:1], errUnsupportedTensor, "")

	// Dtypes.
	for _, dt := range []string{"BOOL", "U8", "I8", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "C64", "F64", "I64", "U64", "F8_E5M2", "F8_E4M3", "F8_E4M3FNUZ", "F8_E5M2FNUZ"} {
		bits := stTypes[dt].bits
		hd("dtype="+dt, one(`"`+dt+`"`, "[4]", fmt.Sprintf("[0,%d]", bits/2)), goodData[:bits/2], nil, "")
	}
	for _, dt := range []string{"F8_E8M0"} {
		hd("dtype="+dt, one(`"`+dt+`"`, "[4]", "[0,4]"), goodData[:4], errUnsupportedTensor, "")
	}
	hd("dtype=F4", one(`"F4"`, "[4]", "[0,2]"), goodData[:2], errUnsupportedTensor, "")
	hd("dtype=F4 odd", one(`"F4"`, "[3]", "[0,2]"), goodData[:2], tensor.ErrCorrupt, "not a whole number of bytes")
	hd("dtype=F6_E2M3", one(`"F6_E2M3"`, "[4]", "[0,3]"), goodData[:3], errUnsupportedTensor, "")
	hd("dtype=F6_E3M2 wrong size", one(`"F6_E3M2"`, "[4]", "[0,4]"), goodData[:4], tensor.ErrCorrupt, "needs 3")
	hd("dtype unknown", one(`"F128"`, "[4]", "[0,64]"), bytes.Repeat(goodData[:16], 4), errUnsupportedTensor, "")
	hd("dtype lower case", one(`"f32"`, "[1]", "[0,4]"), goodData[:4], errUnsupportedTensor, "")
	hd("dtype number", one("32", "[1]", "[0,4]"), goodData[:4], tensor.ErrCorrupt, "dtype is 32, not a string")
	hd("dtype missing", `{"t":{"shape":[1],"data_offsets":[0,4]}}`, goodData[:4], tensor.ErrCorrupt, "dtype is missing")
	hd("dtype null", one("null", "[1]", "[0,4]"), goodData[:4], tensor.ErrCorrupt, "dtype is null")

	// The JSON itself.
	hd("empty object", `{}`, nil, nil, "")
	hd("empty object, data left", `{}`, goodData[:4], tensor.ErrCorrupt, "4 bytes after the last tensor")
	hd("metadata only", `{"__metadata__":{}}`, nil, nil, "")
	hd("not an object", `["a"]`, nil, tensor.ErrFormat, "not a JSON object")
	hd("spaces before {", `   {}`, nil, nil, "")
	hd("unterminated", strings.TrimSuffix(goodHeader, "}"), goodData, tensor.ErrCorrupt, "")
	hd("unterminated string", `{"a`, nil, tensor.ErrCorrupt, "")
	hd("trailing comma", strings.TrimSuffix(goodHeader, "}")+",}", goodData, tensor.ErrCorrupt, "")
	hd("two objects", goodHeader+"{}", goodData, tensor.ErrCorrupt, "after its JSON object")
	hd("NUL padding", goodHeader+"\x00\x00", goodData, tensor.ErrCorrupt, "after its JSON object")
	hd("duplicate name", `{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"t":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`,
		goodData[:2], tensor.ErrCorrupt, `names "t" twice`)
	hd("duplicate metadata", `{"__metadata__":{},"__metadata__":{}}`, nil, tensor.ErrCorrupt, "twice")
	hd("metadata not strings", `{"__metadata__":{"n":1}}`, nil, tensor.ErrCorrupt, "not a map of strings to strings")
	hd("metadata list", `{"__metadata__":["a"]}`, nil, tensor.ErrCorrupt, "__metadata__")
	hd("metadata null (fine)", `{"__metadata__":null}`, nil, nil, "")
	hd("entry not an object", `{"t":[1,2]}`, nil, tensor.ErrCorrupt, "not a JSON object")
	hd("entry null", `{"t":null}`, nil, tensor.ErrCorrupt, "entry is null")
	hd("extra field (ignored)", `{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":7}}`, goodData[:1], nil, "")
	hd("invalid UTF-8", "{\"t\xff\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", goodData[:1], tensor.ErrCorrupt, "offset 11: header is not valid UTF-8")
	hd("UTF-8 name (fine)", `{"größe/✓":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, goodData[:1], nil, "")
	hd("nested deep", strings.Repeat(`{"a":`, 20000)+strings.Repeat("}", 20000), nil, tensor.ErrCorrupt, "")
	return cases
}

// TestBrokenInputs opens every case, with a plain reader and with one that
// returns io.EOF along with the last bytes, and reads the data of the
// tensors of those that open, as the engine would.
func TestBrokenInputs(t *testing.T) {
	for _, c := range brokenCases() {
		t.Run(c.name, func(t *testing.T) {
			for _, r := range []io.ReaderAt{bytes.NewReader(c.b), brokentest.EOFAtEnd(c.b)} {
				err := openAndRead(r, int64(len(c.b)), "b.safetensors")
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
				if !strings.HasPrefix(msg, "safetensors: b.safetensors: ") || !strings.Contains(msg, c.msg) {
					t.Errorf("%T: message %q does not name the file or lacks %q", r, msg, c.msg)
				}
			}
		})
	}
}

// openAndRead opens a file and reads every tensor's data; a tensor listed
// as unsupported gives errUnsupportedTensor.
func openAndRead(r io.ReaderAt, size int64, name string) error {
	f, err := Open(r, size, name)
	if err != nil {
		return err
	}
	for _, tt := range f.Tensors {
		if tt.Unsupported != "" {
			if tt.Data != nil {
				return errors.New("unsupported tensor with Data")
			}
			return errUnsupportedTensor
		}
		if tt.Data == nil {
			return errors.New("no Data and not Unsupported")
		}
		if _, err := brokentest.ReadData(tt, 7); err != nil {
			return err
		}
	}
	return nil
}

// TestBrokenAllocation: a header length far past the end is refused
// before anything is allocated for it.
func TestBrokenAllocation(t *testing.T) {
	good := build(goodHeader, goodData)
	for _, n := range []uint64{MaxHeaderLen, MaxHeaderLen + 1, 1<<64 - 1} {
		b := withLen(good, n)
		brokentest.Allocation(t, fmt.Sprintf("len %d", n), 64<<10, func() error {
			_, err := Open(bytes.NewReader(b), int64(len(b)), "b.safetensors")
			return err
		})
	}
}

// TestBrokenFlips flips each bit of every header byte: whatever the
// result, Open does not panic, and an error wraps a sentinel and names
// the file.
func TestBrokenFlips(t *testing.T) {
	good := build(goodHeader, goodData)
	for i := range len(good) - len(goodData) {
		for bit := range 8 {
			b := bytes.Clone(good)
			b[i] ^= 1 << bit
			err := openAndRead(bytes.NewReader(b), int64(len(b)), "b.safetensors")
			if err == nil || err == errUnsupportedTensor {
				continue
			}
			if !errors.Is(err, tensor.ErrFormat) && !errors.Is(err, tensor.ErrCorrupt) {
				t.Errorf("byte %d bit %d: %v wraps no sentinel", i, bit, err)
			}
			if !strings.Contains(err.Error(), "b.safetensors: ") {
				t.Errorf("byte %d bit %d: %q does not name the file", i, bit, err)
			}
		}
	}
}

// TestGood checks what Open describes for goodHeader: order, dtypes,
// offsets, metadata, Data.
func TestGood(t *testing.T) {
	b := build(goodHeader, goodData)
	f, err := Open(bytes.NewReader(b), int64(len(b)), "g.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["format"] != "pt" || len(f.Metadata) != 1 {
		t.Errorf("metadata %v", f.Metadata)
	}
	want := []struct {
		name, dt, shape string
		off             int64
	}{{"a", "<f4", "(2, 3)", 0}, {"b", "<i2", "(4,)", 24}, {"c", "|b1", "()", 32}}
	if len(f.Tensors) != len(want) {
		t.Fatalf("%d tensors", len(f.Tensors))
	}
	for i, w := range want {
		tt := f.Tensors[i]
		if tt.Name != w.name || tt.DType.String() != w.dt || tt.Shape.String() != w.shape ||
			tt.Offset != f.DataOffset+w.off || !tt.Contiguous || tt.File != "g.safetensors" {
			t.Errorf("tensor %d: %s %s %s offset %d contiguous %v", i, tt.Name, tt.DType, tt.Shape, tt.Offset, tt.Contiguous)
		}
		n, _ := tt.NumBytes()
		got := make([]byte, n)
		if k, err := tt.Data.ReadAt(got, 0); k != len(got) && err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, goodData[w.off:w.off+n]) {
			t.Errorf("tensor %s: data %q", tt.Name, got)
		}
	}
}

// TestSniff: the real files and our own are recognised; other formats'
// first bytes are not.
func TestSniff(t *testing.T) {
	if !Sniff(build(goodHeader, goodData)) || !Sniff(build(`{}`, nil)) {
		t.Error("good files not recognised")
	}
	for name, head := range map[string][]byte{
		"npy":            []byte("\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }"),
		"zip":            []byte("PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
		"length too big": withLen(build(goodHeader, nil), MaxHeaderLen+1),
		"no quote":       build(`{ "a":1}`, nil),
		"control byte":   build("{\"\x01\":1}", nil),
		"tfrecord-like":  append(binary.LittleEndian.AppendUint64(nil, 100), '{', '"', 0, 0, 8, 1),
		"short":          []byte("\x02\x00\x00\x00\x00\x00\x00\x00{"),
	} {
		if Sniff(head) {
			t.Errorf("%s: recognised as safetensors", name)
		}
	}
}
