// Package tensor describes one tensor found in an input file: its name,
// stored dtype, shape, and its data as an io.ReaderAt over the tensor's
// bytes in C (row-major) order. Format readers produce Tensors; the
// slicer cuts them into row blocks; the engine converts the blocks.
//
// A Tensor is a description, not a buffer: nothing here holds the data.
// Readers hide their layout (one contiguous range, Fortran order, one
// range per TFRecord record, slices of a partitioned variable) behind
// Data, so that every input streams through the same pipeline.
package tensor

import (
	"errors"
	"fmt"
	"io"

	"github.com/bigconv/bigconv/dtype"
)

// Sentinel errors shared by every format reader. Readers wrap them with the
// file, the tensor name and the byte offset where the problem is.
var (
	// ErrFormat: the input is not in the format it was read as.
	ErrFormat = errors.New("not a recognised format")
	// ErrCorrupt: the input claims to be the format but is damaged
	// (truncated, offsets past the end, impossible sizes).
	ErrCorrupt = errors.New("corrupt input")
	// ErrChecksum: a checksum the format carries does not match.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrUnsupported: a valid input that bigconv does not convert (object
	// arrays, structured dtypes, resource tensors), with the reason.
	ErrUnsupported = errors.New("unsupported")
)

// Tensor is one tensor of an input.
type Tensor struct {
	// Name identifies the tensor within its input ("" for single-tensor
	// formats such as .npy and raw).
	Name string
	// DType is the element type as stored, including byte order.
	DType dtype.DType
	// Shape is the logical shape, outermost axis first.
	Shape dtype.Shape
	// Data reads the tensor's bytes in C order (unless Fortran is set) and
	// stored dtype: byte k of the element stream is Data.ReadAt(p, k). It is
	// safe for concurrent ReadAt calls. Nil for tensors that cannot be
	// converted (see Unsupported).
	Data io.ReaderAt
	// Stream is set instead of Data for inputs that can only be read once,
	// in order (a GZIP TFRecord, stdin, a large deflated .npz member). Its
	// first axis may not be known until the end (then Shape[0] is 0): the
	// engine counts rows as they arrive; Stream yields whole rows of
	// Shape[1:] in C order. A reader that knows Shape[0] checks the
	// stream's length itself.
	Stream io.Reader
	// Fortran is set when Data holds the elements in Fortran (column-major)
	// order as stored; the slicer gathers them into C order block by block.
	Fortran bool
	// Contiguous is set when Data is one contiguous range of File: then
	// Data reads File from Offset, and a reader may copy without gathering.
	Contiguous bool
	// File names the file holding the data, for messages.
	File string
	// Offset is where the data starts in File (for messages and inspect).
	Offset int64
	// CRC32C, when non-nil, is the expected CRC-32C (Castagnoli, not
	// masked) of the Data stream; the engine verifies it while streaming.
	CRC32C *uint32
	// Unsupported, when non-empty, says why this tensor cannot be
	// converted (listed by inspect, refused by convert).
	Unsupported string
	// Extra holds format-specific facts for inspect (shard, source dtype…).
	Extra map[string]string
}

// NumBytes is the size of the Data stream: elements × item size.
func (t *Tensor) NumBytes() (int64, error) {
	return t.Shape.NumBytes(t.DType.Size())
}

// ExtraDescr is the Extra key of the source's own name for an element
// type bigconv has no DType for, which TypeName shows: NumPy's descr
// ("<U3", "|O"; the npy reader sets it for every array), ONNX's
// ("onnx:FLOAT4E2M1"), TensorFlow's ("tf:string").
const ExtraDescr = "descr"

// TypeName names t's element type for people (inspect, Describe): the
// DType's string; for a tensor whose type bigconv has none for (an
// Unsupported one, or a string tensor whose data is missing), the
// source's own name, Extra[ExtraDescr]; "-" when the reader gives none.
func (t *Tensor) TypeName() string {
	if t.DType.Type.Valid() {
		return t.DType.String()
	}
	if d := t.Extra[ExtraDescr]; d != "" {
		return d
	}
	return "-"
}

// Describe is a one-line summary: name, dtype, shape and bytes.
func (t *Tensor) Describe() string {
	n, _ := t.NumBytes()
	return fmt.Sprintf("%s %s %v %d bytes", t.Name, t.TypeName(), t.Shape, n)
}

// Errorf builds an error that wraps sentinel with the file, tensor and
// byte offset it concerns: "file.npy: tensor "x": offset 128: <msg>: <sentinel>".
func Errorf(sentinel error, file, name string, offset int64, format string, args ...any) error {
	return &Error{File: file, Tensor: name, Offset: offset, Msg: fmt.Sprintf(format, args...), Err: sentinel}
}

// Error is an input error located by file, tensor and byte offset.
type Error struct {
	File   string
	Tensor string
	Offset int64 // -1 when no offset applies
	Msg    string
	Err    error // the sentinel or underlying error
}

func (e *Error) Error() string {
	s := ""
	if e.File != "" {
		s = e.File + ": "
	}
	if e.Tensor != "" {
		s += fmt.Sprintf("tensor %q: ", e.Tensor)
	}
	if e.Offset >= 0 {
		s += fmt.Sprintf("offset %d: ", e.Offset)
	}
	s += e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }
