package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/crc32c"
	"github.com/bigconv/bigconv/mmapnpy"
	"github.com/bigconv/bigconv/slicer"
	"github.com/bigconv/bigconv/tensor"
)

// specialF64File writes n float64 values at byte 100 of a file in dir —
// among them NaN, -inf and values float32 cannot hold, so that a cast to
// float32 counts what it met — and returns the tensor over them, their
// bytes and the file.
func specialF64File(t *testing.T, dir string, n int) (*tensor.Tensor, []byte, *os.File) {
	t.Helper()
	b := make([]byte, 8*n)
	for i := range n {
		v := float64(i) * 0.37
		switch i % 997 {
		case 3:
			v = math.NaN()
		case 5:
			v = math.Inf(-1)
		case 7:
			v = 1e300
		}
		u := math.Float64bits(v)
		for k := range 8 {
			b[8*i+k] = byte(u >> (8 * k))
		}
	}
	path := filepath.Join(dir, "special.bin")
	tt := &tensor.Tensor{Name: "x", File: path, DType: dtype.MustParse("<f8"), Shape: dtype.Shape{int64(n / 16), 16}}
	f := inFile(t, path, tt, b)
	return tt, b, f
}

// verifiedF64File is specialF64File with a copy of its tensor that
// carries the data's crc32c (verified while converting).
func verifiedF64File(t *testing.T, dir string, n int) (ft, verified *tensor.Tensor, data []byte, f *os.File) {
	t.Helper()
	ft, data, f = specialF64File(t, dir, n)
	crc := crc32c.Checksum(data)
	v := *ft
	v.CRC32C = &crc
	return ft, &v, data, f
}

// damaged is tt with a crc32c that its data does not have.
func damaged(tt *tensor.Tensor) *tensor.Tensor {
	d := *tt
	bad := *tt.CRC32C + 1
	d.CRC32C = &bad
	return &d
}

// truncatedAt is tt (a tensor at byte 100 of f holding n bytes, as
// specialF64File makes) claiming 512 rows (64 KiB) more than f holds.
func truncatedAt(tt *tensor.Tensor, f *os.File, n int) *tensor.Tensor {
	short := *tt
	short.Shape = dtype.Shape{tt.Shape[0] + 512, 16}
	short.Data = io.NewSectionReader(f, 100, int64(n)+64<<10)
	return &short
}

// failsClean converts tt to out under opt and fails unless that fails
// with want — naming file, tensor name and offset, when file is not "" —
// and leaves no output.
func failsClean(t *testing.T, tt *tensor.Tensor, out string, opt Options, want error, file, name string, off int64) {
	t.Helper()
	_, err := Convert(context.Background(), tt, out, opt)
	checkFailedClean(t, err, out, want, file, name, off)
}

// checkFailedClean fails unless err is want — naming file, offset and,
// when name is not "", the tensor, when file is not "" — and out does
// not exist.
func checkFailedClean(t *testing.T, err error, out string, want error, file, name string, off int64) {
	t.Helper()
	var te *tensor.Error
	if !errors.Is(err, want) || (file != "" && (!errors.As(err, &te) || te.File != file || (name != "" && te.Tensor != name) || te.Offset != off)) {
		t.Errorf("err %v, want %v in %s, tensor %q, at offset %d", err, want, file, name, off)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("an output exists after the error (%v)", err)
	}
}

// countPieces counts the blocks writePieces wrote while fn ran: read a
// piece at a time (cached) and read whole (not cached).
func countPieces(fn func()) (cached, whole int64) {
	var c, w atomic.Int64
	pieceProbe = func(wh bool) {
		if wh {
			w.Add(1)
		} else {
			c.Add(1)
		}
	}
	defer func() { pieceProbe = nil }()
	fn()
	return c.Load(), w.Load()
}

// dropCache syncs f and asks the kernel to drop its pages from the page
// cache (clean pages go; on tmpfs, nothing does).
func dropCache(t *testing.T, f *os.File) {
	t.Helper()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
}

