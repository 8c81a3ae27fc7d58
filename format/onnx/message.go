package onnx

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/internal/onnxproto"
	"github.com/bigconv/bigconv/internal/tfproto"
	"github.com/bigconv/bigconv/tensor"
)

// Caps on what is read into memory while parsing headers.
const (
	maxRank     = 64      // NumPy's limit
	maxText     = 1 << 20 // a tensor name, an external_data key or value
	maxExtKeys  = 64      // external_data entries of one tensor
	maxSegment  = 32      // a Segment {begin, end} is at most 22 bytes
	maxTensorsN = 1 << 20 // initializers of one model
)

type kind int

const (
	kindTensor kind = iota
	kindModel
	kindContainer
)

type classified struct {
	kind     kind
	elemType uint64
	graphs   [][2]int64 // offset, length of each ModelProto.graph
}

type opener struct {
	src format.Source
	ext map[string]*extFile
	// dirs are the resolved directories external data may lie in
	// (confined), worked out on first use
	dirs     []string
	dirsDone bool
}

// extFile is an external data file, opened once per location.
type extFile struct {
	r    io.ReaderAt
	size int64
	path string
}

// wireErr turns a Scanner error (which wraps ErrCorrupt) into a located
// ErrTruncated error.
func (o *opener) wireErr(err error, name string, at int64, what string) error {
	if located(err) {
		return err
	}
	if errors.Is(err, tensor.ErrCorrupt) {
		return errf(ErrTruncated, o.src.Name, name, at, "%s: %s", what, stripCorrupt(err))
	}
	return errf(err, o.src.Name, name, at, "%s", what) // an I/O error
}

func stripCorrupt(err error) string {
	return strings.TrimSuffix(err.Error(), ": "+tensor.ErrCorrupt.Error())
}

// classify walks the top-level fields of the file: data_type as a varint
// makes it a TensorProto (or a SequenceProto / OptionalProto, whose
// field 3 is a value rather than a Segment); a graph (field 7, bytes)
// with no varint field 2 makes it a ModelProto.
func (o *opener) classify() (classified, error) {
	var c classified
	s := tfproto.NewScanner(o.src.R, 0, o.src.Size)
	if s.Done() {
		return c, errf(tensor.ErrFormat, o.src.Name, "", 0, "empty file: not an ONNX TensorProto or ModelProto")
	}
	var (
		typeVarint bool
		seg        [2]int64
		segs       int
	)
	seg[0] = -1
	// A wire error ends the walk: the message is then parsed by the
	// reader its first fields point to (which names the tensor), or is
	// not ONNX at all.
	var walkErr error
	walkAt := int64(0)
walk:
	for !s.Done() {
		at := s.Pos()
		num, typ, err := s.Tag()
		if err != nil {
			walkErr, walkAt = err, at
			break
		}
		switch {
		case num == 2 && typ == protowire.VarintType:
			v, err := s.Varint()
			if err != nil {
				walkErr, walkAt = err, at
				break walk
			}
			typeVarint, c.elemType = true, v
			continue
		case num == 3 && typ == protowire.BytesType:
			l, err := s.Len()
			if err == nil {
				seg = [2]int64{s.Pos(), l}
				segs++
				err = s.Skip(l)
			}
			if err != nil {
				walkErr, walkAt = err, at
				break walk
			}
			continue
		case num == 7 && typ == protowire.BytesType:
			l, err := s.Len()
			if err == nil {
				c.graphs = append(c.graphs, [2]int64{s.Pos(), l})
				err = s.Skip(l)
			}
			if err != nil && !typeVarint {
				return c, o.wireErr(err, "", at, "graph (a ModelProto cut short?)")
			}
			if err != nil {
				walkErr, walkAt = err, at
				break walk
			}
			continue
		}
		if err := s.SkipValue(typ); err != nil {
			walkErr, walkAt = err, at
			break
		}
	}
	if walkErr != nil && !typeVarint && len(c.graphs) == 0 {
		if !errors.Is(walkErr, tensor.ErrCorrupt) {
			return c, o.wireErr(walkErr, "", walkAt, "reading") // I/O
		}
		return c, errf(tensor.ErrFormat, o.src.Name, "", walkAt, "not an ONNX TensorProto or ModelProto: %s", stripCorrupt(walkErr))
	}
	switch {
	case typeVarint:
		if segs > 1 || (segs == 1 && !o.isSegment(seg[0], seg[1])) {
			c.kind = kindContainer
		}
		return c, nil
	case len(c.graphs) > 0:
		if walkErr != nil { // a field after the graph cut short: onnx.load fails on it too
			return c, o.wireErr(walkErr, "", walkAt, "ModelProto")
		}
		c.kind = kindModel
		return c, nil
	}
	return c, errf(tensor.ErrFormat, o.src.Name, "", 0,
		"not an ONNX TensorProto (no data_type, field 2) or ModelProto (no graph, field 7)")
}

