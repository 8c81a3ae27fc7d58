// Package onnx reads ONNX files: a bare onnx.TensorProto (the .pb files of
// ONNX test data and model test sets) as one tensor, and an .onnx model
// (ModelProto) as its graph's initializers, one tensor each. It reads
// headers only; tensor data stays in the file.
//
// Layout (onnx/onnx.proto; field numbers in internal/onnxproto):
//
//	ModelProto   1 ir_version · 2 producer_name · … · 7 graph · 8 opset_import
//	GraphProto   1 node · … · 5 initializer (TensorProto) · 15 sparse_initializer
//	TensorProto  1 dims · 2 data_type · 3 segment · 4 float_data · 5 int32_data ·
//	             6 string_data · 7 int64_data · 8 name · 9 raw_data · 10 double_data ·
//	             11 uint64_data · 13 external_data {location, offset, length} ·
//	             14 data_location (1 = EXTERNAL)
//
// Where the values are decides what Data is:
//   - raw_data: a section of the file (zero copy, any size);
//   - external_data: a section of the named file beside the model, opened
//     through format.Source.Sibling; locations outside the model's
//     directory, by name or through a symbolic link, are refused
//     (ErrEscape), and so is an opened file that is not the one its path
//     resolves to or whose path resolves nowhere (/proc/self/fd/N);
//   - float_data / double_data in one packed run (FLOAT, COMPLEX64,
//     DOUBLE, COMPLEX128): a section of the file as well;
//   - any other typed field (varints, strings, several runs): decoded into
//     memory on the first read, at most MaxDecoded bytes per tensor
//     (larger ones are refused when opened) and dropped once every byte
//     has been read, so a model's typed tensors are not all held at once.
//
// bfloat16 and the four float8 kinds (FLOAT8E4M3FN, FLOAT8E5M2,
// FLOAT8E4M3FNUZ, FLOAT8E5M2FNUZ) are presented as the dtype package's
// types (the engine widens them to float32, or keeps raw bits with
// --raw-bits); INT4/UINT4 are unpacked to int8/uint8 (int4 sign-extended)
// as onnx.numpy_helper does; STRING tensors become |S<longest>.
//
//	in, err := onnx.Open(format.Source{R: f, Size: size, Name: "model.onnx", Sibling: sib})
//	for _, t := range in.Tensors { … t.Data.ReadAt(p, off) … }
//
// Concurrency: Open may be called from any goroutine; the Data of each
// returned tensor is safe for concurrent ReadAt calls when the files are.
package onnx

import (
	"errors"
	"fmt"

	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/format/tensorproto"
	"github.com/bigconv/bigconv/internal/onnxproto"
	"github.com/bigconv/bigconv/tensor"
)

// Input.Format values: a bare TensorProto, or a model's initializers.
const (
	FormatTensor = "onnx"
	FormatModel  = "onnx-model"
)

// MaxDecoded caps the bytes one tensor's typed fields (int32_data,
// int64_data, string_data, …) decode to in memory.
const MaxDecoded = 512 << 20

// maxDecoded is MaxDecoded, lowered by tests.
var maxDecoded int64 = MaxDecoded

// Errors. Each wraps a tensor sentinel, so errors.Is(err, tensor.ErrCorrupt)
// holds as for every reader, and is itself wrapped in a *tensor.Error
// naming the file, tensor and byte offset.
var (
	// ErrSize: the values present are not what dims × data_type need.
	ErrSize = fmt.Errorf("data size does not match dims × data_type: %w", tensor.ErrCorrupt)
	// ErrTruncated: a field runs past the end of its message or file.
	ErrTruncated = fmt.Errorf("truncated: %w", tensor.ErrCorrupt)
	// ErrDims: a negative dimension, or dims whose product overflows.
	ErrDims = fmt.Errorf("bad dims: %w", tensor.ErrCorrupt)
	// ErrExternal: external data whose file is missing or too short.
	ErrExternal = fmt.Errorf("external data: %w", tensor.ErrCorrupt)
	// ErrEscape: an external data location outside the model's directory,
	// by its name or through a symbolic link, or one whose opened file its
	// path does not resolve to.
	ErrEscape = fmt.Errorf("external data location escapes the model's directory: %w", tensor.ErrCorrupt)
	// ErrNotTensor: an ONNX SequenceProto or OptionalProto, not a tensor.
	ErrNotTensor = fmt.Errorf("not a TensorProto: %w", tensor.ErrUnsupported)
)

