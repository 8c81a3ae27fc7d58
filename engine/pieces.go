package engine

import (
	"io"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bigconv/bigconv/internal/crc32c"
	"github.com/bigconv/bigconv/mmapnpy"
	"github.com/bigconv/bigconv/slicer"
	"github.com/bigconv/bigconv/tensor"
)

// tensorRange is the file and offset of t's bytes when they are one
// contiguous C-order range of a file that holds all of them, else nil.
// A section shorter than the shape claims is left to t.Data, whose reads
// end at the section and so report the shortfall; read from the file
// directly (copy_file_range, readCached), it would run on into whatever
// follows.
func tensorRange(t *tensor.Tensor) (*os.File, int64) {
	if !t.Contiguous || t.Fortran {
		return nil, 0
	}
	want, err := t.NumBytes()
	if err != nil {
		return nil, 0
	}
	if sr, ok := t.Data.(*io.SectionReader); ok {
		if rd, off, n := sr.Outer(); rd != nil && n >= want {
			if f, ok := rd.(*os.File); ok {
				return f, off
			}
		}
	}
	return nil, 0
}

// piece is the most bytes of input or output one step of writePieces
// handles: small enough that a piece read, checked, converted and
// written stays in the CPU's cache from the read to the pwrite, so that
// memory sees each byte about once, as in cp. A 1 GiB int64 → float32
// cast from the page cache with --no-sync, two workers (throwaway test
// program, medians of 11): 0.150 s in 1 MiB pieces, 0.160 s in 256 KiB
// pieces, cp of the 512 MiB output 0.151 s (docs/benchmarks.md,
// session 10).
var piece = 1 << 20

// pieceProbe, when set, is told of each block writePieces writes, and
// whether it read it whole (tests).
var pieceProbe func(whole bool)

// pieceBufs are a worker's buffers for writePieces: two slots of a piece
// each, so that one piece can wait for the output while the next is made.
// Pieces are at most a quarter of the run's block size (not of the
// tensor, which may be smaller: a stack of thousands of small files
// wrote each in four pieces), so that the slots, and the whole block read
// when it is not cached, stay within about the input and output blocks
// the whole-block path holds.
type pieceBufs struct {
	in, out [2][]byte // pieces of input and of output
	block   []byte    // a whole block, read at once when it is not cached
}

// pieceMade, when set, is called after each piece is converted (tests).
var pieceMade func()

// goesPiecewise reports whether a block of p written with pwrite goes
// through writePieces: through the page cache (not direct), a cast or a
// copy with a CRC to take (a plain copy has nothing to do between read
// and write), read as one C-order range (Fortran gathers want whole
// blocks, for long column runs).
func goesPiecewise(p *Plan, verify, direct bool) bool {
	t := p.Tensor
	return !direct && (!p.noCast || verify) && (!t.Fortran || len(t.Shape) <= 1)
}