// TestWritePieces: a cast or a verified copy written through the page
// cache goes a piece at a time (writePieces), pieces that do not divide
// a block included; blocks of a cached input are read piece by piece,
// blocks of an input not cached, or not one range of a file, are read
// whole. Output, the cast's counts and the checksum verdict equal those
// of the whole-block path (mapped output windows).
func TestWritePieces(t *testing.T) {
	dir := t.TempDir()
	ft, verified, data, f := verifiedF64File(t, dir, 1<<18) // 2 MiB
	mem := *ft                                              // not a range of a file: blocks read whole
	mem.Data = io.NewSectionReader(bytes.NewReader(data), 0, int64(len(data)))
	defer func(p int) { piece = p }(piece)
	piece = 3000 // pieces that do not divide a block, nor a row
	for _, c := range []struct {
		name  string
		t     *tensor.Tensor
		to    string
		opt   Options
		drop  bool // drop the input from the page cache
		whole bool // blocks are read whole
	}{
		{"cast", ft, "<f4", Options{}, false, false},
		{"cast no-sync", ft, "<f4", Options{NoSync: true}, false, false},
		{"cast not cached", ft, "<f4", Options{}, true, true},
		{"cast widening", ft, "<c16", Options{}, false, false},
		{"cast from memory", &mem, "<f4", Options{}, false, true},
		{"verified copy", verified, "", Options{}, false, false},
		{"verified copy not cached", verified, "", Options{}, true, true},
		{"verified cast", verified, ">f8", Options{}, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			opt := c.opt
			opt.BlockSize, opt.Workers = 256<<10, 3
			if c.to != "" {
				opt.DType = dtype.MustParse(c.to)
			}
			want := filepath.Join(dir, "want.npy")
			defer os.Remove(want)
			mopt := opt
			mopt.Write = WriteMapped
			var wres Result
			cached, whole := countPieces(func() {
				var err error
				if wres, err = Convert(context.Background(), c.t, want, mopt); err != nil {
					t.Fatal(err)
				}
			})
			if cached+whole != 0 {
				t.Fatalf("mapped output windows: %d blocks went through writePieces", cached+whole)
			}
			out := filepath.Join(dir, "o.npy")
			defer os.Remove(out)
			if c.drop {
				dropCache(t, f)
			}
			var res Result
			cached, whole = countPieces(func() {
				var err error
				if res, err = Convert(context.Background(), c.t, out, opt); err != nil {
					t.Fatal(err)
				}
			})
			sameFile(t, out, want)
			if res.Stats != wres.Stats || res.CRCVerify != wres.CRCVerify {
				t.Fatalf("pieces: stats %+v, verified %v; whole blocks: %+v, %v", res.Stats, res.CRCVerify, wres.Stats, wres.CRCVerify)
			}
			if c.to == "<f4" && (res.Stats.NaN == 0 || res.Stats.Inf == 0 || res.Stats.OutOfRange == 0) {
				t.Fatalf("stats %+v: the cast's NaN, inf and out-of-range values were not all counted", res.Stats)
			}
			if cached+whole != res.Blocks {
				t.Fatalf("%d of %d blocks went through writePieces", cached+whole, res.Blocks)
			}
			switch {
			case c.whole && c.drop && whole == 0 && !onTmpfs(t, dir):
				t.Fatalf("input dropped from the page cache: no block was read whole (%d piece by piece)", cached)
			case c.whole && !c.drop && cached != 0:
				t.Fatalf("not a range of a file: %d blocks read piece by piece", cached)
			case !c.whole && whole != 0:
				t.Fatalf("a cached input: %d blocks read whole", whole)
			}
		})
	}
	t.Run("damaged", func(t *testing.T) {
		failsClean(t, damaged(verified), filepath.Join(dir, "d.npy"), Options{BlockSize: 256 << 10}, tensor.ErrChecksum, "", "", 0)
	})
	t.Run("section shorter than its shape", func(t *testing.T) {
		// The tensor's section ends where the file goes on (with other
		// data): read through the file, a cast or a kernel copy would run
		// on into it. Both must stop at the section and say so.
		junk := filepath.Join(dir, "junk.bin")
		jt := *ft
		jf := inFile(t, junk, &jt, append(append([]byte(nil), data...), bytes.Repeat([]byte{0x7f}, 64<<10)...))
		jt.File = junk
		jt.Shape = dtype.Shape{ft.Shape[0] + 512, 16} // 64 KiB more than the section
		jt.Data = io.NewSectionReader(jf, 100, int64(len(data)))
		for _, to := range []string{"<f4", "<f8"} {
			failsClean(t, &jt, filepath.Join(dir, "s.npy"), Options{BlockSize: 256 << 10, DType: dtype.MustParse(to)}, tensor.ErrCorrupt, junk, "x", 100+int64(len(data)))
		}
	})
	t.Run("truncated", func(t *testing.T) {
		// The tensor claims 64 KiB more than the file holds: the last
		// block's first piece is short, so it is read whole, and the
		// read names the file, the tensor and where the data ends.
		failsClean(t, truncatedAt(ft, f, len(data)), filepath.Join(dir, "t.npy"), Options{BlockSize: 256 << 10, DType: dtype.MustParse("<f4")},
			tensor.ErrCorrupt, ft.File, "x", 100+int64(len(data)))
	})
}

