package raw

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/brokentest"
	"github.com/bigconv/bigconv/tensor"
)

type brokenCase struct {
	name   string
	size   int64 // file size
	dt     dtype.DType
	shape  dtype.Shape
	offset int64
	want   error       // nil: opens, with shape got
	got    dtype.Shape // the shape Open finds
	unused int64       // bytes after the data that the shape leaves out
	msg    string      // must appear in the message besides the file name
}

func brokenCases() []brokenCase {
	f4, u1 := dtype.MustParse("<f4"), dtype.MustParse("|u1")
	c16 := dtype.MustParse("<c16")
	var cases []brokenCase
	add := func(c brokenCase) { cases = append(cases, c) }

	// A [3, 5] float32 dump (60 bytes) cut or grown at every size from
	// 0 to 70 bytes: 60 or more fits (a prefix of a longer file); with -1
	// rows, every multiple of 20.
	for size := int64(0); size <= 70; size++ {
		c := brokenCase{name: fmt.Sprintf("size=%d/shape=(3,5)", size), size: size, dt: f4, shape: dtype.Shape{3, 5},
			want: tensor.ErrCorrupt, msg: "needs 60 bytes"}
		if size >= 60 {
			c.want, c.got, c.unused = nil, dtype.Shape{3, 5}, size-60
		}
		add(c)
		c = brokenCase{name: fmt.Sprintf("size=%d/shape=(-1,5)", size), size: size, dt: f4, shape: dtype.Shape{-1, 5},
			want: tensor.ErrCorrupt, msg: "not a multiple of 20"}
		if size%20 == 0 {
			c.want, c.got = nil, dtype.Shape{size / 20, 5}
		}
		add(c)
		c = brokenCase{name: fmt.Sprintf("size=%d/1-D", size), size: size, dt: f4,
			want: tensor.ErrCorrupt, msg: "not a whole number of 4-byte items"}
		if size%4 == 0 {
			c.want, c.got = nil, dtype.Shape{size / 4}
		}
		add(c)
		// with a 10-byte offset
		c = brokenCase{name: fmt.Sprintf("size=%d/offset=10", size), size: size, dt: f4, shape: dtype.Shape{3, 5}, offset: 10,
			want: tensor.ErrCorrupt, msg: "needs 60 bytes"}
		switch {
		case size == 70:
			c.want, c.got = nil, dtype.Shape{3, 5}
		case size > 70:
			c.want, c.got, c.unused = nil, dtype.Shape{3, 5}, size-70
		case size < 10:
			c.msg = "outside the"
		}
		add(c)
	}

	// The user's settings against the file.
	for _, c := range []brokenCase{
		{name: "no dtype", size: 8, want: tensor.ErrFormat, msg: "--in-dtype"},
		{name: "zero-width bytes", size: 8, dt: dtype.BytesOf(0), want: tensor.ErrFormat, msg: "item size"},
		{name: "zero-width bytes/-1", size: 8, dt: dtype.BytesOf(0), shape: dtype.Shape{-1}, want: tensor.ErrFormat, msg: "item size"},
		{name: "offset -1", size: 8, dt: u1, offset: -1, want: tensor.ErrCorrupt, msg: "outside the 8-byte file"},
		{name: "offset past the end", size: 8, dt: u1, offset: 9, want: tensor.ErrCorrupt, msg: "outside the 8-byte file"},
		{name: "offset maxint", size: 8, dt: u1, offset: math.MaxInt64, want: tensor.ErrCorrupt, msg: "outside"},
		{name: "offset at the end", size: 8, dt: u1, offset: 8, got: dtype.Shape{0}},
		{name: "offset at the end/(-1,3)", size: 8, dt: u1, shape: dtype.Shape{-1, 3}, offset: 8, got: dtype.Shape{0, 3}},
		{name: "two -1", size: 8, dt: u1, shape: dtype.Shape{-1, -1}, want: tensor.ErrCorrupt, msg: "only one dimension may be -1"},
		{name: "dim -2", size: 8, dt: u1, shape: dtype.Shape{-2, 4}, want: tensor.ErrCorrupt, msg: "only one dimension may be -1"},
		{name: "dim minint", size: 8, dt: u1, shape: dtype.Shape{math.MinInt64}, want: tensor.ErrCorrupt, msg: "-1"},
		{name: "-1 beside 0", size: 8, dt: u1, shape: dtype.Shape{0, -1}, want: tensor.ErrCorrupt, msg: "cannot infer"},
		{name: "-1 beside 0, empty file", size: 0, dt: u1, shape: dtype.Shape{0, -1}, want: tensor.ErrCorrupt, msg: "cannot infer"},
		{name: "zero dim", size: 0, dt: f4, shape: dtype.Shape{0, 5}, got: dtype.Shape{0, 5}},
		{name: "zero dim, bytes left", size: 4, dt: f4, shape: dtype.Shape{0, 5}, got: dtype.Shape{0, 5}, unused: 4},
		{name: "scalar", size: 4, dt: f4, shape: dtype.Shape{}, got: dtype.Shape{}},
		{name: "scalar, 8 bytes", size: 8, dt: f4, shape: dtype.Shape{}, got: dtype.Shape{}, unused: 4},
		{name: "scalar, 3 bytes", size: 3, dt: f4, shape: dtype.Shape{}, want: tensor.ErrCorrupt, msg: "needs 4 bytes"},
		{name: "prefix, offset", size: 100, dt: u1, shape: dtype.Shape{2, 3}, offset: 90, got: dtype.Shape{2, 3}, unused: 4},
		{name: "one item short of the file", size: 61, dt: f4, shape: dtype.Shape{3, 5}, got: dtype.Shape{3, 5}, unused: 1},
		{name: "-1 leaves a remainder", size: 61, dt: f4, shape: dtype.Shape{-1, 5}, want: tensor.ErrCorrupt, msg: "not a multiple of 20"},
		{name: "elements 2^32×2^32", size: 8, dt: u1, shape: dtype.Shape{1 << 32, 1 << 32}, want: tensor.ErrCorrupt, msg: "overflows"},
		{name: "elements 2^62×4", size: 8, dt: u1, shape: dtype.Shape{1 << 62, 4}, want: tensor.ErrCorrupt, msg: "overflows"},
		{name: "bytes 2^62×c16", size: 16, dt: c16, shape: dtype.Shape{1 << 62}, want: tensor.ErrCorrupt, msg: "overflows"},
		{name: "bytes 2^60×c16, -1", size: 16, dt: c16, shape: dtype.Shape{1 << 60, -1}, want: tensor.ErrCorrupt, msg: "overflows"},
		{name: "huge width", size: 16, dt: dtype.BytesOf(math.MaxInt), shape: dtype.Shape{2}, want: tensor.ErrCorrupt, msg: "overflows"},
		{name: "huge but fits int64", size: 1 << 40, dt: f4, shape: dtype.Shape{1 << 20, 1 << 18}, got: dtype.Shape{1 << 20, 1 << 18}},
		{name: "huge prefix", size: 1 << 50, dt: f4, shape: dtype.Shape{1 << 20, 1 << 18}, got: dtype.Shape{1 << 20, 1 << 18}, unused: 1<<50 - 1<<40},
		{name: "huge, one short", size: 1<<40 - 1, dt: f4, shape: dtype.Shape{1 << 20, 1 << 18}, want: tensor.ErrCorrupt, msg: "needs 1099511627776 bytes"},
	} {
		add(c)
	}
	return cases
}

