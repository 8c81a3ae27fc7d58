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
