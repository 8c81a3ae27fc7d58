package tfrecord

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/bigconv/bigconv/internal/tfproto"
	"github.com/bigconv/bigconv/tensor"
)

// tf.train.Example (tensorflow/core/example/example.proto, feature.proto):
//
//	Example  { Features features = 1; }
//	Features { map<string, Feature> feature = 1; }   // entry {key = 1, value = 2}
//	Feature  { oneof { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3; } }
//	*List    { repeated <bytes|float|int64> value = 1; }  // floats and int64s packed

// Kind is a Feature's list type.
type Kind int

// The list kinds, numbered as Feature's oneof fields.
const (
	BytesList Kind = 1
	FloatList Kind = 2
	Int64List Kind = 3
)

func (k Kind) String() string {
	switch k {
	case BytesList:
		return "bytes_list"
	case FloatList:
		return "float_list"
	case Int64List:
		return "int64_list"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// maxKey caps a feature name.
const maxKey = 1 << 16

// featureRef locates a feature's list inside a record.
type featureRef struct {
	kind    Kind
	listOff int64 // offset of the list message's length varint
	found   bool
}

// notExample marks a record that is not a tf.train.Example.
var notExample = errors.New("not a tf.train.Example")

// scanExample walks the feature map of the Example in [off, off+n) and
// calls fn for each entry with its key and the offset and length of its
// Feature message. Anything that is not Example/Features structure is
// reported as notExample (wrapping tensor.ErrFormat).
func scanExample(r io.ReaderAt, off, n int64, fn func(key []byte, valOff, valLen int64) error) error {
	s := tfproto.NewScanner(r, off, n)
	for !s.Done() {
		num, typ, err := s.Tag()
		if err != nil {
			return fmt.Errorf("%w: %w", notExample, err)
		}
		if num != 1 || typ != protowire.BytesType {
			return fmt.Errorf("%w: field %d (wire type %d): %w", notExample, num, typ, tensor.ErrFormat)
		}
		l, err := s.Len()
		if err != nil {
			return fmt.Errorf("%w: %w", notExample, err)
		}
		fs := tfproto.NewScanner(r, s.Pos(), l)
		if err := s.Skip(l); err != nil {
			return err
		}
		for !fs.Done() {
			num, typ, err := fs.Tag()
			if err != nil {
				return fmt.Errorf("%w: %w", notExample, err)
			}
			if num != 1 || typ != protowire.BytesType {
				return fmt.Errorf("%w: Features field %d (wire type %d): %w", notExample, num, typ, tensor.ErrFormat)
			}
			el, err := fs.Len()
			if err != nil {
				return fmt.Errorf("%w: %w", notExample, err)
			}
			es := tfproto.NewScanner(r, fs.Pos(), el)
			if err := fs.Skip(el); err != nil {
				return err
			}
			var key []byte
			valOff, valLen := int64(-1), int64(0)
			for !es.Done() {
				num, typ, err := es.Tag()
				if err != nil {
					return fmt.Errorf("%w: %w", notExample, err)
				}
				if typ != protowire.BytesType || (num != 1 && num != 2) {
					return fmt.Errorf("%w: map entry field %d (wire type %d): %w", notExample, num, typ, tensor.ErrFormat)
				}
				l, err := es.Len()
				if err != nil {
					return fmt.Errorf("%w: %w", notExample, err)
				}
				if num == 1 {
					if l > maxKey {
						return fmt.Errorf("%w: feature name of %d bytes: %w", notExample, l, tensor.ErrFormat)
					}
					if key, err = es.Bytes(l); err != nil {
						return err
					}
					continue
				}
				valOff, valLen = es.Pos(), l
				if err := es.Skip(l); err != nil {
					return err
				}
			}
			if err := fn(key, valOff, valLen); err != nil {
				return err
			}
		}
	}
	return nil
}

// findFeature locates feature name in the Example at [off, off+n); the
// last entry with that key wins, as in a protobuf map.
func findFeature(r io.ReaderAt, off, n int64, name string) (featureRef, error) {
	var ref featureRef
	err := scanExample(r, off, n, func(key []byte, valOff, valLen int64) error {
		if string(key) != name {
			return nil
		}
		ref = featureRef{found: true} // an entry without value is an empty Feature
		if valOff < 0 {
			return nil
		}
		s := tfproto.NewScanner(r, valOff, valLen)
		for !s.Done() {
			num, typ, err := s.Tag()
			if err != nil {
				return err
			}
			if typ != protowire.BytesType || num < 1 || num > 3 {
				return fmt.Errorf("offset %d: Feature field %d (wire type %d): %w", valOff, num, typ, tensor.ErrFormat)
			}
			ref.kind, ref.listOff = Kind(num), s.Pos()
			l, err := s.Len()
			if err != nil {
				return err
			}
			if err := s.Skip(l); err != nil {
				return err
			}
		}
		return nil
	})
	return ref, err
}

// featureNames lists up to max feature names of the Example at [off,
// off+n), or nil if it is not an Example.
func featureNames(r io.ReaderAt, off, n int64, maxNames int) []string {
	var names []string
	err := scanExample(r, off, n, func(key []byte, _, _ int64) error {
		if len(names) < maxNames {
			names = append(names, string(key))
		}
		return nil
	})
	if err != nil {
		return nil
	}
	return names
}

// listInfo is what one scan of a feature's list found.
type listInfo struct {
	count  int64 // values
	maxLen int64 // bytes_list: longest value
	// simple: the values are one packed field and nothing else, starting
	// dataOff bytes after the list's length varint (floats: contiguous).
	simple  bool
	dataOff int64
}

// readVarintAt reads a varint at off, allowing the file to end within
// ten bytes.
func readVarintAt(r io.ReaderAt, off int64) (uint64, int, error) {
	var b [binary.MaxVarintLen64]byte
	k, err := r.ReadAt(b[:], off)
	if k == 0 && err != nil {
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("offset %d: unexpected end of file: %w", off, tensor.ErrCorrupt)
		}
		return 0, 0, err
	}
	v, n := protowire.ConsumeVarint(b[:k])
	if n < 0 {
		return 0, 0, fmt.Errorf("offset %d: bad varint: %w", off, tensor.ErrCorrupt)
	}
	return v, n, nil
}

// listScanner returns a scanner over the list message whose length
// varint is at listOff, bounded by end.
func listScanner(r io.ReaderAt, listOff, end int64) (*tfproto.Scanner, error) {
	l, n, err := readVarintAt(r, listOff)
	if err != nil {
		return nil, err
	}
	start := listOff + int64(n)
	if l > uint64(max(end-start, 0)) {
		return nil, fmt.Errorf("offset %d: list of %d bytes runs past its record: %w", listOff, l, tensor.ErrCorrupt)
	}
	return tfproto.NewScanner(r, start, int64(l)), nil
}

// scanList counts the values of a list.
func scanList(r io.ReaderAt, ref featureRef, end int64) (listInfo, error) {
	var info listInfo
	if !ref.found || ref.kind == 0 {
		return info, nil
	}
	s, err := listScanner(r, ref.listOff, end)
	if err != nil {
		return info, err
	}
	fields := 0
	for !s.Done() {
		fields++
		num, typ, err := s.Tag()
		if err != nil {
			return info, err
		}
		if num != 1 {
			if err := s.SkipValue(typ); err != nil {
				return info, err
			}
			continue
		}
		switch {
		case ref.kind == BytesList:
			if typ != protowire.BytesType {
				return info, fmt.Errorf("offset %d: bytes_list value has wire type %d: %w", s.Pos(), typ, tensor.ErrCorrupt)
			}
			l, err := s.Len()
			if err != nil {
				return info, err
			}
			info.count++
			info.maxLen = max(info.maxLen, l)
			if err := s.Skip(l); err != nil {
				return info, err
			}
		case typ == protowire.BytesType: // packed
			l, err := s.Len()
			if err != nil {
				return info, err
			}
			info.dataOff = s.Pos() - ref.listOff
			if ref.kind == FloatList {
				if l%4 != 0 {
					return info, fmt.Errorf("offset %d: packed floats of %d bytes: %w", s.Pos(), l, tensor.ErrCorrupt)
				}
				info.count += l / 4
				if err := s.Skip(l); err != nil {
					return info, err
				}
				continue
			}
			end := s.Pos() + l
			for s.Pos() < end {
				if _, err := s.Varint(); err != nil {
					return info, err
				}
				info.count++
			}
			if s.Pos() != end {
				return info, fmt.Errorf("offset %d: packed varints overrun their field: %w", end, tensor.ErrCorrupt)
			}
		case ref.kind == FloatList && typ == protowire.Fixed32Type:
			info.count++
			fields++ // never simple
			if err := s.Skip(4); err != nil {
				return info, err
			}
		case ref.kind == Int64List && typ == protowire.VarintType:
			info.count++
			fields++
			if _, err := s.Varint(); err != nil {
				return info, err
			}
		default:
			return info, fmt.Errorf("offset %d: %v value has wire type %d: %w", s.Pos(), ref.kind, typ, tensor.ErrCorrupt)
		}
	}
	info.simple = fields == 1 && ref.kind == FloatList
	return info, nil
}

// decodeRow writes the k values of the list at listOff into dst: float32
// or int64 little-endian, or width-byte NUL-padded strings.
func decodeRow(r io.ReaderAt, kind Kind, listOff, end, k int64, width int, dst []byte) error {
	s, err := listScanner(r, listOff, end)
	if err != nil {
		return err
	}
	var i int64
	put := func() []byte {
		if i >= k {
			return nil
		}
		switch kind {
		case FloatList:
			return dst[i*4 : i*4+4]
		case Int64List:
			return dst[i*8 : i*8+8]
		}
		return dst[i*int64(width) : (i+1)*int64(width)]
	}
	tooMany := func() error {
		return fmt.Errorf("offset %d: list holds more than %d values: %w", listOff, k, tensor.ErrCorrupt)
	}
	for !s.Done() {
		num, typ, err := s.Tag()
		if err != nil {
			return err
		}
		if num != 1 {
			if err := s.SkipValue(typ); err != nil {
				return err
			}
			continue
		}
		switch {
		case kind == BytesList:
			l, err := s.Len()
			if err != nil {
				return err
			}
			d := put()
			if d == nil {
				return tooMany()
			}
			if l > int64(width) {
				return fmt.Errorf("offset %d: value of %d bytes is wider than %d: %w", s.Pos(), l, width, tensor.ErrCorrupt)
			}
			b, err := s.Bytes(l)
			if err != nil {
				return err
			}
			clear(d[copy(d, b):])
			i++
		case typ == protowire.BytesType:
			l, err := s.Len()
			if err != nil {
				return err
			}
			end := s.Pos() + l
			for s.Pos() < end {
				d := put()
				if d == nil {
					return tooMany()
				}
				if err := decodeOne(s, kind, protowire.BytesType, d); err != nil {
					return err
				}
				i++
			}
		default:
			d := put()
			if d == nil {
				return tooMany()
			}
			if err := decodeOne(s, kind, typ, d); err != nil {
				return err
			}
			i++
		}
	}
	if i != k {
		return fmt.Errorf("offset %d: list holds %d values, not %d: %w", listOff, i, k, tensor.ErrCorrupt)
	}
	return nil
}

func decodeOne(s *tfproto.Scanner, kind Kind, typ protowire.Type, d []byte) error {
	if kind == FloatList {
		if typ != protowire.BytesType && typ != protowire.Fixed32Type {
			return fmt.Errorf("offset %d: float value has wire type %d: %w", s.Pos(), typ, tensor.ErrCorrupt)
		}
		v, err := s.Fixed32()
		binary.LittleEndian.PutUint32(d, v)
		return err
	}
	if typ != protowire.BytesType && typ != protowire.VarintType {
		return fmt.Errorf("offset %d: int64 value has wire type %d: %w", s.Pos(), typ, tensor.ErrCorrupt)
	}
	v, err := s.Varint()
	binary.LittleEndian.PutUint64(d, v)
	return err
}
