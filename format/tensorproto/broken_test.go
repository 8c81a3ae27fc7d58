package tensorproto

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/brokentest"
	"github.com/bigconv/bigconv/internal/tfgen"
	"github.com/bigconv/bigconv/tensor"
)

// Wire-format pieces for hand-made TensorProtos.

// f32 is a TensorProto of dtype float with the given shape and fields.
func f32(shape []byte, rest ...[]byte) []byte {
	return brokentest.Cat(append([][]byte{brokentest.VarintField(1, 1), brokentest.BytesField(2, shape)}, rest...)...)
}

type brokenCase struct {
	name string
	b    []byte
	want error  // sentinel; nil = opens and its data reads
	msg  string // must appear in the message besides the file name
}

func brokenCases(t *testing.T) []brokenCase {
	var cases []brokenCase
	add := func(name string, b []byte, want error, msg string) {
		cases = append(cases, brokenCase{name, b, want, msg})
	}
	// float32 [3, 5] as serialize_tensor writes it:
	// dtype (2 bytes), tensor_shape (10), tensor_content tag+len (2), 60 bytes.
	good := writeProto(t, dtype.Of(dtype.Float32), dtype.Shape{3, 5}, 1)
	const shapeEnd, contentAt = 12, 14
	if len(good) != contentAt+60 || good[shapeEnd] != 0x22 {
		t.Fatalf("unexpected layout % x", good)
	}
	add("whole", good, nil, "")

	// Cut at every byte. A cut between two fields leaves a valid, shorter
	// message (protobuf has no end marker): after dtype it is a float
	// scalar, after tensor_shape a [3, 5] tensor with no values, which
	// TensorFlow reads as zeros (tensor.cc) and so do we.
	for cut := range len(good) {
		var want error = tensor.ErrCorrupt
		switch cut {
		case 0, 1:
			want = tensor.ErrFormat
		case 2, shapeEnd:
			want = nil
		}
		add(fmt.Sprintf("cut=%d", cut), good[:cut], want, "")
	}

	set := func(at int, v ...byte) []byte {
		b := bytes.Clone(good)
		return append(append(b[:at:at], v...), good[at+1:]...)
	}
	// One field at a time.
	add("dtype tag→field 2", set(0, 0x10), tensor.ErrFormat, "first field is 2")
	add("dtype tag→fixed64", set(0, 0x09), tensor.ErrFormat, "first field is 1 (wire type 1)")
	add("dtype=0", set(1, 0), tensor.ErrFormat, "dtype 0 is not")
	add("dtype=99", set(1, 99), tensor.ErrFormat, "dtype 99 is not")
	add("dtype=2^31", set(1, 0x80, 0x80, 0x80, 0x80, 0x08), tensor.ErrFormat, "dtype 2147483648 is not")
	add("dtype varint unterminated", set(1, 0xff), tensor.ErrFormat, "")
	add("dtype=double", set(1, 2), tensor.ErrCorrupt, "tensor_content is 60 bytes; shape (3, 5) of double needs 120")
	add("dtype=string", set(1, 7), tensor.ErrUnsupported, "string tensor in tensor_content")
	add("dtype=resource", set(1, 20), tensor.ErrUnsupported, "no NumPy equivalent")
	add("dtype=int4", set(1, 29), tensor.ErrUnsupported, "no NumPy equivalent")
	add("dtype=float_ref", set(1, 101), nil, "")
	add("shape tag→group", set(2, 0x13), tensor.ErrFormat, "wire type 3")
	// A damaged shape length or dim tag makes field 2 something other
	// than a TensorShapeProto: the reader cannot tell that from another
	// message (a SavedModel) and says ErrFormat.
	add("shape len+1", set(3, good[3]+1), tensor.ErrFormat, "not a TensorShapeProto")
	add("shape len-1", set(3, good[3]-1), tensor.ErrFormat, "not a TensorShapeProto")
	add("shape len=127", set(3, 127), tensor.ErrCorrupt, "runs past the end")
	add("dim tag→field 3", set(4, 0x1a), tensor.ErrFormat, "not a TensorShapeProto")
	add("dim len+1", set(5, good[5]+1), tensor.ErrFormat, "not a TensorShapeProto")
	add("dim size 3→4", set(7, 4), tensor.ErrCorrupt, "tensor_content is 60 bytes; shape (4, 5) of float needs 80")
	add("dim size 3→0", set(7, 0), tensor.ErrCorrupt, "tensor_content is 60 bytes; shape (0, 5)")
	add("content tag→group", set(shapeEnd, 0x23), tensor.ErrFormat, "field 4 has wire type 3")
	add("content tag→field 5", set(shapeEnd, 0x2a), nil, "") // 15 packed float_val
	add("content len+1", set(shapeEnd+1, 61), tensor.ErrCorrupt, "runs past the end")
	add("content len 2^40", brokentest.Cat(good[:shapeEnd], brokentest.LenOnly(4, 1<<40), good[contentAt:]), tensor.ErrCorrupt, "runs past the end")
	add("content len 2^64-1", brokentest.Cat(good[:shapeEnd], brokentest.LenOnly(4, math.MaxUint64), good[contentAt:]), tensor.ErrCorrupt, "runs past the end")
	add("content twice", brokentest.Cat(good, good[shapeEnd:]), nil, "") // the last one wins, as in protobuf
	add("content then 1 byte", brokentest.Cat(good, []byte{0x08}), tensor.ErrCorrupt, "")
	add("second dtype differs", brokentest.Cat(good, brokentest.VarintField(1, 2)), tensor.ErrCorrupt, "second dtype 2")
	add("second shape", brokentest.Cat(good, brokentest.BytesField(2, brokentest.ShapeOf(2))), tensor.ErrCorrupt, "tensor_content is 60 bytes; shape (3, 5, 2)")

	// Shapes: negative, unknown, overflowing, too many dimensions.
	content := brokentest.BytesField(4, make([]byte, 8))
	add("dim -1", f32(brokentest.ShapeOf(2, math.MaxUint64), content), tensor.ErrCorrupt, "size -1 is not a known length")
	add("dim 2^63", f32(brokentest.ShapeOf(1<<63), content), tensor.ErrCorrupt, "not a known length")
	add("unknown rank", f32(brokentest.VarintField(3, 1), content), tensor.ErrCorrupt, "unknown rank")
	add("unknown rank=0", f32(brokentest.VarintField(3, 0), content), tensor.ErrCorrupt, "tensor_content is 8 bytes; shape () of float needs 4")
	add("dims 2^32×2^32", f32(brokentest.ShapeOf(1<<32, 1<<32), content), tensor.ErrCorrupt, "2^63-1")
	add("dims 2^61×2 (bytes overflow)", f32(brokentest.ShapeOf(1<<61, 2), content), tensor.ErrCorrupt, "overflows int64")
	add("dims 2^40, no values", f32(brokentest.ShapeOf(1<<40)), nil, "") // zeros, never materialised
	add("dims 2^40, content", f32(brokentest.ShapeOf(1<<40), content), tensor.ErrCorrupt, "needs 4398046511104")
	add("rank 254", f32(brokentest.ShapeOf(make([]uint64, 254)...)), nil, "")
	add("rank 255", f32(brokentest.ShapeOf(make([]uint64, 255)...)), tensor.ErrCorrupt, "more than 254")
	add("rank 200+200", f32(brokentest.ShapeOf(make([]uint64, 200)...), brokentest.BytesField(2, brokentest.ShapeOf(make([]uint64, 200)...))), tensor.ErrCorrupt, "more than 254")
	add("shape 2 MiB", f32(bytes.Repeat(brokentest.BytesField(2, nil), 1<<20)), tensor.ErrFormat, "tensor_shape of 2097152 bytes")
	add("shape len 2^40", brokentest.Cat(brokentest.VarintField(1, 1), brokentest.LenOnly(2, 1<<40)), tensor.ErrCorrupt, "runs past the end")
	add("dim name len past end", f32(brokentest.Cat(protowire.AppendTag(nil, 2, protowire.BytesType), []byte{4, 0x12, 0x7f, 'a', 'b'})), tensor.ErrFormat, "")

	// Typed values.
	add("float_val 1 of 15", f32(brokentest.ShapeOf(3, 5), brokentest.BytesField(5, make([]byte, 4))), nil, "")
	add("float_val 16 of 15", f32(brokentest.ShapeOf(3, 5), brokentest.BytesField(5, make([]byte, 64))), nil, "")
	add("float_val packed 5 bytes", f32(brokentest.ShapeOf(3, 5), brokentest.BytesField(5, make([]byte, 5))), tensor.ErrCorrupt, "packed fixed32 field of 5 bytes")
	add("float_val len past end", f32(brokentest.ShapeOf(3, 5), brokentest.LenOnly(5, 1<<40)), tensor.ErrCorrupt, "runs past the end")
	add("float_val as varint", f32(brokentest.ShapeOf(3, 5), brokentest.VarintField(5, 1)), tensor.ErrFormat, "field 5 has wire type 0")
	add("float_val unpacked cut", f32(brokentest.ShapeOf(3, 5), protowire.AppendTag(nil, 5, protowire.Fixed32Type), []byte{1, 2}), tensor.ErrCorrupt, "")
	i32 := func(rest ...[]byte) []byte {
		return brokentest.Cat(append([][]byte{brokentest.VarintField(1, 3), brokentest.BytesField(2, brokentest.ShapeOf(4))}, rest...)...)
	}
	add("int_val packed", i32(brokentest.BytesField(7, []byte{1, 0x7f, 0xff, 0x01})), nil, "")
	add("int_val packed, last unterminated", i32(brokentest.BytesField(7, []byte{1, 2, 0xff})), tensor.ErrCorrupt, "")
	add("int_val packed, varint 11 bytes", i32(brokentest.BytesField(7, bytes.Repeat([]byte{0xff}, 11))), tensor.ErrCorrupt, "bad varint")
	add("int_val packed len past end", i32(brokentest.LenOnly(7, 100), []byte{1, 2}), tensor.ErrCorrupt, "runs past the end")
	add("int_val as fixed64", i32(protowire.AppendFixed64(protowire.AppendTag(nil, 7, protowire.Fixed64Type), 1)), tensor.ErrFormat, "field 7 has wire type 1")
	add("double_val for int32 (ignored)", i32(brokentest.BytesField(6, make([]byte, 8))), nil, "")
	add("unknown field, group", i32(protowire.AppendTag(nil, 99, protowire.StartGroupType)), tensor.ErrCorrupt, "unsupported wire type 3")
	add("field number 0", i32([]byte{0x00}), tensor.ErrCorrupt, "bad field number 0")
	add("field number 2^29", i32(protowire.AppendVarint(nil, uint64(1<<29)<<3)), tensor.ErrCorrupt, "bad field number")
	str := func(rest ...[]byte) []byte {
		return brokentest.Cat(append([][]byte{brokentest.VarintField(1, 7), brokentest.BytesField(2, brokentest.ShapeOf(3))}, rest...)...)
	}
	add("string_val 2 of 3", str(brokentest.BytesField(8, []byte("ab")), brokentest.BytesField(8, nil)), nil, "")
	add("string_val len past end", str(brokentest.BytesField(8, []byte("ab")), brokentest.LenOnly(8, 1<<40)), tensor.ErrCorrupt, "runs past the end")
	add("string_val as varint", str(brokentest.VarintField(8, 3)), tensor.ErrFormat, "field 8 has wire type 0")
	add("string_val wide, broadcast", brokentest.Cat(brokentest.VarintField(1, 7), brokentest.BytesField(2, brokentest.ShapeOf(1<<40)), brokentest.BytesField(8, make([]byte, 1000)), brokentest.BytesField(8, nil)), nil, "")
	add("string_val wide×many", brokentest.Cat(brokentest.VarintField(1, 7), brokentest.BytesField(2, brokentest.ShapeOf(1<<40)), brokentest.BytesField(8, make([]byte, 1<<20)), bytes.Repeat(brokentest.BytesField(8, nil), 600)),
		tensor.ErrUnsupported, "would decode to more than")
	add("half_val for bfloat16", brokentest.Cat(brokentest.VarintField(1, 14), brokentest.BytesField(2, brokentest.ShapeOf(2)), brokentest.BytesField(13, []byte{0x80, 0x7f, 1})), nil, "")
	add("float8_val short", brokentest.Cat(brokentest.VarintField(1, 24), brokentest.BytesField(2, brokentest.ShapeOf(4)), brokentest.BytesField(18, []byte{1, 2})), nil, "")
	add("float8_val len past end", brokentest.Cat(brokentest.VarintField(1, 24), brokentest.BytesField(2, brokentest.ShapeOf(4)), brokentest.LenOnly(18, 3)), tensor.ErrCorrupt, "runs past the end")
	return cases
}

