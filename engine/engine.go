// Package engine converts one tensor into one .npy file: it plans the
// target dtype and checks the cast against the casting policy, cuts the
// tensor into blocks (slicer), converts each block on a pool of workers
// (cast) straight into a memory-mapped window of the output (mmapnpy),
// verifies the input's checksum while streaming, reports progress, and
// honours cancellation. Nothing ever holds the whole tensor: memory is a
// few blocks per worker whatever the tensor size.
//
//	res, err := engine.Convert(ctx, t, "out.npy", engine.Options{
//		DType:    dtype.MustParse("float32"),
//		Progress: func(done, total int64) { ... },
//	})
//
// On any error or cancellation the output path is left untouched: the
// partial file is removed.
package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bigconv/bigconv/cast"
	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/crc32c"
	"github.com/bigconv/bigconv/internal/testhook"
	"github.com/bigconv/bigconv/mmapnpy"
	"github.com/bigconv/bigconv/slicer"
	"github.com/bigconv/bigconv/tensor"
)

// Options control a conversion. The zero value converts to the source's
// type (little-endian; bfloat16 and float8 widened to float32) under
// same_kind casting with GOMAXPROCS workers.
type Options struct {
	// DType is the output type; the zero DType keeps the source's type.
	DType dtype.DType
	// RawBits writes bfloat16 / float8 sources as their raw bits (<u2,
	// |u1) instead of widening them to float32.
	RawBits bool
	// Casting is the policy a cast must satisfy (zero value: same_kind).
	Casting dtype.Casting
	// Workers is the number of blocks converted at once (0 = GOMAXPROCS).
	Workers int
	// BlockSize is the size of a block in bytes (0 = DefaultBlockSize for
	// the number of workers). Memory use is about 2 × Workers × BlockSize.
	BlockSize int64
	// NoVerify skips checksum verification of inputs that carry one.
	NoVerify bool
	// FlushWindows makes every block durable before it counts as done.
	FlushWindows bool
	// Write selects how blocks reach the output (zero value: WriteAuto).
	Write WriteMode

	// Progress, if set, is called after each block with the input bytes
	// done and the total (-1 when unknown). Calls are serialised.
	Progress func(done, total int64)

	// CheckpointBytes is how much output is written between checkpoints
	// of the resume journal (0 = DefaultCheckpointBytes). Outputs no
	// larger than that, and every output when it is negative, keep no
	// journal: a cancelled run removes them.
	CheckpointBytes int64
	// CheckpointEvery also checkpoints after this much time (0 =
	// DefaultCheckpointEvery).
	CheckpointEvery time.Duration
	// Resume continues an interrupted run of the same conversion from its
	// journal. Without it, a journal left by an interrupted run makes Run
	// fail with ErrPending rather than silently reuse or discard it.
	Resume bool
	// Restart discards a journal left by an interrupted run.
	Restart bool
	// Identity names the input files' identity (sizes, modification
	// times, header hashes) as the caller sees them; a resumed run
	// refuses when it differs. Run adds a hash of the data's edges.
	Identity string
}

// WriteMode is how converted blocks reach the output file.
type WriteMode int

const (
	// WriteAuto picks what measured fastest (docs/benchmarks.md): a
	// plain copy of a contiguous file range without a checksum to verify
	// is left to the kernel (copy_file_range); everything else is
	// converted into a reused buffer and written with pwrite, in 1 MiB
	// pieces. (Mapped windows were the default for widening casts and
	// other plain copies until the pieces made pwrite 1.5–4× faster.)
	WriteAuto WriteMode = iota
	// WriteMapped converts every block into a mapped window of the output.
	WriteMapped
	// WritePwrite converts into a reused buffer and pwrites it; plain
	// copies of a contiguous file range use copy_file_range.
	WritePwrite
)

// ParseWriteMode reads "auto", "mmap" or "pwrite".
func ParseWriteMode(s string) (WriteMode, error) {
	switch s {
	case "", "auto":
		return WriteAuto, nil
	case "mmap":
		return WriteMapped, nil
	case "pwrite":
		return WritePwrite, nil
	}
	return 0, fmt.Errorf("write mode %q: want auto, mmap or pwrite", s)
}

// MemoryBudget is the memory the default block size aims to stay within
// with every worker busy (an input buffer and an output window each).
const MemoryBudget = 32 << 20

