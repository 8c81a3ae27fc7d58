package tensorproto

import (
	"errors"
	"fmt"
	"io"
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/tfproto"
	"github.com/bigconv/bigconv/tensor"
)

// TensorProto field numbers (tensorflow/core/framework/tensor.proto).
const (
	fieldDType         = 1
	fieldShape         = 2
	fieldVersion       = 3
	fieldContent       = 4
	fieldFloatVal      = 5
	fieldDoubleVal     = 6
	fieldIntVal        = 7
	fieldStringVal     = 8
	fieldScomplexVal   = 9
	fieldInt64Val      = 10
	fieldBoolVal       = 11
	fieldDcomplexVal   = 12
	fieldHalfVal       = 13
	fieldResourceVal   = 14
	fieldVariantVal    = 15
	fieldUint32Val     = 16
	fieldUint64Val     = 17
	fieldFloat8Val     = 18
	maxKnownField      = 18
	maxShapeProtoBytes = 1 << 20
)

// MaxDecoded caps the bytes decoded from typed *_val fields (and string
// values) into memory. Larger tensors are refused with ErrUnsupported;
// tf.io.serialize_tensor never writes them (it uses tensor_content).
const MaxDecoded = 512 << 20

// maxDecoded is MaxDecoded, lowered by tests.
var maxDecoded int64 = MaxDecoded

// Header is what Locate learns about a TensorProto without reading its
// data.
type Header struct {
	DataType tfproto.DataType
	// DType is the element type: the numeric type, or dtype.BytesOf(w)
	// for DT_STRING where w is the longest string used (at least 1).
	DType dtype.DType
	Shape dtype.Shape
	// Off and Len delimit the whole message.
	Off, Len int64
	// HasContent is set when the values are in tensor_content, at
	// ContentOff (absolute), ContentLen bytes (= elements × item size).
	HasContent             bool
	ContentOff, ContentLen int64
	// Otherwise the values come from the typed field ValField (0 when
	// no value is present: the tensor is all zeros), which holds
	// ValCount values. As TensorFlow does (tensor.cc FromProtoField),
	// fewer values than elements repeat the last value, none give
	// zeros, and extra values are ignored.
	ValField int
	ValCount int64
}

// Elements is the number of elements of the shape.
func (h *Header) Elements() int64 {
	n, _ := h.Shape.NumElements() // checked by Locate
	return n
}

// Encoding describes where the values are, for inspect.
func (h *Header) Encoding() string {
	switch {
	case h.HasContent:
		return "tensor_content"
	case h.ValField == 0 || h.ValCount == 0:
		if h.Elements() == 0 {
			return "empty"
		}
		return "no values (zeros)"
	}
	name := fieldNames[h.ValField]
	n := h.Elements()
	switch {
	case h.ValCount == 1 && n > 1:
		return fmt.Sprintf("%s (1 value, broadcast)", name)
	case h.ValCount < n:
		return fmt.Sprintf("%s (%d values, last repeated)", name, h.ValCount)
	}
	return name
}

var fieldNames = map[int]string{
	fieldFloatVal: "float_val", fieldDoubleVal: "double_val", fieldIntVal: "int_val",
	fieldStringVal: "string_val", fieldScomplexVal: "scomplex_val", fieldInt64Val: "int64_val",
	fieldBoolVal: "bool_val", fieldDcomplexVal: "dcomplex_val", fieldHalfVal: "half_val",
	fieldUint32Val: "uint32_val", fieldUint64Val: "uint64_val", fieldFloat8Val: "float8_val",
}

// valField is the typed field TensorFlow reads for a DataType
// (ProtoHelper in tensor.cc).
func valField(dt tfproto.DataType) int {
	if dt > 100 {
		dt -= 100
	}
	switch dt {
	case tfproto.DTFloat:
		return fieldFloatVal
	case tfproto.DTDouble:
		return fieldDoubleVal
	case tfproto.DTInt32, tfproto.DTUint8, tfproto.DTInt16, tfproto.DTInt8,
		tfproto.DTQint8, tfproto.DTQuint8, tfproto.DTQint32, tfproto.DTQint16,
		tfproto.DTQuint16, tfproto.DTUint16:
		return fieldIntVal
	case tfproto.DTString:
		return fieldStringVal
	case tfproto.DTComplex64:
		return fieldScomplexVal
	case tfproto.DTInt64:
		return fieldInt64Val
	case tfproto.DTBool:
		return fieldBoolVal
	case tfproto.DTComplex128:
		return fieldDcomplexVal
	case tfproto.DTHalf, tfproto.DTBfloat16:
		return fieldHalfVal
	case tfproto.DTUint32:
		return fieldUint32Val
	case tfproto.DTUint64:
		return fieldUint64Val
	case tfproto.DTFloat8E5M2, tfproto.DTFloat8E4M3, tfproto.DTFloat8E4M3FNUZ, tfproto.DTFloat8E5M2FNUZ:
		return fieldFloat8Val
	}
	return 0
}

