package onnxproto

import (
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// SniffTensor reports whether head (a file's first bytes, perhaps cut
// short) reads as an ONNX TensorProto — or as the SequenceProto /
// OptionalProto that ONNX test data also stores in .pb files, which share
// its first fields and which the reader refuses by name. Every field must
// be a TensorProto field with its wire type, and data_type (field 2, a
// varint: TensorFlow's field 2 is a message) must be present with a
// known value.
func SniffTensor(head []byte) bool {
	b := head
	var (
		seenType bool
		fields   int
	)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			if len(b) >= 3 {
				return false
			}
			break
		}
		if fields == 0 && num != FieldDims && num != FieldDataType {
			return false
		}
		fields++
		b = b[n:]
		var m int
		switch num {
		case FieldDims:
			switch typ {
			case protowire.VarintType:
				m = protowire.ConsumeFieldValue(num, typ, b)
			case protowire.BytesType:
				v, k := protowire.ConsumeBytes(b)
				if k >= 0 {
					for len(v) > 0 {
						_, j := protowire.ConsumeVarint(v)
						if j < 0 {
							return false
						}
						v = v[j:]
					}
				}
				m = k
			default:
				return false
			}
		case FieldDataType:
			if typ != protowire.VarintType {
				return false
			}
			v, k := protowire.ConsumeVarint(b)
			if k >= 0 {
				if !DataType(v).Known() || v > uint64(maxDataType) {
					return false
				}
				seenType = true
			}
			m = k
		case FieldRawData:
			if typ != protowire.BytesType {
				return false
			}
			l, k := protowire.ConsumeVarint(b)
			if k >= 0 {
				if l > uint64(len(b)-k) {
					b = nil // cut inside raw_data: the rest of head is data
					continue
				}
			}
			m = protowire.ConsumeFieldValue(num, typ, b)
		case FieldFloatData:
			if typ != protowire.Fixed32Type && typ != protowire.BytesType {
				return false
			}
			m = protowire.ConsumeFieldValue(num, typ, b)
		case FieldDoubleData:
			if typ != protowire.Fixed64Type && typ != protowire.BytesType {
				return false
			}
			m = protowire.ConsumeFieldValue(num, typ, b)
		case FieldInt32Data, FieldInt64Data, FieldUint64Data:
			if typ != protowire.VarintType && typ != protowire.BytesType {
				return false
			}
			m = protowire.ConsumeFieldValue(num, typ, b)
		case FieldSegment, FieldStringData, FieldName, FieldDocString, FieldExternalData, FieldMetadata:
			if typ != protowire.BytesType {
				return false
			}
			m = protowire.ConsumeFieldValue(num, typ, b)
		case FieldDataLocation:
			if typ != protowire.VarintType {
				return false
			}
			m = protowire.ConsumeFieldValue(num, typ, b)
		default:
			return false
		}
		if m < 0 {
			break // cut at the end of head
		}
		b = b[m:]
	}
	return seenType
}

// SniffModel reports whether head reads as the start of an ONNX
// ModelProto: ir_version (field 1, varint) first, then only ModelProto
// fields with their wire types, producer and domain strings as non-empty
// UTF-8 text (a TensorFlow TensorProto's field 2 is a TensorShapeProto,
// whose first byte is a control character), up to the graph (field 7).
// A model whose doc_string pushes the graph past head is found by its
// .onnx extension instead.
func SniffModel(head []byte) bool {
	b := head
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || num != 1 || typ != protowire.VarintType {
		return false
	}
	b = b[n:]
	v, n := protowire.ConsumeVarint(b)
	if n < 0 || v == 0 || v > 100 {
		return false
	}
	b = b[n:]
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		switch num {
		case 2, 3, 4, 6: // producer_name, producer_version, domain, doc_string
			if typ != protowire.BytesType {
				return false
			}
			l, k := protowire.ConsumeVarint(b)
			if k < 0 || l == 0 {
				return false
			}
			b = b[k:]
			s := b[:min(uint64(len(b)), l)]
			if !text(s, l > uint64(len(b))) {
				return false
			}
			if l > uint64(len(b)) {
				return false // graph not reached within head
			}
			b = b[l:]
		case 5: // model_version
			if typ != protowire.VarintType {
				return false
			}
			k := protowire.ConsumeFieldValue(num, typ, b)
			if k < 0 {
				return false
			}
			b = b[k:]
		case 7: // graph
			return typ == protowire.BytesType
		case 8, 14, 20, 25, 26: // opset_import, metadata_props, training_info, functions, configuration
			if typ != protowire.BytesType {
				return false
			}
			k := protowire.ConsumeFieldValue(num, typ, b)
			if k < 0 {
				return false
			}
			b = b[k:]
		default:
			return false
		}
	}
	return false
}

// text reports whether s is UTF-8 text without control characters other
// than tab, CR and LF (cut allows a rune cut at the end).
func text(s []byte, cut bool) bool {
	for len(s) > 0 {
		r, n := utf8.DecodeRune(s)
		if r == utf8.RuneError && n <= 1 {
			return cut && len(s) < utf8.UTFMax && !utf8.FullRune(s)
		}
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f {
			return false
		}
		s = s[n:]
	}
	return true
}
