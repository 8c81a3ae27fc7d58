package tfbundle

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/format/tfbundle/internal/table"
	"github.com/bigconv/bigconv/tensor"
)

// How a user names a bundle, and what detection says about files that
// look like one: format.OpenPath asks resolve for paths that are no
// regular file, and hintV1 for files no format detects.

func init() { format.RegisterHint(hintV1) }

// resolve turns a bundle PREFIX into PREFIX.index, a SavedModel
// directory into its variables/variables.index, and a directory holding
// one .index file into that file. It returns "" for a missing path
// without a PREFIX.index beside it.
func resolve(p string) (string, error) {
	st, err := os.Stat(p)
	if err != nil {
		if _, err2 := os.Stat(p + ".index"); err2 == nil {
			return p + ".index", nil
		}
		return "", nil
	}
	if !st.IsDir() {
		return "", nil
	}
	for _, cand := range []string{
		filepath.Join(p, "variables", "variables.index"),
		filepath.Join(p, "variables.index"),
	} {
		if _, err := os.Stat(cand); err == nil {
			return cand, nil
		}
	}
	idx, _ := filepath.Glob(filepath.Join(p, "*.index"))
	if len(idx) == 1 {
		return idx[0], nil
	}
	if len(idx) > 1 {
		return "", fmt.Errorf("%s: directory holds %d checkpoints (%s); name one prefix", p, len(idx), strings.Join(idx, ", "))
	}
	return "", fmt.Errorf("%s is a directory without a SavedModel variables/ or checkpoint .index file", p)
}

// hintV1 names a legacy V1 checkpoint (Saver write_version=V1: one table
// holding the tensors, no .index file) and a V2 index under another
// name: both end in the table magic.
func hintV1(src format.Source, _ []byte) error {
	if src.R == nil || src.Size < 8 {
		return nil
	}
	var foot [8]byte
	if _, err := src.R.ReadAt(foot[:], src.Size-8); err != nil || binary.LittleEndian.Uint64(foot[:]) != uint64(table.Magic) {
		return nil
	}
	_, err := Open(src.R, src.Size, src.Name, func(string) (r io.ReaderAt, n int64, err error) {
		return nil, 0, errors.New("not opened while detecting")
	})
	if errors.Is(err, tensor.ErrUnsupported) {
		return err // the V1 message
	}
	return fmt.Errorf("%w: %s: a TensorFlow table (LevelDB SSTable) that is not named PREFIX.index; if it is a checkpoint's index, name it so or use --format tfbundle",
		tensor.ErrFormat, filepath.Base(src.Name))
}
