package pytorch

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math"
	"strconv"
)

// Hand-written pickles, opcode by opcode, for inputs torch never writes.

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func op(b ...byte) []byte { return b }

func glob(module, name string) []byte { return []byte("c" + module + "\n" + name + "\n") }

func str(s string) []byte {
	return cat(op('X'), binary.LittleEndian.AppendUint32(nil, uint32(len(s))), []byte(s))
}

func i32(v int) []byte { return binary.LittleEndian.AppendUint32([]byte{'J'}, uint32(int32(v))) }

func tuple(items ...[]byte) []byte { return cat(op('('), cat(items...), op('t')) }

func intTuple(vs ...int) []byte {
	var items [][]byte
	for _, v := range vs {
		items = append(items, i32(v))
	}
	return tuple(items...)
}

// storageID is the persistent id of storage KEY of class torch.TYPE with
// numel elements (zip format: five fields).
func storageID(typ, key string, numel int) []byte {
	return cat(tuple(str("storage"), glob("torch", typ), str(key), str("cpu"), i32(numel)), op('Q'))
}

// rebuild is _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()).
func rebuild(storage []byte, offset int, size, stride []int) []byte {
	return cat(glob("torch._utils", "_rebuild_tensor_v2"),
		tuple(storage, i32(offset), intTuple(size...), intTuple(stride...), op(0x89), glob("collections", "OrderedDict"), op(')', 'R')),
		op('R'))
}

// dict is {k1: v1, ...} with str keys.
func dict(kv ...[]byte) []byte { return cat(op('}', '('), cat(kv...), op('u')) }

// proto2 wraps a pickle body: PROTO 2 … STOP.
func proto2(body ...[]byte) []byte { return cat(op(0x80, 2), cat(body...), op('.')) }

type member struct {
	name   string
	data   []byte
	method uint16
}

// zipOf writes a zip archive of the members, in order.
func zipOf(ms ...member) []byte {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, m := range ms {
		if m.method == zip.Store { // sizes in the local header, as torch writes them
			f, err := w.CreateRaw(&zip.FileHeader{Name: m.name, Method: zip.Store, CRC32: crc32.ChecksumIEEE(m.data),
				CompressedSize64: uint64(len(m.data)), UncompressedSize64: uint64(len(m.data))})
			if err != nil {
				panic(err)
			}
			f.Write(m.data)
			continue
		}
		f, err := w.CreateHeader(&zip.FileHeader{Name: m.name, Method: m.method})
		if err != nil {
			panic(err)
		}
		f.Write(m.data)
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// torchZip is a zip-format file: archive/data.pkl holding pkl, then
// archive/data/0.. holding the storages.
func torchZip(pkl []byte, storages ...[]byte) []byte {
	ms := []member{{name: "archive/data.pkl", data: pkl}}
	for i, s := range storages {
		ms = append(ms, member{name: "archive/data/" + strconv.Itoa(i), data: s})
	}
	ms = append(ms, member{name: "archive/version", data: []byte("3\n")})
	return zipOf(ms...)
}

// f32s is little-endian float32 bytes of 0, 1, … n-1.
func f32s(n int) []byte {
	var b []byte
	for i := range n {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(i)))
	}
	return b
}

// stateDict is what torch.save(state_dict) writes (protocol 2, as torch
// 1.13 pickles it: every new object memoized with BINPUT/LONG_BINPUT,
// globals and repeated strings fetched with BINGET, SETITEMS in batches of
// 1000) for n tensors "layers.I.weight" of shape [4, 3] on storages
// "0".."n-1", with the storages' bytes.
func stateDict(n int) (pkl []byte, storages [][]byte) {
	b := []byte{0x80, 2}
	memo := 0
	put := func() {
		if memo < 256 {
			b = append(b, 'q', byte(memo))
		} else {
			b = binary.LittleEndian.AppendUint32(append(b, 'r'), uint32(memo))
		}
		memo++
	}
	get := func(i int) {
		if i < 256 {
			b = append(b, 'h', byte(i))
		} else {
			b = binary.LittleEndian.AppendUint32(append(b, 'j'), uint32(i))
		}
	}
	b = append(b, glob("collections", "OrderedDict")...)
	put() // 0: OrderedDict
	b = append(b, ')', 'R')
	put()
	rebuildAt, storageAt, floatAt, cpuAt := -1, -1, -1, -1
	for i := range n {
		if i%1000 == 0 {
			if i > 0 {
				b = append(b, 'u')
			}
			b = append(b, '(')
		}
		b = append(b, str("layers."+strconv.Itoa(i)+".weight")...)
		put()
		if rebuildAt < 0 {
			b = append(b, glob("torch._utils", "_rebuild_tensor_v2")...)
			rebuildAt = memo
			put()
		} else {
			get(rebuildAt)
		}
		b = append(b, '(', '(')
		if storageAt < 0 {
			b = append(b, str("storage")...)
			storageAt = memo
			put()
			b = append(b, glob("torch", "FloatStorage")...)
			floatAt = memo
			put()
		} else {
			get(storageAt)
			get(floatAt)
		}
		b = append(b, str(strconv.Itoa(i))...)
		put()
		if cpuAt < 0 {
			b = append(b, str("cpu")...)
			cpuAt = memo
			put()
		} else {
			get(cpuAt)
		}
		b = append(b, 'K', 12, 't')
		put()
		b = append(b, 'Q', 'K', 0, 'K', 4, 'K', 3, 0x86)
		put()
		b = append(b, 'K', 3, 'K', 1, 0x86)
		put()
		b = append(b, 0x89)
		get(0)
		b = append(b, ')', 'R')
		put()
		b = append(b, 't')
		put()
		b = append(b, 'R')
		put()
		storages = append(storages, f32s(12))
	}
	if n > 0 {
		b = append(b, 'u')
	}
	return append(b, '.'), storages
}