// isSegment reports whether the n bytes at off are a TensorProto.Segment
// {begin=1, end=2} rather than a tensor value of a sequence or optional.
func (o *opener) isSegment(off, n int64) bool {
	if n > maxSegment {
		return false
	}
	b, err := tfproto.NewScanner(o.src.R, off, n).Bytes(n)
	if err != nil {
		return false
	}
	for len(b) > 0 {
		num, typ, k := protowire.ConsumeTag(b)
		if k < 0 || (num != 1 && num != 2) || typ != protowire.VarintType {
			return false
		}
		b = b[k:]
		_, k = protowire.ConsumeVarint(b)
		if k < 0 {
			return false
		}
		b = b[k:]
	}
	return true
}

func elemTypeName(v uint64) string {
	switch v {
	case 1:
		return "TENSOR"
	case 2:
		return "SPARSE_TENSOR"
	case 3:
		return "SEQUENCE"
	case 4:
		return "MAP"
	case 5:
		return "OPTIONAL"
	}
	return strconv.FormatUint(v, 10)
}

// model lists the initializers of each graph (repeated graph fields
// merge, as protobuf merges them: their initializers add up).
func (o *opener) model(graphs [][2]int64) ([]*tensor.Tensor, error) {
	var ts []*tensor.Tensor
	seen := map[string]bool{}
	add := func(t *tensor.Tensor, at int64) error {
		if seen[t.Name] {
			return errf(tensor.ErrCorrupt, o.src.Name, t.Name, at, "two initializers have this name")
		}
		if len(ts) >= maxTensorsN {
			return errf(tensor.ErrUnsupported, o.src.Name, "", at, "more than %d initializers", maxTensorsN)
		}
		seen[t.Name] = true
		ts = append(ts, t)
		return nil
	}
	for _, g := range graphs {
		s := tfproto.NewScanner(o.src.R, g[0], g[1])
		for !s.Done() {
			at := s.Pos()
			num, typ, err := s.Tag()
			if err != nil {
				return nil, o.wireErr(err, "", at, "GraphProto")
			}
			if (num == 5 || num == 15) && typ == protowire.BytesType {
				l, err := s.Len()
				if err != nil {
					return nil, o.wireErr(err, "", at, "initializer")
				}
				var t *tensor.Tensor
				if num == 5 {
					t, err = o.tensor(s.Pos(), l, fmt.Sprintf("initializer %d", len(ts)))
				} else {
					t, err = o.sparse(s.Pos(), l)
				}
				if err != nil {
					return nil, err
				}
				if err := add(t, at); err != nil {
					return nil, err
				}
				if err := s.Skip(l); err != nil {
					return nil, o.wireErr(err, t.Name, at, "initializer")
				}
				continue
			}
			if err := s.SkipValue(typ); err != nil {
				return nil, o.wireErr(err, "", at, fmt.Sprintf("GraphProto field %d", num))
			}
		}
	}
	return ts, nil
}

// sparse describes a sparse_initializer (SparseTensorProto: values=1,
// indices=2, dims=3) as an unsupported tensor with its dense shape.
func (o *opener) sparse(off, n int64) (*tensor.Tensor, error) {
	t := &tensor.Tensor{File: o.src.Name, Offset: off, Shape: dtype.Shape{},
		Unsupported: "a sparse_initializer (values + indices); densify it with onnx (e.g. onnx.numpy_helper.to_array of the values scattered by the indices) first",
		Extra:       map[string]string{"encoding": "sparse_initializer"}}
	s := tfproto.NewScanner(o.src.R, off, n)
	for !s.Done() {
		at := s.Pos()
		num, typ, err := s.Tag()
		if err != nil {
			return nil, o.wireErr(err, "", at, "SparseTensorProto")
		}
		switch {
		case num == 1 && typ == protowire.BytesType:
			l, err := s.Len()
			if err != nil {
				return nil, o.wireErr(err, "", at, "sparse values")
			}
			h, err := o.header(s.Pos(), l, "sparse values")
			if err != nil {
				return nil, err
			}
			t.Name = h.name
			if info, ok := onnxproto.Lookup(h.dt); ok {
				t.DType = info.Out
			}
			t.Extra["onnx_dtype"] = h.dt.String()
			if err := s.Skip(l); err != nil {
				return nil, o.wireErr(err, t.Name, at, "sparse values")
			}
		case num == 3:
			d, err := dimsField(s, typ)
			if err != nil {
				return nil, o.wireErr(err, t.Name, at, "sparse dims")
			}
			t.Shape = append(t.Shape, d...)
			if len(t.Shape) > maxRank {
				return nil, errf(ErrDims, o.src.Name, t.Name, at, "more than %d dims", maxRank)
			}
		default:
			if err := s.SkipValue(typ); err != nil {
				return nil, o.wireErr(err, t.Name, at, "SparseTensorProto")
			}
		}
	}
	for _, d := range t.Shape {
		if d < 0 {
			return nil, errf(ErrDims, o.src.Name, t.Name, off, "dims %v", t.Shape)
		}
	}
	if _, err := t.Shape.NumElements(); err != nil {
		return nil, errf(ErrDims, o.src.Name, t.Name, off, "dims %v overflow", t.Shape)
	}
	return t, nil
}

