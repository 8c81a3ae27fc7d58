package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format/npy/npyhdr"
	"github.com/bigconv/bigconv/internal/tfgen"
)

// genChunk is the size of the pattern written over and over: inputs are
// produced block by block and never held in memory.
const genChunk = 8 << 20

// pattern returns genChunk bytes of elements of kind (a xorshift stream):
// "f4" float32 in [-8, 8) on a 2^-20 grid (exact in float32, rounded by
// float16), ">f4" the same big-endian, "i8" int64 in [-2^23, 2^23) (exact in
// float32), "bf16" the upper halves of "f4" values, "f2" finite float16.
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
	case "f4", ">f4":
		for i := 0; i+4 <= len(p); i += 4 {
			bits := math.Float32bits(float32(next()) / (1 << 20))
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
	case "bf16":
		for i := 0; i+2 <= len(p); i += 2 {
			binary.LittleEndian.PutUint16(p[i:], uint16(math.Float32bits(float32(next())/(1<<20))>>16))
		}
	case "f2": // finite float16 in ±[2^-7, 2^8)
		for i := 0; i+2 <= len(p); i += 2 {
			v := uint32(next())
			binary.LittleEndian.PutUint16(p[i:], uint16(v&0x83ff|(8+v>>10%15)<<10))
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

// writeBundle writes dir/model.ckpt.{index,data-00000-of-00001} holding one
// float32 variable "dense/kernel" of shape.
func writeBundle(dir string, shape dtype.Shape, pat []byte) (prefix, data string, err error) {
	err = tfgen.WriteBundle(dir, "model.ckpt", []tfgen.BundleTensor{{
		Name: "dense/kernel", DType: dtype.Of(dtype.Float32), Shape: shape, Fill: fillFrom(pat),
	}}, tfgen.BundleOptions{})
	prefix = filepath.Join(dir, "model.ckpt")
	return prefix, prefix + ".data-00000-of-00001", err
}

// fileSize is os.Stat(path).Size().
func fileSize(path string) (int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
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
