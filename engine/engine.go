// Package engine converts tensors into .npy files. For one tensor it
// plans the target dtype and checks the cast against the casting policy,
// cuts the tensor into blocks (slicer), converts each block on a pool of
// workers (cast) into a reused buffer written to the output with pwrite
// in 1 MiB pieces (mmapnpy; plain copies of a file range go through
// copy_file_range, and Options.Write = WriteMapped converts into mapped
// windows instead), verifies the input's checksum while streaming,
// reports progress, keeps a resume journal, and honours cancellation.
// Nothing ever holds the whole tensor: memory is a few blocks per worker
// whatever the tensor size.
//
//	res, err := engine.Convert(ctx, t, "out.npy", engine.Options{
//		DType:    dtype.MustParse("float32"),
//		Progress: func(done, total int64) { ... },
//	})
//
// For a whole input opened with format.OpenPath, ConvertInput writes one
// .npy file or a directory of them with manifest.json (ConvertDir),
// resumable like a single tensor:
//
//	in, err := format.OpenPath("model.ckpt-100", format.Options{})
//	sum, err := engine.ConvertDir(ctx, in, "out", engine.InputOptions{Options: engine.Options{Resume: true}})
//
// On any error the output path is left untouched: the partial file is
// removed; on cancellation it is kept for a resumed run when a journal
// was kept.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

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

	// CheckpointBytes and CheckpointEvery set the cadence of the resume
	// journal's checkpoints (each an fsync of the output, then a journal
	// update): a checkpoint is taken once at least CheckpointBytes of
	// output and CheckpointEvery of work have passed since the last one
	// (or the start), whichever comes later. Set one alone and only it
	// counts; leave both zero for the default, DefaultCheckpointBytes
	// and DefaultCheckpointEvery, so that a run shorter than 10 s takes
	// no checkpoint at all. After a SIGKILL, a resumed run redoes at
	// most one interval (plus the blocks that were in flight).
	//
	// Outputs no larger than the byte interval, and every output when
	// CheckpointBytes is negative or NoSync is set, keep no journal: a
	// cancelled run removes them. A journal an interrupted run left is
	// honoured whatever these settings: the cadence is no part of what
	// is resumed.
	CheckpointBytes int64
	CheckpointEvery time.Duration
	// NoSync skips every fsync, at checkpoints and at commit, for
	// scratch outputs: the rename still makes the output appear whole to
	// readers, but after a power cut it may be lost. Such a run keeps no
	// resume journal (a journal over data that was never synced could
	// claim blocks a power cut lost), so it cannot be combined with
	// Resume, and an interrupted run removes its partial output.
	NoSync bool
	// Resume continues an interrupted run of the same conversion from its
	// journal. Without it, a journal left by an interrupted run makes Run
	// fail with ErrPending rather than silently reuse or discard it.
	Resume bool
	// Restart discards a journal left by an interrupted run.
	Restart bool
	// Replace removes a file already at a .npy output path before the new
	// output is reserved, instead of keeping it whole until the new one is
	// complete (mmapnpy.Options.Replace): a replacement then fits on a disk
	// that holds only one copy, and the old file is gone if the run fails.
	// Directory outputs are always built beside the old one and swapped.
	Replace bool
	// Identity names the input files' identity (sizes, modification
	// times, header hashes) as the caller sees them; a resumed run
	// refuses when it differs. Run adds a hash of the data's edges.
	Identity string
	// identityOf computes Identity when a run creates its journal, if
	// Identity is "" (StackInputs: runs that keep no journal, such as
	// --no-sync ones, then never read and hash thousands of headers).
	identityOf func() string
	// PartsAtOnce lets the parts of one conversion (RunPart,
	// RunPartStack) that run on the same CPUs of one host convert at
	// the same time. By default they take turns (part.Turn): each
	// converts with all its workers while the others wait, and makes
	// its bytes durable while the next converts. It is no part of a
	// part's identity: parts may mix the two.
	PartsAtOnce bool

	// deferSync: the caller (a directory run) fsyncs the committed
	// file and its directory itself (mmapnpy.Options.DeferSync).
	deferSync bool
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
	// WriteDirect converts into a reused buffer and pwrites it past the
	// page cache (O_DIRECT, mmapnpy.Options.Direct), plain copies
	// included (read into the buffer): only each block's unaligned edges
	// are cached, and the disk takes each block as it is written. A file
	// system that refuses O_DIRECT gets WritePwrite; .npz outputs,
	// one-pass streams and parts ignore it.
	WriteDirect
)