// dimsField reads one occurrence of a repeated int64 field, unpacked (one
// varint) or packed.
func dimsField(s *tfproto.Scanner, typ protowire.Type) ([]int64, error) {
	switch typ {
	case protowire.VarintType:
		v, err := s.Varint()
		return []int64{int64(v)}, err
	case protowire.BytesType:
		l, err := s.Len()
		if err != nil {
			return nil, err
		}
		end := s.Pos() + l
		var d []int64
		for s.Pos() < end {
			v, err := s.Varint()
			if err != nil {
				return nil, err
			}
			if len(d) > maxRank {
				return nil, fmt.Errorf("more than %d dims: %w", maxRank, tensor.ErrCorrupt)
			}
			d = append(d, int64(v))
		}
		if s.Pos() != end {
			return nil, fmt.Errorf("packed dims run past their field: %w", tensor.ErrCorrupt)
		}
		return d, nil
	}
	return nil, fmt.Errorf("dims with wire type %d: %w", typ, tensor.ErrCorrupt)
}

// run is one occurrence of a typed field: packed (a length-delimited run
// of values) or a single unpacked value, at off.
type run struct {
	off, n int64
	packed bool
}

// header is what a TensorProto says, before its data is placed.
type header struct {
	off, n   int64
	dims     dtype.Shape
	dt       onnxproto.DataType
	hasType  bool
	name     string
	segment  bool
	hasRaw   bool
	rawOff   int64
	rawLen   int64
	external bool // data_location == EXTERNAL
	extKV    map[string]string
	extAt    int64
	runs     map[int][]run // typed fields, by number
	maxStr   int64         // longest string_data value
}

