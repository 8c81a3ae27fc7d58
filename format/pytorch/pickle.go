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
// length against what is left of the pickle, charges every value it
// builds to a budget (MaxPickleMemory), and reports byte offsets.

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

// MaxPickleMemory caps what the pickle machine may hold: every string,
// container slot, memo entry and stack slot is charged to it (about what
// Go allocates for it). A pickle that needs more is refused with
// tensor.ErrUnsupported. A state_dict costs a few hundred bytes per tensor,
// so the cap admits about a million tensors.
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
	pyGlobal struct{ module, name string }
	mark     struct{}
)

func (g *pyGlobal) String() string { return g.module + "." + g.name }

// machine runs one pickle.
type machine struct {
	r      *bufio.Reader
	pos    int64 // bytes consumed
	size   int64 // bytes the pickle may hold (its member or what is left of the file)
	base   int64 // file offset of the pickle's first byte, for messages (-1: not a file range)
	file   string
	what   string // "data.pkl", "pickle 4 of the legacy file"
	used   int64
	stack  []any
	marks  []int
	memo   map[int64]any
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

func newMachine(r io.Reader, size, base int64, file, what string) *machine {
	return &machine{r: bufio.NewReaderSize(r, 64<<10), size: size, base: base, file: file, what: what, memo: map[int64]any{}}
}

// charge accounts n bytes of machine memory.
func (m *machine) charge(n int64, at int64) error {
	m.used += n
	if n < 0 || m.used > MaxPickleMemory {
		return m.errorf(tensor.ErrUnsupported, at, "the pickle needs more than %d bytes of memory to read (MaxPickleMemory)", MaxPickleMemory)
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

// read reads n bytes, first checking that the pickle can hold them and
// charging them to the budget: a declared length is never trusted.
func (m *machine) read(n uint64, at int64) ([]byte, error) {
	if n > uint64(m.size-m.pos) {
		return nil, m.errorf(tensor.ErrCorrupt, at, "truncated: a length of %d bytes runs past the end of the %d-byte pickle", n, m.size)
	}
	if err := m.charge(int64(n), at); err != nil {
		return nil, err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(m.r, b); err != nil {
		return nil, m.truncated(at, err)
	}
	m.pos += int64(n)
	return b, nil
}

// skip discards n bytes without keeping them (FRAME contents are read as
// opcodes, so only its length is skipped; this is for nothing else).
func (m *machine) fixed(n int, at int64) ([]byte, error) {
	var buf [8]byte
	if _, err := io.ReadFull(m.r, buf[:n]); err != nil {
		return nil, m.truncated(at, err)
	}
	m.pos += int64(n)
	return buf[:n], nil
}

// line reads up to '\n' (protocol 0 arguments), at most 64 KiB.
func (m *machine) line(at int64) (string, error) {
	var sb strings.Builder
	for {
		b, err := m.readByte(at)
		if err != nil {
			return "", err
		}
		if b == '\n' {
			break
		}
		if sb.Len() >= 64<<10 {
			return "", m.errorf(tensor.ErrCorrupt, at, "a text argument runs longer than 64 KiB without a newline")
		}
		sb.WriteByte(b)
	}
	if err := m.charge(int64(sb.Len()), at); err != nil {
		return "", err
	}
	return sb.String(), nil
}

func (m *machine) push(v any, at int64) error {
	if err := m.charge(16, at); err != nil {
		return err
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

// popMark pops the items above the last MARK and the mark.
func (m *machine) popMark(at int64) ([]any, error) {
	if len(m.marks) == 0 {
		return nil, m.errorf(tensor.ErrCorrupt, at, "no MARK on the stack")
	}
	k := m.marks[len(m.marks)-1]
	m.marks = m.marks[:len(m.marks)-1]
	items := append([]any(nil), m.stack[k:]...)
	m.stack = m.stack[:k]
	return items, nil
}

// maxMarks caps nested MARKs (each is a pending tuple, list or call).
const maxMarks = 10000

// run interprets the pickle to its STOP and returns the value it built.
func (m *machine) run() (any, error) {
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
		if err := m.charge(8, at); err != nil {
			return err
		}
		m.marks = append(m.marks, len(m.stack))
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
		b, err := m.read(n, at)
		if err != nil {
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
		b, err := m.counted(op, at)
		if err != nil {
			return err
		}
		if !utf8.Valid(b) {
			return m.errorf(tensor.ErrCorrupt, at, "a str that is not valid UTF-8")
		}
		return m.push(string(b), at)
	case 'V': // UNICODE (raw-unicode-escape text)
		s, err := m.line(at)
		if err != nil {
			return err
		}
		return m.push(rawUnicodeUnescape(s), at)
	case 'T', 'U': // BINSTRING, SHORT_BINSTRING (Python 2 str, read as text)
		b, err := m.counted(op, at)
		if err != nil {
			return err
		}
		return m.push(string(b), at)
	case 'S': // STRING (text, quoted)
		s, err := m.line(at)
		if err != nil {
			return err
		}
		u, err := strconv.Unquote(pyQuote(s))
		if err != nil {
			return m.errorf(tensor.ErrCorrupt, at, "STRING %q is not a quoted string", clip(s))
		}
		return m.push(u, at)
	case 'B', 'C', 0x8e, 0x96: // BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8
		b, err := m.counted(op, at)
		if err != nil {
			return err
		}
		return m.push(pyBytes(b), at)
	case 0x97, 0x98: // NEXT_BUFFER, READONLY_BUFFER
		return m.errorf(tensor.ErrUnsupported, at, "out-of-band pickle buffers (protocol 5 NEXT_BUFFER)")
	case ')':
		return m.push(pyTuple{}, at)
	case ']':
		if err := m.charge(48, at); err != nil {
			return err
		}
		return m.push(&pyList{}, at)
	case '}':
		if err := m.charge(64, at); err != nil {
			return err
		}
		return m.push(&pyDict{}, at)
	case 0x8f: // EMPTY_SET
		if err := m.charge(48, at); err != nil {
			return err
		}
		return m.push(&pySet{}, at)
	case 't': // TUPLE
		items, err := m.popMark(at)
		if err != nil {
			return err
		}
		return m.push(pyTuple(items), at)
	case 0x85, 0x86, 0x87: // TUPLE1..3
		n := int(op-0x85) + 1
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
		items, err := m.popMark(at)
		if err != nil {
			return err
		}
		return m.push(&pyList{items: items}, at)
	case 'd': // DICT
		items, err := m.popMark(at)
		if err != nil {
			return err
		}
		d := &pyDict{}
		if err := m.setItems(d, items, at); err != nil {
			return err
		}
		return m.push(d, at)
	case 0x91: // FROZENSET
		items, err := m.popMark(at)
		if err != nil {
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
		if err := m.charge(16*int64(len(items)), at); err != nil {
			return err
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
		return m.put(int64(len(m.memo)), at)
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
		items, err := m.popMark(at)
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

// counted reads the length-prefixed payload of a string or bytes opcode.
func (m *machine) counted(op byte, at int64) ([]byte, error) {
	var n uint64
	switch op {
	case 0x8c, 'U', 'C': // 1-byte length
		b, err := m.fixed(1, at)
		if err != nil {
			return nil, err
		}
		n = uint64(b[0])
	case 'X', 'T', 'B': // 4-byte length
		b, err := m.fixed(4, at)
		if err != nil {
			return nil, err
		}
		n = uint64(binary.LittleEndian.Uint32(b))
		if op == 'T' && int32(n) < 0 {
			return nil, m.errorf(tensor.ErrCorrupt, at, "BINSTRING with a negative length")
		}
	default: // 8-byte length
		b, err := m.fixed(8, at)
		if err != nil {
			return nil, err
		}
		n = binary.LittleEndian.Uint64(b)
	}
	return m.read(n, at)
}

func (m *machine) pushIntText(s string, at int64) error {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return m.push(i, at)
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
	if err := m.charge(16*int64(len(items)), at); err != nil {
		return err
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

// setItems sets key/value pairs; a key set again keeps its place (as a
// Python dict does) with the new value. Keys are compared when they are
// str, int or bool; other keys are kept side by side.
func (m *machine) setItems(d *pyDict, items []any, at int64) error {
	if len(items)%2 != 0 {
		return m.errorf(tensor.ErrCorrupt, at, "SETITEMS with an odd number (%d) of keys and values", len(items))
	}
	if err := m.charge(48*int64(len(items)), at); err != nil {
		return err
	}
	for i := 0; i < len(items); i += 2 {
		k, v := items[i], items[i+1]
		if j := d.index(k); j >= 0 {
			d.vals[j] = v
			continue
		}
		d.keys = append(d.keys, k)
		d.vals = append(d.vals, v)
	}
	return nil
}

// index finds a key that is a str, int or bool (other keys are never
// equal to one another here).
func (d *pyDict) index(k any) int {
	switch k.(type) {
	case string, int64, bool:
	default:
		return -1
	}
	if d.idx == nil {
		d.idx = map[any]int{}
	}
	if j, ok := d.idx[k]; ok {
		return j
	}
	d.idx[k] = len(d.keys)
	return -1
}

func (m *machine) put(i int64, at int64) error {
	v, err := m.top(at)
	if err != nil {
		return err
	}
	if i < 0 {
		return m.errorf(tensor.ErrCorrupt, at, "memo index %d", i)
	}
	if _, ok := m.memo[i]; !ok {
		if err := m.charge(48, at); err != nil {
			return err
		}
	}
	m.memo[i] = v
	return nil
}

func (m *machine) get(i int64, at int64) error {
	v, ok := m.memo[i]
	if !ok {
		return m.errorf(tensor.ErrCorrupt, at, "memo index %d was never stored", i)
	}
	return m.push(v, at)
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
	if err := m.charge(64, at); err != nil {
		return err
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
		sb.WriteString(v.String())
	case float64:
		sb.WriteString(pyFloat(v))
	case string:
		sb.WriteString(pyQuoted(clip(v)))
	case pyBytes:
		sb.WriteString("b" + pyQuoted(clip(string(v))))
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
		sb.WriteString(v.String())
	case *tensorVal:
		fmt.Fprintf(sb, "tensor(%v)", v.size)
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
// \UXXXXXXXX; every other byte is Latin-1).
func rawUnicodeUnescape(s string) string {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+5 < len(s) && s[i+1] == 'u' {
			if r, err := strconv.ParseUint(s[i+2:i+6], 16, 32); err == nil {
				sb.WriteRune(rune(r))
				i += 5
				continue
			}
		}
		if s[i] == '\\' && i+9 < len(s) && s[i+1] == 'U' {
			if r, err := strconv.ParseUint(s[i+2:i+10], 16, 32); err == nil && r <= utf8.MaxRune {
				sb.WriteRune(rune(r))
				i += 9
				continue
			}
		}
		sb.WriteRune(rune(s[i]))
	}
	return sb.String()
}
