package pytorch

import (
	"io"

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
	ts, _, err := hfindex.Open(r, size, name, sibling, func(r io.ReaderAt, size int64, path string) ([]*tensor.Tensor, error) {
		f, err := Open(r, size, path)
		if err != nil {
			return nil, err
		}
		return f.Tensors, nil
	})
	if err != nil {
		return nil, err
	}
	return &File{Format: "index", Tensors: ts}, nil
}
