package main

import (
	"archive/zip"
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format/npy/npyhdr"
	"github.com/bigconv/bigconv/internal/tfgen"
)

// genChunk is the size of the pattern written over and over: inputs are
// produced block by block and never held in memory.
const genChunk = 8 << 20

// pattern returns genChunk bytes of elements of kind (a xorshift stream):
// "f2" float16 in (-2, 2), "f4" float32 in [-8, 8) on a 2^-20 grid (exact in float32, rounded by
// float16), ">f4" the same big-endian, "i8" int64 in [-2^23, 2^23) (exact in
// float32), "bf16" the upper halves of "f4" values, "f4mask" "f4" with the
// last quarter of every 1024-element row -1e9, as an attention mask adds
// to logits (overflows float16: -inf, counted as out of range), "f2" finite float16.
func pattern(kind string) []byte {
	p := make([]byte, genChunk)
	s := uint64(0x9E3779B97F4A7C15)
	next := func() int32 {
		s ^= s << 13
		s ^= s >> 7
		s ^= s << 17
		return int32(s) >> 8
	}
	switch kind {
	case "f4", ">f4", "f4mask":
		for i := 0; i+4 <= len(p); i += 4 {
			bits := math.Float32bits(float32(next()) / (1 << 20))
			if kind == "f4mask" && i/4%1024 >= 768 {
				bits = math.Float32bits(-1e9)
			}
			if kind == ">f4" {
				binary.BigEndian.PutUint32(p[i:], bits)
			} else {
				binary.LittleEndian.PutUint32(p[i:], bits)
			}
		}
	case "i8":
		for i := 0; i+8 <= len(p); i += 8 {
			binary.LittleEndian.PutUint64(p[i:], uint64(int64(next())))
		}
	case "f2": // float16 bits with exponent ≤ 15: finite, |x| < 2
		for i := 0; i+2 <= len(p); i += 2 {
			binary.LittleEndian.PutUint16(p[i:], uint16(next())&0xBFFF)
		}
	case "bf16":
		for i := 0; i+2 <= len(p); i += 2 {
			binary.LittleEndian.PutUint16(p[i:], uint16(math.Float32bits(float32(next())/(1<<20))>>16))
		}
	default:
		panic("bench: unknown pattern " + kind)
	}
	return p
}

// fillFrom returns a tfgen Fill function streaming pat.
func fillFrom(pat []byte) func(off int64, p []byte) {
	return func(off int64, p []byte) {
		for len(p) > 0 {
			n := copy(p, pat[off%int64(len(pat)):])
			p, off = p[n:], off+int64(n)
		}
	}
}