func onTmpfs(t *testing.T, dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return st.Type == unix.TMPFS_MAGIC
}

// TestWritePiecesTakesTurns: while another worker has the output's turn
// (wmu), writePieces makes two pieces (one in each slot), no third, and
// waits for it — nothing reaches the output before the turn is free, all
// of it after, in the right places.
func TestWritePiecesTakesTurns(t *testing.T) {
	dir := t.TempDir()
	ft, _, _ := specialF64File(t, dir, 1<<14) // 128 KiB
	defer func(p int) { piece = p }(piece)
	piece = 8 << 10 // 16 pieces a block
	opt := Options{DType: dtype.MustParse("<f4"), Write: WriteMapped}
	want := filepath.Join(dir, "want.npy")
	if _, err := Convert(context.Background(), ft, want, opt); err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(ft, opt)
	if err != nil {
		t.Fatal(err)
	}
	sl, err := slicer.New(ft, slicer.Options{BlockSize: 1 << 20, OutItemSize: 4})
	if err != nil || sl.Len() != 1 {
		t.Fatalf("slicer: %d blocks, %v; want 1", sl.Len(), err)
	}
	out := filepath.Join(dir, "o.npy")
	w, err := mmapnpy.Create(out, p.To, ft.Shape, mmapnpy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	src, srcOff := tensorRange(ft)
	var made atomic.Int64
	pieceMade = func() { made.Add(1) }
	defer func() { pieceMade = nil }()
	var wmu sync.Mutex
	wmu.Lock() // another worker's turn
	done := make(chan error)
	var sum blockSum
	go func() {
		done <- writePieces(p, sl, src, srcOff, sl.Block(0), w, &wmu, 0, false, &sum, &pieceBufs{})
	}()
	for deadline := time.Now().Add(10 * time.Second); made.Load() < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d pieces made while the output was another worker's, want 2", made.Load())
		}
	}
	select {
	case err := <-done:
		t.Fatalf("writePieces returned (%v) while the output was another worker's", err)
	case <-time.After(50 * time.Millisecond):
	}
	if n := made.Load(); n != 2 {
		t.Fatalf("%d pieces made while the output was another worker's, want 2 (both slots)", n)
	}
	part, err := os.ReadFile(w.TempPath())
	if err != nil {
		t.Fatal(err)
	}
	if part = part[w.HeaderLen():]; len(part) != 4<<14 || !bytes.Equal(part, make([]byte, len(part))) {
		t.Fatal("writePieces wrote while the output was another worker's")
	}
	wmu.Unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	sameFile(t, out, want)
	if sum.stats.NaN == 0 || sum.stats.OutOfRange == 0 {
		t.Fatalf("stats %+v: the cast's NaN and out-of-range values were not counted", sum.stats)
	}
}