// ParseWriteMode reads "auto", "mmap", "pwrite" or "direct".
func ParseWriteMode(s string) (WriteMode, error) {
	switch s {
	case "", "auto":
		return WriteAuto, nil
	case "mmap":
		return WriteMapped, nil
	case "pwrite":
		return WritePwrite, nil
	case "direct":
		return WriteDirect, nil
	}
	return 0, fmt.Errorf("write mode %q: want auto, mmap, pwrite or direct", s)
}

// directFrom is the output size from which WriteAuto writes past the
// page cache (WriteDirect), synced or not: the
// kernel's dirty limit (vm.dirty_bytes, or vm.dirty_ratio of
// MemAvailable), past which it throttles writers to the pace of
// writeback, so that the page cache no longer absorbs the output and
// only costs the pages' allocation and reclaim. Measured on this 24 GiB
// VM (limit about 4.6 GiB; docs/benchmarks.md, session 9), same rounds,
// whole runs: outputs of 8 GiB and more (copies, byte swaps, Fortran,
// TF checkpoints, TFRecords, a torch file, a stack) took 0.48–0.83× as
// long written direct as through the page cache (a later run on the
// final rule: 0.59–0.93×), bfloat16 → float32 (16 GiB) tied; 4 GiB outputs (narrowing casts of 8 GiB) took
// 1.18–1.55× as long direct; at 1 GiB a test copy was 10–20 % slower
// direct. Outputs not synced (NoSync) go direct too since session 13: in
// one 8 GiB bench run, durable direct runs took 0.29–0.98× the time of
// --no-sync runs through the page cache in 9 of the 10 cases with outputs
// of about 8 GiB or more (the .pt case 1.09×), and an 8 GiB Fortran → C
// with --no-sync took 5.9 s direct against 17.4 s through the page cache
// (22–26 s of system time); bfloat16 → float32 (16 GiB out) went the
// other way in one A/B, 10.3 s direct against 8.4 s.
// A variable for tests.
var directFrom = dirtyLimit

// dirtyLimit reads the kernel's dirty limit in bytes; it returns
// math.MaxInt64 when it cannot (never direct).
func dirtyLimit() int64 {
	if n := readInt("/proc/sys/vm/dirty_bytes"); n > 0 {
		return n
	}
	ratio := readInt("/proc/sys/vm/dirty_ratio")
	avail := memAvailable()
	if ratio <= 0 || avail <= 0 {
		return math.MaxInt64
	}
	return avail / 100 * ratio
}

func readInt(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// memAvailable is /proc/meminfo's MemAvailable in bytes, or -1.
func memAvailable() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			if kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64); err == nil {
				return kb << 10
			}
		}
	}
	return -1
}

// writeDirect reports whether an output of outBytes is written past the
// page cache under opt: WriteDirect asks for it; WriteAuto picks it for
// an output past the kernel's dirty limit (directFrom).
func writeDirect(opt Options, outBytes int64) bool {
	switch opt.Write {
	case WriteDirect:
		return true
	case WriteAuto:
		return !opt.FlushWindows && outBytes >= directFrom()
	}
	return false
}

// CopyBlockSize is the block size of a plain copy the kernel makes
// (copy_file_range: same dtype, a contiguous range of a file, nothing to
// verify, input and output on one file system) when no block size is
// given. Such a block costs no memory, so it can be larger than
// DefaultBlockSize: one copy_file_range call per 64 MiB instead of per
// 8 MiB, while progress still moves every 64 MiB, a cancellation waits
// for at most one 64 MiB copy per worker, and a journal's granularity
// stays far below a checkpoint interval. Unless Options.Workers is set,
// such a copy also runs as one stream (one worker): in the page cache a
// second worker bought nothing but CPU (1 GiB: 1.06 s with two, 1.10 s
// with one, 0.69 against 0.54 CPU seconds, medians of 9); from disk
// single rounds disagreed (28 GiB: 83.2 s with two against 58.7 s with
// one, later 46.3 s against 51.2 s; docs/benchmarks.md).
const CopyBlockSize = 64 << 20

