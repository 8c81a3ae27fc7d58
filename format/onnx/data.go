package onnx

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
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

// widen maps each stored byte through a table to a little-endian float32.
type widen struct {
	src io.ReaderAt
	n   int64 // elements
	lut *[256]uint32
}

func (w *widen) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("onnx: negative offset %d", off)
	}
	size := w.n * 4
	if off >= size {
		return 0, io.EOF
	}
	var eof error
	if int64(len(p)) > size-off {
		p, eof = p[:size-off], io.EOF
	}
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	buf := *bp
	done := 0
	var tmp [4]byte
	for done < len(p) {
		pos := off + int64(done)
		e := pos / 4
		k := min(int64(len(buf)), (pos+int64(len(p)-done)+3)/4-e) // elements touched
		src := buf[:k]
		if m, err := w.src.ReadAt(src, e); m < len(src) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return done, err
		}
		for i := int64(0); i < k && done < len(p); i++ {
			binary.LittleEndian.PutUint32(tmp[:], w.lut[src[i]])
			skip := 0
			if i == 0 {
				skip = int(pos % 4)
			}
			done += copy(p[done:], tmp[skip:])
		}
	}
	return done, eof
}

var (
	lutOnce            sync.Once
	lutE4M3, lutE5M2UZ [256]uint32
)

// fnuzTable is the float32 bits of each FLOAT8E4M3FNUZ or
// FLOAT8E5M2FNUZ byte (ONNX Float8 spec: exponent bias 8 / 16, no
// infinities, no negative zero, 0x80 the only NaN).
func fnuzTable(dt onnxproto.DataType) *[256]uint32 {
	lutOnce.Do(func() {
		for i := 0; i < 256; i++ {
			lutE4M3[i] = fnuz(byte(i), 3, 8)
			lutE5M2UZ[i] = fnuz(byte(i), 2, 16)
		}
	})
	if dt == onnxproto.Float8E4M3FNUZ {
		return &lutE4M3
	}
	return &lutE5M2UZ
}

func fnuz(b byte, mbits uint, bias int) uint32 {
	if b == 0x80 {
		return 0x7fc00000
	}
	e := int(b&0x7f) >> mbits
	m := float64(b & (1<<mbits - 1))
	var v float64
	if e == 0 {
		v = math.Ldexp(m, 1-bias-int(mbits))
	} else {
		v = math.Ldexp(1+m/float64(int(1)<<mbits), e-bias)
	}
	if b&0x80 != 0 {
		v = -v
	}
	return math.Float32bits(float32(v))
}