// header parses the TensorProto of n bytes at off. where names it in
// messages until its name is known.
func (o *opener) header(off, n int64, where string) (*header, error) {
	h := &header{off: off, n: n, dims: dtype.Shape{}, runs: map[int][]run{}}
	s := tfproto.NewScanner(o.src.R, off, n)
	name := func() string {
		if h.name != "" {
			return h.name
		}
		return where
	}
	for !s.Done() {
		at := s.Pos()
		num, typ, err := s.Tag()
		if err != nil {
			return nil, o.wireErr(err, name(), at, "TensorProto")
		}
		bad := func() error {
			return errf(tensor.ErrCorrupt, o.src.Name, name(), at, "TensorProto field %d has wire type %d", num, typ)
		}
		switch num {
		case onnxproto.FieldDims:
			d, err := dimsField(s, typ)
			if err != nil {
				return nil, o.wireErr(err, name(), at, "dims")
			}
			h.dims = append(h.dims, d...)
			if len(h.dims) > maxRank {
				return nil, errf(tensor.ErrUnsupported, o.src.Name, name(), at, "more than %d dims (NumPy's limit)", maxRank)
			}
			continue
		case onnxproto.FieldDataType:
			if typ != protowire.VarintType {
				return nil, bad()
			}
			v, err := s.Varint()
			if err != nil {
				return nil, o.wireErr(err, name(), at, "data_type")
			}
			h.dt, h.hasType = onnxproto.DataType(int32(v)), true
			continue
		case onnxproto.FieldSegment:
			h.segment = true
		case onnxproto.FieldName:
			if typ != protowire.BytesType {
				return nil, bad()
			}
			b, err := o.text(s, at, name())
			if err != nil {
				return nil, err
			}
			h.name = b
			continue
		case onnxproto.FieldRawData:
			if typ != protowire.BytesType {
				return nil, bad()
			}
			l, err := s.Len()
			if err != nil {
				return nil, o.wireErr(err, name(), at, "raw_data")
			}
			h.hasRaw, h.rawOff, h.rawLen = true, s.Pos(), l
			if err := s.Skip(l); err != nil {
				return nil, o.wireErr(err, name(), at, "raw_data")
			}
			continue
		case onnxproto.FieldDataLocation:
			if typ != protowire.VarintType {
				return nil, bad()
			}
			v, err := s.Varint()
			if err != nil {
				return nil, o.wireErr(err, name(), at, "data_location")
			}
			h.external = v == 1
			continue
		case onnxproto.FieldExternalData:
			if typ != protowire.BytesType {
				return nil, bad()
			}
			if h.extKV == nil {
				h.extKV, h.extAt = map[string]string{}, at
			}
			if err := o.keyValue(s, at, name(), h.extKV); err != nil {
				return nil, err
			}
			continue
		case onnxproto.FieldFloatData, onnxproto.FieldInt32Data, onnxproto.FieldStringData,
			onnxproto.FieldInt64Data, onnxproto.FieldDoubleData, onnxproto.FieldUint64Data:
			if !typedWireOK(int(num), typ) {
				return nil, bad()
			}
			r := run{off: s.Pos(), packed: typ == protowire.BytesType}
			if r.packed {
				l, err := s.Len()
				if err != nil {
					return nil, o.wireErr(err, name(), at, fieldName(int(num)))
				}
				r.off, r.n = s.Pos(), l
				if num == onnxproto.FieldStringData {
					h.maxStr = max(h.maxStr, l)
				}
				if err := s.Skip(l); err != nil {
					return nil, o.wireErr(err, name(), at, fieldName(int(num)))
				}
			} else {
				if err := s.SkipValue(typ); err != nil {
					return nil, o.wireErr(err, name(), at, fieldName(int(num)))
				}
				r.n = s.Pos() - r.off
			}
			if len(h.runs[int(num)]) >= 1<<24 {
				return nil, errf(tensor.ErrUnsupported, o.src.Name, name(), at, "more than %d occurrences of %s", 1<<24, fieldName(int(num)))
			}
			h.runs[int(num)] = append(h.runs[int(num)], r)
			continue
		}
		if err := s.SkipValue(typ); err != nil {
			return nil, o.wireErr(err, name(), at, fmt.Sprintf("field %d", num))
		}
	}
	return h, nil
}

func typedWireOK(field int, typ protowire.Type) bool {
	switch field {
	case onnxproto.FieldStringData:
		return typ == protowire.BytesType
	case onnxproto.FieldFloatData:
		return typ == protowire.BytesType || typ == protowire.Fixed32Type
	case onnxproto.FieldDoubleData:
		return typ == protowire.BytesType || typ == protowire.Fixed64Type
	}
	return typ == protowire.BytesType || typ == protowire.VarintType
}

func fieldName(f int) string {
	switch f {
	case onnxproto.FieldFloatData:
		return "float_data"
	case onnxproto.FieldInt32Data:
		return "int32_data"
	case onnxproto.FieldStringData:
		return "string_data"
	case onnxproto.FieldInt64Data:
		return "int64_data"
	case onnxproto.FieldDoubleData:
		return "double_data"
	case onnxproto.FieldUint64Data:
		return "uint64_data"
	}
	return fmt.Sprintf("field %d", f)
}

// text reads a length-delimited UTF-8 string of at most maxText bytes.
func (o *opener) text(s *tfproto.Scanner, at int64, name string) (string, error) {
	l, err := s.Len()
	if err != nil {
		return "", o.wireErr(err, name, at, "string")
	}
	if l > maxText {
		return "", errf(tensor.ErrCorrupt, o.src.Name, name, at, "string of %d bytes (limit %d)", l, maxText)
	}
	b, err := s.Bytes(l)
	if err != nil {
		return "", o.wireErr(err, name, at, "string")
	}
	if !utf8.Valid(b) {
		return "", errf(tensor.ErrCorrupt, o.src.Name, name, at, "string is not UTF-8")
	}
	return string(b), nil
}

// keyValue reads one StringStringEntryProto {key=1, value=2} into kv.
func (o *opener) keyValue(s *tfproto.Scanner, at int64, name string, kv map[string]string) error {
	l, err := s.Len()
	if err != nil {
		return o.wireErr(err, name, at, "external_data")
	}
	if len(kv) >= maxExtKeys {
		return errf(tensor.ErrCorrupt, o.src.Name, name, at, "more than %d external_data entries", maxExtKeys)
	}
	sub := tfproto.NewScanner(o.src.R, s.Pos(), l)
	var key, val string
	for !sub.Done() {
		a := sub.Pos()
		num, typ, err := sub.Tag()
		if err != nil {
			return o.wireErr(err, name, a, "external_data")
		}
		if (num == 1 || num == 2) && typ == protowire.BytesType {
			v, err := o.text(sub, a, name)
			if err != nil {
				return err
			}
			if num == 1 {
				key = v
			} else {
				val = v
			}
			continue
		}
		if err := sub.SkipValue(typ); err != nil {
			return o.wireErr(err, name, a, "external_data")
		}
	}
	kv[key] = val
	return s.Skip(l)
}

