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
	"github.com/bigconv/bigconv/npyhdr"
	"github.com/bigconv/bigconv/tensor"
)

func init() {
	format.Register(format.Format{
		Name:  "npy",
		Exts:  []string{".npy"},
		Sniff: npyhdr.Sniff,
		Open: func(src format.Source, _ format.Options) (*format.Input, error) {
			t, err := Open(src.R, src.Size, src.Name)
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
	h, err := npyhdr.Read(r, size)
	if err != nil {
		return nil, tensor.Errorf(err, name, "", 0, "read .npy header")
	}
	t := &tensor.Tensor{
		DType:   h.DType,
		Shape:   h.Shape,
		Fortran: h.Fortran,
		File:    name,
		Offset:  h.DataOffset,
		Extra:   map[string]string{"descr": h.Descr, "version": string('0'+h.Major) + "." + string('0'+h.Minor)},
	}
	if h.Unsupported != "" {
		t.Unsupported = h.Unsupported
		return t, nil
	}
	n, err := h.DataLen()
	if err != nil {
		return nil, tensor.Errorf(tensor.ErrCorrupt, name, "", 0, "%v", err)
	}
	if avail := size - h.DataOffset; avail < n {
		return nil, tensor.Errorf(tensor.ErrCorrupt, name, "", size,
			"truncated: the header promises %d data bytes (%s %v) but the file has %d after the header", n, h.Descr, h.Shape, avail)
	}
	t.Data = io.NewSectionReader(r, h.DataOffset, n)
	t.Contiguous = !h.Fortran || len(h.Shape) <= 1
	return t, nil
}
