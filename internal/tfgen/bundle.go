package tfgen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/crc32c"
	"github.com/bigconv/bigconv/internal/tfproto"
)

// BundleTensor is one tensor to write into a tensor bundle.
type BundleTensor struct {
	Name string
	// DType is the element type; its byte order is ignored (the bundle's
	// BundleOptions.BigEndian decides). Ignored for string tensors.
	DType dtype.DType
	// TFType, when non-zero, is the DataType recorded in the index, for
	// types that share a storage type (qint8 is int8, quint16 is uint16…)
	// and for resource/variant entries. Zero derives it from DType.
	TFType tfproto.DataType
	// Shape is the full tensor's shape.
	Shape dtype.Shape
	// Fill writes bytes [off, off+len(p)) of the tensor's C-order byte
	// stream, as stored (in the bundle's byte order), into p. It must be
	// deterministic: partitioned tensors call it once per slice row.
	Fill func(off int64, p []byte)
	// Strings, when non-nil, makes a DT_STRING tensor of these values
	// (len(Strings) must equal the number of elements of Shape).
	Strings [][]byte
	// Slices, when non-empty, writes a partitioned variable: a full entry
	// listing the slices and one entry per slice, keyed as TensorFlow's
	// EncodeTensorNameSlice does. Each slice has one extent per dimension.
	Slices [][]BundleExtent
	// EditEntry, when set, rewrites the tensor's encoded BundleEntryProto
	// before it goes into the index (for entries other writers produce,
	// or damaged ones); its block checksums stay valid. Not applied to
	// partitioned tensors.
	EditEntry func(entry []byte) []byte
}

// BundleExtent is a slice's range in one dimension. Length -1 means the
// whole dimension (TensorFlow's kFullExtent; Start must be 0).
type BundleExtent = tfproto.Extent

// BundleOptions shapes the files WriteBundle writes.
type BundleOptions struct {
	// Shards is the number of data files (default 1). Tensor i is written
	// to shard i % Shards; slice j of a partitioned tensor i to shard
	// (i + j) % Shards.
	Shards int
	// BigEndian records endianness BIG in the header (Fill and the string
	// length checksum are then big-endian).
	BigEndian bool
	// SnappyIndex compresses the index's blocks with snappy (TensorFlow
	// writes them uncompressed, but real files with snappy blocks exist).
	SnappyIndex bool
	// BlockSize is the table's target block size (default 262144, as
	// TensorFlow's table options; small values make multi-block indexes).
	BlockSize int
	// Alignment pads each tensor's data to a multiple of this (default 1,
	// TensorFlow's default; BundleWriter::Options.data_alignment).
	Alignment int
}

// bundleChunk is the streaming buffer size for tensor data.
const bundleChunk = 1 << 20

