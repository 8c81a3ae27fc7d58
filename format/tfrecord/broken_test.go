package tfrecord

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/internal/brokentest"
	"github.com/bigconv/bigconv/internal/tfgen"
	"github.com/bigconv/bigconv/tensor"
)

// frame writes recs as TFRecord records with valid CRCs.
func frame(t testing.TB, recs ...[]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	rw, err := tfgen.NewRecordWriter(&buf, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := rw.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// compress wraps b in a GZIP or ZLIB stream.
func compress(t testing.TB, b []byte, comp string) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	if comp == "gzip" {
		w = gzip.NewWriter(&buf)
	} else {
		w = zlib.NewWriter(&buf)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// withLength rewrites the length of the record at off, with a valid
// length CRC.
func withLength(b []byte, off int, n uint64) []byte {
	b = bytes.Clone(b)
	binary.LittleEndian.PutUint64(b[off:], n)
	binary.LittleEndian.PutUint32(b[off+8:], maskedCRC(b[off:off+8]))
	return b
}

type brokenCase struct {
	name    string
	b       []byte
	feature string
	comp    string // "" = the file is opened by Open and by OpenStream
	want    error  // sentinel; nil = opens and reads rows rows
	stream  error  // from OpenStream or its Stream, when it differs from want
	rows    int64
	msg     string // parts separated by "…" must appear in the message besides the file name
}

// errSame marks a case whose stream error is its Open error.
var errSame = errors.New("same")

func brokenCases(t *testing.T) []brokenCase {
	var cases []brokenCase
	add := func(c brokenCase) {
		if c.stream == nil {
			c.stream = errSame
		}
		cases = append(cases, c)
	}
	const n = 4
	good := tensorRecords(t, "", n, dtype.Of(dtype.Int32), dtype.Shape{10})
	rec := len(good) / n // 12 + 56 + 4
	add(brokenCase{name: "tensors/whole", b: good, rows: n})

	// Cut at every byte: at a record boundary the file is shorter but
	// valid (the format has no record count); anywhere else the last
	// record is cut and named with its offset.
	for cut := range len(good) {
		i := cut / rec
		c := brokenCase{name: fmt.Sprintf("tensors/cut=%d", cut), b: good[:cut], want: tensor.ErrCorrupt,
			msg: fmt.Sprintf("offset %d: record %d", i*rec, i)}
		switch {
		case cut == 0:
			c.want, c.msg = tensor.ErrUnsupported, "no records"
		case cut%rec == 0:
			c.want, c.rows = nil, int64(i)
		}
		add(c)
	}

	// One byte of each framing field of the first and last record.
	for _, i := range []int{0, n - 1} {
		at := i * rec
		for _, f := range []struct {
			field string
			off   int
		}{{"length", 0}, {"length+7", 7}, {"length crc", 8}, {"length crc+3", 11}, {"data", 12}, {"data+40", 52}, {"data crc", rec - 4}, {"data crc+3", rec - 1}} {
			b := bytes.Clone(good)
			b[at+f.off] ^= 0x01
			add(brokenCase{name: fmt.Sprintf("tensors/record %d %s", i, f.field), b: b, want: tensor.ErrChecksum,
				msg: fmt.Sprintf("offset %d: record %d: ", at, i)})
		}
	}
	// Lengths with a valid length CRC.
	at := 2 * rec
	for _, l := range []struct {
		name   string
		n      uint64
		want   error
		stream error
		msg    string
	}{
		{"0", 0, tensor.ErrChecksum, nil, "data checksum"},
		{"+1", uint64(rec - 16 + 1), tensor.ErrChecksum, nil, "data checksum"},
		{"-1", uint64(rec - 16 - 1), tensor.ErrChecksum, nil, "data checksum"},
		{"to the end", uint64(len(good) - at - 16), tensor.ErrChecksum, nil, "data checksum"},
		{"1 past the end", uint64(len(good) - at - 16 + 1), tensor.ErrCorrupt, nil, ""},
		{"2^31", 1 << 31, tensor.ErrCorrupt, tensor.ErrUnsupported, ""},
		{"2^63", 1 << 63, tensor.ErrCorrupt, tensor.ErrUnsupported, ""},
		{"2^64-1", math.MaxUint64, tensor.ErrCorrupt, tensor.ErrUnsupported, ""},
	} {
		add(brokenCase{name: "tensors/record 2 length " + l.name, b: withLength(good, at, l.n), want: l.want, stream: l.stream,
			msg: fmt.Sprintf("offset %d: record 2: …%s", at, l.msg)})
	}
	add(brokenCase{name: "tensors/last record length 2^29 (stream reads what there is)", b: withLength(good, 3*rec, 1<<29),
		want: tensor.ErrCorrupt, msg: fmt.Sprintf("offset %d: record 3", 3*rec)})

	// Valid framing around records that are not what they should be.
	proto := func(dt dtype.DType, shape dtype.Shape) []byte {
		var buf bytes.Buffer
		if err := tfgen.WriteTensorProto(&buf, dt, shape, func(off int64, p []byte) { fillRec(0, off, p) }); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	p := proto(dtype.Of(dtype.Int32), dtype.Shape{10})
	badShape := bytes.Clone(p)
	badShape[7] = 11 // dim 10 → 11: content too short
	recordAt := func(i int) string { return fmt.Sprintf("record %d at offset %d", i, i*rec) }
	for _, c := range []brokenCase{
		{name: "tensors/record 2 shape", b: frame(t, p, p, badShape, p), want: tensor.ErrCorrupt, msg: recordAt(2)},
		{name: "tensors/record 2 other dtype", b: frame(t, p, p, proto(dtype.Of(dtype.Uint32), dtype.Shape{10}), p), want: tensor.ErrUnsupported, msg: recordAt(2)},
		{name: "tensors/record 2 cut", b: frame(t, p, p, p[:30], p), want: tensor.ErrCorrupt, msg: recordAt(2)},
		{name: "tensors/record 2 empty", b: frame(t, p, p, nil, p), want: tensor.ErrFormat, msg: recordAt(2)},
		{name: "tensors/record 0 empty", b: frame(t, nil, p), want: tensor.ErrUnsupported, msg: "2 records, but they are not serialized tensors"},
		{name: "tensors/record 0 text", b: frame(t, []byte("hello"), p), want: tensor.ErrUnsupported, msg: "not serialized tensors"},
		{name: "tensors/record 0 string", b: frame(t, tfgen.TensorProtoStrings(dtype.Shape{1}, [][]byte{[]byte("a")})), want: tensor.ErrUnsupported, msg: "string tensors"},
		{name: "tensors/dims 2^32×2^32", b: frame(t, brokentest.Cat(brokentest.VarintField(1, 3), brokentest.BytesField(2, brokentest.ShapeOf(1<<32, 1<<32)))), want: tensor.ErrCorrupt, msg: recordAt(0)},
		{name: "tensors/dim -1", b: frame(t, brokentest.Cat(brokentest.VarintField(1, 3), brokentest.BytesField(2, brokentest.ShapeOf(math.MaxUint64)))), want: tensor.ErrCorrupt, msg: "not a known length"},
		{name: "tensors/content len 2^40", b: frame(t, brokentest.Cat(brokentest.VarintField(1, 3), brokentest.BytesField(2, brokentest.ShapeOf(1<<38)), brokentest.LenOnly(4, 1<<40))), want: tensor.ErrCorrupt, msg: "runs past the end"},
	} {
		add(c)
	}

	// tf.train.Example records: x float32 [2], y int64 [2], z bytes.
	ex := func(feats ...tfgen.Feature) []byte { return tfgen.AppendExample(nil, feats...) }
	x := func(v ...float32) tfgen.Feature { return tfgen.Feature{Name: "x", Floats: v} }
	y := func(v ...int64) tfgen.Feature { return tfgen.Feature{Name: "y", Int64s: v} }
	z := tfgen.Feature{Name: "z", Bytes: [][]byte{[]byte("ab"), nil}}
	e := ex(x(1, 2), y(3, -4), z)
	exFile := frame(t, e, e, e)
	erec := len(exFile) / 3
	for _, f := range []string{"x", "y", "z"} {
		var st error = errSame
		if f == "z" {
			st = tensor.ErrUnsupported // bytes_list from a stream
		}
		add(brokenCase{name: "examples/" + f + "/whole", b: exFile, feature: f, rows: 3, stream: st})
		for cut := 1; cut < len(exFile); cut++ {
			i := cut / erec
			c := brokenCase{name: fmt.Sprintf("examples/%s/cut=%d", f, cut), b: exFile[:cut], feature: f, want: tensor.ErrCorrupt,
				msg: fmt.Sprintf("offset %d: record %d", i*erec, i)}
			switch {
			case cut%erec == 0:
				c.want, c.rows, c.stream = nil, int64(i), st
			case cut > erec:
				c.stream = st // refused once record 0 is read
			}
			add(c)
		}
	}
	// A well-framed record 1 whose Example is damaged.
	tag := func(num protowire.Number, typ protowire.Type) []byte { return protowire.AppendTag(nil, num, typ) }
	entry := func(name string, feature []byte) []byte {
		return brokentest.BytesField(1, brokentest.BytesField(1, brokentest.Cat(brokentest.BytesField(1, []byte(name)), brokentest.BytesField(2, feature))))
	}
	floats := func(list []byte) []byte { return entry("x", brokentest.BytesField(2, list)) }
	ints := func(list []byte) []byte { return entry("y", brokentest.BytesField(3, list)) }
	bad := func(name, feature string, rec1 []byte, want, stream error, msg string) {
		add(brokenCase{name: "examples/record 1 " + name, b: frame(t, e, rec1, e), feature: feature, want: want, stream: stream,
			msg: fmt.Sprintf("record 1 at offset %d: …%s", erec, msg)})
	}
	bad("Example field 2", "x", brokentest.BytesField(2, nil), tensor.ErrFormat, nil, "not a tf.train.Example")
	bad("Example field 1 varint", "x", brokentest.VarintField(1, 1), tensor.ErrFormat, nil, "not a tf.train.Example")
	bad("Features len past end", "x", brokentest.LenOnly(1, 1000), tensor.ErrCorrupt, nil, "runs past the end")
	bad("Features field 2", "x", brokentest.BytesField(1, brokentest.BytesField(2, nil)), tensor.ErrFormat, nil, "Features field 2")
	bad("map entry field 3", "x", brokentest.BytesField(1, brokentest.BytesField(1, brokentest.BytesField(3, nil))), tensor.ErrFormat, nil, "map entry field 3")
	bad("map entry len past end", "x", brokentest.BytesField(1, brokentest.LenOnly(1, 1000)), tensor.ErrCorrupt, nil, "runs past the end")
	bad("name len past end", "x", brokentest.BytesField(1, brokentest.BytesField(1, brokentest.LenOnly(1, 1000))), tensor.ErrCorrupt, nil, "runs past the end")
	bad("name of 1 MiB", "x", entry(strings.Repeat("n", 1<<20), nil), tensor.ErrFormat, nil, "feature name of 1048576 bytes")
	bad("Feature field 4", "x", entry("x", brokentest.BytesField(4, nil)), tensor.ErrFormat, nil, "Feature field 4")
	bad("Feature varint", "x", entry("x", brokentest.VarintField(2, 1)), tensor.ErrFormat, nil, "Feature field 2 (wire type 0)")
	bad("Feature empty", "x", entry("x", nil), tensor.ErrUnsupported, nil, "")
	bad("no x", "x", ex(y(1, 2)), tensor.ErrUnsupported, nil, `no feature "x"`)
	bad("x of 3", "x", ex(x(1, 2, 3)), tensor.ErrUnsupported, nil, "records must agree")
	bad("x of 0", "x", ex(x()), tensor.ErrUnsupported, nil, "records must agree")
	bad("x an int64_list", "x", ex(tfgen.Feature{Name: "x", Int64s: []int64{1, 2}}), tensor.ErrUnsupported, nil, "records must agree")
	bad("x list past end", "x", floats(brokentest.LenOnly(1, 1000)), tensor.ErrCorrupt, nil, "runs past the end")
	bad("x packed 5 bytes", "x", floats(brokentest.BytesField(1, make([]byte, 5))), tensor.ErrCorrupt, nil, "packed floats of 5 bytes")
	bad("x packed past list", "x", floats(brokentest.LenOnly(1, 8)), tensor.ErrCorrupt, nil, "runs past the end")
	bad("x value varint", "x", floats(brokentest.VarintField(1, 1)), tensor.ErrCorrupt, nil, "float_list value has wire type 0")
	bad("x value cut", "x", floats(brokentest.Cat(tag(1, protowire.Fixed32Type), []byte{1, 2})), tensor.ErrCorrupt, nil, "")
	bad("x other field group", "x", floats(tag(2, protowire.StartGroupType)), tensor.ErrCorrupt, nil, "unsupported wire type 3")
	bad("y packed unterminated", "y", ints(brokentest.BytesField(1, []byte{1, 0x80})), tensor.ErrCorrupt, nil, "")
	bad("y varint 11 bytes", "y", ints(brokentest.BytesField(1, bytes.Repeat([]byte{0xff}, 11))), tensor.ErrCorrupt, nil, "bad varint")
	bad("y value fixed64", "y", ints(protowire.AppendFixed64(tag(1, protowire.Fixed64Type), 1)), tensor.ErrCorrupt, nil, "int64_list value has wire type 1")
	bad("z value varint", "z", entry("z", brokentest.BytesField(1, brokentest.VarintField(1, 1))), tensor.ErrCorrupt, tensor.ErrUnsupported, "bytes_list value has wire type 0")
	bad("z value past end", "z", entry("z", brokentest.BytesField(1, brokentest.LenOnly(1, 100))), tensor.ErrCorrupt, tensor.ErrUnsupported, "runs past the end")
	// x a bytes_list in every record: |S<n> from a file, refused from a
	// stream (FuzzRecordPayload/223cb6ed9deb5060)
	xb := ex(tfgen.Feature{Name: "x", Bytes: [][]byte{[]byte("0000"), nil}})
	add(brokenCase{name: "examples/x a bytes_list", b: frame(t, xb, xb, xb), feature: "x", rows: 3, stream: tensor.ErrUnsupported})
	// a well-formed record 1 with 2^20 values where record 0 has 2
	bad("y of 2^20", "y", ints(brokentest.BytesField(1, make([]byte, 1<<20))), tensor.ErrUnsupported, nil, "records must agree")

	// GZIP and ZLIB: cut at every byte, and each part of the container
	// damaged. All the damage is found while streaming.
	for _, comp := range []string{"gzip", "zlib"} {
		z := compress(t, good, comp)
		add(brokenCase{name: comp + "/whole", b: z, comp: comp, rows: n})
		for cut := range len(z) {
			add(brokenCase{name: fmt.Sprintf("%s/cut=%d", comp, cut), b: z[:cut], comp: comp, want: tensor.ErrCorrupt})
		}
		flip := func(i int) []byte {
			b := bytes.Clone(z)
			b[i] ^= 0x01
			return b
		}
		last := len(z) - 1
		if comp == "gzip" {
			add(brokenCase{name: "gzip/magic", b: flip(0), comp: comp, want: tensor.ErrCorrupt, msg: "not a valid GZIP stream"})
			add(brokenCase{name: "gzip/method", b: flip(2), comp: comp, want: tensor.ErrCorrupt, msg: "not a valid GZIP stream"})
			add(brokenCase{name: "gzip/crc32", b: flip(last - 7), comp: comp, want: tensor.ErrChecksum, msg: "checksum"})
			add(brokenCase{name: "gzip/isize", b: flip(last), comp: comp, want: tensor.ErrChecksum, msg: "checksum"})
			add(brokenCase{name: "gzip/trailing garbage", b: append(bytes.Clone(z), "garbage!"...), comp: comp, want: tensor.ErrCorrupt, msg: "header"})
			add(brokenCase{name: "gzip/two members", b: append(bytes.Clone(z), z...), comp: comp, rows: 2 * n})
		} else {
			add(brokenCase{name: "zlib/header", b: flip(1), comp: comp, want: tensor.ErrCorrupt, msg: "not a valid ZLIB stream"})
			add(brokenCase{name: "zlib/adler32", b: flip(last), comp: comp, want: tensor.ErrChecksum, msg: "checksum"})
		}
		// a deflate block type 3 (invalid) right after the header
		hdr := 10
		if comp == "zlib" {
			hdr = 2
		}
		b := bytes.Clone(z)
		b[hdr] |= 0x06
		add(brokenCase{name: comp + "/deflate block type 3", b: b, comp: comp, want: tensor.ErrCorrupt, msg: "corrupt input"})
	}
	return cases
}

// open opens a case as the format registry does: uncompressed files by
// Open, compressed ones by OpenStream.
func open(r io.ReaderAt, c brokenCase) (*tensor.Tensor, error) {
	if c.comp == "" {
		return Open(r, int64(len(c.b)), "b.tfrecord", c.feature)
	}
	f, err := format.Lookup("tfrecord")
	if err != nil {
		return nil, err
	}
	in, err := f.Open(format.Source{R: r, Size: int64(len(c.b)), Name: "b.tfrecord." + c.comp}, format.Options{Feature: c.feature})
	if err != nil {
		return nil, err
	}
	return in.Tensors[0], nil
}

// TestBrokenInputs opens every case from a file (with a plain reader and
// with one that returns io.EOF along with the last bytes) and as a stream,
// and reads the data of those that open as the engine would.
func TestBrokenInputs(t *testing.T) {
	for _, c := range brokenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			check := func(how string, want error, tt *tensor.Tensor, err error) {
				t.Helper()
				var rows int64
				if err == nil {
					var got int64
					got, err = brokentest.ReadData(tt, 13)
					if row := tt.Shape[1:]; err == nil {
						nb, _ := row.NumBytes(tt.DType.Size())
						rows = got / max(nb, 1)
					}
				}
				if want == nil {
					if err != nil {
						t.Fatalf("%s: %v", how, err)
					}
					if rows != c.rows {
						t.Fatalf("%s: %d rows, want %d", how, rows, c.rows)
					}
					return
				}
				if !errors.Is(err, want) {
					t.Fatalf("%s: got %v, want %v", how, err, want)
				}
				msg := err.Error()
				if !strings.HasPrefix(msg, "tfrecord: b.tfrecord") {
					t.Errorf("%s: message %q does not name the file", how, msg)
				}
				if how == "stream" && c.stream != errSame {
					return // a different error from the file's
				}
				for _, part := range strings.Split(c.msg, "…") {
					if !strings.Contains(msg, part) {
						t.Errorf("%s: message %q lacks %q", how, msg, part)
					}
				}
			}
			for _, r := range []io.ReaderAt{bytes.NewReader(c.b), brokentest.EOFAtEnd(c.b)} {
				tt, err := open(r, c)
				check(fmt.Sprintf("%T", r), c.want, tt, err)
			}
			if c.comp != "" {
				return
			}
			want := c.want
			if c.stream != errSame {
				want = c.stream
			}
			tt, err := OpenStream(bytes.NewReader(c.b), "b.tfrecord", c.feature)
			check("stream", want, tt, err)
		})
	}
}

// TestBrokenAllocation: a length far past the end of the input is
// refused, or read in small steps, without allocating for it.
func TestBrokenAllocation(t *testing.T) {
	good := tensorRecords(t, "", 2, dtype.Of(dtype.Int32), dtype.Shape{10})
	b := withLength(good, 0, MaxStreamRecord-1)
	measure := func(name string, f func() error) { brokentest.Allocation(t, name, 4<<20, f) }
	measure("Open", func() error {
		_, err := Open(bytes.NewReader(b), int64(len(b)), "b.tfrecord", "")
		return err
	})
	measure("OpenStream", func() error {
		_, err := OpenStream(bytes.NewReader(b), "b.tfrecord", "")
		return err
	})
	z := compress(t, b, "gzip")
	measure("gzip", func() error {
		_, err := open(bytes.NewReader(z), brokenCase{b: z, comp: "gzip"})
		return err
	})
}

// TestBrokenFlips flips each bit of every byte of a small file of each
// kind: no panic, and an error wraps a sentinel and names the file.
func TestBrokenFlips(t *testing.T) {
	e := tfgen.AppendExample(nil, tfgen.Feature{Name: "x", Floats: []float32{1, 2}},
		tfgen.Feature{Name: "y", Int64s: []int64{3, -4}, Unpacked: true}, tfgen.Feature{Name: "z", Bytes: [][]byte{[]byte("ab")}})
	for _, file := range []struct {
		b        []byte
		features []string
	}{
		{tensorRecords(t, "", 2, dtype.Of(dtype.Int16), dtype.Shape{3}), []string{""}},
		{frame(t, e, e), []string{"x", "y", "z"}},
	} {
		for i := range file.b {
			for bit := range 8 {
				b := bytes.Clone(file.b)
				b[i] ^= 1 << bit
				for _, f := range file.features {
					tt, err := Open(bytes.NewReader(b), int64(len(b)), "b.tfrecord", f)
					if err == nil {
						_, err = brokentest.ReadData(tt, 64)
					}
					if err == nil {
						continue
					}
					if !errors.Is(err, tensor.ErrFormat) && !errors.Is(err, tensor.ErrCorrupt) &&
						!errors.Is(err, tensor.ErrChecksum) && !errors.Is(err, tensor.ErrUnsupported) {
						t.Errorf("byte %d bit %d feature %q: %v wraps no sentinel", i, bit, f, err)
					}
					if !strings.HasPrefix(err.Error(), "tfrecord: b.tfrecord") {
						t.Errorf("byte %d bit %d feature %q: %q does not name the file", i, bit, f, err)
					}
				}
			}
		}
	}
}

// Wire-format pieces for hand-made records.
