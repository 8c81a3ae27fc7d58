package pytorch

// A small pickle interpreter: it builds plain values (numbers, strings,
// lists, tuples, dicts) from a pickle stream and hands globals, calls and
// persistent ids to the caller (torch.go), which allows a short list of
// them. Nothing a pickle names is imported or run.
//
// Why not github.com/nlpodyssey/gopickle: it sizes buffers from lengths
// read from the stream before checking them (a hostile BINUNICODE8 asks
// for 2^63 bytes), keeps no account of memory, and its errors do not say
// where in the stream they arose. This machine checks every declared
// length against what is left of the pickle, charges every allocation it
// makes to a budget (MaxPickleMemory, budget.go), and reports byte offsets.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bigconv/bigconv/tensor"
)

// MaxPickleMemory caps the bytes one file's pickles and the naming of
// their values may allocate, in total (runtime.MemStats.TotalAlloc, so it
// also bounds the live heap): every allocation of the pickle machine, the
// torch callbacks and the walker is charged to it at the size Go's
// allocator gives it — strings, interface boxes, map entries, and every
// backing array a growing slice leaves behind. Open allocates at most
// MaxPickleMemory + 1 MiB (buffers, error messages), plus archive/zip's
// reading of the zip directory (a few hundred bytes per member). A pickle
// that needs more is refused with tensor.ErrUnsupported naming the file
// and the offset of the opcode (or, in the walk, the value) that passed
// the limit. A state_dict as torch writes it costs about 3 KiB per tensor,
// so the default admits about 80,000 tensors.
var MaxPickleMemory int64 = 256 << 20

// Values built by the machine. Python ints are int64 or *big.Int, floats
// float64, str string, bytes pyBytes, True/False bool, None pyNone.
type (
	pyNone  struct{}
	pyBytes []byte
	pyTuple []any
	pyList  struct{ items []any }
	pyDict  struct {
		keys, vals []any
		idx        map[any]int
		ordered    bool // collections.OrderedDict
	}
	pySet struct {
		items  []any
		frozen bool
	}
	// pyGlobal is an allowed global (a class or function), by name.
	pyGlobal struct{ module, name, full string }
	mark     struct{}
)

func (g *pyGlobal) String() string { return g.full }

// machine runs one pickle.
type machine struct {
	r      *bufio.Reader
	pos    int64 // bytes consumed
	size   int64 // bytes the pickle may hold (its member or what is left of the file)
	base   int64 // file offset of the pickle's first byte, for messages (-1: not a file range)
	file   string
	what   string // "data.pkl", "pickle 4 of the legacy file"
	b      *budget
	stack  []any
	marks  []int
	memo   []any // by index, as CPython's unpickler keeps it; nil: not stored
	memoN  int   // entries stored (MEMOIZE's next index)
	buf    [8]byte
	global func(module, name string) (any, error)  // resolves GLOBAL / STACK_GLOBAL
	call   func(fn any, args pyTuple) (any, error) // REDUCE, NEWOBJ
	pid    func(id any) (any, error)               // BINPERSID / PERSID
	build  func(obj any, state any) (any, error)   // BUILD
}

var errStop = errors.New("stop")

// errorf reports a problem at the opcode that starts at pickle offset at.
func (m *machine) errorf(sentinel error, at int64, format string, args ...any) error {
	off := int64(-1)
	if m.base >= 0 {
		off = m.base + at
	}
	msg := fmt.Sprintf(format, args...)
	if m.base < 0 {
		msg = fmt.Sprintf("%s byte %d: %s", m.what, at, msg)
	} else {
		msg = m.what + ": " + msg
	}
	return fmt.Errorf("pytorch: %w", tensor.Errorf(sentinel, m.file, "", off, "%s", msg))
}

// newMachine makes a machine charging b (machineCost is charged when it
// runs).
func newMachine(r io.Reader, size, base int64, file, what string, b *budget) *machine {
	return &machine{r: bufio.NewReaderSize(r, 64<<10), size: size, base: base, file: file, what: what, b: b}
}

// charge accounts n bytes to the budget.
func (m *machine) charge(n int64, at int64) error {
	if err := m.b.charge(n); err != nil {
		return m.wrapGlobal(err, at)
	}
	return nil
}

func (m *machine) readByte(at int64) (byte, error) {
	b, err := m.r.ReadByte()
	if err != nil {
		return 0, m.truncated(at, err)
	}
	m.pos++
	return b, nil
}

func (m *machine) truncated(at int64, err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return m.errorf(tensor.ErrCorrupt, at, "truncated: the pickle ends at byte %d inside an opcode", m.pos)
	}
	return m.errorf(tensor.ErrCorrupt, at, "read: %v", err)
}

