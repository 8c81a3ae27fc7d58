package dtype

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/internal/numpytest"
)

func TestParsePrint(t *testing.T) {
	cases := []struct{ in, descr string }{
		{"<f4", "<f4"}, {">i8", ">i8"}, {"|b1", "|b1"}, {"float32", "<f4"}, {"f2", "<f2"},
		{"complex64", "<c8"}, {"c16", "<c16"}, {"bool", "|b1"}, {"?", "|b1"}, {"u1", "|u1"},
		{">u1", "|u1"}, {"=u2", "<u2"}, {"d", "<f8"}, {"e", "<f2"}, {"int64", "<i8"},
		{"uint32", "<u4"}, {"|S5", "|S5"}, {"S12", "|S12"}, {"float64", "<f8"}, {"B", "|u1"},
		{"bfloat16", "bfloat16"}, {">bfloat16", ">bfloat16"}, {"float8_e4m3fn", "float8_e4m3fn"}, {"float8_e5m2", "float8_e5m2"},
	}
	for _, c := range cases {
		d, err := Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if d.String() != c.descr {
			t.Errorf("Parse(%q) = %s, want %s", c.in, d, c.descr)
		}
		if d2, err := Parse(d.String()); err != nil || !d2.Equal(d) {
			t.Errorf("round trip of %s: %v %v", d, d2, err)
		}
	}
	for _, bad := range []string{"", "f3", "<U4", "|O", "float128", "S0", "i", "x4", "S-1", "f04"} {
		if bad == "i" {
			continue // 'i' is NumPy's int32 code
		}
		if _, err := Parse(bad); !errors.Is(err, ErrDType) {
			t.Errorf("Parse(%q): err = %v, want ErrDType", bad, err)
		}
	}
}

func TestShape(t *testing.T) {
	sh, err := ParseShape("3000000,1024")
	if err != nil || !sh.Equal(Shape{3000000, 1024}) {
		t.Fatalf("%v %v", sh, err)
	}
	for _, s := range []string{"", "()", "(5,)", "2, 3"} {
		if _, err := ParseShape(s); err != nil {
			t.Errorf("ParseShape(%q): %v", s, err)
		}
	}
	for _, s := range []string{"a", "-1", "4294967296,4294967296", "1,,2"} {
		if _, err := ParseShape(s); !errors.Is(err, ErrShape) {
			t.Errorf("ParseShape(%q): err = %v", s, err)
		}
	}
	if (Shape{}).String() != "()" || (Shape{5}).String() != "(5,)" || (Shape{2, 3}).String() != "(2, 3)" {
		t.Error("String")
	}
	if _, err := (Shape{1 << 62, 4}).NumBytes(8); !errors.Is(err, ErrShape) {
		t.Errorf("overflow not caught: %v", err)
	}
}

// TestCanCastMatchesNumPy compares CanCast with np.can_cast for every pair
// of NumPy types, both byte orders, under every policy.
func TestCanCastMatchesNumPy(t *testing.T) {
	var descrs []string
	for _, ty := range Types() {
		if !ty.NumPy() {
			continue
		}
		d := Of(ty)
		descrs = append(descrs, d.Descr())
		if ty.Size() > 1 {
			d.BigEndian = true
			descrs = append(descrs, d.Descr())
		}
	}
	js, _ := json.Marshal(descrs)
	out := numpytest.Run(t, `
import json, sys, numpy as np
ds = json.loads(sys.argv[1])
res = {}
for c in ["no", "equiv", "safe", "same_kind", "unsafe"]:
    res[c] = [[bool(np.can_cast(np.dtype(a), np.dtype(b), c)) for b in ds] for a in ds]
print(json.dumps(res))
`, string(js))
	var want map[string][][]bool
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	for _, c := range Castings {
		for i, a := range descrs {
			for j, b := range descrs {
				got := CanCast(MustParse(a), MustParse(b), c)
				if got != want[c.String()][i][j] {
					t.Errorf("CanCast(%s, %s, %s) = %v, NumPy says %v", a, b, c, got, want[c.String()][i][j])
				}
			}
		}
	}
}

func TestCheckCastMessage(t *testing.T) {
	err := CheckCast(MustParse("<f8"), MustParse("<i4"), SameKind)
	if !errors.Is(err, ErrCast) || !strings.Contains(err.Error(), "--casting unsafe") || !strings.Contains(err.Error(), "<f8 → <i4") {
		t.Fatalf("message: %v", err)
	}
	var zero Casting
	if zero != SameKind {
		t.Fatal("zero Casting must be same_kind")
	}
}

// TestResultTypeNumPy checks ResultType against np.result_type for every
// pair of NumPy's numeric types (and a few triples).
func TestResultTypeNumPy(t *testing.T) {
	numpytest.Require(t)
	var names []string
	for _, ty := range Types() {
		if ty.NumPy() {
			names = append(names, Of(ty).String())
		}
	}
	js, _ := json.Marshal(names)
	out := numpytest.Run(t, `
import json, sys, numpy as np
names = json.loads(sys.argv[1])
res = {}
for a in names:
    for b in names:
        res[a + "," + b] = np.result_type(np.dtype(a), np.dtype(b)).newbyteorder("<").str
for seq in [("<i1", "|u1", "<f2"), ("<u8", "<i1", "<i2"), ("|b1", "|b1", "|u1"), ("<c8", "<i8", "<f2"), ("<i1", "<u2", "<f2"), ("|u1", "<i2", "<f2", "<u4"), ("|b1", "|b1")]:
    res[",".join(seq)] = np.result_type(*[np.dtype(x) for x in seq]).newbyteorder("<").str
res[">f4,<i2"] = np.result_type(np.dtype(">f4"), np.dtype("<i2")).newbyteorder("<").str
print(json.dumps(res))
`, string(js))
	var want map[string]string
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(want) < len(names)*len(names) {
		t.Fatalf("NumPy gave %d results", len(want))
	}
	for key, w := range want {
		var ds []DType
		for _, s := range strings.Split(key, ",") {
			ds = append(ds, MustParse(s))
		}
		got, err := ResultType(ds...)
		if err != nil {
			t.Errorf("ResultType(%s): %v, NumPy says %s", key, err, w)
			continue
		}
		if got.String() != MustParse(w).String() {
			t.Errorf("ResultType(%s) = %s, NumPy says %s", key, got, w)
		}
	}
}

func TestResultTypeRefuses(t *testing.T) {
	for _, ds := range [][]DType{{}, {MustParse("bfloat16"), MustParse("f4")}, {MustParse("S3"), MustParse("f4")}} {
		if _, err := ResultType(ds...); !errors.Is(err, ErrDType) {
			t.Errorf("ResultType(%v): err = %v, want ErrDType", ds, err)
		}
	}
	if d, err := ResultType(MustParse("S3"), MustParse("S7")); err != nil || d.String() != "|S7" {
		t.Errorf("ResultType(S3, S7) = %v, %v", d, err)
	}
}