// MemoryBudget is the memory the default block size aims to stay within
// with every worker busy (an input buffer and an output window each).
const MemoryBudget = 32 << 20

// DefaultBlockSize is the block size used for a number of workers: the
// memory budget shared out, between 1 MiB and 8 MiB.
func DefaultBlockSize(workers int) int64 {
	bs := int64(MemoryBudget) / int64(2*max(workers, 1))
	return min(max(bs, 1<<20), 8<<20)
}

// DirectMemoryBudget is the memory the block size of a run that writes
// past the page cache (WriteDirect) aims to stay within, every worker's
// input and output buffers together. It is larger than MemoryBudget
// because each worker's output buffer is what the disk has in flight:
// an 8 GiB copy in two workers' blocks of 8 MiB took 8.6–11.8 s, of
// 16 MiB 7.7–9.4 s, of 32 MiB 6.7–7.1 s, of 64 MiB 6.3–6.5 s (session 9,
// one process at a time), and peak RSS is to stay under 64 MiB.
const DirectMemoryBudget = 48 << 20

// inputIdentity is Identity, or, when that is "", what identityOf
// computes.
func (opt Options) inputIdentity() string {
	if opt.Identity == "" && opt.identityOf != nil {
		return opt.identityOf()
	}
	return opt.Identity
}

// withIdentity adds suffix to the identity, computed now or later.
func (opt Options) withIdentity(suffix string) Options {
	if of := opt.identityOf; opt.Identity == "" && of != nil {
		opt.identityOf = func() string { return of() + suffix }
	} else {
		opt.Identity += suffix
	}
	return opt
}

// workers is the number of workers of a run: Options.Workers, else one
// per CPU, or two per CPU for a run that writes past the page cache
// (direct), since each waits for the disk to take its block (an 8 GiB
// copy on two CPUs: 9.2–9.6 s with two workers, 7.9–10.2 s with four,
// 7.5–9.5 s with eight; same memory budget).
func (opt Options) workers(direct bool) int {
	switch {
	case opt.Workers > 0:
		return opt.Workers
	case direct:
		return 2 * runtime.GOMAXPROCS(0)
	}
	return runtime.GOMAXPROCS(0)
}

// capWorkers keeps a direct run that resumes with the interrupted run's
// block size bs (chosen, perhaps, for a kernel copy of 64 MiB blocks)
// within DirectMemoryBudget, an input and an output buffer per worker,
// unless Options.Workers asked for a number.
func (opt Options) capWorkers(workers int, bs int64, direct bool) int {
	if !direct || opt.Workers > 0 || bs <= 0 {
		return workers
	}
	return int(max(min(int64(workers), DirectMemoryBudget/(2*bs)), 1))
}

// directBlockSize shares DirectMemoryBudget out among workers, each
// holding an input buffer of inItem-sized items and an output buffer of
// outItem-sized ones (only the output for a copy, noCast), as the
// slicer counts a block: in bytes of the larger item.
func directBlockSize(workers, inItem, outItem int, noCast bool) int64 {
	per := int64(DirectMemoryBudget) / int64(max(workers, 1))
	if !noCast {
		per = per * int64(max(inItem, outItem, 1)) / int64(max(inItem+outItem, 1))
	}
	return max(per, 1<<20) &^ (mmapnpy.DirectAlign - 1)
}