// TestBrokenInputs opens every case, with a plain reader and with one that
// returns io.EOF along with the last bytes, and reads the data of those
// that open as the engine would.
func TestBrokenInputs(t *testing.T) {
	for _, c := range brokenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			for _, r := range []io.ReaderAt{bytes.NewReader(c.b), brokentest.EOFAtEnd(c.b)} {
				tt, err := Open(r, int64(len(c.b)), "b.pb")
				if err == nil {
					if n, _ := tt.NumBytes(); n <= 1<<20 {
						_, err = brokentest.ReadData(tt, 7)
					} else { // a broadcast value: read its start and end
						p := make([]byte, 1<<10)
						if _, err = tt.Data.ReadAt(p, 0); err == nil {
							_, err = tt.Data.ReadAt(p, n-int64(len(p)))
						}
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
				if msg := err.Error(); !strings.HasPrefix(msg, "tensorproto: b.pb: ") || !strings.Contains(msg, c.msg) {
					t.Errorf("%T: message %q does not name the file or lacks %q", r, msg, c.msg)
				}
			}
		})
	}
}

// TestBrokenAllocation: lengths that point far past the end are refused
// before anything is allocated for them.
func TestBrokenAllocation(t *testing.T) {
	for name, b := range map[string][]byte{
		"shape":   brokentest.Cat(brokentest.VarintField(1, 1), brokentest.LenOnly(2, 1<<20), make([]byte, 100)),
		"content": brokentest.Cat(brokentest.VarintField(1, 1), brokentest.BytesField(2, brokentest.ShapeOf(1<<28)), brokentest.LenOnly(4, 1<<30), make([]byte, 100)),
		"string":  brokentest.Cat(brokentest.VarintField(1, 7), brokentest.BytesField(2, brokentest.ShapeOf(1)), brokentest.LenOnly(8, 1<<30), make([]byte, 100)),
	} {
		brokentest.Allocation(t, name, 64<<10, func() error {
			_, err := Open(bytes.NewReader(b), int64(len(b)), "b.pb")
			return err
		})
	}
}

