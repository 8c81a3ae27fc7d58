package onnx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/internal/brokentest"
	"github.com/bigconv/bigconv/internal/onnxproto"
	"github.com/bigconv/bigconv/tensor"
)

type brokenCase struct {
	name   string
	b      []byte
	want   error  // the specific sentinel
	tensor string // the tensor the error must name ("" = any)
	msg    string // must appear in the message
}

// kv is an external_data entry.
func kv(k, v string) []byte { return bf(13, cat(bf(1, []byte(k)), bf(2, []byte(v)))) }

// ext is a FLOAT [4, 2] tensor "ext" with external data.
func ext(loc, off, length string) []byte {
	b := cat(dims(4, 2), vf(2, 1), bf(8, []byte("ext")), kv("location", loc))
	if off != "" {
		b = append(b, kv("offset", off)...)
	}
	if length != "" {
		b = append(b, kv("length", length)...)
	}
	return append(b, vf(14, 1)...)
}

func brokenCases() []brokenCase {
	var cs []brokenCase
	add := func(name string, b []byte, want error, tensorName, msg string) {
		cs = append(cs, brokenCase{name, b, want, tensorName, msg})
	}
	good := cat(dims(2, 3), vf(2, 1), bf(8, []byte("w")), bf(9, make([]byte, 24)))
	const rawAt = 4 + 2 + 3 + 2 // raw_data's bytes start here
	for cut := 1; cut < len(good); cut++ {
		var want error = ErrTruncated
		switch {
		case cut < 6: // no data_type yet
			want = tensor.ErrFormat
		case cut == 6 || cut == 9: // between fields: a tensor without values
			want = ErrSize
		}
		name := "w"
		if cut < 9 {
			name = ""
		}
		add(fmt.Sprintf("cut=%d", cut), good[:cut], want, name, "")
	}
	add("empty file", nil, tensor.ErrFormat, "", "empty file")
	add("raw_data short of dims", cat(dims(2, 3), vf(2, 1), bf(8, []byte("w")), bf(9, make([]byte, 20))),
		ErrSize, "w", "raw_data is 20 bytes; dims (2, 3) of FLOAT need 24")
	add("raw_data past dims", cat(dims(2, 3), vf(2, 1), bf(8, []byte("w")), bf(9, make([]byte, 28))),
		ErrSize, "w", "need 24")
	add("int4 raw_data of 2 bytes for 5", cat(dims(5), vf(2, 22), bf(8, []byte("w")), bf(9, make([]byte, 2))),
		ErrSize, "w", "need 3")
	add("raw_data length past the file", cat(dims(2, 3), vf(2, 1), bf(8, []byte("w")), brokentest.LenOnly(9, 1<<40)),
		ErrTruncated, "w", "raw_data")
	add("float_data 5 of 6", cat(dims(2, 3), vf(2, 1), bf(8, []byte("w")), bf(4, make([]byte, 20))),
		ErrSize, "w", "float_data holds 5 values; dims (2, 3) of FLOAT need 6")
	add("int64_data 7 of 6", cat(dims(2, 3), vf(2, 7), bf(8, []byte("w")), bf(7, packedVarints(1, 2, 3, 4, 5, 6, 7))),
		ErrSize, "w", "int64_data holds 7 values")
	add("complex64 float_data odd", cat(dims(2), vf(2, 14), bf(8, []byte("w")), bf(4, make([]byte, 12))),
		ErrSize, "w", "need 4")
	add("packed float_data not whole", cat(dims(2), vf(2, 1), bf(8, []byte("w")), bf(4, make([]byte, 7))),
		tensor.ErrCorrupt, "w", "not a whole number")
	add("string_data 1 of 2", cat(dims(2), vf(2, 8), bf(8, []byte("w")), bf(6, []byte("a"))),
		ErrSize, "w", "string_data holds 1 values")
	add("string in raw_data", cat(dims(1), vf(2, 8), bf(8, []byte("w")), bf(9, []byte("a"))),
		tensor.ErrCorrupt, "w", "string_data")
	add("negative dim", cat(vf(1, 2), vf(1, 1<<64-1), vf(2, 1), bf(8, []byte("w")), bf(9, nil)),
		ErrDims, "w", "negative dimension")
	add("dims overflow elements", cat(dims(1<<40, 1<<40), vf(2, 1), bf(8, []byte("w")), bf(9, nil)),
		ErrDims, "w", "overflows")
	add("dims overflow bytes", cat(dims(1<<61), vf(2, 11), bf(8, []byte("w")), bf(9, nil)),
		ErrDims, "w", "byte count overflows")
	var many []byte
	for i := 0; i < 65; i++ {
		many = append(many, vf(1, 1)...)
	}
	add("65 dims", cat(many, vf(2, 1), bf(9, make([]byte, 4))), tensor.ErrUnsupported, "", "more than 64 dims")
	add("data_type 0", cat(dims(1), vf(2, 0), bf(8, []byte("w")), bf(9, make([]byte, 4))),
		tensor.ErrCorrupt, "w", "without a data_type")
	add("raw_data as varint", cat(dims(1), vf(2, 1), bf(8, []byte("w")), vf(9, 4)),
		tensor.ErrCorrupt, "w", "field 9 has wire type 0")
	add("name not UTF-8", cat(dims(1), vf(2, 1), bf(8, []byte{0xff, 0xfe}), bf(9, make([]byte, 4))),
		tensor.ErrCorrupt, "", "not UTF-8")
	// external data (w.bin holds 128 bytes; the tensor needs 32)
	add("external file missing", ext("gone.bin", "0", "32"), ErrExternal, "ext", "gone.bin")
	add("external file short", ext("w.bin", "120", "32"), ErrExternal, "ext", "32 bytes wanted, the file holds 8")
	add("external offset past end", ext("w.bin", "200", "32"), ErrExternal, "ext", "past the end")
	add("external rest of file ≠ dims", ext("w.bin", "0", ""), ErrSize, "ext", "external data is 128 bytes")
	add("external length ≠ dims", ext("w.bin", "0", "16"), ErrSize, "ext", "need 32")
	add("external offset not a number", ext("w.bin", "x", "32"), tensor.ErrCorrupt, "ext", "not a byte count")
	add("external negative offset", ext("w.bin", "-4", "32"), tensor.ErrCorrupt, "ext", "not a byte count")
	add("external no location", cat(dims(4, 2), vf(2, 1), bf(8, []byte("ext")), kv("offset", "0"), vf(14, 1)),
		tensor.ErrCorrupt, "ext", "no location")
	add("external without entries", cat(dims(4, 2), vf(2, 1), bf(8, []byte("ext")), vf(14, 1)),
		tensor.ErrCorrupt, "ext", "external_data is empty")
	for _, loc := range []string{"../w.bin", "a/../../w.bin", "/etc/passwd", "..", "sub/..\\..\\w.bin", ""} {
		add("location "+loc, ext(loc, "0", "32"), ErrEscape, "ext", "location")
	}
	// models
	init := func(name string) []byte {
		return bf(5, cat(dims(1), vf(2, 1), bf(8, []byte(name)), bf(9, make([]byte, 4))))
	}
	model := func(graph []byte) []byte { return cat(vf(1, 8), bf(2, []byte("t")), bf(7, graph)) }
	add("duplicate initializer", model(cat(init("a"), init("a"))), tensor.ErrCorrupt, "a", "two initializers")
	add("initializer past the graph", model(cat(init("a"), brokentest.LenOnly(5, 100))), ErrTruncated, "", "initializer")
	add("initializer broken", model(cat(init("a"), bf(5, cat(dims(2), vf(2, 1), bf(8, []byte("b")), bf(9, make([]byte, 4)))))),
		ErrSize, "b", "raw_data is 4 bytes")
	m := model(cat(init("a"), init("b")))
	add("model cut in graph", m[:len(m)-3], ErrTruncated, "", "")
	opset := cat(m, bf(8, cat(bf(1, []byte("")), vf(2, 9)))) // a field after the graph
	add("model cut after graph", opset[:len(opset)-1], ErrTruncated, "", "ModelProto")
	add("not ONNX", []byte("hello, world"), tensor.ErrFormat, "", "")
	return cs
}