// Plan is a resolved conversion: source and target types, and the kernel.
type Plan struct {
	Tensor  *tensor.Tensor
	From    dtype.DType // source dtype as read (after RawBits reinterpretation)
	To      dtype.DType
	Casting dtype.Casting
	Lossy   bool // the cast is not safe: values may change
	kernel  cast.Kernel
	noCast  bool // the bytes are the output's: blocks are read straight into it (a Fortran gather too)
	copyOK  bool // noCast, and stored in C order: the kernel may copy file ranges
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
		case dtype.Float8E4M3FN, dtype.Float8E5M2, dtype.Float8E4M3FNUZ, dtype.Float8E5M2FNUZ:
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
		noCast: from.Equal(to), copyOK: from.Equal(to) && !t.Fortran}, nil
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
	// Checkpoints is how many resume checkpoints this run took (each an
	// fsync and a journal update), the one before the final rename
	// included.
	Checkpoints int
	// DirectBytes is how many output bytes were written past the page
	// cache (WriteDirect).
	DirectBytes int64
	// DirectReadBytes is how many input bytes were read past the page
	// cache: blocks of an input file that were not cached (inDirect).
	DirectReadBytes int64
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
// and journal are kept and ErrInterrupted is returned (a run cancelled
// before it recorded any block keeps nothing and returns the context's
// error); a later Run with
// Options.Resume continues from the last checkpoint. A journal left by
// an interrupted run is honoured whatever this run's checkpoint settings
// (they are no part of what is resumed): continued with Resume,
// discarded with Restart, otherwise reported (ErrPending).
func (p *Plan) Run(ctx context.Context, out string, opt Options) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err // nothing reserved, nothing to keep
	}
	if p.Tensor.Stream != nil {
		return p.runStream(ctx, out, opt)
	}
	r, err := p.plan(out, opt)
	if err != nil {
		return Result{}, err
	}
	if err := r.resume(); err != nil {
		return r.res, err
	}
	if err := r.openOutput(); err != nil {
		return r.res, err
	}
	err = r.streamBlocks(ctx)
	if err == nil && ctx.Err() != nil {
		return r.res, r.interrupted(ctx.Err())
	}
	if err == nil {
		err = r.verify()
	}
	if err != nil {
		r.w.Abort()
		os.Remove(r.jpath)
		return r.res, err
	}
	return r.res, r.commit()
}

// run is one Plan.Run in progress.
type run struct {
	p       *Plan
	opt     Options
	out     string
	jpath   string
	workers int
	bs      int64
	inBytes int64
	// journaling: keep a resume journal (outputs larger than a
	// checkpoint, or one an interrupted run left a journal for).
	journaling  bool
	leftJournal bool // a journal was found beside the output
	verifyCRC   bool
	direct      bool     // write past the page cache (writeDirect)
	old         *journal // the interrupted run's journal, if continued
	sl          *slicer.Slicer
	jr          *journal // this run's journal (nil without journaling)
	w           *mmapnpy.Writer
	ck          *checkpointer
	res         Result
}

// plan sizes the run: workers, block size, whether to journal.
func (p *Plan) plan(out string, opt Options) (*run, error) {
	t := p.Tensor
	r := &run{p: p, opt: opt, out: out, jpath: JournalPath(out), bs: opt.BlockSize}
	r.verifyCRC = t.CRC32C != nil && !opt.NoVerify
	outBytes, err := t.Shape.NumBytes(p.To.Size())
	if err != nil {
		return nil, err
	}
	r.direct = writeDirect(opt, outBytes)
	r.workers = opt.workers(r.direct)
	if f, _ := r.copyRange(); f != nil && sameFS(f, filepath.Dir(out)) {
		// A plain copy the kernel makes: large blocks, and one stream
		// unless workers are asked for (CopyBlockSize).
		if opt.Workers <= 0 {
			r.workers = 1
		}
		if r.bs <= 0 {
			r.bs = CopyBlockSize
		}
	}
	if r.bs <= 0 && r.direct {
		r.bs = directBlockSize(r.workers, p.From.Size(), p.To.Size(), p.noCast)
	}
	if r.bs <= 0 {
		r.bs = DefaultBlockSize(r.workers)
	}
	if r.inBytes, err = t.Shape.NumBytes(p.From.Size()); err != nil {
		return nil, err
	}
	if opt.NoSync && opt.Resume {
		return nil, ErrNoSyncResume
	}
	// Outputs no larger than one checkpoint keep no journal (resuming
	// them would save nothing), unless an interrupted run left one; nor
	// do runs without fsync.
	_, jerr := os.Stat(r.jpath)
	r.leftJournal = jerr == nil
	bytes, _ := opt.cadence()
	r.journaling = !opt.NoSync && (opt.CheckpointBytes >= 0 && outBytes > bytes || r.leftJournal)
	r.res = Result{From: p.From, To: p.To, Shape: t.Shape.Clone(), InBytes: r.inBytes, OutBytes: outBytes}
	return r, nil
}

