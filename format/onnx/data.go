package onnx

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/onnxproto"
	"github.com/bigconv/bigconv/internal/tfproto"
	"github.com/bigconv/bigconv/tensor"
)

// lazyReader decodes its bytes on the first ReadAt and serves them
// after. Once as many bytes have been served as it holds (a conversion
// reads each byte once), it drops the buffer, so a model's typed tensors
// are not all held at once; a later read decodes again.
type lazyReader struct {
	size int64
	fill func() ([]byte, error)

	mu     sync.Mutex
	buf    []byte
	served int64
	err    error
}

func lazy(size int64, fill func() ([]byte, error)) *lazyReader {
	return &lazyReader{size: size, fill: fill}
}

func (l *lazyReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("onnx: negative offset %d", off)
	}
	l.mu.Lock()
	if l.buf == nil && l.err == nil {
		l.buf, l.err = l.fill()
		if l.err == nil && int64(len(l.buf)) != l.size {
			l.err = fmt.Errorf("onnx: decoded %d bytes, expected %d: %w", len(l.buf), l.size, tensor.ErrCorrupt)
		}
	}
	buf, err := l.buf, l.err
	l.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if off >= int64(len(buf)) {
		return 0, io.EOF
	}
	n := copy(p, buf[off:])
	l.mu.Lock()
	if l.served += int64(n); l.served >= l.size {
		l.buf, l.served = nil, 0
	}
	l.mu.Unlock()
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// decode reads the runs of a typed field into want bytes of the stored
// layout, converting each value as onnx.numpy_helper.to_array does:
// np.asarray(values, storage dtype).astype(dtype) keeps the low bits of
// integers, makes bool of nonzero, and float16/bfloat16/float8 values are
// their bit patterns. For 4-bit types each int32_data value is one byte
// holding two elements.
func decode(r io.ReaderAt, runs []run, field int, dt onnxproto.DataType, info onnxproto.Info, want int64) ([]byte, error) {
	out := make([]byte, 0, want)
	isz := info.Stored.Size()
	if info.Nibbles {
		isz = 1
	}
	put := func(v uint64) {
		if info.Stored.Type == dtype.Bool {
			if v != 0 {
				v = 1
			}
		}
		switch isz {
		case 1:
			out = append(out, byte(v))
		case 2:
			out = binary.LittleEndian.AppendUint16(out, uint16(v))
		case 4:
			out = binary.LittleEndian.AppendUint32(out, uint32(v))
		default:
			out = binary.LittleEndian.AppendUint64(out, v)
		}
	}
	for _, ru := range runs {
		s := tfproto.NewScanner(r, ru.off, ru.n)
		for !s.Done() && int64(len(out)) < want {
			switch field {
			case onnxproto.FieldFloatData:
				v, err := s.Fixed32()
				if err != nil {
					return nil, err
				}
				out = binary.LittleEndian.AppendUint32(out, v)
			case onnxproto.FieldDoubleData:
				v, err := s.Fixed64()
				if err != nil {
					return nil, err
				}
				out = binary.LittleEndian.AppendUint64(out, v)
			default:
				v, err := s.Varint()
				if err != nil {
					return nil, err
				}
				put(v)
			}
		}
	}
	_ = dt
	return out, nil
}

// nibbles unpacks 4-bit elements (two per stored byte, low nibble first)
// into one byte each; signed sign-extends (int4 → int8).
type nibbles struct {
	src    io.ReaderAt
	n      int64 // elements
	signed bool
}

var chunkPool = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

func (u *nibbles) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("onnx: negative offset %d", off)
	}
	if off >= u.n {
		return 0, io.EOF
	}
	var eof error
	if int64(len(p)) > u.n-off {
		p, eof = p[:u.n-off], io.EOF
	}
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	buf := *bp
	done := 0
	for done < len(p) {
		e := off + int64(done)              // next element
		k := min(len(p)-done, 2*len(buf)-2) // elements this round
		first, last := e/2, (e+int64(k)-1)/2
		src := buf[:last-first+1]
		if m, err := u.src.ReadAt(src, first); m < len(src) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return done, err
		}
		for i := 0; i < k; i++ {
			x := e + int64(i)
			b := src[x/2-first]
			v := b & 0x0f
			if x%2 == 1 {
				v = b >> 4
			}
			if u.signed && v >= 8 {
				v |= 0xf0
			}
			p[done+i] = v
		}
		done += k
	}
	return done, eof
}
