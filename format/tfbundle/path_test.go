package tfbundle

import (
	"errors"
	"testing"

	"github.com/bigconv/bigconv/tensor"
)

func TestIndexPath(t *testing.T) {
	files := map[string]bool{
		"sm/variables/variables.index":               true,
		"sm/variables/variables.data-00000-of-00001": true,
		"ck/model.ckpt-10.index":                     true,
		"ck/model.ckpt-10.data-00001-of-00002":       true,
		"old/export":                                 true,
	}
	dirs := map[string]bool{"sm": true, "sm/variables": true, "ck": true, "old": true}
	isDir := func(p string) bool { return dirs[p] }
	exists := func(p string) bool { return files[p] || dirs[p] }
	for _, c := range []struct{ arg, want string }{
		{"sm", "sm/variables/variables.index"},
		{"sm/variables", "sm/variables/variables.index"},
		{"sm/variables/variables", "sm/variables/variables.index"},
		{"sm/variables/variables.index", "sm/variables/variables.index"},
		{"sm/variables/variables.data-00000-of-00001", "sm/variables/variables.index"},
		{"ck/model.ckpt-10", "ck/model.ckpt-10.index"},
		{"ck/model.ckpt-10.data-00001-of-00002", "ck/model.ckpt-10.index"},
		{"ck/model.ckpt-10.index", "ck/model.ckpt-10.index"},
		{"old/export", ""},
		{"old", ""},
		{"nothing", ""},
		{"", ""},
	} {
		got, err := IndexPath(c.arg, isDir, exists)
		if got != c.want || (c.want == "") != (err != nil) {
			t.Errorf("IndexPath(%q) = %q, %v; want %q", c.arg, got, err, c.want)
		}
		if err != nil && !errors.Is(err, tensor.ErrFormat) {
			t.Errorf("IndexPath(%q): %v is not ErrFormat", c.arg, err)
		}
	}
	if p := Prefix("a/b.ckpt.index"); p != "a/b.ckpt" {
		t.Errorf("Prefix = %q", p)
	}
	if d := DataFile("a/b", 1, 2); d != "a/b.data-00001-of-00002" {
		t.Errorf("DataFile = %q", d)
	}
}
