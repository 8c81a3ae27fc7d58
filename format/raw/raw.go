// Package raw reads headerless dumps (ndarray.tofile, fwrite of a buffer)
// as bigconv inputs. The user gives the dtype, and the shape or enough of
// it: one dimension may be -1 and is inferred from the file size; with no
// shape the array is 1-D. The size is checked against the file: a shape
// that needs more bytes than the file has from the offset is corrupt
// input; a complete shape (no -1) that needs fewer converts that prefix
// of the file, and says so: the tensor's Extra[ExtraUnused] holds the
// bytes left out, and the format registry's Input carries a warning the
// CLI prints. With -1 or no shape the data must fill the file exactly.
package raw

import (
	"fmt"
	"io"
	"strconv"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/tensor"
)

func init() {
	format.Register(format.Format{
		Name: "raw",
		Exts: []string{".bin", ".raw", ".dat"},
		// an element type given means a raw dump, whatever the name
		Select: func(_ string, opt format.Options) bool { return opt.DType.Type.Valid() },
		Open: func(src format.Source, opt format.Options) (*format.Input, error) {
			open := Open
			if src.R == nil {
				open = func(_ io.ReaderAt, _ int64, name string, dt dtype.DType, sh dtype.Shape, off int64) (*tensor.Tensor, error) {
					return OpenStream(src.Stream, name, dt, sh, off)
				}
			}
			t, err := open(src.R, src.Size, src.Name, opt.DType, opt.Shape, opt.Offset)
			if err != nil {
				return nil, err
			}
			in := &format.Input{Format: "raw", Tensors: []*tensor.Tensor{t}}
			if w := Warning(t, src.Size); w != "" {
				in.Warnings = append(in.Warnings, w)
			}
			return in, nil
		},
	})
}

// Open describes a raw dump of dt values with the given shape (one
// dimension may be -1; nil = 1-D) starting at offset in a file of size
// bytes.
func Open(r io.ReaderAt, size int64, name string, dt dtype.DType, shape dtype.Shape, offset int64) (*tensor.Tensor, error) {
	if !dt.Type.Valid() {
		return nil, tensor.Errorf(tensor.ErrFormat, name, "", -1, "raw input needs --in-dtype (e.g. --in-dtype '<i8')")
	}
	item := int64(dt.Size())
	if item <= 0 { // |S0: nothing to divide the file by
		return nil, tensor.Errorf(tensor.ErrFormat, name, "", -1, "dtype %s has no item size", dt)
	}
	if offset < 0 || offset > size {
		return nil, tensor.Errorf(tensor.ErrCorrupt, name, "", offset, "offset is outside the %d-byte file", size)
	}
	avail := size - offset
	sh, err := inferShape(shape, avail, item)
	if err != nil {
		return nil, tensor.Errorf(tensor.ErrCorrupt, name, "", offset, "%v", err)
	}
	n, err := sh.NumBytes(int(item))
	if err != nil {
		return nil, tensor.Errorf(tensor.ErrCorrupt, name, "", offset, "%v", err)
	}
	if n > avail || (n < avail && !shape.Equal(sh)) {
		// more than the file holds; or less, with a shape inferred from
		// the file (then n < avail is a remainder, not a prefix the user asked for)
		return nil, tensor.Errorf(tensor.ErrCorrupt, name, "", offset,
			"shape %v of %s needs %d bytes but the file has %d bytes from offset %d", sh, dt, n, avail, offset)
	}
	t := &tensor.Tensor{
		DType: dt, Shape: sh, File: name, Offset: offset,
		Data: io.NewSectionReader(r, offset, n), Contiguous: true,
	}
	if n < avail {
		t.Extra = map[string]string{ExtraUnused: strconv.FormatInt(avail-n, 10)}
	}
	return t, nil
}

// ExtraUnused is the tensor.Extra key of the bytes after the data that a
// shape smaller than the file leaves out (absent when the data fills the
// file).
const ExtraUnused = "unused_bytes"

// Unused is how many bytes of the file after t's data Open left out (0
// when the data fills the file from its offset).
func Unused(t *tensor.Tensor) int64 {
	n, _ := strconv.ParseInt(t.Extra[ExtraUnused], 10, 64)
	return n
}

