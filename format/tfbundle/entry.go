package tfbundle

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/tfproto"
)

// maxSlices caps the slices of one partitioned variable (TensorFlow's
// partitioners make tens to hundreds).
const maxSlices = 4096

// header is BundleHeaderProto.
type header struct {
	numShards   int64
	bigEndian   bool
	producer    int64
	minConsumer int64
	bad         []int64 // VersionDef.bad_consumers
}

// errV1 marks the key "" of a legacy V1 checkpoint (SavedTensorSlices),
// whose field 1 is a message, not BundleHeaderProto's varint num_shards.
type errV1 struct{}

func (errV1) Error() string { return "legacy V1 checkpoint" }

func parseHeader(b []byte) (header, error) {
	h := header{numShards: 1} // proto3 default is 0; TF's writers always set it
	seenShards := false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return h, fmt.Errorf("bad tag")
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			return h, errV1{}
		case num == 1 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return h, fmt.Errorf("bad num_shards")
			}
			b = b[n:]
			h.numShards = int64(int32(v))
			seenShards = true
		case num == 2 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return h, fmt.Errorf("bad endianness")
			}
			b = b[n:]
			switch v {
			case 0:
			case 1:
				h.bigEndian = true
			default:
				return h, fmt.Errorf("endianness %d is neither LITTLE (0) nor BIG (1)", v)
			}
		case num == 3 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return h, fmt.Errorf("bad version")
			}
			b = b[n:]
			if err := parseVersion(v, &h); err != nil {
				return h, err
			}
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return h, fmt.Errorf("bad field %d", num)
			}
			b = b[n:]
		}
	}
	if !seenShards {
		h.numShards = 0
	}
	return h, nil
}

func parseVersion(b []byte, h *header) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("bad VersionDef tag")
		}
		b = b[n:]
		if typ == protowire.VarintType && num >= 1 && num <= 3 {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return fmt.Errorf("bad VersionDef field %d", num)
			}
			b = b[n:]
			switch num {
			case 1:
				h.producer = int64(int32(v))
			case 2:
				h.minConsumer = int64(int32(v))
			case 3:
				if len(h.bad) < 1024 {
					h.bad = append(h.bad, int64(int32(v)))
				}
			}
			continue
		}
		if num == 3 && typ == protowire.BytesType { // packed bad_consumers
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return fmt.Errorf("bad VersionDef bad_consumers")
			}
			b = b[n:]
			for len(v) > 0 && len(h.bad) < 1024 {
				x, m := protowire.ConsumeVarint(v)
				if m < 0 {
					return fmt.Errorf("bad VersionDef bad_consumers")
				}
				v = v[m:]
				h.bad = append(h.bad, int64(int32(x)))
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return fmt.Errorf("bad VersionDef field %d", num)
		}
		b = b[n:]
	}
	return nil
}

// extent is one dimension of a TensorSliceProto; length -1 is the full
// dimension.
type extent struct {
	start, length int64
}

// entry is BundleEntryProto.
type entry struct {
	dtype    tfproto.DataType
	shape    dtype.Shape
	hasShape bool
	shard    int64
	offset   int64
	size     int64
	crc      uint32 // masked
	hasCRC   bool
	slices   [][]extent
	at       int64 // where the entry lies in the .index file (table.Walk's at)
}

// parseEntry decodes a BundleEntryProto. It checks the encoding and the
// shape only; placement is checked against the shards by the caller.
func parseEntry(b []byte) (*entry, error) {
	e := &entry{shape: dtype.Shape{}}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("bad tag")
		}
		b = b[n:]
		switch {
		case typ == protowire.VarintType && (num == 1 || (num >= 3 && num <= 5)):
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, fmt.Errorf("bad varint field %d", num)
			}
			b = b[n:]
			switch num {
			case 1:
				e.dtype = tfproto.DataType(int32(v))
			case 3:
				e.shard = int64(int32(v))
			case 4:
				e.offset = int64(v)
			case 5:
				e.size = int64(v)
			}
		case num == 2 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, fmt.Errorf("bad shape")
			}
			b = b[n:]
			sh, err := tfproto.Shape(v)
			if err != nil {
				return nil, err
			}
			e.shape, e.hasShape = sh, true
		case num == 6 && typ == protowire.Fixed32Type:
			v, n := protowire.ConsumeFixed32(b)
			if n < 0 {
				return nil, fmt.Errorf("bad crc32c")
			}
			b = b[n:]
			e.crc, e.hasCRC = v, true
		case num == 7 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, fmt.Errorf("bad slice")
			}
			b = b[n:]
			if len(e.slices) >= maxSlices {
				return nil, fmt.Errorf("more than %d slices", maxSlices)
			}
			s, err := parseSlice(v)
			if err != nil {
				return nil, err
			}
			e.slices = append(e.slices, s)
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return nil, fmt.Errorf("bad field %d", num)
			}
			b = b[n:]
		}
	}
	return e, nil
}

// parseSlice decodes a TensorSliceProto: extent=1 {start=1, length=2}.
func parseSlice(b []byte) ([]extent, error) {
	var ext []extent
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("bad slice tag")
		}
		b = b[n:]
		if num != 1 || typ != protowire.BytesType {
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return nil, fmt.Errorf("bad slice field %d", num)
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return nil, fmt.Errorf("bad extent")
		}
		b = b[n:]
		if len(ext) >= tfproto.MaxRank {
			return nil, fmt.Errorf("slice has more than %d extents", tfproto.MaxRank)
		}
		x := extent{length: -1}
		for len(v) > 0 {
			num, typ, n := protowire.ConsumeTag(v)
			if n < 0 {
				return nil, fmt.Errorf("bad extent tag")
			}
			v = v[n:]
			if typ == protowire.VarintType && (num == 1 || num == 2) {
				u, n := protowire.ConsumeVarint(v)
				if n < 0 {
					return nil, fmt.Errorf("bad extent field %d", num)
				}
				v = v[n:]
				if num == 1 {
					x.start = int64(u)
				} else {
					x.length = int64(u)
				}
				continue
			}
			n = protowire.ConsumeFieldValue(num, typ, v)
			if n < 0 {
				return nil, fmt.Errorf("bad extent field %d", num)
			}
			v = v[n:]
		}
		ext = append(ext, x)
	}
	return ext, nil
}