func init() {
	format.Register(format.Format{
		Name:  "onnx",
		Exts:  []string{".onnx"},
		Sniff: Sniff,
		Open:  openSource,
	})
}

// Sniff reports whether head (a file's first bytes) is the start of an
// ONNX ModelProto or TensorProto. It never agrees with
// tensorproto.Sniff (TensorFlow's TensorProto): ONNX's field 2 is the
// varint data_type, TensorFlow's a TensorShapeProto message (see there).
func Sniff(head []byte) bool {
	return onnxproto.SniffModel(head) || onnxproto.SniffTensor(head)
}

func openSource(src format.Source, _ format.Options) (*format.Input, error) {
	in, err := Open(src)
	if err != nil {
		return nil, tensorProtoHint(src, err)
	}
	return in, nil
}

// tensorProtoHint adds to a failure to read src as ONNX that it reads as
// TensorFlow's TensorProto, when it does (a file forced with --format
// onnx or found by its .onnx extension): tensorproto's onnxHint in
// reverse.
func tensorProtoHint(src format.Source, err error) error {
	if src.R == nil || !errors.Is(err, tensor.ErrFormat) && !errors.Is(err, tensor.ErrCorrupt) {
		return err
	}
	head := make([]byte, min(src.Size, format.SniffLen))
	n, _ := src.R.ReadAt(head, 0)
	if tensorproto.Sniff(head[:n]) {
		return fmt.Errorf("%w (the file reads as TensorFlow's TensorProto, not ONNX's: use --format tensorproto)", err)
	}
	return err
}

// Open describes the tensors of an ONNX file: the initializers of a
// model, or the one tensor of a bare TensorProto. It reads the message
// structure only (and the typed values' counts); external data files are
// opened with src.Sibling and their sizes checked, never read.
func Open(src format.Source) (*format.Input, error) {
	if src.R == nil {
		return nil, errf(tensor.ErrUnsupported, src.Name, "", -1, "an ONNX file must be read from a seekable file, not a stream")
	}
	o := &opener{src: src, ext: map[string]*extFile{}}
	k, err := o.classify()
	if err != nil {
		return nil, err
	}
	switch k.kind {
	case kindModel:
		ts, err := o.model(k.graphs)
		if err != nil {
			return nil, err
		}
		described(ts)
		return &format.Input{Format: FormatModel, Tensors: ts, Collection: true}, nil
	case kindContainer:
		return nil, errf(ErrNotTensor, src.Name, "", 0,
			"an ONNX SequenceProto or OptionalProto (elem_type %s) holds tensors but is not one; "+
				"read it with onnx.numpy_helper.to_list / to_optional", elemTypeName(k.elemType))
	}
	t, err := o.tensor(0, src.Size, "")
	if err != nil {
		return nil, err
	}
	described([]*tensor.Tensor{t})
	return &format.Input{Format: FormatTensor, Tensors: []*tensor.Tensor{t}}, nil
}

// described gives each tensor that has no DType (a segment, a data type
// bigconv cannot read) ONNX's name for its data type, which inspect shows
// (tensor.TypeName): "onnx:FLOAT4E2M1".
func described(ts []*tensor.Tensor) {
	for _, t := range ts {
		if dt := t.Extra["onnx_dtype"]; !t.DType.Type.Valid() && dt != "" {
			t.Extra[tensor.ExtraDescr] = "onnx:" + dt
		}
	}
}

// errf builds an error located in file at tensor name and offset.
func errf(sentinel error, file, name string, off int64, format string, args ...any) error {
	return fmt.Errorf("onnx: %w", tensor.Errorf(sentinel, file, name, off, format, args...))
}

// located reports whether err already names its place.
func located(err error) bool {
	var te *tensor.Error
	return errors.As(err, &te)
}