// TestBrokenFlips flips each bit of each byte before the data of a few
// encodings: no panic, and an error wraps a sentinel and names the file.
func TestBrokenFlips(t *testing.T) {
	vals, err := tfgen.TensorProtoVals(dtype.Of(dtype.Int64), dtype.Shape{2, 3}, make([]byte, 5*8), true)
	if err != nil {
		t.Fatal(err)
	}
	for _, good := range [][]byte{
		writeProto(t, dtype.Of(dtype.Complex64), dtype.Shape{2, 3}, 4)[:30],
		vals,
		tfgen.TensorProtoStrings(dtype.Shape{3}, [][]byte{[]byte("ab"), nil, []byte("xyz")}),
	} {
		for i := range good {
			for bit := range 8 {
				b := bytes.Clone(good)
				b[i] ^= 1 << bit
				tt, err := Open(bytes.NewReader(b), int64(len(b)), "b.pb")
				if err == nil {
					if n, _ := tt.NumBytes(); n <= 1<<20 {
						_, err = brokentest.ReadData(tt, 64)
					}
				}
				if err == nil {
					continue
				}
				if !errors.Is(err, tensor.ErrFormat) && !errors.Is(err, tensor.ErrCorrupt) && !errors.Is(err, tensor.ErrUnsupported) {
					t.Errorf("% x: %v wraps no sentinel", b, err)
				}
				if !strings.HasPrefix(err.Error(), "tensorproto: b.pb: ") {
					t.Errorf("% x: %q does not name the file", b, err)
				}
			}
		}
	}
}