// writeFile writes header then n bytes of pat repeated, in genChunk writes.
func writeFile(path string, header []byte, pat []byte, n int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := w.Write(header); err != nil {
		f.Close()
		return err
	}
	for n > 0 {
		k := min(n, int64(len(pat)))
		if _, err := w.Write(pat[:k]); err != nil {
			f.Close()
			return err
		}
		n -= k
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeNPY writes a .npy of dt and shape (C or Fortran order) with data
// streamed from pat; the header comes from npyhdr.Encode, as np.save's.
func writeNPY(path string, dt dtype.DType, shape dtype.Shape, fortran bool, pat []byte) error {
	hdr, err := npyhdr.Encode(dt, shape, fortran)
	if err != nil {
		return err
	}
	n, err := shape.NumBytes(dt.Size())
	if err != nil {
		return err
	}
	return writeFile(path, hdr, pat, n)
}

// writeONNX writes an ONNX model (ModelProto, ir_version 8, opset 17)
// whose graph holds k float32 initializers "layer<i>/weight" of shape,
// each in raw_data with data streamed from pat, as torch.onnx.export and
// onnx.save write weights under 2 GiB.
func writeONNX(path string, k int, shape dtype.Shape, pat []byte) error {
	n, err := shape.NumBytes(4)
	if err != nil {
		return err
	}
	head := func(i int) []byte { // a TensorProto up to raw_data's length
		var t []byte
		for _, d := range shape {
			t = protowire.AppendVarint(protowire.AppendTag(t, 1, protowire.VarintType), uint64(d))
		}
		t = protowire.AppendVarint(protowire.AppendTag(t, 2, protowire.VarintType), 1)
		t = protowire.AppendString(protowire.AppendTag(t, 8, protowire.BytesType), fmt.Sprintf("layer%d/weight", i))
		return protowire.AppendVarint(protowire.AppendTag(t, 9, protowire.BytesType), uint64(n))
	}
	var graphLen int64
	for i := range k {
		tl := int64(len(head(i))) + n
		graphLen += int64(protowire.SizeTag(5)+protowire.SizeVarint(uint64(tl))) + tl
	}
	var m []byte
	m = protowire.AppendVarint(protowire.AppendTag(m, 1, protowire.VarintType), 8)
	m = protowire.AppendString(protowire.AppendTag(m, 2, protowire.BytesType), "bigconv-bench")
	m = protowire.AppendVarint(protowire.AppendTag(m, 7, protowire.BytesType), uint64(graphLen))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.Write(m)
	for i := range k {
		h := head(i)
		tl := int64(len(h)) + n
		w.Write(protowire.AppendVarint(protowire.AppendTag(nil, 5, protowire.BytesType), uint64(tl)))
		w.Write(h)
		for left := n; left > 0; {
			c := min(left, int64(len(pat)))
			if _, err := w.Write(pat[:c]); err != nil {
				f.Close()
				return err
			}
			left -= c
		}
	}
	var op []byte // opset_import {version: 17}
	op = protowire.AppendVarint(protowire.AppendTag(op, 2, protowire.VarintType), 17)
	w.Write(protowire.AppendBytes(protowire.AppendTag(nil, 8, protowire.BytesType), op))
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeBundle writes dir/model.ckpt.{index,data-00000-of-00001} holding one
// float32 variable "dense/kernel" of shape.
func writeBundle(dir string, shape dtype.Shape, pat []byte) (prefix, data string, err error) {
	err = tfgen.WriteBundle(dir, "model.ckpt", []tfgen.BundleTensor{{
		Name: "dense/kernel", DType: dtype.Of(dtype.Float32), Shape: shape, Fill: fillFrom(pat),
	}}, tfgen.BundleOptions{})
	prefix = filepath.Join(dir, "model.ckpt")
	return prefix, prefix + ".data-00000-of-00001", err
}

// writePT writes a torch.save file (zip format, laid out as torch 1.13
// writes it: members archive/data.pkl, archive/data/0, archive/version,
// stored, each member's data starting at a multiple of 64 bytes) of one
// float16 tensor of shape [rows, cols] with data streamed from pat.
func writePT(path string, rows, cols int64, pat []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	cw := &countWriter{w: bw}
	zw := zip.NewWriter(cw)
	// member starts the next member; prev is the size of the one before
	// (-1: none), whose data descriptor Go's writer puts first (16 bytes,
	// 24 from 4 GiB)
	member := func(name string, prev int64) (io.Writer, error) {
		if err := zw.Flush(); err != nil { // so that cw.n counts what is written
			return nil, err
		}
		off := cw.n
		switch {
		case prev >= math.MaxUint32:
			off += 24
		case prev >= 0:
			off += 16
		}
		return zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store, Extra: alignExtra(off, name)})
	}
	w, err := member("archive/data.pkl", -1)
	if err != nil {
		return err
	}
	pkl := ptPickle(rows, cols)
	if _, err := w.Write(pkl); err != nil {
		return err
	}
	if w, err = member("archive/data/0", int64(len(pkl))); err != nil {
		return err
	}
	for n := rows * cols * 2; n > 0; {
		k := min(n, int64(len(pat)))
		if _, err := w.Write(pat[:k]); err != nil {
			return err
		}
		n -= k
	}
	if w, err = member("archive/version", rows*cols*2); err != nil {
		return err
	}
	if _, err := io.WriteString(w, "3\n"); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// ptAlign is the alignment of member data in torch's zip writer
// (caffe2/serialize/inline_container.cc, kFieldAlignment).
const ptAlign = 64

// alignExtra is the extra field torch's writer puts in the local header
// of a member whose header starts at offset off: id "FB", then 'Z's, so
// that the data after the 30-byte header, the name and the field start
// at a multiple of ptAlign. (Go's writer repeats the field in the central
// directory, where torch's writes none; readers ignore it there.)
func alignExtra(off int64, name string) []byte {
	pad := (ptAlign - (off+30+int64(len(name))+4)%ptAlign) % ptAlign
	extra := []byte{'F', 'B', byte(pad), byte(pad >> 8)}
	return append(extra, strings.Repeat("Z", int(pad))...)
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ptPickle is the protocol-2 pickle torch.save writes for a contiguous
// float16 tensor on storage "0": _rebuild_tensor_v2(persistent ('storage',
// torch.HalfStorage, '0', 'cpu', numel), 0, (rows, cols), (cols, 1),
// False, OrderedDict()).
func ptPickle(rows, cols int64) []byte {
	str := func(s string) []byte {
		return append(binary.LittleEndian.AppendUint32([]byte{'X'}, uint32(len(s))), s...)
	}
	long := func(v int64) []byte { // LONG1 of 8 bytes
		return binary.LittleEndian.AppendUint64([]byte{0x8a, 8}, uint64(v))
	}
	var b []byte
	b = append(b, 0x80, 2)
	b = append(b, "ctorch._utils\n_rebuild_tensor_v2\n(("...)
	b = append(b, str("storage")...)
	b = append(b, "ctorch\nHalfStorage\n"...)
	b = append(b, str("0")...)
	b = append(b, str("cpu")...)
	b = append(b, long(rows*cols)...)
	b = append(b, 't', 'Q', 'K', 0, '(')
	b = append(b, long(rows)...)
	b = append(b, long(cols)...)
	b = append(b, 't', '(')
	b = append(b, long(cols)...)
	b = append(b, 'K', 1, 't', 0x89)
	b = append(b, "ccollections\nOrderedDict\n)Rt"...)
	return append(b, 'R', '.')
}

// fileSize is os.Stat(path).Size().
func fileSize(path string) (int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	if !st.IsDir() {
		return st.Size(), nil
	}
	// a directory output (one .npy per tensor): the sum of its files
	var n int64
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil && strings.HasSuffix(p, ".npy") {
			n += info.Size()
		}
		return err
	})
	return n, err
}

// sizeOut writes an output-sized scratch file (the bound for producing
// output pages: cp of it).
func sizeOut(path string, n int64) error {
	if n <= 0 {
		return fmt.Errorf("bench: output size %d", n)
	}
	return writeFile(path, nil, pattern("f4"), n)
}

// writeRecords writes path, a TFRecord file of frames serialized
// TensorProtos (tf.io.serialize_tensor) of dt and shape frame, each
// record's data streamed from pat.
func writeRecords(path string, dt dtype.DType, frame dtype.Shape, frames int64, pat []byte) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	rw, err := tfgen.NewRecordWriter(bw, "")
	if err != nil {
		return err
	}
	n, err := tfgen.TensorProtoSize(dt, frame)
	if err != nil {
		return err
	}
	fb, _ := frame.NumBytes(dt.Size())
	fill := fillFrom(pat)
	for i := range frames {
		base := i * fb
		if err := rw.WriteFunc(n, func(w io.Writer) error {
			return tfgen.WriteTensorProto(w, dt, frame, func(off int64, p []byte) { fill(base+off, p) })
		}); err != nil {
			return err
		}
	}
	return bw.Flush()
}
