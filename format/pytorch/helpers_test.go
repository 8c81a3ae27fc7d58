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
