package pytorch

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/bigconv/bigconv/format/hfindex"
	"github.com/bigconv/bigconv/tensor"
)

// OpenIndex reads a Hugging Face sharded checkpoint: the index
// (pytorch_model.bin.index.json) r of the given size, and each shard it
// names, opened by sibling. Every tensor the index maps must be in its
// shard (tensor.ErrCorrupt otherwise) and no name may be in two shards;
// values the shards hold beyond the index are listed too, as loading a
// shard loads them. Each tensor's Extra["shard"] names its file.
func OpenIndex(r io.ReaderAt, size int64, name string, sibling func(string) (io.ReaderAt, int64, error)) (*File, error) {
	ix, err := hfindex.Read(r, size, name)
	if err != nil {
		return nil, fmt.Errorf("pytorch: %w", err)
	}
	if sibling == nil {
		return nil, errorf(tensor.ErrUnsupported, name, "", -1, "a sharded checkpoint's shards cannot be opened without its directory")
	}
	out := &File{Format: "index"}
	where := map[string]string{}
	for _, shard := range ix.Shards {
		sr, ssize, err := sibling(shard)
		if err != nil {
			return nil, errorf(tensor.ErrCorrupt, name, "", -1, "shard %q: %v", shard, err)
		}
		f, err := Open(sr, ssize, filepath.Join(filepath.Dir(name), shard))
		if err != nil {
			return nil, err
		}
		for _, t := range f.Tensors {
			if other, dup := where[t.Name]; dup {
				return nil, errorf(tensor.ErrCorrupt, name, t.Name, -1, "%q is in shard %q and in shard %q", t.Name, other, shard)
			}
			where[t.Name] = shard
			if t.Extra == nil {
				t.Extra = map[string]string{}
			}
			t.Extra["shard"] = shard
			out.Tensors = append(out.Tensors, t)
		}
	}
	for _, n := range ix.Names {
		if where[n] != ix.Shard[n] {
			if where[n] == "" {
				return nil, errorf(tensor.ErrCorrupt, name, n, -1, "the index maps %q to shard %q, which does not hold it", n, ix.Shard[n])
			}
			return nil, errorf(tensor.ErrCorrupt, name, n, -1, "the index maps %q to shard %q, but it is in %q", n, ix.Shard[n], where[n])
		}
	}
	return out, nil
}