// sparse is a file of the given size that reads as a byte pattern
// without holding it.
type sparse int64

func (s sparse) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= int64(s) {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), int64(s)-off))
	for i := range n {
		p[i] = byte(off + int64(i))
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func TestBrokenInputs(t *testing.T) {
	for _, c := range brokenCases() {
		t.Run(c.name, func(t *testing.T) {
			tt, err := Open(sparse(c.size), c.size, "b.raw", c.dt, c.shape, c.offset)
			if c.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if !tt.Shape.Equal(c.got) {
					t.Fatalf("shape %v, want %v", tt.Shape, c.got)
				}
				if n, _ := tt.NumBytes(); n != c.size-c.offset-c.unused {
					t.Fatalf("%d data bytes, want %d", n, c.size-c.offset-c.unused)
				}
				if u := Unused(tt); u != c.unused {
					t.Fatalf("Unused = %d, want %d", u, c.unused)
				}
				if c.size <= 1<<20 {
					if _, err := brokentest.ReadData(tt, 7); err != nil {
						t.Fatal(err)
					}
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "b.raw: ") || !strings.Contains(msg, c.msg) {
				t.Errorf("message %q does not name the file or lacks %q", msg, c.msg)
			}
		})
	}
}

// TestBrokenShapeUnchanged: Open does not write into the caller's shape.
func TestBrokenShapeUnchanged(t *testing.T) {
	sh := dtype.Shape{-1, 5}
	if _, err := Open(bytes.NewReader(make([]byte, 40)), 40, "b.raw", dtype.MustParse("<f4"), sh, 0); err != nil {
		t.Fatal(err)
	}
	if !sh.Equal(dtype.Shape{-1, 5}) {
		t.Fatalf("shape changed to %v", sh)
	}
}