// wireOf is the wire type of one value of a typed field, and how many
// such values make one element.
func wireOf(field int) (typ protowire.Type, perElem int64) {
	switch field {
	case fieldFloatVal:
		return protowire.Fixed32Type, 1
	case fieldScomplexVal:
		return protowire.Fixed32Type, 2
	case fieldDoubleVal:
		return protowire.Fixed64Type, 1
	case fieldDcomplexVal:
		return protowire.Fixed64Type, 2
	case fieldStringVal, fieldFloat8Val, fieldResourceVal, fieldVariantVal:
		return protowire.BytesType, 1
	}
	return protowire.VarintType, 1
}

// Locate parses the TensorProto that occupies the n bytes of r at off
// (a whole file, or a record inside a TFRecord file) and says where its
// values are. It reads the message with small reads and skips
// tensor_content without reading it. Errors wrap tensor.ErrFormat (not
// a TensorProto), tensor.ErrCorrupt or tensor.ErrUnsupported and carry
// the absolute byte offset.
func Locate(r io.ReaderAt, off, n int64) (Header, error) {
	return locate(r, off, n, "")
}

func wrap(err error, file string, off int64, format string, args ...any) error {
	if err == nil {
		return nil
	}
	var te *tensor.Error
	if errors.As(err, &te) {
		return err
	}
	sentinel := tensor.ErrCorrupt
	switch {
	case errors.Is(err, tensor.ErrFormat):
		sentinel = tensor.ErrFormat
	case errors.Is(err, tensor.ErrUnsupported):
		sentinel = tensor.ErrUnsupported
	case !errors.Is(err, tensor.ErrCorrupt):
		// an I/O error: keep it as the cause
		return fmt.Errorf("tensorproto: %w", tensor.Errorf(err, file, "", off, format, args...))
	}
	msg := fmt.Sprintf(format, args...) + ": " + stripSentinel(err, sentinel)
	return fmt.Errorf("tensorproto: %w", tensor.Errorf(sentinel, file, "", off, "%s", msg))
}

// stripSentinel drops a trailing ": <sentinel>" from err's text, so the
// sentinel is not named twice once rewrapped.
func stripSentinel(err, sentinel error) string {
	s := err.Error()
	suf := ": " + sentinel.Error()
	if len(s) >= len(suf) && s[len(s)-len(suf):] == suf {
		return s[:len(s)-len(suf)]
	}
	return s
}

func errf(sentinel error, file string, off int64, format string, args ...any) error {
	return fmt.Errorf("tensorproto: %w", tensor.Errorf(sentinel, file, "", off, format, args...))
}