// resume decides about a journal left by an interrupted run before its
// partial output is touched, so that a refused resume loses nothing,
// then cuts the tensor into blocks (the interrupted run's, unless a block
// size is given) and starts this run's journal.
func (r *run) resume() error {
	t, p := r.p.Tensor, r.p
	var err error
	if r.journaling {
		if r.old, err = findJournal(r.out, r.jpath, r.opt); err != nil {
			return err
		}
		if r.old != nil && r.opt.BlockSize <= 0 {
			r.bs = r.old.BlockSize // resume with the interrupted run's blocks
			r.workers = r.opt.capWorkers(r.workers, r.bs, r.direct)
		}
	} else if r.leftJournal {
		// A run without a journal of its own (NoSync) still reports
		// the work an interrupted run left, or discards it on Restart.
		if _, err := findJournal(r.out, r.jpath, r.opt); err != nil {
			return err
		}
	}
	src := *t
	src.DType = p.From
	if r.sl, err = slicer.New(&src, slicer.Options{BlockSize: r.bs, OutItemSize: p.To.Size()}); err != nil {
		return err
	}
	r.res.Blocks = r.sl.Len()
	if !r.journaling {
		return nil
	}
	sample, err := sampleHash(t, r.inBytes)
	if err != nil {
		return err
	}
	r.jr = &journal{Version: journalVersion, Output: filepath.Base(r.out), Tensor: t.Name, Source: t.File,
		Input: r.opt.inputIdentity(), Sample: sample, From: p.From.String(), To: p.To.String(), Shape: t.Shape.Clone(),
		Fortran: t.Fortran, BlockSize: r.bs, Blocks: r.sl.Len(), Verify: r.verifyCRC}
	if r.old != nil {
		if m := r.old.mismatch(r.jr); m != "" {
			return fmt.Errorf("%w %s: %s; %s is kept (restart to discard it)", ErrResume, r.out, m, r.jpath)
		}
	}
	return nil
}

// openOutput creates the output (reusing the partial file of the run
// being continued) and the checkpointer.
func (r *run) openOutput() error {
	var err error
	r.w, err = mmapnpy.Create(r.out, r.p.To, r.p.Tensor.Shape, mmapnpy.Options{FlushWindows: r.opt.FlushWindows,
		Keep: r.old != nil, Replace: r.opt.Replace, NoSync: r.opt.NoSync, DeferSync: r.opt.deferSync, Direct: r.direct})
	if err != nil {
		return err
	}
	if r.old != nil && r.w.Reused() {
		r.jr.Done, r.jr.CRC, r.jr.Stats = r.old.Done, r.old.CRC, r.old.Stats
		r.res.Resumed = r.old.Done
	} else {
		// The partial file was not this output's: start over, and drop
		// the journal that described it, which this run may not
		// overwrite before it ends (a short run takes no checkpoint).
		r.old = nil
		os.Remove(r.jpath)
	}
	r.ck = newCheckpointer(r.w, r.jr, r.jpath, r.sl, r.opt)
	return nil
}

