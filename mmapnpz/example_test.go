package mmapnpz_test

import (
	"archive/zip"
	"encoding/binary"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sync"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/mmapnpz"
)

// Write two arrays into one .npz, the blocks of each from its own
// goroutine. (The CRC-32s are those Python's zlib.crc32 gives for the
// bytes np.lib.format.write_array writes for the same arrays.)
func ExampleWriter() {
	dir, _ := os.MkdirTemp("", "mmapnpz")
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "a.npz")

	w, err := mmapnpz.Create(out, []mmapnpz.Member{
		{Name: "weights", DType: dtype.MustParse("<i4"), Shape: dtype.Shape{4, 2}},
		{Name: "layer/bias", DType: dtype.MustParse("<i4"), Shape: dtype.Shape{2}},
	}, mmapnpz.Options{})
	if err != nil {
		log.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, w.Len())
	for i := 0; i < w.Len(); i++ {
		wg.Add(1)
		go func(e *mmapnpz.Entry) {
			defer wg.Done()
			for off := int64(0); off < e.DataLen(); off += 8 { // 8-byte blocks
				b := binary.LittleEndian.AppendUint32(nil, uint32(off/4))
				b = binary.LittleEndian.AppendUint32(b, uint32(off/4+1))
				if err := e.WriteAt(b, off); err != nil {
					errs[i] = err
					return
				}
			}
		}(w.Entry(i))
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			w.Abort()
			log.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		log.Fatal(err)
	}
	zr, _ := zip.OpenReader(out)
	defer zr.Close()
	for _, f := range zr.File {
		fmt.Printf("%s %d bytes stored, crc32 %08x\n", f.Name, f.UncompressedSize64, f.CRC32)
	}
	// Output:
	// weights.npy 160 bytes stored, crc32 c5edfa4f
	// layer/bias.npy 136 bytes stored, crc32 f3b5567b
}
