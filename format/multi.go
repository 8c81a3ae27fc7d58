package format

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bigconv/bigconv/dtype"
)

// ErrNoFiles is returned by Expand for a pattern that matches no file.
var ErrNoFiles = errors.New("matches no file")

// Expand turns what a user names as several inputs into paths: a name
// that exists (or "-") is itself; one with glob metacharacters (* ? [,
// filepath.Match syntax) is replaced by the files it matches, sorted by
// name byte by byte, so act_002 comes before act_010 when numbers are
// zero-padded (and act_10 before act_2 when they are not). A pattern
// that matches nothing is an error (ErrNoFiles) naming it; so is a
// malformed one (filepath.ErrBadPattern).
func Expand(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		if _, err := os.Lstat(a); err == nil || a == "-" || !strings.ContainsAny(a, "*?[") {
			out = append(out, a)
			continue
		}
		m, err := filepath.Glob(a)
		if err != nil {
			return nil, fmt.Errorf("input pattern %q: %w", a, err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("input pattern %q %w", a, ErrNoFiles)
		}
		sort.Strings(m)
		out = append(out, m...)
	}
	return out, nil
}

// OpenPaths opens several inputs, each as OpenPath does, after Expand.
// When opt describes a raw dump (opt.DType set, no opt.Format), the raw
// settings apply to the inputs no other format claims by magic bytes or
// extension, so that .npy files, TFRecords and raw dumps mix. On error
// every input opened so far is closed and the error names the file.
func OpenPaths(args []string, opt Options) ([]*Input, error) {
	paths, err := Expand(args)
	if err != nil {
		return nil, err
	}
	var ins []*Input
	closeAll := func() {
		for _, in := range ins {
			in.Close()
		}
	}
	for _, p := range paths {
		o := opt
		if opt.DType.Type.Valid() && opt.Format == "" && p != "-" {
			if name := claimedBy(p); name != "" && name != "raw" {
				o.Format, o.DType, o.Shape, o.Offset = name, dtype.DType{}, nil, 0
			}
		}
		in, err := OpenPath(p, o)
		if err != nil {
			closeAll()
			if !strings.Contains(err.Error(), p) {
				err = fmt.Errorf("%s: %w", p, err)
			}
			return nil, err
		}
		ins = append(ins, in)
	}
	return ins, nil
}

// claimedBy is the format whose magic bytes or extension match the file
// at path, or "".
func claimedBy(path string) string {
	p, err := Resolve(path)
	if err != nil {
		return ""
	}
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	head := make([]byte, SniffLen)
	n, _ := f.ReadAt(head, 0)
	fm, err := Detect(head[:n], p)
	if err != nil {
		return ""
	}
	return fm.Name
}