// streamBlocks converts the blocks not yet written on a pool of workers,
// checkpointing in the background. It returns the first error; a
// cancelled ctx is not one (the caller looks at ctx).
func (r *run) streamBlocks(ctx context.Context) error {
	first := r.jr.startBlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	pool := &blockPool{run: r, ctx: ctx, fail: fail}
	pool.next.Store(first)
	if first > 0 {
		pool.done.Store(r.sl.Block(first-1).Off + r.sl.Block(first-1).Len)
	}
	pool.rangeSrc, pool.rangeOff = r.copyRange()
	pool.src, pool.srcOff = r.inputRange()
	if src, off := pool.src, pool.srcOff; src != nil {
		// Tell the kernel the input is read once, front to back, as cp
		// does: a larger readahead. From disk (28 GiB copy, one round)
		// 52.95 s with it, 76.24 s without, cp+sync 41.02 s. Since
		// session 9 every contiguous file input is advised so (a copy
		// written direct reads into memory); not measured apart.
		unix.Fadvise(int(src.Fd()), off, r.inBytes, unix.FADV_SEQUENTIAL)
	}
	if r.direct {
		// A run that writes past the page cache reads past it too where
		// its input is not cached (inDirect).
		pool.din = openInDirect(pool.src, pool.srcOff)
		defer pool.din.close()
	}
	pool.noRange.Store(refuseCopyRange)
	pool.mode = r.opt.Write
	if pool.mode == WriteAuto || pool.mode == WriteDirect {
		// pwrite in 1 MiB pieces (mmapnpy.WriteAt) measured fastest for
		// every case, widening casts and plain copies included, once
		// the pieces were small; a plain copy of a file range uses
		// copy_file_range when it applies (copyRange).
		pool.mode = WritePwrite
	}
	r.ck.start(fail)
	for range int(min(int64(r.workers), max(r.sl.Len()-first, 1))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pool.work()
		}()
	}
	wg.Wait()
	r.ck.stop()
	r.res.Stats, r.res.Checkpoints = r.ck.stats, r.ck.taken
	r.res.DirectReadBytes = pool.din.bytes()
	if firstErr == nil {
		firstErr = r.ck.err
	}
	if firstErr == nil && r.sl.Len() == 0 && r.opt.Progress != nil {
		r.opt.Progress(0, 0)
	}
	return firstErr
}

// copyRange is the file and offset the kernel can copy the tensor from
// (copy_file_range): same dtype, one contiguous range of a file, nothing
// to verify, neither mapped windows nor direct writes (which the kernel's
// copy would bypass) asked for.
func (r *run) copyRange() (*os.File, int64) {
	if !r.p.copyOK || r.verifyCRC || r.opt.Write == WriteMapped || r.direct {
		return nil, 0
	}
	return r.inputRange()
}

// inputRange is the file and offset of the tensor's bytes when they are
// one contiguous C-order range of a file that holds all of them
// (tensorRange), else nil.
func (r *run) inputRange() (*os.File, int64) { return tensorRange(r.p.Tensor) }

// refuseCopyRange makes every run behave as if copy_file_range were
// refused (tests of the fallback).
var refuseCopyRange bool

// sameFS reports whether file f and directory dir are on one file system,
// where copy_file_range never refuses (EXDEV).
func sameFS(f *os.File, dir string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(dir)
	if err != nil {
		return false
	}
	sa, ok1 := a.Sys().(*syscall.Stat_t)
	sb, ok2 := b.Sys().(*syscall.Stat_t)
	return ok1 && ok2 && sa.Dev == sb.Dev
}

// interrupted keeps what is durable for a resumed run (keepJournaled).
func (r *run) interrupted(cause error) error {
	return keepJournaled(cause, r.w, r.ck, r.out, r.jpath, r.journaling, r.old != nil, r.sl.Len())
}

// keepJournaled is the interrupted step of Plan.Run and StackPlan.Run:
// it records what is durable and keeps the partial output for a resumed
// run (*InterruptedError), or removes it when the run keeps no journal,
// or recorded nothing and continued no earlier run (stopped before its
// first block was finished, or inside its only stream), or could not
// keep it.
func keepJournaled(cause error, w *mmapnpy.Writer, ck *checkpointer, out, jpath string, journaling, continued bool, blocks int64) error {
	if !journaling {
		w.Abort()
		return cause
	}
	err := ck.checkpoint()
	if err == nil && ck.taken == 0 && !continued {
		w.Abort()
		os.Remove(jpath)
		return cause
	}
	if rerr := w.Release(); err == nil {
		err = rerr
	}
	if err != nil {
		w.Abort()
		os.Remove(jpath)
		return fmt.Errorf("%w; the partial output could not be kept: %v", cause, err)
	}
	return &InterruptedError{Err: cause, Output: out, Partial: w.TempPath(), Journal: jpath, Done: ck.recorded, Blocks: blocks}
}

// verify checks the input's checksum over everything read.
func (r *run) verify() error {
	t := r.p.Tensor
	if !r.verifyCRC {
		return nil
	}
	r.res.CRCVerify = true
	if got := r.ck.crc; got != *t.CRC32C {
		return tensor.Errorf(tensor.ErrChecksum, t.File, t.Name, t.Offset,
			"crc32c of %d data bytes is %#08x, expected %#08x (masked %#08x); the file is damaged (--no-verify skips this check)",
			r.inBytes, got, *t.CRC32C, crc32c.Mask(*t.CRC32C))
	}
	return nil
}

