package readat_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format/tfbundle"
	"github.com/bigconv/bigconv/format/tfrecord"
	"github.com/bigconv/bigconv/internal/readat"
	"github.com/bigconv/bigconv/internal/tfgen"
	"github.com/bigconv/bigconv/slicer"
	"github.com/bigconv/bigconv/tensor"
)

// BenchmarkReadAt reads the same inputs through pread and through an
// x/exp/mmap mapping, in one run so that the two compare (see
// docs/benchmarks.md for the figures and the decision they led to):
//
//   - case=fortran: a 128 MiB <f4 [32768,1024] Fortran-order tensor
//     gathered into C order in 8 MiB blocks (the engine's default for two
//     workers): 1024 column runs of 8 KiB a block;
//   - case=tfrecord: a 64 MiB TFRecord of 233k serialized float32 [64]
//     tensors, opened (every CRC checked) and read row by row, one
//     256-byte read a record, as the engine's blocks do;
//   - case=bundle: a TF bundle of 32768 float32 [256] tensors (32 MiB of
//     data), opened (index walk) and each tensor read with one 1 KiB read;
//   - case=contiguous: a 128 MiB file read in 8 MiB blocks (a plain copy's
//     reads), for reference.
//
// Each op opens the file afresh (in the page cache) and closes it, so the
// mapping's cost (mmap, page faults, munmap) is in it. RssFile-MiB is the
// mapped file pages the process held at the end of the op, before Close:
// what a mapping adds to RSS.
func BenchmarkReadAt(b *testing.B) {
	dir := b.TempDir()
	for _, c := range []struct {
		name string
		prep func(dir string) (path string, bytes int64, op func(r io.ReaderAt, size int64, path string) error)
	}{
		{"fortran", prepFortran},
		{"tfrecord", prepTFRecord},
		{"bundle", prepBundle},
		{"contiguous", prepContiguous},
	} {
		path, n, op := c.prep(filepath.Join(dir, c.name))
		for _, mode := range []readat.Mode{readat.Pread, readat.Map} {
			b.Run(fmt.Sprintf("case=%s/mode=%s", c.name, mode), func(b *testing.B) {
				b.SetBytes(n)
				var rss float64
				for b.Loop() {
					f, err := os.Open(path)
					if err != nil {
						b.Fatal(err)
					}
					st, err := f.Stat()
					if err != nil {
						b.Fatal(err)
					}
					r, c, err := readat.Open(f, mode)
					if err != nil {
						b.Fatal(err)
					}
					if err := op(r, st.Size(), path); err != nil {
						b.Fatal(err)
					}
					rss = max(rss, rssFileMiB())
					c.Close()
					f.Close()
				}
				b.ReportMetric(rss, "RssFile-MiB")
			})
		}
		os.RemoveAll(filepath.Join(dir, c.name))
	}
}

// BenchmarkReadAtPair is BenchmarkReadAt with the two modes interleaved:
// every iteration runs the case's op once by pread and once from the
// mapping (in alternating order) and the metrics are each mode's MB/s and
// their ratio, so that load from other processes on a shared machine
// falls on both alike.
func BenchmarkReadAtPair(b *testing.B) {
	dir := b.TempDir()
	for _, c := range []struct {
		name string
		prep func(dir string) (path string, bytes int64, op func(r io.ReaderAt, size int64, path string) error)
	}{
		{"fortran", prepFortran},
		{"tfrecord", prepTFRecord},
		{"bundle", prepBundle},
		{"contiguous", prepContiguous},
	} {
		path, n, op := c.prep(filepath.Join(dir, c.name))
		b.Run("case="+c.name, func(b *testing.B) {
			var spent [2]time.Duration
			modes := [2]readat.Mode{readat.Pread, readat.Map}
			i := 0
			for b.Loop() {
				for k := range 2 {
					m := (i + k) % 2
					start := time.Now()
					f, err := os.Open(path)
					if err != nil {
						b.Fatal(err)
					}
					st, err := f.Stat()
					if err != nil {
						b.Fatal(err)
					}
					r, closer, err := readat.Open(f, modes[m])
					if err != nil {
						b.Fatal(err)
					}
					if err := op(r, st.Size(), path); err != nil {
						b.Fatal(err)
					}
					closer.Close()
					f.Close()
					spent[m] += time.Since(start)
				}
				i++
			}
			rate := func(d time.Duration) float64 { return float64(n) * float64(i) / d.Seconds() / 1e6 }
			b.ReportMetric(rate(spent[0]), "pread-MB/s")
			b.ReportMetric(rate(spent[1]), "map-MB/s")
			b.ReportMetric(spent[0].Seconds()/spent[1].Seconds(), "map-speedup")
		})
		os.RemoveAll(filepath.Join(dir, c.name))
	}
}