// writePieces converts block b of sl by p and writes it at output offset
// off of w through the page cache, a piece at a time (see piece),
// folding the input's crc32c into sum when verify and counting what the
// cast met. A copy (p.noCast) is read and written piece by piece too,
// which only pays when it is verified.
//
// Pieces are read from the page cache. src (the file holding sl's
// tensor at srcOff, or nil) is asked for the first piece without
// waiting (preadv2 RWF_NOWAIT); if that piece is not all cached, the
// input is coming from the disk, and the whole block is read with one
// pread instead — large reads let the disk stream — then converted in
// pieces from memory. A tensor that is not one range of a file (src
// nil: records, members, decoded rows) is read whole too: its reader
// may do per-call work (decode a row, look up records) that small
// reads would repeat.
//
// Writes into one file's page cache take turns (the file system holds
// the inode's lock across a buffered write, and a writer that finds it
// taken spins in the kernel), so the workers of one output share wmu: a
// worker that finds it taken makes its next piece instead, and waits
// only when both its slots hold pieces not yet written. A 1 GiB int64 →
// float32 cast from the page cache on two workers spent 15 % of its
// samples in the kernel's spin on that lock (perf) before.
func writePieces(p *Plan, sl *slicer.Slicer, src *os.File, srcOff int64, b slicer.Block, w *mmapnpy.Writer, wmu *sync.Mutex, off int64, verify bool, sum *blockSum, bufs *pieceBufs) error {
	inItem, outItem := int64(p.From.Size()), int64(p.To.Size())
	step := max(min(int64(piece)/max(inItem, outItem), sl.BlockElems()/4), 1) // elements a piece
	first := min(step, b.Elems)
	// a block smaller than a whole piece (small inputs): the other
	// worker's writes are short, so wait for a turn by yielding first
	// (the block, not its pieces: with many workers blocks are small and
	// their pieces less than whole, though the tensor is large)
	var spin time.Duration
	if b.Elems*max(inItem, outItem) < int64(piece) {
		spin = spinFor
	}
	bufs.in[0] = grow(bufs.in[0], first*inItem)
	whole := src == nil || !readCached(src, srcOff+b.Off, bufs.in[0][:first*inItem])
	if pieceProbe != nil {
		pieceProbe(whole)
	}
	var in []byte // the block read whole
	if whole {
		bufs.block = grow(bufs.block, b.Len)
		in = bufs.block[:b.Len]
		if err := sl.ReadBlock(b, in); err != nil {
			return err
		}
	} else if b.Elems > first {
		bufs.in[1] = grow(bufs.in[1], first*inItem) // a second piece is read into it
	}
	if !p.noCast {
		bufs.out[0] = grow(bufs.out[0], first*outItem)
		if b.Elems > first { // a second piece is made into it
			bufs.out[1] = grow(bufs.out[1], first*outItem)
		}
	}
	// pending: pieces made and not yet written, oldest first.
	type made struct {
		data []byte
		at   int64
	}
	var pending [2]made
	np := 0
	flush := func() error {
		defer wmu.Unlock()
		for _, m := range pending[:np] {
			if err := w.WriteAt(m.data, m.at); err != nil {
				return err
			}
		}
		np = 0
		return nil
	}
	slot := 0
	for e := int64(0); e < b.Elems; e += step {
		k := min(step, b.Elems-e)
		var pin []byte
		switch {
		case whole:
			pin = in[e*inItem : (e+k)*inItem]
		case e == 0: // read by readCached
			pin = bufs.in[0][:k*inItem]
		default:
			pin = bufs.in[slot][:k*inItem]
			sub := slicer.Block{Index: b.Index, Elem0: b.Elem0 + e, Elems: k, Off: b.Off + e*inItem, Len: k * inItem}
			if err := sl.ReadBlock(sub, pin); err != nil {
				return err
			}
		}
		if verify {
			sum.crc = crc32c.Update(sum.crc, pin)
		}
		pout := pin
		if !p.noCast {
			pout = bufs.out[slot][:k*outItem]
			p.kernel(pout, pin, &sum.stats)
		}
		if pieceMade != nil {
			pieceMade()
		}
		pending[np] = made{pout, off + e*outItem}
		np++
		slot ^= 1
		switch {
		case wmu.TryLock():
		case np < len(pending):
			continue // make the next piece while another worker writes
		default:
			lockSoon(wmu, spin)
		}
		if err := flush(); err != nil {
			return err
		}
	}
	if np > 0 {
		lockSoon(wmu, spin)
		return flush()
	}
	return nil
}

// spinFor is how long a worker waiting for its turn at the output
// yields the processor before it sleeps on the lock, when the blocks are
// smaller than a piece. Waking a sleeping worker costs a futex call
// (9–10 % of a profile's samples went to the wake and the sleep); for the
// short writes of small inputs the wait cost more than the write: a stack of 5000 files of 128 KiB (one
// 256 KiB piece a file), --no-sync, 0.71 s sleeping at once, 0.58 s
// yielding 50 µs first, 0.57 s yielding 200 µs, with the same CPU time.
// Whole pieces did not gain (1 GiB int64 → float32 0.27 s either way,
// stack-1024 1.07 s against 1.05 s; medians of 11), and a durable
// stack-256 came out slow in more rounds with it (14 of 26 against 10
// of 26), so they sleep at once as before (docs/benchmarks.md session 14).
const spinFor = 50 * time.Microsecond

// lockSoon locks mu, yielding the processor for up to spin while
// another worker holds it, then sleeping on it (at once for spin 0).
func lockSoon(mu *sync.Mutex, spin time.Duration) {
	if spin <= 0 {
		mu.Lock()
		return
	}
	deadline := time.Now().Add(spin)
	for !mu.TryLock() {
		if time.Now().After(deadline) {
			mu.Lock()
			return
		}
		runtime.Gosched()
	}
}

// readCached fills dst from f at off if every byte of it is in the page
// cache, without waiting for the disk (preadv2 RWF_NOWAIT), and reports
// whether it did.
func readCached(f *os.File, off int64, dst []byte) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	var n int
	var rerr error
	if err := rc.Read(func(fd uintptr) bool {
		n, rerr = unix.Preadv2(int(fd), [][]byte{dst}, off, unix.RWF_NOWAIT)
		return true
	}); err != nil {
		return false
	}
	// EAGAIN: not all cached; EOPNOTSUPP: the file system has no
	// RWF_NOWAIT (every block is then read whole); any other error, or a
	// short read, the blocking read reports.
	return rerr == nil && n == len(dst)
}