// commit records the finished state (so that a crash during the rename
// costs a resumed run nothing but the rename), renames the output into
// place and drops the journal.
func (r *run) commit() error {
	err := commitJournaled(r.w, r.ck, r.jpath, r.journaling, r.old != nil)
	r.res.Checkpoints, r.res.DirectBytes = r.ck.taken, r.w.DirectBytes()
	return err
}

// commitJournaled commits the output w of a run with a resume journal at
// jpath (when journaling): first the finished state is recorded — only
// when a journal exists, the run continued one (resumed) or took a
// checkpoint; a run that took none has nothing to record, and a crash
// then leaves a partial file without a journal, which the next run starts
// over — so that a crash during the rename costs a resumed run nothing
// but the rename; then the rename, then the journal is dropped.
func commitJournaled(w *mmapnpy.Writer, ck *checkpointer, jpath string, journaling, resumed bool) error {
	if journaling {
		if resumed || ck.taken > 0 {
			if err := ck.checkpoint(); err != nil {
				w.Abort()
				os.Remove(jpath)
				return err
			}
		}
		if testhook.BeforeCommit != nil {
			testhook.BeforeCommit()
		}
	}
	if err := w.Commit(); err != nil {
		os.Remove(jpath)
		return err
	}
	if journaling {
		if testhook.AfterCommit != nil {
			testhook.AfterCommit()
		}
		os.Remove(jpath)
	}
	return nil
}

// blockPool hands out blocks to workers and converts them.
type blockPool struct {
	*run
	ctx      context.Context
	fail     func(error)
	next     atomic.Int64 // the next block to take
	done     atomic.Int64 // input bytes done
	progMu   sync.Mutex
	mode     WriteMode
	rangeSrc *os.File // copy_file_range source, or nil
	rangeOff int64
	noRange  atomic.Bool // copy_file_range turned out unavailable
	src      *os.File    // the input file the tensor is one range of (inputRange), or nil
	srcOff   int64
	din      *inDirect  // src read past the page cache where not cached, or nil
	wmu      sync.Mutex // writePieces' turns at the output
}

// work is one worker: it takes blocks until none are left, ctx is
// cancelled or a block fails.
func (bp *blockPool) work() {
	w := &worker{pool: bp}
	for {
		i := bp.next.Add(1) - 1
		if i >= bp.sl.Len() || bp.ctx.Err() != nil {
			return
		}
		if testhook.BeforeBlock != nil {
			testhook.BeforeBlock(i, bp.sl.Len())
		}
		b := bp.sl.Block(i)
		sum := blockSum{len: b.Len}
		if err := w.write(i, b, &sum); err != nil {
			t := bp.p.Tensor
			var te *tensor.Error
			if !errors.As(err, &te) {
				err = tensor.Errorf(err, t.File, t.Name, t.Offset+b.Off, "block %d", i)
			}
			bp.fail(err)
			return
		}
		outItem := int64(bp.p.To.Size())
		// Start the disk on this block now rather than all at the
		// final fsync (a kernel copy: without background flushes; with
		// NoSync both do nothing).
		if bp.rangeSrc != nil && !bp.noRange.Load() {
			bp.w.StartWriteBack(b.Elem0*outItem, b.Elems*outItem)
		} else {
			bp.w.WriteBack(b.Elem0*outItem, b.Elems*outItem)
		}
		bp.ck.blockDone(i, sum, b.Elems*outItem)
		d := bp.done.Add(b.Len)
		if bp.opt.Progress != nil {
			bp.progMu.Lock()
			bp.opt.Progress(d, bp.inBytes)
			bp.progMu.Unlock()
		}
	}
}

// worker holds one worker's buffers.
type worker struct {
	pool      *blockPool
	buf, oraw []byte // oraw: the output buffer's memory (mmapnpy.Writer.Buffer)
	pieces    pieceBufs
}