func locate(r io.ReaderAt, off, n int64, file string) (Header, error) {
	h := Header{Off: off, Len: n, Shape: dtype.Shape{}}
	if n < 0 || off < 0 {
		return h, errf(tensor.ErrCorrupt, file, off, "negative range")
	}
	s := tfproto.NewScanner(r, off, n)
	if s.Done() {
		return h, errf(tensor.ErrFormat, file, off, "empty message: not a TensorProto")
	}
	// The first field must be dtype: every serializer writes fields in
	// number order, and this tells TensorProtos from other messages.
	num, typ, err := s.Tag()
	if err != nil {
		return h, wrap(fmt.Errorf("%w: %w", err, tensor.ErrFormat), file, off, "not a TensorProto")
	}
	if num != fieldDType || typ != protowire.VarintType {
		return h, errf(tensor.ErrFormat, file, off, "not a TensorProto: first field is %d (wire type %d), not dtype", num, typ)
	}
	v, err := s.Varint()
	if err != nil {
		return h, wrap(fmt.Errorf("%w: %w", err, tensor.ErrFormat), file, off, "not a TensorProto")
	}
	if v > math.MaxInt32 || !tfproto.DataType(v).Known() || v == 0 {
		return h, errf(tensor.ErrFormat, file, off, "not a TensorProto: dtype %d is not a TensorFlow DataType", v)
	}
	h.DataType = tfproto.DataType(v)
	want := valField(h.DataType)
	limit := int64(math.MaxInt64) // values that count (elements, once the shape is known)
	var (
		maxLen    int64 // longest string among the counted values
		shapeSeen bool
		counted   int64 // values seen in want (unit values, before /perElem)
	)
	wantWire, perElem := wireOf(want)
	for !s.Done() {
		at := s.Pos()
		num, typ, err := s.Tag()
		if err != nil {
			return h, wrap(err, file, at, "bad field tag")
		}
		if int(num) <= maxKnownField {
			if ok := fieldWireOK(int(num), typ); !ok {
				return h, errf(tensor.ErrFormat, file, at, "not a TensorProto: field %d has wire type %d", num, typ)
			}
		}
		switch {
		case num == fieldDType:
			v, err := s.Varint()
			if err != nil {
				return h, wrap(err, file, at, "dtype")
			}
			if tfproto.DataType(v) != h.DataType {
				// (an ONNX TensorProto repeats field 1, its dims: openSource
				// adds a hint when the file reads as ONNX)
				return h, errf(tensor.ErrCorrupt, file, at, "second dtype %d differs from %v", v, h.DataType)
			}
		case num == fieldShape:
			l, err := s.Len()
			if err != nil {
				return h, wrap(err, file, at, "tensor_shape")
			}
			if l > maxShapeProtoBytes {
				return h, errf(tensor.ErrFormat, file, at, "not a TensorProto: tensor_shape of %d bytes%s", l, savedModelHint)
			}
			b, err := s.Bytes(l)
			if err != nil {
				return h, wrap(err, file, at, "tensor_shape")
			}
			if len(b) > 0 && b[0] == 0x0a {
				return h, errf(tensor.ErrFormat, file, at, "not a TensorProto: field 2 is not a TensorShapeProto%s", savedModelHint)
			}
			if !checkShape(b, false) {
				hint := ""
				if h.DataType == tfproto.DTFloat {
					hint = savedModelHint
				}
				return h, errf(tensor.ErrFormat, file, at, "not a TensorProto: field 2 is not a TensorShapeProto%s", hint)
			}
			sh, err := tfproto.Shape(b)
			if err != nil {
				return h, wrap(err, file, at, "tensor_shape")
			}
			if len(h.Shape)+len(sh) > tfproto.MaxRank {
				return h, errf(tensor.ErrCorrupt, file, at, "more than %d dimensions", tfproto.MaxRank)
			}
			h.Shape = append(h.Shape, sh...)
			e, err := h.Shape.NumElements()
			if err != nil {
				return h, errf(tensor.ErrCorrupt, file, at, "shape %v: %v", h.Shape, err)
			}
			limit, shapeSeen = e, true
		case num == fieldContent:
			l, err := s.Len()
			if err != nil {
				return h, wrap(err, file, at, "tensor_content")
			}
			h.ContentOff, h.ContentLen = s.Pos(), l
			if err := s.Skip(l); err != nil {
				return h, wrap(err, file, at, "tensor_content")
			}
		case int(num) == want && want != 0:
			c, ml, err := countValues(s, want, typ, wantWire, !shapeSeen || counted < limit)
			if err != nil {
				return h, wrap(err, file, at, "%s", fieldNames[want])
			}
			if want == fieldFloat8Val { // singular bytes: the last one wins
				counted = 0
			}
			counted += c
			maxLen = max(maxLen, ml)
		default:
			if err := s.SkipValue(typ); err != nil {
				return h, wrap(err, file, at, "field %d", num)
			}
		}
	}
	elems, err := h.Shape.NumElements()
	if err != nil {
		return h, errf(tensor.ErrCorrupt, file, off, "shape %v: %v", h.Shape, err)
	}
	switch base := h.DataType % 100; {
	case base == tfproto.DTString:
		if h.ContentLen > 0 {
			return h, errf(tensor.ErrUnsupported, file, h.ContentOff, "string tensor in tensor_content encoding")
		}
		h.DType = dtype.BytesOf(int(max(maxLen, 1)))
	default:
		dt, err := h.DataType.Numeric()
		if err != nil {
			return h, errf(tensor.ErrUnsupported, file, off, "dtype %v has no NumPy equivalent", h.DataType)
		}
		h.DType = dt
	}
	isz := int64(h.DType.Size())
	if _, err := dtype.MulCheck(elems, isz); err != nil {
		return h, errf(tensor.ErrCorrupt, file, off, "shape %v of %v: %v", h.Shape, h.DataType, err)
	}
	if h.ContentLen > 0 {
		// tensor.cc: non-empty tensor_content wins and must hold exactly
		// elements × item size bytes.
		want, err := dtype.MulCheck(elems, isz)
		if err != nil || want != h.ContentLen {
			return h, errf(tensor.ErrCorrupt, file, h.ContentOff,
				"tensor_content is %d bytes; shape %v of %v needs %d", h.ContentLen, h.Shape, h.DataType, want)
		}
		h.HasContent = true
		return h, nil
	}
	h.ContentOff, h.ContentLen = 0, 0
	h.ValField = want
	h.ValCount = counted / perElem
	used := min(h.ValCount, elems)
	if used > 0 {
		if b, err := dtype.MulCheck(used, isz); err != nil || b > maxDecoded {
			return h, errf(tensor.ErrUnsupported, file, off,
				"%d values in %s would decode to more than %d bytes", used, fieldNames[want], maxDecoded)
		}
	}
	return h, nil
}

