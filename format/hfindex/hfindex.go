// Package hfindex reads the index of a Hugging Face sharded checkpoint —
// pytorch_model.bin.index.json, model.safetensors.index.json — which maps
// every tensor name to the shard file holding it:
//
//	{"metadata": {"total_size": 123456}, "weight_map": {"NAME": "SHARD", ...}}
//
// Shard names must be plain file names beside the index (no directory, no
// ".."): a hostile index cannot make a reader open other files.
//
//	ix, err := hfindex.Parse(data, "pytorch_model.bin.index.json")
//	for _, s := range ix.Shards { /* open s beside the index */ }
package hfindex

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/bigconv/bigconv/tensor"
)

// MaxLen caps the index file's size (a 70B-parameter model's index is
// well under 1 MiB).
const MaxLen = 64 << 20

// Index is a parsed index file.
type Index struct {
	// Names in the order the file lists them.
	Names []string
	// Shard maps each tensor name to its shard file.
	Shard map[string]string
	// Shards are the distinct shard files, in order of first mention.
	Shards []string
	// TotalSize is metadata.total_size (0 when absent).
	TotalSize int64
}

func errorf(sentinel error, file string, off int64, format string, args ...any) error {
	return fmt.Errorf("hfindex: %w", tensor.Errorf(sentinel, file, "", off, format, args...))
}

// Read reads and parses the index r of the given size.
func Read(r io.ReaderAt, size int64, file string) (*Index, error) {
	if size > MaxLen {
		return nil, errorf(tensor.ErrUnsupported, file, 0, "index of %d bytes is larger than %d", size, MaxLen)
	}
	b := make([]byte, size)
	if n, err := r.ReadAt(b, 0); n != len(b) {
		return nil, errorf(tensor.ErrCorrupt, file, int64(n), "read: %v", err)
	}
	return Parse(b, file)
}

// Parse parses an index file's bytes.
func Parse(b []byte, file string) (*Index, error) {
	if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' {
		return nil, errorf(tensor.ErrFormat, file, 0, "not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var top map[string]json.RawMessage
	if err := dec.Decode(&top); err != nil {
		return nil, errorf(tensor.ErrCorrupt, file, dec.InputOffset(), "%v", err)
	}
	wm, ok := top["weight_map"]
	if !ok {
		return nil, errorf(tensor.ErrFormat, file, 0, "no \"weight_map\": not a sharded checkpoint index")
	}
	ix := &Index{Shard: map[string]string{}}
	if md, ok := top["metadata"]; ok {
		var m struct {
			TotalSize json.Number `json:"total_size"`
		}
		if err := json.Unmarshal(md, &m); err == nil && m.TotalSize != "" {
			if n, err := m.TotalSize.Int64(); err == nil {
				ix.TotalSize = n
			}
		}
	}
	// weight_map in file order
	wd := json.NewDecoder(bytes.NewReader(wm))
	if tok, err := wd.Token(); err != nil || tok != json.Delim('{') {
		return nil, errorf(tensor.ErrCorrupt, file, -1, "weight_map is not an object")
	}
	seen := map[string]bool{}
	for wd.More() {
		tok, err := wd.Token()
		if err != nil {
			return nil, errorf(tensor.ErrCorrupt, file, -1, "weight_map: %v", err)
		}
		name := tok.(string)
		var shard string
		if err := wd.Decode(&shard); err != nil {
			return nil, errorf(tensor.ErrCorrupt, file, -1, "weight_map[%q] is not a file name: %v", name, err)
		}
		if _, dup := ix.Shard[name]; dup {
			return nil, errorf(tensor.ErrCorrupt, file, -1, "weight_map names %q twice", name)
		}
		if shard == "" || shard == "." || shard == ".." || strings.ContainsAny(shard, "/\\\x00") {
			return nil, errorf(tensor.ErrUnsupported, file, -1, "weight_map[%q] = %q is not a file name beside the index", name, shard)
		}
		ix.Names = append(ix.Names, name)
		ix.Shard[name] = shard
		if !seen[shard] {
			seen[shard] = true
			ix.Shards = append(ix.Shards, shard)
		}
	}
	if len(ix.Names) == 0 {
		return nil, errorf(tensor.ErrCorrupt, file, -1, "weight_map is empty")
	}
	return ix, nil
}

// Open reads the index r (size bytes, at path name), opens every shard it
// names beside it with sibling and reads each with open (the shard
// format's reader), and returns the shards' tensors in shard order, each
// with Extra["shard"] naming its file. A tensor in two shards, a name the
// index maps to a shard that does not hold it, or a shard that cannot be
// opened is ErrCorrupt naming the index and the tensor. Tensors a shard
// holds beyond the index's map are kept.
func Open(r io.ReaderAt, size int64, name string, sibling func(string) (io.ReaderAt, int64, error),
	open func(r io.ReaderAt, size int64, path string) ([]*tensor.Tensor, error)) ([]*tensor.Tensor, *Index, error) {
	ix, err := Read(r, size, name)
	if err != nil {
		return nil, nil, err
	}
	fail := func(sentinel error, t string, format string, args ...any) error {
		return fmt.Errorf("hfindex: %w", tensor.Errorf(sentinel, name, t, -1, format, args...))
	}
	if sibling == nil {
		return nil, nil, fail(tensor.ErrUnsupported, "", "a sharded checkpoint's shards cannot be opened without its directory")
	}
	var out []*tensor.Tensor
	where := map[string]string{}
	for _, shard := range ix.Shards {
		sr, ssize, err := sibling(shard)
		if err != nil {
			return nil, nil, fail(tensor.ErrCorrupt, "", "shard %q: %v", shard, err)
		}
		ts, err := open(sr, ssize, filepath.Join(filepath.Dir(name), shard))
		if err != nil {
			return nil, nil, err
		}
		for _, t := range ts {
			if other, dup := where[t.Name]; dup {
				return nil, nil, fail(tensor.ErrCorrupt, t.Name, "%q is in shard %q and in shard %q", t.Name, other, shard)
			}
			where[t.Name] = shard
			if t.Extra == nil {
				t.Extra = map[string]string{}
			}
			t.Extra["shard"] = shard
			out = append(out, t)
		}
	}
	for _, n := range ix.Names {
		if where[n] != ix.Shard[n] {
			if where[n] == "" {
				return nil, nil, fail(tensor.ErrCorrupt, n, "the index maps %q to shard %q, which does not hold it", n, ix.Shard[n])
			}
			return nil, nil, fail(tensor.ErrCorrupt, n, "the index maps %q to shard %q, but it is in %q", n, ix.Shard[n], where[n])
		}
	}
	return out, ix, nil
}