// claim checks that the pickle can hold n more bytes, and charges them:
// a declared length is never trusted.
func (m *machine) claim(n uint64, at int64) error {
	if n > uint64(m.size-m.pos) {
		return m.errorf(tensor.ErrCorrupt, at, "truncated: a length of %d bytes runs past the end of the %d-byte pickle", n, m.size)
	}
	return m.charge(allocSize(int64(n)), at)
}

// readBytes reads n bytes into a new slice.
func (m *machine) readBytes(n uint64, at int64) ([]byte, error) {
	if err := m.claim(n, at); err != nil {
		return nil, err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(m.r, b); err != nil {
		return nil, m.truncated(at, err)
	}
	m.pos += int64(n)
	return b, nil
}

// readString reads n bytes into a new string (one allocation: the bytes
// are copied from the reader's buffer).
func (m *machine) readString(n uint64, at int64) (string, error) {
	if err := m.claim(n, at); err != nil {
		return "", err
	}
	var sb strings.Builder
	sb.Grow(int(n))
	for sb.Len() < int(n) {
		p, err := m.r.Peek(min(int(n)-sb.Len(), m.r.Size()))
		sb.Write(p)
		m.r.Discard(len(p))
		if err != nil {
			return "", m.truncated(at, err)
		}
	}
	m.pos += int64(n)
	return sb.String(), nil
}

// fixed reads n ≤ 8 bytes into the machine's buffer, valid until the next
// read.
func (m *machine) fixed(n int, at int64) ([]byte, error) {
	if _, err := io.ReadFull(m.r, m.buf[:n]); err != nil {
		return nil, m.truncated(at, err)
	}
	m.pos += int64(n)
	return m.buf[:n], nil
}

// lineBytes reads up to '\n' (protocol 0 arguments), shorter than 64 KiB;
// the bytes, without the newline, are valid until the next read.
func (m *machine) lineBytes(at int64) ([]byte, error) {
	b, err := m.r.ReadSlice('\n')
	m.pos += int64(len(b))
	switch {
	case err == bufio.ErrBufferFull:
		return nil, m.errorf(tensor.ErrCorrupt, at, "a text argument runs longer than 64 KiB without a newline")
	case err != nil:
		return nil, m.truncated(at, err)
	}
	return b[:len(b)-1], nil
}

// line is lineBytes as a new string.
func (m *machine) line(at int64) (string, error) {
	b, err := m.lineBytes(at)
	if err != nil {
		return "", err
	}
	if err := m.charge(allocSize(int64(len(b))), at); err != nil {
		return "", err
	}
	return string(b), nil
}

// push pushes v, charging the stack's growth and v's interface box (a
// value fetched from the memo was boxed once already: a slight overcount).
func (m *machine) push(v any, at int64) error {
	if err := m.charge(boxSize(v), at); err != nil {
		return err
	}
	if len(m.stack) == cap(m.stack) {
		s, err := grow(m.b, m.stack, 1)
		if err != nil {
			return m.wrapGlobal(err, at)
		}
		m.stack = s
	}
	m.stack = append(m.stack, v)
	return nil
}

// pop2 pops the top two values: below is the one under top.
func (m *machine) pop2(at int64) (below, top any, err error) {
	if top, err = m.pop(at); err != nil {
		return nil, nil, err
	}
	if below, err = m.pop(at); err != nil {
		return nil, nil, err
	}
	return below, top, nil
}

func (m *machine) pop(at int64) (any, error) {
	lo := 0
	if len(m.marks) > 0 {
		lo = m.marks[len(m.marks)-1]
	}
	if len(m.stack) <= lo {
		return nil, m.errorf(tensor.ErrCorrupt, at, "stack underflow")
	}
	v := m.stack[len(m.stack)-1]
	m.stack = m.stack[:len(m.stack)-1]
	return v, nil
}

func (m *machine) top(at int64) (any, error) {
	lo := 0
	if len(m.marks) > 0 {
		lo = m.marks[len(m.marks)-1]
	}
	if len(m.stack) <= lo {
		return nil, m.errorf(tensor.ErrCorrupt, at, "stack underflow")
	}
	return m.stack[len(m.stack)-1], nil
}

// popMark pops the items above the last MARK and the mark. The items are
// a view of the stack, valid until the next push: popMarkCopy is for
// items that are kept.
func (m *machine) popMark(at int64) ([]any, error) {
	if len(m.marks) == 0 {
		return nil, m.errorf(tensor.ErrCorrupt, at, "no MARK on the stack")
	}
	k := m.marks[len(m.marks)-1]
	m.marks = m.marks[:len(m.marks)-1]
	items := m.stack[k:]
	m.stack = m.stack[:k]
	return items, nil
}

// popMarkCopy is popMark into a new slice (a tuple's or a list's items).
func (m *machine) popMarkCopy(at int64) ([]any, error) {
	items, err := m.popMark(at)
	if err != nil {
		return nil, err
	}
	if err := m.charge(allocSize(16*int64(len(items))), at); err != nil {
		return nil, err
	}
	c := make([]any, len(items))
	copy(c, items)
	return c, nil
}

// maxMarks caps nested MARKs (each is a pending tuple, list or call).
const maxMarks = 10000

// run interprets the pickle to its STOP and returns the value it built.
func (m *machine) run() (any, error) {
	if err := m.charge(machineCost, 0); err != nil {
		return nil, err
	}
	for {
		at := m.pos
		op, err := m.readByte(at)
		if err != nil {
			if m.pos == 0 {
				return nil, m.errorf(tensor.ErrCorrupt, 0, "truncated: empty pickle")
			}
			return nil, err
		}
		err = m.step(op, at)
		if err == errStop {
			if len(m.stack) != 1 || len(m.marks) != 0 {
				return nil, m.errorf(tensor.ErrCorrupt, at, "STOP with %d values and %d marks on the stack, want 1 value", len(m.stack), len(m.marks))
			}
			return m.stack[0], nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// memoArg reads the memo index of PUT/GET (a text line), BINPUT/BINGET
// (one byte) or LONG_BINPUT/LONG_BINGET (four bytes, little-endian).
func (m *machine) memoArg(op byte, at int64) (int64, error) {
	switch op {
	case 'p', 'g':
		s, err := m.line(at)
		if err != nil {
			return 0, err
		}
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			name := map[byte]string{'p': "PUT", 'g': "GET"}[op]
			return 0, m.errorf(tensor.ErrCorrupt, at, "%s %q", name, clip(s))
		}
		return i, nil
	case 'q', 'h':
		b, err := m.fixed(1, at)
		if err != nil {
			return 0, err
		}
		return int64(b[0]), nil
	}
	b, err := m.fixed(4, at)
	if err != nil {
		return 0, err
	}
	return int64(binary.LittleEndian.Uint32(b)), nil
}

func (m *machine) step(op byte, at int64) error {
	switch op {
	case '.': // STOP
		return errStop
	case 0x80: // PROTO
		b, err := m.readByte(at)
		if err != nil {
			return err
		}
		if b > 5 {
			return m.errorf(tensor.ErrUnsupported, at, "pickle protocol %d (bigconv reads 0–5)", b)
		}
		return nil
	case 0x95: // FRAME: a length hint; its opcodes follow inline
		_, err := m.fixed(8, at)
		return err
	case '(': // MARK
		if len(m.marks) >= maxMarks {
			return m.errorf(tensor.ErrUnsupported, at, "more than %d nested MARKs", maxMarks)
		}
		marks, err := grow(m.b, m.marks, 1)
		if err != nil {
			return m.wrapGlobal(err, at)
		}
		m.marks = append(marks, len(m.stack))
		return nil
	case '0': // POP
		if len(m.marks) > 0 && m.marks[len(m.marks)-1] == len(m.stack) {
			m.marks = m.marks[:len(m.marks)-1] // pops a mark, as CPython does
			return nil
		}
		_, err := m.pop(at)
		return err
	case '1': // POP_MARK
		_, err := m.popMark(at)
		return err
	case '2': // DUP
		v, err := m.top(at)
		if err != nil {
			return err
		}
		return m.push(v, at)
	case 'N':
		return m.push(pyNone{}, at)
	case 0x88:
		return m.push(true, at)
	case 0x89:
		return m.push(false, at)
	case 'J': // BININT
		b, err := m.fixed(4, at)
		if err != nil {
			return err
		}
		return m.push(int64(int32(binary.LittleEndian.Uint32(b))), at)
	case 'K': // BININT1
		b, err := m.fixed(1, at)
		if err != nil {
			return err
		}
		return m.push(int64(b[0]), at)
	case 'M': // BININT2
		b, err := m.fixed(2, at)
		if err != nil {
			return err
		}
		return m.push(int64(binary.LittleEndian.Uint16(b)), at)
	case 0x8a, 0x8b: // LONG1, LONG4
		var n uint64
		if op == 0x8a {
			b, err := m.fixed(1, at)
			if err != nil {
				return err
			}
			n = uint64(b[0])
		} else {
			b, err := m.fixed(4, at)
			if err != nil {
				return err
			}
			n = uint64(int32(binary.LittleEndian.Uint32(b)))
			if int32(n) < 0 {
				return m.errorf(tensor.ErrCorrupt, at, "LONG4 with a negative length")
			}
		}
		if n <= 8 {
			b, err := m.fixed(int(n), at)
			if err != nil {
				return err
			}
			return m.push(decodeLong(b), at)
		}
		b, err := m.readBytes(n, at)
		if err != nil {
			return err
		}
		// a big.Int: a reversed copy, its words, and a power of two to
		// subtract when negative
		if err := m.charge(4*allocSize(int64(n)+8)+128, at); err != nil {
			return err
		}
		return m.push(decodeLong(b), at)
	case 'I': // INT (text); I00/I01 are False/True
		s, err := m.line(at)
		if err != nil {
			return err
		}
		switch s {
		case "00":
			return m.push(false, at)
		case "01":
			return m.push(true, at)
		}
		return m.pushIntText(s, at)
	case 'L': // LONG (text)
		s, err := m.line(at)
		if err != nil {
			return err
		}
		return m.pushIntText(strings.TrimSuffix(s, "L"), at)
	case 'F': // FLOAT (text)
		s, err := m.line(at)
		if err != nil {
			return err
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return m.errorf(tensor.ErrCorrupt, at, "FLOAT %q: %v", clip(s), err)
		}
		return m.push(f, at)
	case 'G': // BINFLOAT
		b, err := m.fixed(8, at)
		if err != nil {
			return err
		}
		return m.push(math.Float64frombits(binary.BigEndian.Uint64(b)), at)
	case 'X', 0x8c, 0x8d: // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
		n, err := m.counted(op, at)
		if err != nil {
			return err
		}
		s, err := m.readString(n, at)
		if err != nil {
			return err
		}
		if !utf8.ValidString(s) {
			return m.errorf(tensor.ErrCorrupt, at, "a str that is not valid UTF-8")
		}
		return m.push(s, at)
	case 'V': // UNICODE (raw-unicode-escape text)
		s, err := m.line(at)
		if err != nil {
			return err
		}
		if err := m.charge(allocSize(2*int64(len(s))), at); err != nil {
			return err
		}
		return m.push(rawUnicodeUnescape(s), at)
	case 'T', 'U': // BINSTRING, SHORT_BINSTRING (Python 2 str, read as text)
		n, err := m.counted(op, at)
		if err != nil {
			return err
		}
		s, err := m.readString(n, at)
		if err != nil {
			return err
		}
		return m.push(s, at)
	case 'S': // STRING (text, quoted)
		s, err := m.line(at)
		if err != nil {
			return err
		}
		// pyQuote's copies and Unquote's buffer and result
		if err := m.charge(8*allocSize(int64(len(s)))+64, at); err != nil {
			return err
		}
		u, err := strconv.Unquote(pyQuote(s))
		if err != nil {
			return m.errorf(tensor.ErrCorrupt, at, "STRING %q is not a quoted string", clip(s))
		}
		return m.push(u, at)
	case 'B', 'C', 0x8e, 0x96: // BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8
		n, err := m.counted(op, at)
		if err != nil {
			return err
		}
		b, err := m.readBytes(n, at)
		if err != nil {
			return err
		}
		return m.push(pyBytes(b), at)
	case 0x97, 0x98: // NEXT_BUFFER, READONLY_BUFFER
		return m.errorf(tensor.ErrUnsupported, at, "out-of-band pickle buffers (protocol 5 NEXT_BUFFER)")
	case ')':
		return m.push(pyTuple{}, at)
	case ']':
		if err := m.charge(sizeOf[pyList](), at); err != nil {
			return err
		}
		return m.push(&pyList{}, at)
	case '}':
		if err := m.charge(sizeOf[pyDict](), at); err != nil {
			return err
		}
		return m.push(&pyDict{}, at)
	case 0x8f: // EMPTY_SET
		if err := m.charge(sizeOf[pySet](), at); err != nil {
			return err
		}
		return m.push(&pySet{}, at)
	case 't': // TUPLE
		items, err := m.popMarkCopy(at)
		if err != nil {
			return err
		}
		return m.push(pyTuple(items), at)
	case 0x85, 0x86, 0x87: // TUPLE1..3
		n := int(op-0x85) + 1
		if err := m.charge(allocSize(16*int64(n)), at); err != nil {
			return err
		}
		items := make(pyTuple, n)
		for i := n - 1; i >= 0; i-- {
			v, err := m.pop(at)
			if err != nil {
				return err
			}
			items[i] = v
		}
		return m.push(items, at)
	case 'l': // LIST
		items, err := m.popMarkCopy(at)
		if err != nil {
			return err
		}
		if err := m.charge(sizeOf[pyList](), at); err != nil {
			return err
		}
		return m.push(&pyList{items: items}, at)
	case 'd': // DICT
		items, err := m.popMark(at)
		if err != nil {
			return err
		}
		if err := m.charge(sizeOf[pyDict](), at); err != nil {
			return err
		}
		d := &pyDict{}
		if err := m.setItems(d, items, at); err != nil {
			return err
		}
		return m.push(d, at)
	case 0x91: // FROZENSET
		items, err := m.popMarkCopy(at)
		if err != nil {
			return err
		}
		if err := m.charge(sizeOf[pySet](), at); err != nil {
			return err
		}
		return m.push(&pySet{items: items, frozen: true}, at)
	case 'a': // APPEND
		v, err := m.pop(at)
		if err != nil {
			return err
		}
		return m.appendTo([]any{v}, at)
	case 'e': // APPENDS
		items, err := m.popMark(at)
		if err != nil {
			return err
		}
		return m.appendTo(items, at)
	case 0x90: // ADDITEMS
		items, err := m.popMark(at)
		if err != nil {
			return err
		}
		t, err := m.top(at)
		if err != nil {
			return err
		}
		s, ok := t.(*pySet)
		if !ok || s.frozen {
			return m.errorf(tensor.ErrCorrupt, at, "ADDITEMS to a %s", kind(t))
		}
		if s.items, err = grow(m.b, s.items, len(items)); err != nil {
			return m.wrapGlobal(err, at)
		}
		s.items = append(s.items, items...)
		return nil
	case 's': // SETITEM
		k, v, err := m.pop2(at)
		if err != nil {
			return err
		}
		return m.setItemsTop([]any{k, v}, at)
	case 'u': // SETITEMS
		items, err := m.popMark(at)
		if err != nil {
			return err
		}
		return m.setItemsTop(items, at)
	case 'p', 'q', 'r': // PUT (text), BINPUT, LONG_BINPUT
		i, err := m.memoArg(op, at)
		if err != nil {
			return err
		}
		return m.put(i, at)
	case 0x94: // MEMOIZE
		return m.put(int64(m.memoN), at)
	case 'g', 'h', 'j': // GET (text), BINGET, LONG_BINGET
		i, err := m.memoArg(op, at)
		if err != nil {
			return err
		}
		return m.get(i, at)
	case 'c': // GLOBAL
		mod, err := m.line(at)
		if err != nil {
			return err
		}
		name, err := m.line(at)
		if err != nil {
			return err
		}
		return m.pushGlobal(mod, name, at)
	case 0x93: // STACK_GLOBAL
		mod, name, err := m.pop2(at)
		if err != nil {
			return err
		}
		ms, ok1 := mod.(string)
		ns, ok2 := name.(string)
		if !ok1 || !ok2 {
			return m.errorf(tensor.ErrCorrupt, at, "STACK_GLOBAL of %s and %s, want two str", kind(mod), kind(name))
		}
		return m.pushGlobal(ms, ns, at)
	case 'R': // REDUCE
		fn, args, err := m.pop2(at)
		if err != nil {
			return err
		}
		return m.apply(fn, args, at)
	case 0x81: // NEWOBJ: cls.__new__(cls, *args)
		cls, args, err := m.pop2(at)
		if err != nil {
			return err
		}
		return m.apply(cls, args, at)
	case 0x92: // NEWOBJ_EX
		args, kw, err := m.pop2(at)
		if err != nil {
			return err
		}
		cls, err := m.pop(at)
		if err != nil {
			return err
		}
		if d, ok := kw.(*pyDict); !ok || len(d.keys) != 0 {
			return m.errorf(tensor.ErrUnsupported, at, "NEWOBJ_EX of %s with keyword arguments", describeCallee(cls))
		}
		return m.apply(cls, args, at)
	case 'i', 'o': // INST, OBJ: old-style instances
		var fn any
		if op == 'i' {
			mod, err := m.line(at)
			if err != nil {
				return err
			}
			name, err := m.line(at)
			if err != nil {
				return err
			}
			if fn, err = m.global(mod, name); err != nil {
				return m.wrapGlobal(err, at)
			}
		}
		items, err := m.popMarkCopy(at)
		if err != nil {
			return err
		}
		if op == 'o' {
			if len(items) == 0 {
				return m.errorf(tensor.ErrCorrupt, at, "OBJ without a class")
			}
			fn, items = items[0], items[1:]
		}
		return m.apply(fn, pyTuple(items), at)
	case 'b': // BUILD
		obj, state, err := m.pop2(at)
		if err != nil {
			return err
		}
		v, err := m.build(obj, state)
		if err != nil {
			return m.wrapGlobal(err, at)
		}
		return m.push(v, at)
	case 'Q': // BINPERSID
		id, err := m.pop(at)
		if err != nil {
			return err
		}
		return m.persistent(id, at)
	case 'P': // PERSID (text)
		s, err := m.line(at)
		if err != nil {
			return err
		}
		return m.persistent(s, at)
	case 0x82, 0x83, 0x84: // EXT1, EXT2, EXT4
		return m.errorf(tensor.ErrUnsupported, at, "pickle extension registry codes (EXT%d)", map[byte]int{0x82: 1, 0x83: 2, 0x84: 4}[op])
	}
	return m.errorf(tensor.ErrCorrupt, at, "unknown pickle opcode 0x%02x", op)
}

// counted reads the length of a string or bytes opcode's payload.
func (m *machine) counted(op byte, at int64) (uint64, error) {
	var n uint64
	switch op {
	case 0x8c, 'U', 'C': // 1-byte length
		b, err := m.fixed(1, at)
		if err != nil {
			return 0, err
		}
		n = uint64(b[0])
	case 'X', 'T', 'B': // 4-byte length
		b, err := m.fixed(4, at)
		if err != nil {
			return 0, err
		}
		n = uint64(binary.LittleEndian.Uint32(b))
		if op == 'T' && int32(n) < 0 {
			return 0, m.errorf(tensor.ErrCorrupt, at, "BINSTRING with a negative length")
		}
	default: // 8-byte length
		b, err := m.fixed(8, at)
		if err != nil {
			return 0, err
		}
		n = binary.LittleEndian.Uint64(b)
	}
	return n, nil
}

func (m *machine) pushIntText(s string, at int64) error {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return m.push(i, at)
	}
	// ParseInt's error (a copy of s), and a big.Int of fewer bytes than
	// digits, with SetString's scratch
	if err := m.charge(4*allocSize(int64(len(s)))+256, at); err != nil {
		return err
	}
	z, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return m.errorf(tensor.ErrCorrupt, at, "integer %q", clip(s))
	}
	return m.push(z, at)
}

// decodeLong decodes a little-endian two's-complement integer (LONG1/4).
func decodeLong(b []byte) any {
	if len(b) == 0 {
		return int64(0)
	}
	if len(b) <= 8 {
		var u uint64
		for i := len(b) - 1; i >= 0; i-- {
			u = u<<8 | uint64(b[i])
		}
		if b[len(b)-1]&0x80 != 0 && len(b) < 8 {
			u |= ^uint64(0) << (8 * len(b)) // sign-extend
		}
		return int64(u)
	}
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	z := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		z.Sub(z, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return z
}

func (m *machine) appendTo(items []any, at int64) error {
	t, err := m.top(at)
	if err != nil {
		return err
	}
	l, ok := t.(*pyList)
	if !ok {
		return m.errorf(tensor.ErrCorrupt, at, "APPEND to a %s, not a list", kind(t))
	}
	if l.items, err = grow(m.b, l.items, len(items)); err != nil {
		return m.wrapGlobal(err, at)
	}
	l.items = append(l.items, items...)
	return nil
}

func (m *machine) setItemsTop(items []any, at int64) error {
	t, err := m.top(at)
	if err != nil {
		return err
	}
	d, ok := t.(*pyDict)
	if !ok {
		return m.errorf(tensor.ErrCorrupt, at, "SETITEM on a %s, not a dict", kind(t))
	}
	return m.setItems(d, items, at)
}

// setItems sets key/value pairs (see pyDict.set).
func (m *machine) setItems(d *pyDict, items []any, at int64) error {
	if len(items)%2 != 0 {
		return m.errorf(tensor.ErrCorrupt, at, "SETITEMS with an odd number (%d) of keys and values", len(items))
	}
	for i := 0; i < len(items); i += 2 {
		if err := d.set(m.b, items[i], items[i+1]); err != nil {
			return m.wrapGlobal(err, at)
		}
	}
	return nil
}

// dictScan is the number of keys up to which a dict finds a key by
// scanning them; larger dicts keep an index (a map).
const dictScan = 8

// set sets d[k] = v, charging b: a key set again keeps its place (as a
// Python dict does) with the new value. Keys are compared when they are
// str, int or bool; other keys are kept side by side.
func (d *pyDict) set(b *budget, k, v any) error {
	j, comparable := d.find(k)
	if j >= 0 {
		d.vals[j] = v
		return nil
	}
	var err error
	if d.keys, err = grow(b, d.keys, 1); err != nil {
		return err
	}
	if d.vals, err = grow(b, d.vals, 1); err != nil {
		return err
	}
	if d.idx == nil && len(d.keys) >= dictScan {
		if err := b.charge(mapFirst + mapEntry*int64(len(d.keys))); err != nil {
			return err
		}
		d.idx = make(map[any]int)
		for i, x := range d.keys {
			if _, ok := d.find(x); ok {
				d.idx[x] = i
			}
		}
	}
	if d.idx != nil && comparable {
		if err := b.charge(mapEntry); err != nil {
			return err
		}
		d.idx[k] = len(d.keys)
	}
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
	return nil
}

// find finds a key that is a str, int or bool (other keys are never equal
// to one another here): its index or -1, and whether k is such a key.
func (d *pyDict) find(k any) (int, bool) {
	switch k.(type) {
	case string, int64, bool:
	default:
		return -1, false
	}
	if d.idx != nil {
		if j, ok := d.idx[k]; ok {
			return j, true
		}
		return -1, true
	}
	for j, x := range d.keys {
		if x == k { // k's type is comparable: no panic
			return j, true
		}
	}
	return -1, true
}

func (m *machine) put(i int64, at int64) error {
	v, err := m.top(at)
	if err != nil {
		return err
	}
	if i < 0 {
		return m.errorf(tensor.ErrCorrupt, at, "memo index %d", i)
	}
	if i >= int64(len(m.memo)) {
		if i >= m.b.max/16 { // more slots than the budget holds
			return m.wrapGlobal(m.b.exceeded(), at)
		}
		memo, err := grow(m.b, m.memo, int(i)+1-len(m.memo))
		if err != nil {
			return m.wrapGlobal(err, at)
		}
		m.memo = memo[:i+1]
	}
	if m.memo[i] == nil {
		m.memoN++
	}
	m.memo[i] = v
	return nil
}

func (m *machine) get(i int64, at int64) error {
	if i < 0 || i >= int64(len(m.memo)) || m.memo[i] == nil {
		return m.errorf(tensor.ErrCorrupt, at, "memo index %d was never stored", i)
	}
	return m.push(m.memo[i], at)
}

func (m *machine) pushGlobal(mod, name string, at int64) error {
	v, err := m.global(mod, name)
	if err != nil {
		return m.wrapGlobal(err, at)
	}
	return m.push(v, at)
}

// wrapGlobal turns a refusal from the caller's callbacks into an error at
// this opcode.
func (m *machine) wrapGlobal(err error, at int64) error {
	var re *refusal
	if errors.As(err, &re) {
		return m.errorf(re.sentinel, at, "%s", re.msg)
	}
	return err
}

func (m *machine) apply(fn, args any, at int64) error {
	t, ok := args.(pyTuple)
	if !ok {
		return m.errorf(tensor.ErrCorrupt, at, "call of %s with %s arguments, want a tuple", describeCallee(fn), kind(args))
	}
	v, err := m.call(fn, t)
	if err != nil {
		return m.wrapGlobal(err, at)
	}
	return m.push(v, at)
}

func (m *machine) persistent(id any, at int64) error {
	v, err := m.pid(id)
	if err != nil {
		return m.wrapGlobal(err, at)
	}
	return m.push(v, at)
}

// refusal is what the callbacks return; the machine adds where.
type refusal struct {
	sentinel error
	msg      string
}

func (r *refusal) Error() string { return r.msg }

func refuse(sentinel error, format string, args ...any) error {
	return &refusal{sentinel, fmt.Sprintf(format, args...)}
}

func describeCallee(v any) string {
	if g, ok := v.(*pyGlobal); ok {
		return g.String()
	}
	return "a " + kind(v)
}

// kind names a value's Python type.
func kind(v any) string {
	switch v := v.(type) {
	case pyNone:
		return "NoneType"
	case bool:
		return "bool"
	case int64, *big.Int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case pyBytes:
		return "bytes"
	case pyTuple:
		return "tuple"
	case *pyList:
		return "list"
	case *pyDict:
		if v.ordered {
			return "OrderedDict"
		}
		return "dict"
	case *pySet:
		if v.frozen {
			return "frozenset"
		}
		return "set"
	case *pyGlobal:
		return "global " + v.String()
	case *storageRef:
		return "storage"
	case *tensorVal:
		return "Tensor"
	case *opaque:
		return v.kind
	case mark:
		return "mark"
	}
	return fmt.Sprintf("%T", v)
}

// repr is a short Python-like representation of a plain value.
func repr(v any, budget int) string {
	var sb strings.Builder
	reprTo(&sb, v, budget, 0)
	s := sb.String()
	if len(s) > budget {
		s = s[:budget] + "…"
	}
	return s
}

func reprTo(sb *strings.Builder, v any, budget, depth int) {
	if sb.Len() > budget || depth > 8 {
		sb.WriteString("…")
		return
	}
	switch v := v.(type) {
	case pyNone:
		sb.WriteString("None")
	case bool:
		if v {
			sb.WriteString("True")
		} else {
			sb.WriteString("False")
		}
	case int64:
		sb.WriteString(strconv.FormatInt(v, 10))
	case *big.Int:
		if v.BitLen() > 128 { // formatting a huge int takes time and memory
			fmt.Fprintf(sb, "<int of %d bits>", v.BitLen())
			break
		}
		sb.WriteString(v.String())
	case float64:
		sb.WriteString(pyFloat(v))
	case string:
		sb.WriteString(pyQuoted(clip(v)))
	case pyBytes:
		sb.WriteString("b" + pyQuoted(clip(string(v[:min(len(v), 61)]))))
	case pyTuple:
		sb.WriteString("(")
		for i, x := range v {
			if i > 0 {
				sb.WriteString(", ")
			}
			reprTo(sb, x, budget, depth+1)
			if sb.Len() > budget {
				break
			}
		}
		if len(v) == 1 {
			sb.WriteString(",")
		}
		sb.WriteString(")")
	case *pyList:
		sb.WriteString("[")
		for i, x := range v.items {
			if i > 0 {
				sb.WriteString(", ")
			}
			reprTo(sb, x, budget, depth+1)
			if sb.Len() > budget {
				break
			}
		}
		sb.WriteString("]")
	case *pyDict:
		sb.WriteString("{")
		for i := range v.keys {
			if i > 0 {
				sb.WriteString(", ")
			}
			reprTo(sb, v.keys[i], budget, depth+1)
			sb.WriteString(": ")
			reprTo(sb, v.vals[i], budget, depth+1)
			if sb.Len() > budget {
				break
			}
		}
		sb.WriteString("}")
	case *pySet:
		sb.WriteString(kind(v) + "(")
		for i, x := range v.items {
			if i > 0 {
				sb.WriteString(", ")
			}
			reprTo(sb, x, budget, depth+1)
			if sb.Len() > budget {
				break
			}
		}
		sb.WriteString(")")
	case *pyGlobal:
		sb.WriteString(clip(v.String()))
	case *tensorVal:
		sb.WriteString("tensor([")
		for i, n := range v.size {
			if i > 0 {
				sb.WriteString(" ")
			}
			sb.WriteString(strconv.FormatInt(n, 10))
			if sb.Len() > budget {
				break
			}
		}
		sb.WriteString("])")
	default:
		sb.WriteString("<" + kind(v) + ">")
	}
}

// pyQuoted quotes s as Python's repr does when it can: in single quotes.
func pyQuoted(s string) string {
	q := strconv.Quote(s)
	if strings.Contains(s, "'") {
		return q
	}
	return "'" + strings.ReplaceAll(q[1:len(q)-1], `\"`, `"`) + "'"
}

func pyFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return s
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// pyQuote turns a protocol 0 STRING argument ('...' or "...") into a Go
// quoted string for strconv.Unquote.
func pyQuote(s string) string {
	if len(s) >= 2 && (s[0] == '\'' && s[len(s)-1] == '\'') {
		inner := strings.ReplaceAll(s[1:len(s)-1], `\'`, `'`)
		return `"` + strings.ReplaceAll(inner, `"`, `\"`) + `"`
	}
	return s
}

// rawUnicodeUnescape decodes Python's raw-unicode-escape (\uXXXX and
// \UXXXXXXXX; every other byte is Latin-1). The result is at most twice
// as long as s, in one allocation.
func rawUnicodeUnescape(s string) string {
	var sb strings.Builder
	sb.Grow(2 * len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+5 < len(s) && s[i+1] == 'u' {
			if r, ok := parseHex(s[i+2 : i+6]); ok {
				sb.WriteRune(rune(r))
				i += 5
				continue
			}
		}
		if s[i] == '\\' && i+9 < len(s) && s[i+1] == 'U' {
			if r, ok := parseHex(s[i+2 : i+10]); ok && r <= utf8.MaxRune {
				sb.WriteRune(rune(r))
				i += 9
				continue
			}
		}
		sb.WriteRune(rune(s[i]))
	}
	return sb.String()
}

// parseHex parses up to 8 hex digits without allocating (a failed
// strconv.ParseUint allocates its error, once per bad escape).
func parseHex(s string) (uint32, bool) {
	var r uint32
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | uint32(c)
	}
	return r, true
}