// DefaultBlockSize is the block size used for a number of workers: the
// memory budget shared out, between 1 MiB and 8 MiB.
func DefaultBlockSize(workers int) int64 {
	bs := int64(MemoryBudget) / int64(2*max(workers, 1))
	return min(max(bs, 1<<20), 8<<20)
}

// Plan is a resolved conversion: source and target types, and the kernel.
type Plan struct {
	Tensor  *tensor.Tensor
	From    dtype.DType // source dtype as read (after RawBits reinterpretation)
	To      dtype.DType
	Casting dtype.Casting
	Lossy   bool // the cast is not safe: values may change
	kernel  cast.Kernel
	copyOK  bool // bytes can be copied unchanged
}

// NewPlan resolves the target type of t under opt and checks the cast.
func NewPlan(t *tensor.Tensor, opt Options) (*Plan, error) {
	if t.Unsupported != "" {
		return nil, tensor.Errorf(tensor.ErrUnsupported, t.File, t.Name, -1, "%s", t.Unsupported)
	}
	if t.Data == nil && t.Stream == nil {
		return nil, tensor.Errorf(tensor.ErrUnsupported, t.File, t.Name, -1, "no data to convert")
	}
	from := t.DType
	if opt.RawBits {
		switch from.Type {
		case dtype.BFloat16:
			from = dtype.DType{Type: dtype.Uint16, BigEndian: from.BigEndian}
		case dtype.Float8E4M3FN, dtype.Float8E5M2:
			from = dtype.Of(dtype.Uint8)
		}
	}
	to := opt.DType
	if !to.Type.Valid() {
		to = from.Native()
		if !from.Type.NumPy() {
			to = dtype.Of(dtype.Float32)
		}
	}
	if !to.Type.NumPy() {
		return nil, fmt.Errorf("engine: %s cannot be written to .npy (NumPy has no such type); use --dtype float32 or --raw-bits", to)
	}
	if err := dtype.CheckCast(from, to, opt.Casting); err != nil {
		return nil, tensor.Errorf(err, t.File, t.Name, -1, "cannot convert")
	}
	k, err := cast.New(from, to)
	if err != nil {
		return nil, tensor.Errorf(tensor.ErrUnsupported, t.File, t.Name, -1, "%v", err)
	}
	return &Plan{Tensor: t, From: from, To: to, Casting: opt.Casting,
		Lossy: !dtype.IsSafe(from.Type, to.Type), kernel: k,
		copyOK: from.Equal(to) && !t.Fortran}, nil
}

// Result describes a finished conversion.
type Result struct {
	From, To  dtype.DType
	Shape     dtype.Shape
	InBytes   int64 // input data bytes read
	OutBytes  int64 // output data bytes written
	Blocks    int64
	Stats     cast.Stats // what a lossy cast met
	CRCVerify bool       // an input checksum was verified
	Resumed   int64      // blocks an interrupted run had already written
}

// Convert writes tensor t to a .npy file at out.
func Convert(ctx context.Context, t *tensor.Tensor, out string, opt Options) (Result, error) {
	p, err := NewPlan(t, opt)
	if err != nil {
		return Result{}, err
	}
	return p.Run(ctx, out, opt)
}

