package raw

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/brokentest"
	"github.com/bigconv/bigconv/tensor"
)

// FuzzOpen checks the shape and size logic against any dtype, shape
// (negative dimensions included), offset and file size: no panic, errors
// wrap a sentinel, and an accepted shape fills the file from the offset,
// or a prefix of it when the shape was given whole.
func FuzzOpen(f *testing.F) {
	f.Add(uint8(dtype.Float32), 0, "3,5", int64(0), int64(60))
	f.Add(uint8(dtype.Float32), 0, "-1,5", int64(10), int64(70))
	f.Add(uint8(dtype.Complex128), 0, "", int64(0), int64(32))
	f.Add(uint8(dtype.Bytes), 7, "-1", int64(1), int64(15))
	f.Add(uint8(dtype.Bytes), 0, "", int64(0), int64(8))
	f.Add(uint8(dtype.Uint8), 0, "4294967296,4294967296", int64(0), int64(8))
	f.Fuzz(func(t *testing.T, typ uint8, width int, shape string, offset, size int64) {
		dt := dtype.Of(dtype.Type(typ))
		if dt.Type == dtype.Bytes {
			dt = dtype.BytesOf(width)
		}
		var sh dtype.Shape
		if shape != "" {
			sh = dtype.Shape{}
			for _, s := range strings.Split(shape, ",") {
				d, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					return
				}
				sh = append(sh, d)
			}
		}
		if size < 0 {
			return // a file size is never negative
		}
		tt, err := Open(sparse(size), size, "f.raw", dt, sh, offset)
		if err != nil {
			if !errors.Is(err, tensor.ErrFormat) && !errors.Is(err, tensor.ErrCorrupt) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			if !strings.HasPrefix(err.Error(), "f.raw: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		n, err := tt.NumBytes()
		if err != nil || n+Unused(tt) != size-offset || (Unused(tt) != 0 && !sh.Equal(tt.Shape)) {
			t.Fatalf("accepted %v %v: %d bytes (%v) and %d unused, file has %d from %d", dt, tt.Shape, n, err, Unused(tt), size, offset)
		}
		for _, d := range tt.Shape {
			if d < 0 {
				t.Fatalf("accepted shape %v", tt.Shape)
			}
		}
		if n <= 1<<16 {
			if _, err := brokentest.ReadData(tt, 61); err != nil {
				t.Fatal(err)
			}
		}
	})
}
