package tfgen

import (
	"bytes"
	"testing"

	"github.com/bigconv/bigconv/dtype"
)

// A float32 [2] tensor as tf.io.serialize_tensor(tf.constant([1., 2.]))
// serializes it: dtype 1, shape {dim {size 2}}, tensor_content.
func TestWriteTensorProtoBytes(t *testing.T) {
	var buf bytes.Buffer
	vals := []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0x40}
	err := WriteTensorProto(&buf, dtype.Of(dtype.Float32), dtype.Shape{2}, func(off int64, p []byte) { copy(p, vals[off:]) })
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte{0x08, 0x01, 0x12, 0x04, 0x12, 0x02, 0x08, 0x02, 0x22, 0x08}, vals...)
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("got % x\nwant % x", buf.Bytes(), want)
	}
	if n, _ := TensorProtoSize(dtype.Of(dtype.Float32), dtype.Shape{2}); n != int64(len(want)) {
		t.Fatalf("TensorProtoSize %d", n)
	}
	for _, ty := range dtype.Types() {
		if _, err := DataTypeOf(ty); err != nil {
			t.Errorf("%v: %v", ty, err)
		}
	}
}

func TestTensorProtoValsFields(t *testing.T) {
	// int8 -1 is int_val (field 7) sign-extended to a 10-byte varint
	b, err := TensorProtoVals(dtype.Of(dtype.Int8), dtype.Shape{}, []byte{0xff}, false)
	if err != nil {
		t.Fatal(err)
	}
	tail := b[len(b)-11:]
	if tail[0] != 7<<3 || tail[10] != 0x01 {
		t.Fatalf("int_val % x", tail)
	}
	if _, err := TensorProtoVals(dtype.Of(dtype.Float32), dtype.Shape{}, []byte{1, 2, 3}, true); err == nil {
		t.Fatal("partial value accepted")
	}
}
