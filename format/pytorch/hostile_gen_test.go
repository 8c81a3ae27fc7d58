package pytorch

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// Generators of hostile pickles whose memory grows with n.

// hostileTensor is a tensor on storage "0" (6 float32 elements).
func hostileTensor() []byte { return rebuild(storageID("FloatStorage", "0", 6), 0, []int{6}, []int{1}) }

// hostileRefs is [x]*n: a list of n memo references to one tensor (tensor
// true: the walker names each) or to None.
func hostileRefs(n int, tensor bool) []byte {
	x := op('N')
	if tensor {
		x = hostileTensor()
	}
	return cat(op(0x80, 2), x, op('q', 0, '0', ']', '('), bytes.Repeat(op('h', 0), n), op('e', '.'))
}

// hostileIntDict is {1000: 1000, 1001: 1001, …} of n pairs.
func hostileIntDict(n int) []byte {
	b := make([]byte, 0, 10*n+8)
	b = append(b, 0x80, 2, '}', '(')
	for i := range n {
		b = binary.LittleEndian.AppendUint32(append(b, 'J'), uint32(1000+i))
		b = binary.LittleEndian.AppendUint32(append(b, 'J'), uint32(1000+i))
	}
	return append(b, 'u', '.')
}

// hostileStrings is a list of n distinct 8-byte strs.
func hostileStrings(n int) []byte {
	b := make([]byte, 0, 13*n+8)
	b = append(b, 0x80, 2, ']', '(')
	for i := range n {
		b = binary.LittleEndian.AppendUint32(append(b, 'X'), 8)
		b = fmt.Appendf(b, "%08d", i%100000000)
	}
	return append(b, 'e', '.')
}

// hostileEncode is a list of n calls _codecs.encode(s, 'latin1') of one
// memoized 4 KiB str: each call copies it.
func hostileEncode(n int) []byte {
	b := cat(op(0x80, 2), glob("_codecs", "encode"), op('q', 0), str(strings.Repeat("a", 4096)), op('q', 1), str("latin1"), op('q', 2, '0', '0', '0', ']', '('))
	b = append(b, bytes.Repeat(op('h', 0, 'h', 1, 'h', 2, 0x86, 'R'), n)...)
	return append(b, 'e', '.')
}

// hostileOrderedDicts is a list of n calls OrderedDict(pairs) of one
// memoized list of 64 (str, int) pairs: each call builds a dict.
func hostileOrderedDicts(n int) []byte {
	b := cat(op(0x80, 2), glob("collections", "OrderedDict"), op('q', 0, '0', ']', '('))
	for i := range 64 {
		b = append(b, tuple(str("k"+strconv.Itoa(i)), i32(1000+i))...)
	}
	b = append(b, 'e', 'q', 1, '0', ']', '(')
	b = append(b, bytes.Repeat(op('h', 0, 'h', 1, 0x85, 'R'), n)...)
	return append(b, 'e', '.')
}

// hostileLongNames is a list of n memo references to {k: tensor} with a
// 1 KiB key k: the walk names each "I.kkk…".
func hostileLongNames(n int) []byte {
	return cat(op(0x80, 2), dict(str(strings.Repeat("k", 1024)), hostileTensor()), op('q', 0, '0', ']', '('),
		bytes.Repeat(op('h', 0), n), op('e', '.'))
}

// hostileMemoIndex stores one value at memo index n.
func hostileMemoIndex(n int) []byte {
	return cat(op(0x80, 2, 'N', 'r'), binary.LittleEndian.AppendUint32(nil, uint32(n)), op('.'))
}

// hostileList is a list of n copies of the opcodes item (each pushes one
// value).
func hostileList(item []byte) func(n int) []byte {
	return func(n int) []byte {
		return cat(op(0x80, 2, ']', '('), bytes.Repeat(item, n), op('e', '.'))
	}
}

var (
	// text ints of 300 digits (protocol 0 LONG): ParseInt fails, big.Int
	hostileTextInts = hostileList([]byte("L" + strings.Repeat("9", 300) + "L\n"))
	// negative 1000-byte LONG4 ints
	hostileLong4 = hostileList(cat(op(0x8b), binary.LittleEndian.AppendUint32(nil, 1000), bytes.Repeat([]byte{0xff}, 1000)))
	// raw-unicode-escape text full of escapes that are not hex
	hostileUnicode = hostileList([]byte("V" + strings.Repeat(`\uZZZZ\U0001F600é`, 40) + "\n"))
	// quoted protocol 0 STRINGs of escapes
	hostileQuoted = hostileList([]byte(`S'` + strings.Repeat(`\x41\'"`, 60) + "'\n"))
)

// legacyOf is a legacy-format file whose object pickle is obj, with
// storage "0" of 6 float32 elements (its persistent id legacyStorage).
func legacyOf(obj []byte) []byte {
	return cat(
		cat(op(0x80, 2), legacyMagic, op('.')),
		cat(op(0x80, 2, 'M'), binary.LittleEndian.AppendUint16(nil, 1001), op('.')),
		proto2(dict(str("little_endian"), op(0x88))),
		obj,
		proto2(op(']', '('), str("0"), op('e')),
		binary.LittleEndian.AppendUint64(nil, 6), f32s(6))
}

// legacyStorage is the legacy persistent id of storage "0" (six fields).
var legacyStorage = cat(tuple(str("storage"), glob("torch", "FloatStorage"), str("0"), str("cpu"), i32(6), op('N')), op('Q'))

// hostileLegacyRefs is a legacy file whose object is a list of n memo
// references to one tensor.
func hostileLegacyRefs(n int) []byte {
	return legacyOf(cat(op(0x80, 2), rebuild(legacyStorage, 0, []int{6}, []int{1}), op('q', 0, '0', ']', '('),
		bytes.Repeat(op('h', 0), n), op('e', '.')))
}