func brokenSibling(name string) (io.ReaderAt, int64, error) { return memSibling(name) }

// TestBrokenInputs: every damaged input fails when opened — so a
// conversion never starts and writes nothing — with its own sentinel,
// and the error names the file, the tensor (once its name is read) and
// a byte offset.
func TestBrokenInputs(t *testing.T) {
	for _, c := range brokenCases() {
		t.Run(c.name, func(t *testing.T) {
			in, err := Open(format.Source{R: bytes.NewReader(c.b), Size: int64(len(c.b)), Name: "dir/t.onnx", Sibling: brokenSibling})
			if err == nil {
				t.Fatalf("opened: %d tensors", len(in.Tensors))
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			var te *tensor.Error
			if !errors.As(err, &te) || te.File == "" || te.Offset < 0 {
				t.Fatalf("error does not name file and offset: %v", err)
			}
			if c.tensor != "" && te.Tensor != c.tensor {
				t.Errorf("error names tensor %q, want %q: %v", te.Tensor, c.tensor, err)
			}
			if !strings.Contains(err.Error(), c.msg) || !strings.HasPrefix(err.Error(), "onnx: ") {
				t.Errorf("message %q lacks %q", err, c.msg)
			}
			if c.name == "external file missing" && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("missing file error does not wrap fs.ErrNotExist: %v", err)
			}
		})
	}
}

// TestBrokenAllocation: lengths read from the input are checked against
// it before they size a buffer.
func TestBrokenAllocation(t *testing.T) {
	for name, b := range map[string][]byte{
		"name of 1 TiB":        cat(dims(1), vf(2, 1), brokentest.LenOnly(8, 1<<40)),
		"string_data of 1 TiB": cat(dims(1), vf(2, 8), brokentest.LenOnly(6, 1<<40)),
		"raw_data of 1 TiB":    cat(dims(1<<38), vf(2, 1), brokentest.LenOnly(9, 1<<40)),
	} {
		brokentest.Allocation(t, name, 1<<20, func() error {
			_, err := Open(format.Source{R: bytes.NewReader(b), Size: int64(len(b)), Name: "t.pb"})
			return err
		})
	}
}

// TestDecodeCap: typed values that would decode past the cap are refused
// when opened, not when read.
func TestDecodeCap(t *testing.T) {
	defer func(v int64) { maxDecoded = v }(maxDecoded)
	maxDecoded = 16
	b := cat(dims(5), vf(2, uint64(onnxproto.Int32)), bf(8, []byte("w")), bf(5, packedVarints(1, 2, 3, 4, 5)))
	_, err := Open(format.Source{R: bytes.NewReader(b), Size: int64(len(b)), Name: "t.pb"})
	if !errors.Is(err, tensor.ErrUnsupported) || !strings.Contains(err.Error(), "over the 16-byte limit") {
		t.Fatal(err)
	}
}
