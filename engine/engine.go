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
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/bigconv/bigconv/cast"
	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/crc32c"
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
	// Progress, if set, is called after each block with the input bytes
	// done and the total (-1 when unknown). Calls are serialised.
	Progress func(done, total int64)
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
}

// Convert writes tensor t to a .npy file at out.
func Convert(ctx context.Context, t *tensor.Tensor, out string, opt Options) (Result, error) {
	p, err := NewPlan(t, opt)
	if err != nil {
		return Result{}, err
	}
	return p.Run(ctx, out, opt)
}

// Run carries out the plan, writing out.
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
	src := *t
	src.DType = p.From
	sl, err := slicer.New(&src, slicer.Options{BlockSize: bs, OutItemSize: p.To.Size()})
	if err != nil {
		return Result{}, err
	}
	inBytes, err := t.Shape.NumBytes(p.From.Size())
	if err != nil {
		return Result{}, err
	}
	w, err := mmapnpy.Create(out, p.To, t.Shape, mmapnpy.Options{FlushWindows: opt.FlushWindows})
	if err != nil {
		return Result{}, err
	}
	res := Result{From: p.From, To: p.To, Shape: t.Shape.Clone(), InBytes: inBytes, OutBytes: w.DataLen(), Blocks: sl.Len()}

	verify := t.CRC32C != nil && !opt.NoVerify
	var crcs []uint32
	if verify {
		crcs = make([]uint32, sl.Len())
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		done     atomic.Int64
		firstErr error
		errOnce  sync.Once
		statsMu  sync.Mutex
		progMu   sync.Mutex
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	inItem, outItem := int64(p.From.Size()), int64(p.To.Size())
	workers = int(min(int64(workers), max(sl.Len(), 1)))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			if !p.copyOK {
				buf = make([]byte, sl.MaxElems()*inItem)
			}
			var st cast.Stats
			defer func() {
				statsMu.Lock()
				res.Stats.Add(st)
				statsMu.Unlock()
			}()
			for {
				i := next.Add(1) - 1
				if i >= sl.Len() || ctx.Err() != nil {
					return
				}
				b := sl.Block(i)
				err := w.Write(b.Elem0*outItem, b.Elems*outItem, func(dst []byte) error {
					if p.copyOK {
						if err := sl.ReadBlock(b, dst); err != nil {
							return err
						}
						if verify {
							crcs[i] = crc32c.Checksum(dst)
						}
						return nil
					}
					in := buf[:b.Len]
					if err := sl.ReadBlock(b, in); err != nil {
						return err
					}
					if verify {
						crcs[i] = crc32c.Checksum(in)
					}
					p.kernel(dst, in, &st)
					return nil
				})
				if err != nil {
					var te *tensor.Error
					if !errors.As(err, &te) {
						err = tensor.Errorf(err, t.File, t.Name, t.Offset+b.Off, "block %d", i)
					}
					fail(err)
					return
				}
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
	if firstErr == nil {
		firstErr = ctx.Err()
		if firstErr == nil && sl.Len() == 0 && opt.Progress != nil {
			opt.Progress(0, 0)
		}
	}
	if firstErr == nil && verify {
		got := uint32(0)
		for i := int64(0); i < sl.Len(); i++ {
			b := sl.Block(i)
			if i == 0 {
				got = crcs[0]
			} else {
				got = crc32c.Combine(got, crcs[i], b.Len)
			}
		}
		if sl.Len() == 0 {
			got = crc32c.Checksum(nil)
		}
		if got != *t.CRC32C {
			firstErr = tensor.Errorf(tensor.ErrChecksum, t.File, t.Name, t.Offset,
				"crc32c of %d data bytes is %#08x, expected %#08x (masked %#08x); the file is damaged (--no-verify skips this check)",
				inBytes, got, *t.CRC32C, crc32c.Mask(*t.CRC32C))
		}
		res.CRCVerify = true
	}
	if firstErr != nil {
		w.Abort()
		return res, firstErr
	}
	if err := w.Commit(); err != nil {
		return res, err
	}
	return res, nil
}