// WriteBundle writes dir/PREFIX.index and dir/PREFIX.data-%05d-of-%05d
// holding tensors, as TensorFlow's BundleWriter (and MergeBundles for
// several shards) would. Data is streamed from Fill in 1 MiB chunks.
func WriteBundle(dir, prefix string, tensors []BundleTensor, opt BundleOptions) (err error) {
	if opt.Shards <= 0 {
		opt.Shards = 1
	}
	if opt.BlockSize <= 0 {
		opt.BlockSize = 262144
	}
	if opt.Alignment <= 0 {
		opt.Alignment = 1
	}
	base := filepath.Join(dir, prefix)
	shards := make([]*bundleShard, opt.Shards)
	for i := range shards {
		f, err := os.Create(fmt.Sprintf("%s.data-%05d-of-%05d", base, i, opt.Shards))
		if err != nil {
			return err
		}
		shards[i] = &bundleShard{f: f}
	}
	defer func() {
		for _, s := range shards {
			if cerr := s.f.Close(); err == nil {
				err = cerr
			}
		}
	}()

	entries := map[string][]byte{}
	for i := range tensors {
		t := &tensors[i]
		if _, dup := entries[t.Name]; dup || t.Name == "" {
			return fmt.Errorf("tfgen: bundle tensor name %q is empty or repeated", t.Name)
		}
		if len(t.Slices) > 0 {
			if err := writeBundleSlices(t, i, shards, opt, entries); err != nil {
				return err
			}
			continue
		}
		e, err := writeBundleTensor(t, t.Shape, shards[i%len(shards)], i%len(shards), opt, func(off int64, p []byte) {
			if t.Fill != nil {
				t.Fill(off, p)
			}
		})
		if err != nil {
			return err
		}
		if t.EditEntry != nil {
			e = t.EditEntry(e)
		}
		entries[t.Name] = e
	}

	keys := make([]string, 0, len(entries))
	for k := range entries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	f, err := os.Create(base + ".index")
	if err != nil {
		return err
	}
	tw := &bundleTableWriter{w: f, blockSize: opt.BlockSize, snappy: opt.SnappyIndex}
	tw.add(nil, bundleHeader(opt))
	for _, k := range keys {
		tw.add([]byte(k), entries[k])
	}
	if err := tw.close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

type bundleShard struct {
	f   *os.File
	off int64
}

func (s *bundleShard) write(p []byte) error {
	n, err := s.f.Write(p)
	s.off += int64(n)
	return err
}

func bundleHeader(opt BundleOptions) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(opt.Shards))
	if opt.BigEndian {
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
	}
	var v []byte // VersionDef{producer: 1}
	v = protowire.AppendTag(v, 1, protowire.VarintType)
	v = protowire.AppendVarint(v, 1)
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// bundleEntry encodes a BundleEntryProto.
func bundleEntry(dt tfproto.DataType, sh dtype.Shape, shard int, off, size int64, crc uint32, slices [][]BundleExtent) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(dt))
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, AppendShape(nil, sh))
	if len(slices) > 0 {
		for _, s := range slices {
			var sp []byte
			for _, e := range s {
				var ep []byte
				if e.Length >= 0 {
					if e.Start != 0 {
						ep = protowire.AppendTag(ep, 1, protowire.VarintType)
						ep = protowire.AppendVarint(ep, uint64(e.Start))
					}
					ep = protowire.AppendTag(ep, 2, protowire.VarintType)
					ep = protowire.AppendVarint(ep, uint64(e.Length))
				}
				sp = protowire.AppendTag(sp, 1, protowire.BytesType)
				sp = protowire.AppendBytes(sp, ep)
			}
			b = protowire.AppendTag(b, 7, protowire.BytesType)
			b = protowire.AppendBytes(b, sp)
		}
		return b
	}
	if shard != 0 {
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(shard))
	}
	if off != 0 {
		b = protowire.AppendTag(b, 4, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(off))
	}
	if size != 0 {
		b = protowire.AppendTag(b, 5, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(size))
	}
	if crc != 0 {
		b = protowire.AppendTag(b, 6, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, crc)
	}
	return b
}

