package tfrecord_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format/tfrecord"
	"github.com/bigconv/bigconv/internal/tfgen"
)

func Example() {
	// 4 records, each tf.io.serialize_tensor of an int32 tensor of shape [3]
	var file bytes.Buffer
	tfgen.WriteTensorRecords(&file, "", 4, dtype.Of(dtype.Int32), dtype.Shape{3}, func(rec int, off int64, p []byte) {
		for i := 0; i < len(p); i += 4 {
			binary.LittleEndian.PutUint32(p[i:], uint32(10*rec+int(off+int64(i))/4))
		}
	})
	r := bytes.NewReader(file.Bytes())

	n, _ := tfrecord.Count(r, r.Size())
	t, err := tfrecord.Open(r, r.Size(), "x.tfrecord", "")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(n, "records:", t.DType, t.Shape)
	row := make([]byte, 12)
	t.Data.ReadAt(row, 2*12) // record 2
	fmt.Println(binary.LittleEndian.Uint32(row), binary.LittleEndian.Uint32(row[4:]), binary.LittleEndian.Uint32(row[8:]))

	// tf.train.Example records with a float feature, gzip-compressed: a stream
	var gz bytes.Buffer
	tfgen.WriteExamples(&gz, "gzip", 3, func(rec int) []tfgen.Feature {
		return []tfgen.Feature{{Name: "xy", Floats: []float32{float32(rec), 0.5}}}
	})
	z, _ := tfrecord.Decompress(&gz, "gzip", "x.tfrecord.gz")
	s, err := tfrecord.OpenStream(z, "x.tfrecord.gz", "xy")
	if err != nil {
		fmt.Println(err)
		return
	}
	all, err := io.ReadAll(s.Stream)
	fmt.Println(s.Name, s.DType, s.Shape, len(all)/8, "rows", err)
	// Output:
	// 4 records: <i4 (4, 3)
	// 20 21 22
	// xy <f4 (0, 2) 3 rows <nil>
}
