package tfbundle

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/bigconv/bigconv/tensor"
)

// Prefix is the bundle prefix of an index path: "dir/model.ckpt-10000"
// for "dir/model.ckpt-10000.index". A path without ".index" is returned
// as is.
func Prefix(indexPath string) string { return strings.TrimSuffix(indexPath, ".index") }

// DataFile is the name of data shard i of n for prefix, as TensorFlow's
// DataFilename: "PREFIX.data-00000-of-00002".
func DataFile(prefix string, i, n int) string {
	return fmt.Sprintf("%s.data-%05d-of-%05d", prefix, i, n)
}

var dataSuffix = regexp.MustCompile(`\.data-[0-9]{5,}-of-[0-9]{5,}$`)

// IndexPath resolves what a user names a bundle by to its .index file:
// "PREFIX", "PREFIX.index", one of "PREFIX.data-*-of-*", a SavedModel
// directory (→ DIR/variables/variables.index) or its variables/ directory
// (→ DIR/variables.index). isDir and exists answer for a path; IndexPath
// itself touches no file system. It returns an ErrFormat error when arg
// names no bundle (a legacy V1 checkpoint has no .index file).
func IndexPath(arg string, isDir, exists func(string) bool) (string, error) {
	if arg == "" {
		return "", fmt.Errorf("tfbundle: empty path: %w", tensor.ErrFormat)
	}
	if isDir(arg) {
		for _, c := range []string{
			filepath.Join(arg, "variables", "variables.index"),
			filepath.Join(arg, "variables.index"),
		} {
			if exists(c) {
				return c, nil
			}
		}
		return "", fmt.Errorf("tfbundle: %s: a directory with neither variables/variables.index (SavedModel) nor variables.index: %w", arg, tensor.ErrFormat)
	}
	if strings.HasSuffix(arg, ".index") && exists(arg) {
		return arg, nil
	}
	if exists(arg + ".index") {
		return arg + ".index", nil
	}
	if loc := dataSuffix.FindStringIndex(arg); loc != nil {
		if c := arg[:loc[0]] + ".index"; exists(c) {
			return c, nil
		}
	}
	if exists(arg) {
		return "", fmt.Errorf("tfbundle: %s: not a tensor bundle (no %s.index; legacy V1 checkpoints are not supported): %w", arg, arg, tensor.ErrFormat)
	}
	return "", fmt.Errorf("tfbundle: %s: no such bundle (looked for %s.index): %w", arg, Prefix(arg), tensor.ErrFormat)
}
