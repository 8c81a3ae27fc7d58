package tfbundle

import "github.com/bigconv/bigconv/internal/tfproto"

// sliceKey is the index key of one slice of a partitioned tensor
// (tfproto.SliceKey).
func sliceKey(name string, ext []extent) string {
	e := make([]tfproto.Extent, len(ext))
	for i, x := range ext {
		e[i] = tfproto.Extent{Start: x.start, Length: x.length}
	}
	return tfproto.SliceKey(name, e)
}