// sibling opens (once) the external data file at location, relative to
// the model's directory. Absolute paths and paths leaving the directory
// are refused, as onnx's checker refuses them.
func (o *opener) sibling(location, name string, at int64) (*extFile, error) {
	if f, ok := o.ext[location]; ok {
		return f, nil
	}
	p := filepath.FromSlash(location)
	if location == "" || !filepath.IsLocal(p) || strings.Contains(location, "\\") || path.IsAbs(location) {
		return nil, errf(ErrEscape, o.src.Name, name, at, "location %q", location)
	}
	if o.src.Sibling == nil {
		return nil, errf(tensor.ErrUnsupported, o.src.Name, name, at, "external data %q: the input has no directory", location)
	}
	full := filepath.Join(filepath.Dir(o.src.Name), p)
	if target, err := resolve(full); err == nil {
		// refused before anything outside is opened
		if err := o.confined(target, location, name, at); err != nil {
			return nil, err
		}
	}
	r, size, err := o.src.Sibling(p)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", tensor.Errorf(fmt.Errorf("%w: %w", ErrExternal, err), o.src.Name, name, at,
			"external data file %s", full))
	}
	if err := o.opened(r, full, location, name, at); err != nil {
		return nil, err
	}
	f := &extFile{r: r, size: size, path: full}
	o.ext[location] = f
	return f, nil
}

// opened checks the file Sibling opened for location, once it is open so
// that no link can be swapped in between: a file on disk (a reader with a
// Stat method, as *os.File) must be the file its path resolves to, every
// symbolic link followed, and that must lie in a directory confined
// allows. A path that does not resolve once opened (a link to
// /proc/self/fd/N of a deleted file or a pipe) is refused. A reader that
// is no file on disk (a Source whose files are in memory) is the Source's
// own: its path was checked before opening when it resolves.
func (o *opener) opened(r io.ReaderAt, full, location, name string, at int64) error {
	f, ok := r.(interface{ Stat() (fs.FileInfo, error) })
	if !ok {
		return nil
	}
	got, err := f.Stat()
	if err != nil {
		return fmt.Errorf("onnx: %w", tensor.Errorf(fmt.Errorf("%w: %w", ErrExternal, err), o.src.Name, name, at,
			"external data file %s", full))
	}
	target, err := resolve(full)
	if err != nil {
		return errf(ErrEscape, o.src.Name, name, at,
			"location %q does not resolve, every symbolic link followed, to a file (%v)", location, err)
	}
	if err := o.confined(target, location, name, at); err != nil {
		return err
	}
	if want, err := os.Stat(target); err != nil || !os.SameFile(got, want) {
		return errf(ErrEscape, o.src.Name, name, at,
			"location %q: the file opened is not %s, where its path and symbolic links lead (replaced while opening)", location, target)
	}
	return nil
}

// confined refuses (ErrEscape) an external data file that symbolic links
// take out of the model's directory. The file's resolved path target
// (every link on its path followed) must lie inside the model's directory
// (its links resolved too) or inside the directory that holds the model
// file once the model's own link is resolved: a Hugging Face cache links
// snapshots/REV/model.onnx and its data file to blobs/, a layout
// onnxruntime accepts for the same reason.
func (o *opener) confined(target, location, name string, at int64) error {
	if !o.dirsDone {
		o.dirsDone = true
		ds := []string{filepath.Dir(o.src.Name)}
		if model, err := resolve(o.src.Name); err == nil {
			ds = append(ds, filepath.Dir(model))
		}
		for _, d := range ds {
			if rd, err := resolve(d); err == nil {
				o.dirs = append(o.dirs, rd)
			}
		}
	}
	for _, d := range o.dirs {
		if inside(d, target) {
			return nil
		}
	}
	return errf(ErrEscape, o.src.Name, name, at, "location %q leads through a symbolic link to %s, outside the model's directory", location, target)
}

// resolve is path p made absolute, with every symbolic link resolved.
func resolve(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

// inside reports whether p lies below directory dir (both resolved).
func inside(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != "." && filepath.IsLocal(rel)
}
