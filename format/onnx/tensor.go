package onnx

import (
	"bytes"
	"fmt"
	"io"
	"strconv"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/onnxproto"
	"github.com/bigconv/bigconv/internal/tfproto"
	"github.com/bigconv/bigconv/tensor"
)

// tensor describes the TensorProto of n bytes at off. where names it in
// messages until its name is known ("" for a bare TensorProto file).
func (o *opener) tensor(off, n int64, where string) (*tensor.Tensor, error) {
	h, err := o.header(off, n, where)
	if err != nil {
		return nil, err
	}
	name := h.name
	if name == "" {
		name = where
	}
	t := &tensor.Tensor{Name: h.name, Shape: h.dims, File: o.src.Name, Offset: off,
		Extra: map[string]string{"onnx_dtype": h.dt.String()}}
	for _, d := range h.dims {
		if d < 0 {
			return nil, errf(ErrDims, o.src.Name, name, off, "negative dimension in dims %v", h.dims)
		}
	}
	elems, err := h.dims.NumElements()
	if err != nil {
		return nil, errf(ErrDims, o.src.Name, name, off, "dims %v: element count overflows int64", h.dims)
	}
	switch {
	case !h.hasType || h.dt == onnxproto.Undefined:
		return nil, errf(tensor.ErrCorrupt, o.src.Name, name, off, "TensorProto without a data_type")
	case h.segment:
		t.Unsupported = "a segment (one part of a tensor split over several TensorProtos); onnx.numpy_helper refuses segments too"
		return t, nil
	case h.dt == onnxproto.String:
		return o.strings(h, t, name, elems)
	}
	info, ok := onnxproto.Lookup(h.dt)
	if !ok {
		t.Unsupported = fmt.Sprintf("ONNX data type %v has no NumPy or bigconv element type", h.dt)
		return t, nil
	}
	t.DType = info.Out
	if _, err := dtype.MulCheck(elems, int64(info.Out.Size())); err != nil {
		return nil, errf(ErrDims, o.src.Name, name, off, "dims %v of %v: byte count overflows int64", h.dims, h.dt)
	}
	want, ok := info.StoredBytes(elems)
	if !ok {
		return nil, errf(ErrDims, o.src.Name, name, off, "dims %v of %v: byte count overflows int64", h.dims, h.dt)
	}
	var stored io.ReaderAt // the stored bytes (raw layout)
	contiguous := false
	switch {
	case h.external:
		f, at, err := o.placeExternal(h, name, want)
		if err != nil {
			return nil, err
		}
		stored, contiguous = io.NewSectionReader(f.r, at, want), true
		t.File, t.Offset = f.path, at
		t.Extra["encoding"] = "external_data " + h.extKV["location"]
	case h.hasRaw:
		if h.rawLen != want {
			return nil, errf(ErrSize, o.src.Name, name, h.rawOff,
				"raw_data is %d bytes; dims %v of %v need %d", h.rawLen, h.dims, h.dt, want)
		}
		stored, contiguous = io.NewSectionReader(o.src.R, h.rawOff, want), true
		t.Offset = h.rawOff
		t.Extra["encoding"] = "raw_data"
	default:
		r, sect, err := o.typed(h, info, name, elems, want)
		if err != nil {
			return nil, err
		}
		stored, contiguous = r, sect
		if sect {
			t.Offset = h.runs[info.Field][0].off
		}
		t.Extra["encoding"] = fieldName(info.Field)
	}
	switch {
	case info.Nibbles:
		t.Data = &nibbles{src: stored, n: elems, signed: h.dt == onnxproto.Int4}
		t.Extra["unpacked"] = "two 4-bit values per byte, low nibble first"
	default:
		t.Data = stored
		t.Contiguous = contiguous
	}
	return t, nil
}

// placeExternal checks a tensor's external_data against its file and
// returns the file and the data's offset.
func (o *opener) placeExternal(h *header, name string, want int64) (*extFile, int64, error) {
	at := h.extAt
	if h.extKV == nil {
		return nil, 0, errf(tensor.ErrCorrupt, o.src.Name, name, h.off, "data_location is EXTERNAL but external_data is empty")
	}
	loc, ok := h.extKV["location"]
	if !ok {
		return nil, 0, errf(tensor.ErrCorrupt, o.src.Name, name, at, "external_data has no location")
	}
	num := func(key string) (int64, bool, error) {
		v, ok := h.extKV[key]
		if !ok {
			return 0, false, nil
		}
		x, err := strconv.ParseInt(v, 10, 64)
		if err != nil || x < 0 {
			return 0, false, errf(tensor.ErrCorrupt, o.src.Name, name, at, "external_data %s %q is not a byte count", key, v)
		}
		return x, true, nil
	}
	offset, _, err := num("offset")
	if err != nil {
		return nil, 0, err
	}
	length, hasLen, err := num("length")
	if err != nil {
		return nil, 0, err
	}
	f, err := o.sibling(loc, name, at)
	if err != nil {
		return nil, 0, err
	}
	if offset > f.size {
		return nil, 0, errf(ErrExternal, f.path, name, offset, "offset %d is past the end of the %d-byte file", offset, f.size)
	}
	if !hasLen {
		length = f.size - offset // onnx reads to the end of the file
	}
	if length > f.size-offset {
		return nil, 0, errf(ErrExternal, f.path, name, offset, "%d bytes wanted, the file holds %d from this offset", length, f.size-offset)
	}
	if length != want {
		return nil, 0, errf(ErrSize, f.path, name, offset, "external data is %d bytes; dims %v of %v need %d", length, h.dims, h.dt, want)
	}
	return f, offset, nil
}