// writeBundleTensor appends one entry's data to shard and returns its
// encoded BundleEntryProto. fill produces the bytes of the entry's own
// C-order stream.
func writeBundleTensor(t *BundleTensor, sh dtype.Shape, s *bundleShard, shardID int, opt BundleOptions, fill func(off int64, p []byte)) ([]byte, error) {
	start := s.off
	var crc uint32
	dt := t.TFType
	switch {
	case t.Strings != nil:
		if dt == 0 {
			dt = tfproto.DTString
		}
		n, err := sh.NumElements()
		if err != nil || n != int64(len(t.Strings)) {
			return nil, fmt.Errorf("tfgen: %s: %d strings for shape %v", t.Name, len(t.Strings), sh)
		}
		var lens []byte
		var tmp [8]byte
		for _, str := range t.Strings {
			lens = binary.AppendUvarint(lens, uint64(len(str)))
			order := binary.ByteOrder(binary.LittleEndian)
			if opt.BigEndian {
				order = binary.BigEndian
			}
			if uint64(len(str)) <= 0xffffffff {
				order.PutUint32(tmp[:4], uint32(len(str)))
				crc = crc32c.Update(crc, tmp[:4])
			} else {
				order.PutUint64(tmp[:], uint64(len(str)))
				crc = crc32c.Update(crc, tmp[:])
			}
		}
		if err := s.write(lens); err != nil {
			return nil, err
		}
		if opt.BigEndian {
			binary.BigEndian.PutUint32(tmp[:4], crc32c.Mask(crc))
		} else {
			binary.LittleEndian.PutUint32(tmp[:4], crc32c.Mask(crc))
		}
		crc = crc32c.Update(crc, tmp[:4])
		if err := s.write(tmp[:4]); err != nil {
			return nil, err
		}
		for _, str := range t.Strings {
			crc = crc32c.Update(crc, str)
			if err := s.write(str); err != nil {
				return nil, err
			}
		}
	default:
		if dt == 0 {
			var err error
			if dt, err = DataTypeOf(t.DType.Type); err != nil {
				return nil, err
			}
		}
		size, err := sh.NumBytes(t.DType.Size())
		if err != nil {
			return nil, err
		}
		buf := make([]byte, min(size, bundleChunk))
		for off := int64(0); off < size; {
			p := buf[:min(int64(len(buf)), size-off)]
			clear(p)
			fill(off, p)
			crc = crc32c.Update(crc, p)
			if err := s.write(p); err != nil {
				return nil, err
			}
			off += int64(len(p))
		}
	}
	size := s.off - start
	if pad := s.off % int64(opt.Alignment); pad != 0 {
		if err := s.write(make([]byte, int64(opt.Alignment)-pad)); err != nil {
			return nil, err
		}
	}
	return bundleEntry(dt, sh, shardID, start, size, crc32c.Mask(crc), nil), nil
}

// writeBundleSlices writes a partitioned tensor: one entry per slice and
// the full entry listing the slices.
func writeBundleSlices(t *BundleTensor, i int, shards []*bundleShard, opt BundleOptions, entries map[string][]byte) error {
	if t.Strings != nil {
		return errors.New("tfgen: partitioned string tensors are not supported")
	}
	isz := int64(t.DType.Size())
	rank := len(t.Shape)
	strides := make([]int64, rank) // element strides of the full tensor
	st := int64(1)
	for d := rank - 1; d >= 0; d-- {
		strides[d] = st
		st *= t.Shape[d]
	}
	for j, sl := range t.Slices {
		if len(sl) != rank {
			return fmt.Errorf("tfgen: %s: slice %d has %d extents for rank %d", t.Name, j, len(sl), rank)
		}
		start := make([]int64, rank)
		sh := make(dtype.Shape, rank)
		for d, e := range sl {
			start[d], sh[d] = e.Start, e.Length
			if e.Length < 0 {
				start[d], sh[d] = 0, t.Shape[d]
			}
			if start[d] < 0 || start[d]+sh[d] > t.Shape[d] {
				return fmt.Errorf("tfgen: %s: slice %d out of range in dimension %d", t.Name, j, d)
			}
		}
		// The slice's own C-order byte k maps to full-tensor bytes: walk
		// rows of the last dimension.
		rowLen := int64(1)
		if rank > 0 {
			rowLen = sh[rank-1]
		}
		fill := func(off int64, p []byte) {
			for len(p) > 0 {
				e := off / isz // element in slice order
				within := off % isz
				full := int64(0)
				rem := e
				for d := rank - 1; d >= 0; d-- {
					idx := rem % sh[d]
					rem /= sh[d]
					full += (start[d] + idx) * strides[d]
				}
				left := (rowLen - e%max(rowLen, 1)) * isz
				if rank == 0 {
					left = isz
				}
				n := min(int64(len(p)), left-within)
				if t.Fill != nil {
					t.Fill(full*isz+within, p[:n])
				}
				p, off = p[n:], off+n
			}
		}
		k := (i + j) % len(shards)
		sub := *t
		e, err := writeBundleTensor(&sub, sh, shards[k], k, opt, fill)
		if err != nil {
			return err
		}
		entries[tfproto.SliceKey(t.Name, sl)] = e
	}
	dt := t.TFType
	if dt == 0 {
		var err error
		if dt, err = DataTypeOf(t.DType.Type); err != nil {
			return err
		}
	}
	entries[t.Name] = bundleEntry(dt, t.Shape, 0, 0, 0, 0, t.Slices)
	return nil
}
