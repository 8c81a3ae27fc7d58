package mmapnpy

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"unsafe"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format/npy/npyhdr"
)

// writeDirectPieces writes data into a Direct Writer of len(data) bytes
// of |u1 in pieces of random sizes (some under minDirect, some of
// several MiB) from four goroutines, half of them through Buffer, half
// from slices that are not aligned in memory, and commits it.
func writeDirectPieces(t *testing.T, out string, data []byte, opt Options) *Writer {
	t.Helper()
	w, err := Create(out, dtype.MustParse("|u1"), dtype.Shape{int64(len(data))}, opt)
	if err != nil {
		t.Fatal(err)
	}
	type piece struct{ off, n int64 }
	var pieces []piece
	rng := rand.New(rand.NewPCG(1, 2))
	for off := int64(0); off < int64(len(data)); {
		n := min(int64(len(data))-off, []int64{100, 5000, 70 << 10, 1<<20 + 17, 3 << 20}[rng.IntN(5)])
		pieces = append(pieces, piece{off, n})
		off += n
	}
	ch := make(chan int)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var raw []byte
			odd := make([]byte, 4<<20)
			for i := range ch {
				pc := pieces[i]
				var buf []byte
				if i%2 == 0 {
					buf = w.Buffer(&raw, pc.off, pc.n)
				} else {
					buf = odd[1 : 1+pc.n] // one byte past an allocation's start: not aligned
				}
				copy(buf, data[pc.off:pc.off+pc.n])
				if err := w.WriteAt(buf, pc.off); err != nil && errs[g] == nil {
					errs[g] = err
				}
			}
		}()
	}
	for i := range pieces {
		ch <- i
	}
	close(ch)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestDirectWriteAt(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 11<<20+4321)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	hdr, err := npyhdr.Encode(dtype.MustParse("|u1"), dtype.Shape{int64(len(data))}, false)
	if err != nil {
		t.Fatal(err)
	}
	want := append(hdr, data...)
	for _, tc := range []struct {
		name   string
		opt    Options
		refuse bool
	}{
		{"direct", Options{Direct: true}, false},
		{"refused", Options{Direct: true}, true},
		{"buffered", Options{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refuseDirect = tc.refuse
			defer func() { refuseDirect = false }()
			out := filepath.Join(dir, tc.name+".npy")
			w := writeDirectPieces(t, out, data, tc.opt)
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				i := 0
				for i < min(len(got), len(want)) && got[i] == want[i] {
					i++
				}
				t.Fatalf("%s: %d bytes, want %d; first difference at %d", out, len(got), len(want), i)
			}
			switch {
			case tc.opt.Direct && !tc.refuse && DirectWorks(dir):
				// Every aligned run of 64 KiB or more went direct:
				// most of the file.
				if n := w.DirectBytes(); n < int64(len(data))/2 {
					t.Errorf("%d of %d bytes written with O_DIRECT", n, len(data))
				}
			case tc.opt.Direct && !tc.refuse:
				t.Logf("%s does not take O_DIRECT: every write went through the page cache", dir)
				fallthrough
			default:
				if n := w.DirectBytes(); n != 0 {
					t.Errorf("%d bytes written with O_DIRECT, want none", n)
				}
			}
		})
	}
}

func TestBufferAligned(t *testing.T) {
	w, err := Create(filepath.Join(t.TempDir(), "x.npy"), dtype.MustParse("<f4"), dtype.Shape{1 << 20}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	var raw []byte
	for _, off := range []int64{0, 4, 4092, 8192, 123456} {
		b := w.Buffer(&raw, off, 1<<20)
		if len(b) != 1<<20 {
			t.Fatalf("off %d: %d bytes", off, len(b))
		}
		file := w.HeaderLen() + off
		first := (file + DirectAlign - 1) &^ (DirectAlign - 1)
		if addr := uintptr(unsafe.Pointer(&b[first-file])); addr%DirectAlign != 0 {
			t.Errorf("off %d: byte for file offset %d at address %#x, not %d-aligned", off, first, addr, DirectAlign)
		}
	}
	if a := AlignedBuffer(100); uintptr(unsafe.Pointer(&a[0]))%DirectAlign != 0 || len(a) != 100 {
		t.Errorf("AlignedBuffer(100): %d bytes at %p", len(a), &a[0])
	}
}