// Warning is the message for a tensor Open made from a prefix of a file
// of size bytes ("" when the data fills the file): what the CLI prints on
// stderr.
func Warning(t *tensor.Tensor, size int64) string {
	u := Unused(t)
	if u == 0 {
		return ""
	}
	n, _ := t.NumBytes()
	return fmt.Sprintf("%s: shape %v of %s uses only %d of the %d bytes from offset %d; the last %d bytes of the file are not converted",
		t.File, t.Shape, t.DType, n, size-t.Offset, t.Offset, u)
}

func inferShape(shape dtype.Shape, avail, item int64) (dtype.Shape, error) {
	if shape == nil {
		if avail%item != 0 {
			return nil, fmt.Errorf("%d bytes is not a whole number of %d-byte items", avail, item)
		}
		return dtype.Shape{avail / item}, nil
	}
	sh := shape.Clone()
	unknown := -1
	known := int64(1)
	for i, d := range sh {
		switch {
		case d == -1 && unknown < 0:
			unknown = i
		case d < 0:
			return nil, fmt.Errorf("shape %v: only one dimension may be -1", shape)
		default:
			var err error
			if known, err = dtype.MulCheck(known, d); err != nil {
				return nil, err
			}
		}
	}
	if unknown >= 0 {
		per, err := dtype.MulCheck(known, item)
		if err != nil {
			return nil, err
		}
		if per == 0 || avail%per != 0 {
			return nil, fmt.Errorf("cannot infer the -1 dimension of %v: %d bytes is not a multiple of %d", shape, avail, per)
		}
		sh[unknown] = avail / per
	}
	return sh, nil
}

// OpenStream describes a raw dump read from r in one pass (a pipe): the
// first offset bytes are skipped, then the data streams. With no shape,
// or a shape whose first axis is -1, the first axis is counted as the
// rows arrive; a full shape is checked against the stream's length (a
// stream that ends sooner, or goes on, fails with ErrCorrupt). A -1 on
// another axis cannot be inferred from a stream.
func OpenStream(r io.Reader, name string, dt dtype.DType, shape dtype.Shape, offset int64) (*tensor.Tensor, error) {
	if !dt.Type.Valid() {
		return nil, tensor.Errorf(tensor.ErrFormat, name, "", -1, "raw input needs --in-dtype (e.g. --in-dtype '<i8')")
	}
	if dt.Size() <= 0 {
		return nil, tensor.Errorf(tensor.ErrFormat, name, "", -1, "dtype %s has no item size", dt)
	}
	if offset < 0 {
		return nil, tensor.Errorf(tensor.ErrCorrupt, name, "", offset, "negative offset")
	}
	if n, err := io.CopyN(io.Discard, r, offset); err != nil {
		return nil, tensor.Errorf(tensor.ErrCorrupt, name, "", n, "the stream ends before offset %d", offset)
	}
	sh := shape.Clone()
	switch {
	case shape == nil:
		sh = dtype.Shape{-1}
	case len(shape) == 0:
		return nil, tensor.Errorf(tensor.ErrUnsupported, name, "", -1, "a scalar cannot be read from a stream; give a file")
	}
	for i, d := range sh {
		if d < -1 || d == -1 && i > 0 {
			return nil, tensor.Errorf(tensor.ErrUnsupported, name, "", -1,
				"shape %v: from a stream only the first dimension may be -1 (it is counted as rows arrive)", shape)
		}
	}
	t := &tensor.Tensor{DType: dt, Shape: sh, File: name, Offset: offset,
		Extra: map[string]string{"read": "one pass"}}
	if sh[0] == -1 {
		sh[0] = 0 // counted by the engine
		t.Stream = r
		return t, nil
	}
	n, err := sh.NumBytes(dt.Size())
	if err != nil {
		return nil, tensor.Errorf(tensor.ErrCorrupt, name, "", offset, "%v", err)
	}
	t.Stream = &format.ExactReader{R: r, N: n, File: name, Off: offset, What: fmt.Sprintf("shape %v of %s", sh, dt), Strict: true}
	return t, nil
}
