package hfindex

import (
	"errors"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/tensor"
)

func TestParse(t *testing.T) {
	ix, err := Parse([]byte(`{"metadata": {"total_size": 1234}, "weight_map": {"b": "s2.bin", "a": "s1.bin", "c": "s2.bin"}}`), "x.index.json")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ix.Names, ",") != "b,a,c" || strings.Join(ix.Shards, ",") != "s2.bin,s1.bin" || ix.Shard["a"] != "s1.bin" || ix.TotalSize != 1234 {
		t.Fatalf("%+v", ix)
	}
	for _, c := range []struct {
		js   string
		want error
		msg  string
	}{
		{`{"weight_map": {"a": "../x.bin"}}`, tensor.ErrUnsupported, "not a file name beside the index"},
		{`{"weight_map": {"a": "/etc/passwd"}}`, tensor.ErrUnsupported, "not a file name"},
		{`{"weight_map": {"a": "sub\\x.bin"}}`, tensor.ErrUnsupported, "not a file name"},
		{`{"weight_map": {"a": ".."}}`, tensor.ErrUnsupported, "not a file name"},
		{`{"weight_map": {"a": "x", "a": "y"}}`, tensor.ErrCorrupt, `names "a" twice`},
		{`{"weight_map": {"a": 3}}`, tensor.ErrCorrupt, "not a file name"},
		{`{"weight_map": []}`, tensor.ErrCorrupt, "not an object"},
		{`{"weight_map": {}}`, tensor.ErrCorrupt, "empty"},
		{`{"metadata": {}}`, tensor.ErrFormat, "no \"weight_map\""},
		{`{"weight_map": {"a": "x"`, tensor.ErrCorrupt, ""},
		{`   `, tensor.ErrFormat, "not a JSON object"},
	} {
		_, err := Parse([]byte(c.js), "x.index.json")
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) || !strings.HasPrefix(err.Error(), "hfindex: x.index.json: ") {
			t.Errorf("%s: got %v, want %v %q", c.js, err, c.want, c.msg)
		}
	}
}
