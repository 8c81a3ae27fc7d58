// Package npy reads NumPy .npy files as bigconv inputs: any version
// (1.0, 2.0, 3.0), either byte order, C or Fortran order. It reads the
// header only; the data is described, not loaded.
//
// Object arrays (pickled Python objects) are never loaded; structured,
// unicode, void and datetime arrays are listed but refused with the
// reason, never misread.
//
//	t, err := npy.Open(f, size, "in.npy")
//	// t.DType, t.Shape, t.Fortran; t.Data reads the stored bytes
package npy

import (
	"io"

	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/format/npy/npyhdr"
	"github.com/bigconv/bigconv/tensor"
)

func init() {
	format.Register(format.Format{
		Name:  "npy",
		Exts:  []string{".npy"},
		Sniff: npyhdr.Sniff,
		Open: func(src format.Source, _ format.Options) (*format.Input, error) {
			open := func() (*tensor.Tensor, error) { return Open(src.R, src.Size, src.Name) }
			if src.R == nil {
				open = func() (*tensor.Tensor, error) { return OpenStream(src.Stream, src.Name) }
			}
			t, err := open()
			if err != nil {
				return nil, err
			}
			return &format.Input{Format: "npy", Tensors: []*tensor.Tensor{t}}, nil
		},
	})
}

// Open describes the array in a .npy file of the given size. A file whose
// data is shorter than its header promises is an ErrCorrupt error. An
// array bigconv does not convert comes back with Unsupported set and no
// Data.
func Open(r io.ReaderAt, size int64, name string) (*tensor.Tensor, error) {
	return OpenAt(r, 0, size, name, "")
}

// OpenAt describes the .npy that occupies bytes [off, off+size) of r, as
// Open does for a whole file: a stored member of an .npz archive is one.
// file and name (the tensor's name, "" for a lone .npy) label the tensor
// and its errors; every offset, in errors and in the Tensor, counts from
// the start of r, so Data reads r directly.
func OpenAt(r io.ReaderAt, off, size int64, file, name string) (*tensor.Tensor, error) {
	h, err := npyhdr.Read(io.NewSectionReader(r, off, size), size)
	if err != nil {
		return nil, tensor.Errorf(err, file, name, off, "read .npy header")
	}
	t := Describe(h, off, file, name)
	if t.Unsupported != "" {
		return t, nil
	}
	n, err := h.DataLen()
	if err != nil {
		return nil, tensor.Errorf(tensor.ErrCorrupt, file, name, off, "%v", err)
	}
	if avail := size - h.DataOffset; avail < n {
		return nil, tensor.Errorf(tensor.ErrCorrupt, file, name, off+size,
			"truncated: the header promises %d data bytes (%s %v) but the file has %d after the header", n, h.Descr, h.Shape, avail)
	}
	t.Data = io.NewSectionReader(r, off+h.DataOffset, n)
	t.Contiguous = !h.Fortran || len(h.Shape) <= 1
	return t, nil
}

// Describe is the Tensor a parsed header describes, without Data: its
// dtype, shape, order, Unsupported reason and Extra (descr, version).
// off is where the .npy starts in file, so that Offset is where its data
// starts. Readers that hold a .npy in another container (an .npz member)
// use it to describe what npyhdr.Read found.
func Describe(h *npyhdr.Header, off int64, file, name string) *tensor.Tensor {
	return &tensor.Tensor{
		Name:        name,
		DType:       h.DType,
		Shape:       h.Shape,
		Fortran:     h.Fortran,
		File:        file,
		Offset:      off + h.DataOffset,
		Unsupported: h.Unsupported,
		Extra:       map[string]string{tensor.ExtraDescr: h.Descr, "version": string('0'+h.Major) + "." + string('0'+h.Minor)},
	}
}