// rssFileMiB is the process's RssFile (mapped file pages) in MiB.
func rssFileMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(l, []byte("RssFile:")); ok {
			kb, _ := strconv.ParseFloat(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(v), []byte("kB")))), 64)
			return kb / 1024
		}
	}
	return 0
}

// writeFile writes n bytes of a fixed pattern to path in 1 MiB pieces.
func writeFile(path string, n int64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i*7 + i>>9)
	}
	for w := int64(0); w < n; w += int64(len(buf)) {
		if _, err := f.Write(buf[:min(int64(len(buf)), n-w)]); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// readBlocks reads every block of t as the engine's workers do, into one
// buffer.
func readBlocks(t *tensor.Tensor) error {
	s, err := slicer.New(t, slicer.Options{BlockSize: 8 << 20})
	if err != nil {
		return err
	}
	buf := make([]byte, s.MaxElems()*int64(t.DType.Size()))
	for i := int64(0); i < s.Len(); i++ {
		blk := s.Block(i)
		if err := s.ReadBlock(blk, buf); err != nil {
			return err
		}
	}
	return nil
}

func prepFortran(dir string) (string, int64, func(io.ReaderAt, int64, string) error) {
	const rows, cols = 32768, 1024
	path := filepath.Join(dir, "f.bin")
	if err := writeFile(path, rows*cols*4); err != nil {
		panic(err)
	}
	return path, rows * cols * 4, func(r io.ReaderAt, _ int64, path string) error {
		return readBlocks(&tensor.Tensor{DType: dtype.MustParse("<f4"), Shape: dtype.Shape{rows, cols}, Data: r, Fortran: true, File: path})
	}
}

func prepContiguous(dir string) (string, int64, func(io.ReaderAt, int64, string) error) {
	const n = 128 << 20
	path := filepath.Join(dir, "c.bin")
	if err := writeFile(path, n); err != nil {
		panic(err)
	}
	return path, n, func(r io.ReaderAt, _ int64, path string) error {
		return readBlocks(&tensor.Tensor{DType: dtype.MustParse("<f4"), Shape: dtype.Shape{n / 4096, 1024}, Data: r, File: path})
	}
}

func prepTFRecord(dir string) (string, int64, func(io.ReaderAt, int64, string) error) {
	row := dtype.Shape{64}
	const records = 233_000 // 64 MiB with framing
	path := filepath.Join(dir, "r.tfrecord")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		panic(err)
	}
	f, err := os.Create(path)
	if err != nil {
		panic(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	err = tfgen.WriteTensorRecords(w, "", records, dtype.Of(dtype.Float32), row, func(rec int, off int64, p []byte) {
		for i := range p {
			p[i] = byte(rec + int(off) + i)
		}
	})
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		panic(err)
	}
	return path, records * 256, func(r io.ReaderAt, size int64, path string) error {
		t, err := tfrecord.Open(r, size, path, "")
		if err != nil {
			return err
		}
		return readBlocks(t)
	}
}

func prepBundle(dir string) (string, int64, func(io.ReaderAt, int64, string) error) {
	const tensors, elems = 32768, 256
	if err := os.MkdirAll(dir, 0o755); err != nil {
		panic(err)
	}
	ts := make([]tfgen.BundleTensor, tensors)
	for i := range ts {
		ts[i] = tfgen.BundleTensor{Name: fmt.Sprintf("layer%05d/kernel", i), DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{elems},
			Fill: func(off int64, p []byte) {
				for j := range p {
					p[j] = byte(i + int(off) + j)
				}
			}}
	}
	if err := tfgen.WriteBundle(dir, "ckpt", ts, tfgen.BundleOptions{}); err != nil {
		panic(err)
	}
	// The op opens the data shard (the file under test) through mode; the
	// index is read with pread in both.
	data := filepath.Join(dir, "ckpt.data-00000-of-00001")
	index := filepath.Join(dir, "ckpt.index")
	return data, tensors * elems * 4, func(r io.ReaderAt, size int64, _ string) error {
		idx, err := os.Open(index)
		if err != nil {
			return err
		}
		defer idx.Close()
		st, err := idx.Stat()
		if err != nil {
			return err
		}
		bd, err := tfbundle.Open(idx, st.Size(), index, func(string) (io.ReaderAt, int64, error) { return r, size, nil })
		if err != nil {
			return err
		}
		buf := make([]byte, elems*4)
		for _, t := range bd.Tensors() {
			if _, err := t.Data.ReadAt(buf, 0); err != nil && err != io.EOF {
				return err
			}
		}
		return nil
	}
}