// Run carries out the plan, writing out. Unless Options.CheckpointBytes
// is negative it keeps a journal beside the output (JournalPath) so that
// an interrupted run can be resumed: on cancellation the partial output
// and journal are kept and ErrInterrupted is returned; a later Run with
// Options.Resume continues from the last checkpoint.
func (p *Plan) Run(ctx context.Context, out string, opt Options) (Result, error) {
	if p.Tensor.Stream != nil {
		return p.runStream(ctx, out, opt)
	}
	t := p.Tensor
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	bs := opt.BlockSize
	if bs <= 0 {
		bs = DefaultBlockSize(workers)
	}
	inBytes, err := t.Shape.NumBytes(p.From.Size())
	if err != nil {
		return Result{}, err
	}
	// Outputs no larger than one checkpoint keep no journal: resuming
	// them would save nothing.
	outBytes, err := t.Shape.NumBytes(p.To.Size())
	if err != nil {
		return Result{}, err
	}
	journaling := opt.CheckpointBytes >= 0 && outBytes > cmp.Or(opt.CheckpointBytes, DefaultCheckpointBytes)
	verify := t.CRC32C != nil && !opt.NoVerify
	jpath := JournalPath(out)
	// Decide about a journal left by an interrupted run before touching
	// its partial output, so that a refused resume loses nothing.
	var old *journal
	if journaling {
		if old, err = findJournal(out, jpath, opt); err != nil {
			return Result{}, err
		}
		if old != nil && opt.BlockSize <= 0 {
			bs = old.BlockSize // resume with the interrupted run's blocks
		}
	} else {
		os.Remove(jpath)
	}
	src := *t
	src.DType = p.From
	sl, err := slicer.New(&src, slicer.Options{BlockSize: bs, OutItemSize: p.To.Size()})
	if err != nil {
		return Result{}, err
	}
	res := Result{From: p.From, To: p.To, Shape: t.Shape.Clone(), InBytes: inBytes, OutBytes: outBytes, Blocks: sl.Len()}
	var jr *journal
	if journaling {
		sample, err := sampleHash(t, inBytes)
		if err != nil {
			return res, err
		}
		jr = &journal{Version: journalVersion, Output: filepath.Base(out), Tensor: t.Name, Source: t.File,
			Input: opt.Identity, Sample: sample, From: p.From.String(), To: p.To.String(), Shape: t.Shape.Clone(),
			Fortran: t.Fortran, BlockSize: bs, Blocks: sl.Len(), Verify: verify}
		if old != nil {
			if m := old.mismatch(jr); m != "" {
				return res, fmt.Errorf("%w %s: %s; %s is kept (restart to discard it)", ErrResume, out, m, jpath)
			}
		}
	}
	w, err := mmapnpy.Create(out, p.To, t.Shape, mmapnpy.Options{FlushWindows: opt.FlushWindows, Keep: old != nil})
	if err != nil {
		return res, err
	}
	if old != nil && w.Reused() {
		jr.Done, jr.CRC, jr.Stats = old.Done, old.CRC, old.Stats
		res.Resumed = old.Done
	} else {
		old = nil // the partial file was not this output's: start over
	}
	first := jr.startBlock()

	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		done     atomic.Int64
		firstErr error
		errOnce  sync.Once
		progMu   sync.Mutex
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	next.Store(first)
	if first > 0 {
		done.Store(sl.Block(first-1).Off + sl.Block(first-1).Len)
	}
	ck := newCheckpointer(w, jr, jpath, sl, opt)
	ck.start(fail)
	inItem, outItem := int64(p.From.Size()), int64(p.To.Size())
	workers = int(min(int64(workers), max(sl.Len()-first, 1)))
	mode := opt.Write
	if mode == WriteAuto {
		// pwrite in 1 MiB pieces (mmapnpy.WriteAt) measured fastest for
		// every case, widening casts and plain copies included, once
		// the pieces were small; a plain copy of a file range uses
		// copy_file_range when it applies (below).
		mode = WritePwrite
	}
	// Same dtype from one contiguous range of a file, nothing to verify:
	// the kernel can copy it (copy_file_range) without mapping.
	var rangeSrc *os.File
	var rangeOff int64
	var noRange atomic.Bool
	if p.copyOK && !verify && t.Contiguous && opt.Write != WriteMapped {
		if sr, ok := t.Data.(*io.SectionReader); ok {
			if r, off, _ := sr.Outer(); r != nil {
				rangeSrc, _ = r.(*os.File)
				rangeOff = off
			}
		}
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf, obuf []byte
			if !p.copyOK {
				buf = make([]byte, sl.MaxElems()*inItem)
			}
			// fill converts block b into dst.
			fill := func(b slicer.Block, dst []byte, sum *blockSum) error {
				if p.copyOK {
					if err := sl.ReadBlock(b, dst); err != nil {
						return err
					}
					if verify {
						sum.crc = crc32c.Checksum(dst)
					}
					return nil
				}
				in := buf[:b.Len]
				if err := sl.ReadBlock(b, in); err != nil {
					return err
				}
				if verify {
					sum.crc = crc32c.Checksum(in)
				}
				p.kernel(dst, in, &sum.stats)
				return nil
			}
			for {
				i := next.Add(1) - 1
				if i >= sl.Len() || ctx.Err() != nil {
					return
				}
				if testhook.BeforeBlock != nil {
					testhook.BeforeBlock(i, sl.Len())
				}
				b := sl.Block(i)
				sum := blockSum{len: b.Len}
				off, n := b.Elem0*outItem, b.Elems*outItem
				var err error
				switch {
				case rangeSrc != nil && !noRange.Load():
					err = w.CopyFrom(rangeSrc, rangeOff+b.Off, off, n)
					if errors.Is(err, mmapnpy.ErrNoCopyRange) {
						noRange.Store(true)
						err = w.Write(off, n, func(dst []byte) error { return fill(b, dst, &sum) })
					} else if errors.Is(err, io.ErrUnexpectedEOF) {
						err = tensor.Errorf(tensor.ErrCorrupt, t.File, t.Name, t.Offset+b.Off, "block %d: %v (truncated file?)", i, err)
					}
				case mode == WritePwrite:
					if obuf == nil {
						obuf = make([]byte, sl.MaxElems()*outItem)
					}
					if err = fill(b, obuf[:n], &sum); err == nil {
						err = w.WriteAt(obuf[:n], off)
					}
				default:
					err = w.Write(off, n, func(dst []byte) error { return fill(b, dst, &sum) })
				}
				if err != nil {
					var te *tensor.Error
					if !errors.As(err, &te) {
						err = tensor.Errorf(err, t.File, t.Name, t.Offset+b.Off, "block %d", i)
					}
					fail(err)
					return
				}
				ck.blockDone(i, sum, b.Elems*outItem)
				d := done.Add(b.Len)
				if opt.Progress != nil {
					progMu.Lock()
					opt.Progress(d, inBytes)
					progMu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	ck.stop()
	res.Stats = ck.stats
	if firstErr == nil {
		firstErr = ck.err
	}
	if firstErr == nil && parent.Err() != nil {
		// Cancelled: keep what is durable for a resumed run.
		if !journaling {
			w.Abort()
			return res, parent.Err()
		}
		err := ck.checkpoint()
		if rerr := w.Release(); err == nil {
			err = rerr
		}
		if err != nil {
			w.Abort()
			os.Remove(jpath)
			return res, fmt.Errorf("%w; the partial output could not be kept: %v", parent.Err(), err)
		}
		return res, &InterruptedError{Err: parent.Err(), Output: out, Partial: w.TempPath(), Journal: jpath, Done: ck.done, Blocks: sl.Len()}
	}
	if firstErr == nil && sl.Len() == 0 && opt.Progress != nil {
		opt.Progress(0, 0)
	}
	if firstErr == nil && verify {
		if got := ck.crc; got != *t.CRC32C {
			firstErr = tensor.Errorf(tensor.ErrChecksum, t.File, t.Name, t.Offset,
				"crc32c of %d data bytes is %#08x, expected %#08x (masked %#08x); the file is damaged (--no-verify skips this check)",
				inBytes, got, *t.CRC32C, crc32c.Mask(*t.CRC32C))
		}
		res.CRCVerify = true
	}
	if firstErr != nil {
		w.Abort()
		os.Remove(jpath)
		return res, firstErr
	}
	if journaling {
		// Record the finished state, so that a crash during the rename
		// costs a resumed run nothing but the rename.
		if err := ck.checkpoint(); err != nil {
			w.Abort()
			os.Remove(jpath)
			return res, err
		}
		if testhook.BeforeCommit != nil {
			testhook.BeforeCommit()
		}
	}
	if err := w.Commit(); err != nil {
		os.Remove(jpath)
		return res, err
	}
	if journaling {
		if testhook.AfterCommit != nil {
			testhook.AfterCommit()
		}
		os.Remove(jpath)
	}
	return res, nil
}

// InterruptedError reports a cancelled run whose work is kept. It
// matches ErrInterrupted and the context's error with errors.Is.
type InterruptedError struct {
	Err     error // the context's error
	Output  string
	Partial string // the partial output file, kept
	Journal string
	Done    int64 // blocks durably written
	Blocks  int64
}

func (e *InterruptedError) Error() string {
	return fmt.Sprintf("interrupted: %d of %d blocks of %s are kept in %s (journal %s)",
		e.Done, e.Blocks, e.Output, e.Partial, e.Journal)
}

func (e *InterruptedError) Unwrap() []error { return []error{ErrInterrupted, e.Err} }