// fieldWireOK reports whether typ is a wire type field may have in a
// TensorProto (repeated numeric fields may be packed).
func fieldWireOK(field int, typ protowire.Type) bool {
	switch field {
	case fieldDType, fieldVersion:
		return typ == protowire.VarintType
	case fieldShape, fieldContent, fieldStringVal, fieldResourceVal, fieldVariantVal, fieldFloat8Val:
		return typ == protowire.BytesType
	}
	w, _ := wireOf(field)
	return typ == protowire.BytesType || typ == w
}

// countValues consumes one occurrence of a typed field (packed or not)
// and returns how many values it holds and, for a string that counts
// (is among the first elements), its length.
func countValues(s *tfproto.Scanner, field int, typ, wire protowire.Type, counts bool) (n, maxLen int64, err error) {
	if field == fieldStringVal {
		l, err := s.Len()
		if err != nil {
			return 0, 0, err
		}
		if counts {
			maxLen = l
		}
		return 1, maxLen, s.Skip(l)
	}
	if field == fieldFloat8Val {
		l, err := s.Len()
		if err != nil {
			return 0, 0, err
		}
		return l, 0, s.Skip(l)
	}
	if typ != protowire.BytesType { // one unpacked value
		return 1, 0, s.SkipValue(typ)
	}
	l, err := s.Len()
	if err != nil {
		return 0, 0, err
	}
	switch wire {
	case protowire.Fixed32Type:
		if l%4 != 0 {
			return 0, 0, fmt.Errorf("offset %d: packed fixed32 field of %d bytes: %w", s.Pos(), l, tensor.ErrCorrupt)
		}
		return l / 4, 0, s.Skip(l)
	case protowire.Fixed64Type:
		if l%8 != 0 {
			return 0, 0, fmt.Errorf("offset %d: packed fixed64 field of %d bytes: %w", s.Pos(), l, tensor.ErrCorrupt)
		}
		return l / 8, 0, s.Skip(l)
	}
	// packed varints: count the terminating bytes
	end := s.Pos() + l
	for s.Pos() < end {
		if _, err := s.Varint(); err != nil {
			return 0, 0, err
		}
		n++
	}
	if s.Pos() != end {
		return 0, 0, fmt.Errorf("offset %d: packed varints run past their field: %w", end, tensor.ErrCorrupt)
	}
	return n, 0, nil
}

// savedModelHint names the likely culprit when field 2 is a large
// message that is not a shape: a SavedModel's saved_model.pb starts
// with saved_model_schema_version=1 (read as dtype float) and then
// MetaGraphDefs (read as tensor_shape).
const savedModelHint = " (this looks like a SavedModel saved_model.pb — schema version, then a MetaGraphDef; " +
	"convert the tensor bundle in its variables/ directory instead)"

// checkShape reports whether b is a TensorShapeProto with nothing but
// its own fields: dim=2 {size=1 varint, name=2 bytes}, unknown_rank=3.
// With partial set, b may be cut short at its end. It checks the
// structure only: a negative size or unknown_rank is a TensorShapeProto
// still, which tfproto.Shape refuses as corrupt.
func checkShape(b []byte, partial bool) bool { return checkMessage(b, partial, shapeFields) }

func checkDim(b []byte, partial bool) bool { return checkMessage(b, partial, dimFields) }

// protoField is what a message may hold under a field number: its wire
// type and, for a nested message, the check of its contents (nil: any
// bytes).
type protoField struct {
	typ   protowire.Type
	check func(b []byte, partial bool) bool
}

var (
	shapeFields = map[protowire.Number]protoField{2: {protowire.BytesType, checkDim}, 3: {protowire.VarintType, nil}}
	dimFields   = map[protowire.Number]protoField{1: {protowire.VarintType, nil}, 2: {protowire.BytesType, nil}}
)

// checkMessage reports whether b holds only the given fields (varints and
// length-delimited ones), each well formed; with partial set, b may be
// cut short at its end.
func checkMessage(b []byte, partial bool, fields map[protowire.Number]protoField) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return partial && len(b) < 3
		}
		b = b[n:]
		f, ok := fields[num]
		if !ok || f.typ != typ {
			return false
		}
		v, n := protowire.ConsumeVarint(b) // the value, or the length
		if n < 0 {
			return partial && len(b) < 10
		}
		b = b[n:]
		if typ == protowire.VarintType {
			continue
		}
		if v > uint64(len(b)) {
			return partial && (f.check == nil || f.check(b, true))
		}
		if f.check != nil && !f.check(b[:v], false) {
			return false
		}
		b = b[v:]
	}
	return true
}
