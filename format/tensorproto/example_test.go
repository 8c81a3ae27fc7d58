package tensorproto_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format/tensorproto"
	"github.com/bigconv/bigconv/internal/tfgen"
)

func Example() {
	// what tf.io.write_file("x.pb", tf.io.serialize_tensor(tf.reshape(tf.range(6.0), [2, 3]))) writes
	var file bytes.Buffer
	tfgen.WriteTensorProto(&file, dtype.Of(dtype.Float32), dtype.Shape{2, 3}, func(off int64, p []byte) {
		for i := 0; i < len(p); i += 4 {
			binary.LittleEndian.PutUint32(p[i:], math.Float32bits(float32((off+int64(i))/4)))
		}
	})

	t, err := tensorproto.Open(bytes.NewReader(file.Bytes()), int64(file.Len()), "x.pb")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(t.DType, t.Shape, t.Extra["encoding"], "at offset", t.Offset)

	row := make([]byte, 12) // the second row
	t.Data.ReadAt(row, 12)
	for i := 0; i < 12; i += 4 {
		fmt.Print(math.Float32frombits(binary.LittleEndian.Uint32(row[i:])), " ")
	}
	fmt.Println()
	// Output:
	// <f4 (2, 3) tensor_content at offset 14
	// 3 4 5
}