// TestStackPieces: a stack of files cast through the page cache goes in
// pieces too (stackWorker.write), with the output, the cast's counts and
// a verified input's checksum verdict of the mapped-window path.
func TestStackPieces(t *testing.T) {
	dir := t.TempDir()
	a, data, _ := specialF64File(t, dir, 1<<16)
	crc := crc32c.Checksum(data)
	a.CRC32C = &crc
	b := *a
	b.File = filepath.Join(dir, "b.bin")
	inFile(t, b.File, &b, data)
	defer func(p int) { piece = p }(piece)
	piece = 3000
	opt := StackOptions{Join: JoinStack, Options: Options{DType: dtype.MustParse("<f4"), BlockSize: 64 << 10, Workers: 3}}
	mopt := opt
	mopt.Write = WriteMapped
	want := filepath.Join(dir, "want.npy")
	wres, err := Stack(context.Background(), []*tensor.Tensor{a, &b}, want, mopt)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "o.npy")
	var res Result
	cached, whole := countPieces(func() {
		if res, err = Stack(context.Background(), []*tensor.Tensor{a, &b}, out, opt); err != nil {
			t.Fatal(err)
		}
	})
	sameFile(t, out, want)
	if res.Stats != wres.Stats || res.CRCVerify != wres.CRCVerify || !res.CRCVerify || res.Stats.NaN == 0 {
		t.Fatalf("pieces: stats %+v, verified %v; mapped: %+v, %v", res.Stats, res.CRCVerify, wres.Stats, wres.CRCVerify)
	}
	if res.Blocks < 2 || cached != res.Blocks || whole != 0 {
		t.Fatalf("%d of %d blocks read piece by piece, %d whole; want all piece by piece", cached, res.Blocks, whole)
	}
}

// TestPiecesOfSmallTensors: a tensor smaller than a block goes in one
// piece when it fits one (pieces are a quarter of the run's block size,
// not of the tensor): a stack of six 16 KiB files is six pieces, with the
// output of mapped windows.
func TestPiecesOfSmallTensors(t *testing.T) {
	dir := t.TempDir()
	a, data, _ := specialF64File(t, dir, 2048)
	ts := []*tensor.Tensor{a}
	for i := range 5 {
		b := *a
		b.File = filepath.Join(dir, fmt.Sprintf("b%d.bin", i))
		inFile(t, b.File, &b, data)
		ts = append(ts, &b)
	}
	opt := StackOptions{Join: JoinStack, Options: Options{DType: dtype.MustParse("<f4"), BlockSize: 1 << 20, Workers: 2}}
	mopt := opt
	mopt.Write = WriteMapped
	want := filepath.Join(dir, "want.npy")
	if _, err := Stack(context.Background(), ts, want, mopt); err != nil {
		t.Fatal(err)
	}
	var made atomic.Int64
	pieceMade = func() { made.Add(1) }
	defer func() { pieceMade = nil }()
	out := filepath.Join(dir, "o.npy")
	res, err := Stack(context.Background(), ts, out, opt)
	if err != nil {
		t.Fatal(err)
	}
	sameFile(t, out, want)
	if res.Blocks != 6 || made.Load() != 6 {
		t.Fatalf("%d pieces for %d blocks of six 16 KiB inputs, want one each", made.Load(), res.Blocks)
	}
}

// TestLockSoon: lockSoon takes a free lock at once, and one held by
// another worker only when that worker lets go, whether within the spin
// or long after it.
func TestLockSoon(t *testing.T) {
	var mu sync.Mutex
	lockSoon(&mu, spinFor)
	if mu.TryLock() {
		t.Fatal("lockSoon returned without the lock")
	}
	mu.Unlock()
	for _, hold := range []time.Duration{spinFor / 5, 20 * spinFor} {
		mu.Lock()
		var got atomic.Bool
		done := make(chan struct{})
		go func() {
			lockSoon(&mu, spinFor)
			got.Store(true)
			close(done)
		}()
		time.Sleep(hold)
		if got.Load() {
			t.Fatalf("held %v: lockSoon returned while another held the lock", hold)
		}
		mu.Unlock()
		<-done
		if mu.TryLock() {
			t.Fatalf("held %v: lockSoon returned without the lock", hold)
		}
		mu.Unlock()
	}
}