// write converts block i into the output by the pool's write mode.
func (w *worker) write(i int64, b slicer.Block, sum *blockSum) error {
	bp := w.pool
	outItem := int64(bp.p.To.Size())
	off, n := b.Elem0*outItem, b.Elems*outItem
	switch {
	case bp.rangeSrc != nil && !bp.noRange.Load():
		err := bp.w.CopyFrom(bp.rangeSrc, bp.rangeOff+b.Off, off, n)
		if errors.Is(err, mmapnpy.ErrNoCopyRange) {
			bp.noRange.Store(true)
			return w.copyPieces(b, sum)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			t := bp.p.Tensor
			return tensor.Errorf(tensor.ErrCorrupt, t.File, t.Name, t.Offset+b.Off, "block %d: %v (truncated file?)", i, err)
		}
		return err
	case bp.rangeSrc != nil: // copy_file_range turned out unavailable
		return w.copyPieces(b, sum)
	case bp.mode == WritePwrite && goesPiecewise(bp.p, bp.verifyCRC, bp.direct):
		return writePieces(bp.p, bp.sl, bp.src, bp.srcOff, b, bp.w, &bp.wmu, off, bp.verifyCRC, sum, &w.pieces)
	case bp.mode == WritePwrite:
		if w.oraw == nil {
			// room for an input block read direct into it too (fill)
			w.oraw = make([]byte, bp.sl.MaxElems()*outItem+3*mmapnpy.DirectAlign)
		}
		obuf := bp.w.Buffer(&w.oraw, off, n)
		if err := w.fill(b, obuf, sum); err != nil {
			return err
		}
		return bp.w.WriteAt(obuf, off)
	}
	return bp.w.Write(off, n, func(dst []byte) error { return w.fill(b, dst, sum) })
}

// copyPieces copies block b of a plain copy through mapped windows of
// at most DefaultBlockSize, so that a copy block (CopyBlockSize) whose
// copy_file_range was refused does not map more than other blocks.
func (w *worker) copyPieces(b slicer.Block, sum *blockSum) error {
	bp := w.pool
	item := int64(bp.p.To.Size())
	piece := max(DefaultBlockSize(bp.workers)/item, 1) * item
	for k := int64(0); k < b.Len; k += piece {
		m := min(piece, b.Len-k)
		sub := slicer.Block{Index: b.Index, Elem0: b.Elem0 + k/item, Elems: m / item, Off: b.Off + k, Len: m}
		if err := bp.w.Write(sub.Elem0*item, m, func(dst []byte) error { return w.fill(sub, dst, sum) }); err != nil {
			return err
		}
	}
	return nil
}

// fill converts block b into dst, summing the input for verification.
// In a run written past the page cache, a block of an input file that
// is not cached is read past it too (inDirect): a cast's into the input
// buffer, a copy's into the output buffer's memory (w.oraw, which holds
// dst) and then moved to dst, so that a copy holds no second block.
func (w *worker) fill(b slicer.Block, dst []byte, sum *blockSum) error {
	bp := w.pool
	if w.buf == nil && !bp.p.noCast {
		w.buf = make([]byte, bp.sl.MaxElems()*int64(bp.p.From.Size())+3*mmapnpy.DirectAlign)
	}
	if bp.din.fill(bp.p, b, &w.buf, &w.oraw, dst, bp.verifyCRC, sum) {
		return nil
	}
	return convertBlock(bp.p, bp.sl, b, w.buf, dst, bp.verifyCRC, sum)
}

// convertBlock reads block b of sl into buf (no cast: straight into
// dst, a Fortran gather too), takes its crc32c when verify, and converts
// it into dst with p's kernel, counting what the cast met into sum.
func convertBlock(p *Plan, sl *slicer.Slicer, b slicer.Block, buf, dst []byte, verify bool, sum *blockSum) error {
	in := dst
	if !p.noCast {
		in = buf[:b.Len]
	}
	if err := sl.ReadBlock(b, in); err != nil {
		return err
	}
	convertFrom(p, in, dst, verify, sum)
	return nil
}

// convertFrom takes in's crc32c when verify and converts it into dst
// with p's kernel (no cast: in is dst), counting what the cast met.
func convertFrom(p *Plan, in, dst []byte, verify bool, sum *blockSum) {
	if verify {
		sum.crc = crc32c.Checksum(in)
	}
	if !p.noCast {
		p.kernel(dst, in, &sum.stats)
	}
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
