package tensor

import (
	"testing"

	"github.com/bigconv/bigconv/dtype"
)

// TestTypeName: the DType's string when there is one, else the source's
// own name from Extra[ExtraDescr], else "-" — never "dtype.Type(0)".
func TestTypeName(t *testing.T) {
	for _, c := range []struct {
		name string
		t    Tensor
		want string
	}{
		{"numpy type", Tensor{DType: dtype.MustParse(">i4"), Extra: map[string]string{ExtraDescr: "<U3"}}, ">i4"}, // the dtype wins over the descr
		{"bfloat16", Tensor{DType: dtype.Of(dtype.BFloat16)}, "bfloat16"},
		{"bytes", Tensor{DType: dtype.BytesOf(3)}, "|S3"},
		{"npy unicode", Tensor{Extra: map[string]string{ExtraDescr: "<U3"}}, "<U3"},
		{"onnx", Tensor{Extra: map[string]string{ExtraDescr: "onnx:FLOAT4E2M1", "onnx_dtype": "FLOAT4E2M1"}}, "onnx:FLOAT4E2M1"},
		{"nothing known", Tensor{Extra: map[string]string{"other": "x"}}, "-"},
		{"no Extra", Tensor{}, "-"},
	} {
		if got := c.t.TypeName(); got != c.want {
			t.Errorf("%s: TypeName %q, want %q", c.name, got, c.want)
		}
	}
	u := Tensor{Name: "u", Shape: dtype.Shape{2}, Extra: map[string]string{ExtraDescr: "<U3"}}
	if got, want := u.Describe(), "u <U3 (2,) 0 bytes"; got != want {
		t.Errorf("Describe %q, want %q", got, want)
	}
}
