// Package shardindex recognises the index file of a sharded model under a
// name that no reader claims — JSON whose "weight_map" maps each tensor
// name to the shard file holding it — so that detection says what the
// file is and how to read it. Under their usual names
// (model.safetensors.index.json, pytorch_model.bin.index.json) the
// safetensors and pytorch readers read such indexes and their shards.
package shardindex

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/tensor"
)

func init() { format.RegisterHint(Hint) }

// Hint names a sharded model's index: a file named *.index.json, or JSON
// whose first bytes carry a "weight_map" or the "metadata" of one.
func Hint(src format.Source, head []byte) error {
	base := filepath.Base(src.Name)
	named := strings.HasSuffix(strings.ToLower(base), ".index.json")
	looks := bytes.HasPrefix(bytes.TrimLeft(head, " \t\r\n"), []byte("{")) && bytes.Contains(head, []byte(`"weight_map"`))
	if !named && !looks {
		return nil
	}
	kind := "a sharded model"
	switch l := strings.ToLower(base); {
	case strings.Contains(l, "safetensors"):
		kind = "a sharded safetensors model"
	case strings.Contains(l, "pytorch") || strings.Contains(l, ".bin."):
		kind = "a sharded PyTorch model"
	}
	return fmt.Errorf("%w: %s is the index of %s (weight name → shard file): read it with --format safetensors (shards *.safetensors) or --format pytorch (shards *.bin), or name it model.safetensors.index.json / pytorch_model.bin.index.json",
		tensor.ErrUnsupported, base, kind)
}