// strings describes a STRING tensor: string_data values, as |S<longest>.
func (o *opener) strings(h *header, t *tensor.Tensor, name string, elems int64) (*tensor.Tensor, error) {
	if h.hasRaw || h.external {
		return nil, errf(tensor.ErrCorrupt, o.src.Name, name, h.off, "a STRING tensor must keep its values in string_data, not raw_data or external data")
	}
	runs := h.runs[onnxproto.FieldStringData]
	if int64(len(runs)) != elems {
		return nil, errf(ErrSize, o.src.Name, name, h.off, "string_data holds %d values; dims %v need %d", len(runs), h.dims, elems)
	}
	w := max(h.maxStr, 1)
	size, err := dtype.MulCheck(elems, w)
	if err != nil || size > maxDecoded {
		return nil, errf(tensor.ErrUnsupported, o.src.Name, name, h.off,
			"%d strings of up to %d bytes exceed the %d-byte decoding limit", elems, w, maxDecoded)
	}
	t.DType = dtype.BytesOf(int(w))
	t.Extra["encoding"] = "string_data"
	r := o.src.R
	t.Data = lazy(size, func() ([]byte, error) {
		out := make([]byte, 0, size)
		for _, ru := range runs {
			b, err := tfproto.NewScanner(r, ru.off, ru.n).Bytes(ru.n)
			if err != nil {
				return nil, o.wireErr(err, name, ru.off, "string_data")
			}
			out = append(out, b...)
			out = append(out, make([]byte, w-ru.n)...)
		}
		return out, nil
	})
	return t, nil
}

// typed places values held in the typed field of h's data type: a
// section of the file for one packed run of float_data / double_data in
// the stored layout, otherwise a lazily decoded buffer.
func (o *opener) typed(h *header, info onnxproto.Info, name string, elems, want int64) (io.ReaderAt, bool, error) {
	field := info.Field
	runs := h.runs[field]
	need := elems // values the field must hold
	switch {
	case h.dt == onnxproto.Complex64 || h.dt == onnxproto.Complex128:
		need = 2 * elems
	case info.Nibbles:
		need = want // one int32_data value per packed byte
	}
	if need == 0 && len(runs) == 0 {
		return bytes.NewReader(nil), false, nil
	}
	fixed := int64(0)
	switch field {
	case onnxproto.FieldFloatData:
		fixed = 4
	case onnxproto.FieldDoubleData:
		fixed = 8
	}
	var count int64
	for _, ru := range runs {
		switch {
		case fixed > 0 && ru.packed:
			if ru.n%fixed != 0 {
				return nil, false, errf(tensor.ErrCorrupt, o.src.Name, name, ru.off, "packed %s of %d bytes is not a whole number of values", fieldName(field), ru.n)
			}
			count += ru.n / fixed
		case fixed > 0 || !ru.packed:
			count++
		default:
			if ru.n/10 > need { // more varints than values needed, surely
				return nil, false, errf(ErrSize, o.src.Name, name, ru.off, "%s run of %d bytes holds more than the %d values dims %v of %v need", fieldName(field), ru.n, need, h.dims, h.dt)
			}
			c, err := countVarints(o.src.R, ru)
			if err != nil {
				return nil, false, o.wireErr(err, name, ru.off, fieldName(field))
			}
			count += c
		}
		if count > need {
			break
		}
	}
	if count != need {
		return nil, false, errf(ErrSize, o.src.Name, name, h.off, "%s holds %d values; dims %v of %v need %d",
			fieldName(field), count, h.dims, h.dt, need)
	}
	if fixed > 0 && len(runs) == 1 && runs[0].packed && runs[0].n == want {
		return io.NewSectionReader(o.src.R, runs[0].off, want), true, nil
	}
	if want > maxDecoded {
		return nil, false, errf(tensor.ErrUnsupported, o.src.Name, name, h.off,
			"%s would decode to %d bytes, over the %d-byte limit for typed fields", fieldName(field), want, maxDecoded)
	}
	r, dt := o.src.R, h.dt
	return lazy(want, func() ([]byte, error) {
		out, err := decode(r, runs, field, dt, info, want)
		if err != nil {
			return nil, o.wireErr(err, name, h.off, fieldName(field))
		}
		return out, nil
	}), false, nil
}

func countVarints(r io.ReaderAt, ru run) (int64, error) {
	s := tfproto.NewScanner(r, ru.off, ru.n)
	var c int64
	for !s.Done() {
		if _, err := s.Varint(); err != nil {
			return 0, err
		}
		c++
	}
	return c, nil
}
