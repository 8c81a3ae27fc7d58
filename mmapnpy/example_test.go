package mmapnpy_test

import (
	"encoding/binary"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/mmapnpy"
)

// Write a 4×2 int32 array row block by row block.
func ExampleWriter() {
	dir, _ := os.MkdirTemp("", "mmapnpy")
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "a.npy")

	w, err := mmapnpy.Create(out, dtype.MustParse("<i4"), dtype.Shape{4, 2}, mmapnpy.Options{})
	if err != nil {
		log.Fatal(err)
	}
	const rowBytes = 2 * 4
	for row := int64(0); row < 4; row += 2 { // two rows per block
		err := w.Write(row*rowBytes, 2*rowBytes, func(dst []byte) error {
			for i := 0; i < 4; i++ {
				binary.LittleEndian.PutUint32(dst[4*i:], uint32(row*2)+uint32(i))
			}
			return nil
		})
		if err != nil {
			w.Abort()
			log.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		log.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	fmt.Printf("%d-byte file, header %q…\n", len(b), b[10:50])
	fmt.Println(binary.LittleEndian.Uint32(b[len(b)-4:]))
	// Output:
	// 160-byte file, header "{'descr': '<i4', 'fortran_order': False,"…
	// 7
}
