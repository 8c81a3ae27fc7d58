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
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bigconv/bigconv/cast"
	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/internal/crc32c"
	"github.com/bigconv/bigconv/internal/testhook"
	"github.com/bigconv/bigconv/mmapnpy"
	"github.com/bigconv/bigconv/mmapnpz"
	"github.com/bigconv/bigconv/slicer"
	"github.com/bigconv/bigconv/tensor"
)

// IsArchivePath reports whether out names an .npz archive output.
func IsArchivePath(out string) bool { return strings.HasSuffix(strings.ToLower(out), ".npz") }

// ConvertArchive converts the selected tensors of in into one .npz
// archive out, as np.savez(out, **{name: array}) would write them: one
// stored (uncompressed) member NAME.npy per tensor, so that np.load(out)
// gives each tensor back under its own name (a tensor without a name is
// arr_I, I its place among the members, as np.savez names positional
// arrays). Tensors that cannot be converted are skipped, as ConvertDir
// skips them (Summary.Skipped, Event Skipped), unless only one was
// selected.
//
// Every member is laid out before anything is written (mmapnpz), and one
// pool of workers converts the blocks of all tensors, tensor after
// tensor, into their places: memory is a few blocks per worker whatever
// the number and size of the tensors. Progress counts the input bytes of
// all tensors; each tensor's input checksum (crc32c) is verified when its
// last block is written, and its Converted event carries its cast
// statistics. The archive appears at out only when complete.
//
// An interrupted run (cancelled ctx) of an archive larger than one
// checkpoint keeps its partial file and a journal (JournalPath(out):
// each tensor's finished blocks and the CRC-32s of the archive's data
// written so far) and returns an error matching ErrInterrupted; a run
// with opt.Resume continues it, one with opt.Restart discards it, and
// one with neither fails with ErrPending. A resume whose input, settings
// (dtype, casting, raw bits, verification, rows), selection, or a
// tensor's type, shape or data edges differ is refused (ErrResume),
// naming what changed.
func ConvertArchive(ctx context.Context, in *format.Input, out string, opt InputOptions) (Summary, error) {
	sel, err := opt.selectFrom(in)
	if err != nil {
		return Summary{}, err
	}
	if len(sel) == 0 {
		return Summary{}, fmt.Errorf("%s: no tensors to convert", in.Path)
	}
	return convertArchive(ctx, in, sel, out, opt)
}

// archiveRun is one ConvertArchive in progress.
type archiveRun struct {
	opt        InputOptions
	out        string
	jpath      string
	members    []mmapnpz.Member // the archive's arrays
	stack      *StackPlan       // a stack written as one member (its jobs the inputs), or nil
	jobs       []*archiveJob
	skips      []SkippedTensor
	workers    int
	bs         int64
	journaling bool
	old        *archiveJournal // the interrupted run's, if continued
	jr         *archiveJournal // this run's (nil without journaling)
	w          *mmapnpz.Writer
	start      time.Time

	// the blocks to write: job j's remaining blocks are numbered
	// [cum[j], cum[j+1]) in one sequence the workers take from
	cum     []int64
	next    atomic.Int64
	inTotal int64
	inDone  atomic.Int64
	progMu  sync.Mutex
	noRange atomic.Bool

	mu      sync.Mutex // guards the jobs' progress, pending and events
	pending int64      // output bytes since the last checkpoint
	ckMu    sync.Mutex // one checkpoint at a time
	kick    chan struct{}
}

// archiveJob is one tensor of the archive: a member, or the part of a
// member that one input of a stack fills.
type archiveJob struct {
	member   int
	base     int64  // byte offset of its element 0 in the member's data
	name     string // the member's array name
	t        *tensor.Tensor
	plan     *Plan
	sl       *slicer.Slicer
	verify   bool
	stream   bool  // a one-pass Stream of known shape, read by one worker as one block
	blocks   int64 // the slicer's blocks, or 1 for a stream
	inBytes  int64
	outBytes int64
	first    int64    // blocks [0, first) kept from an interrupted run
	rangeSrc *os.File // copy_file_range source, or nil
	rangeOff int64
	started  atomic.Int64 // when its first block was taken (UnixNano)

	// under archiveRun.mu
	prefix   // blocks [0, done) written, their crc32c and cast counts
	finished bool
}

func convertArchive(ctx context.Context, in *format.Input, sel []*tensor.Tensor, out string, opt InputOptions) (Summary, error) {
	if opt.Identity == "" {
		opt.Identity = in.Identity()
	}
	r := newArchiveRun(out, opt)
	if err := r.plan(sel); err != nil {
		return Summary{}, err
	}
	return r.run(ctx)
}

func newArchiveRun(out string, opt InputOptions) *archiveRun {
	return &archiveRun{opt: opt, out: out, jpath: JournalPath(out), workers: opt.Workers, bs: opt.BlockSize,
		kick: make(chan struct{}, 1), start: time.Now()}
}

// run writes the planned archive: resume, openOutput, streamBlocks,
// commit (or keep what is durable when ctx is cancelled).
func (r *archiveRun) run(ctx context.Context) (Summary, error) {
	if err := ctx.Err(); err != nil {
		return Summary{}, err // nothing reserved, nothing to keep
	}
	if err := r.resume(); err != nil {
		return Summary{}, err
	}
	if err := r.openOutput(); err != nil {
		return Summary{}, err
	}
	err := r.streamBlocks(ctx)
	if err == nil && ctx.Err() != nil {
		return Summary{}, r.interrupted(ctx.Err())
	}
	if err != nil {
		r.w.Abort()
		os.Remove(r.jpath)
		return Summary{}, err
	}
	return r.commit()
}

// plan resolves each tensor's conversion and member name; tensors that
// cannot be converted are skipped when there are others.
func (r *archiveRun) plan(sel []*tensor.Tensor) error {
	if r.workers <= 0 {
		r.workers = runtime.GOMAXPROCS(0)
	}
	names := map[string]string{}
	for _, t := range sel {
		plan, err := NewPlan(t, r.opt.Options)
		if err == nil && t.Data == nil && (len(t.Shape) == 0 || t.Shape[0] == 0) {
			err = tensor.Errorf(tensor.ErrUnsupported, t.File, t.Name, -1,
				"a one-pass stream whose row count is known only at its end cannot go into an .npz archive (members are laid out before writing); convert it to a .npy file")
		}
		if err != nil {
			if errors.Is(err, tensor.ErrUnsupported) && len(sel) > 1 {
				r.skips = append(r.skips, SkippedTensor{t.Name, oneLine(err)})
				r.event(Event{Kind: Skipped, Tensor: t, Err: err})
				continue
			}
			return err
		}
		name := t.Name
		if name == "" {
			name = fmt.Sprintf("arr_%d", len(r.jobs))
		}
		if other, dup := names[name]; dup {
			return fmt.Errorf("tensors %q and %q would both be member %s.npy of %s", other, t.Name, name, r.out)
		}
		names[name] = t.Name
		r.members = append(r.members, mmapnpz.Member{Name: name, DType: plan.To, Shape: t.Shape})
		if err := r.addJob(len(r.jobs), name, 0, plan); err != nil {
			return err
		}
	}
	if len(r.jobs) == 0 {
		return fmt.Errorf("%s: none of the %d selected tensors can be converted", r.out, len(sel))
	}
	return nil
}

// planStack makes the stack sp the archive's one member arr_0 (as
// np.savez(out, array) names a positional array), filled by one job per
// input at its segment's place; a one-pass input is a stream job, copied
// by one worker.
func (r *archiveRun) planStack(sp *StackPlan) error {
	if r.workers <= 0 {
		r.workers = runtime.GOMAXPROCS(0)
	}
	r.stack = sp
	r.members = []mmapnpz.Member{{Name: "arr_0", DType: sp.To, Shape: sp.Shape}}
	for _, s := range sp.Segments {
		if err := r.addJob(0, "arr_0", s.Elem0*int64(sp.To.Size()), s.Plan); err != nil {
			return err
		}
	}
	return nil
}

// addJob adds the job that writes plan's tensor into member (named
// name) from byte base of its data on.
func (r *archiveRun) addJob(member int, name string, base int64, plan *Plan) error {
	t := plan.Tensor
	j := &archiveJob{member: member, name: name, base: base, t: t, plan: plan,
		verify: t.CRC32C != nil && !r.opt.NoVerify, stream: t.Data == nil}
	var err error
	if j.inBytes, err = t.Shape.NumBytes(plan.From.Size()); err != nil {
		return err
	}
	if j.outBytes, err = t.Shape.NumBytes(plan.To.Size()); err != nil {
		return err
	}
	r.inTotal += j.inBytes
	r.jobs = append(r.jobs, j)
	return nil
}

// runArchive writes the stack as the one member arr_0.npy of the .npz
// archive out, and describes it as one Result.
func (sp *StackPlan) runArchive(ctx context.Context, out string, opt Options) (Result, error) {
	r := newArchiveRun(out, InputOptions{Options: opt, ModTime: sp.ModTime})
	if err := r.planStack(sp); err != nil {
		return Result{}, err
	}
	if _, err := r.run(ctx); err != nil {
		return Result{}, err
	}
	res := Result{From: sp.To, To: sp.To, Shape: sp.Shape.Clone()}
	if len(r.jobs) > 0 {
		res.From = r.jobs[0].plan.From
	}
	res.OutBytes, _ = sp.Shape.NumBytes(sp.To.Size())
	for _, j := range r.jobs {
		jr := j.result()
		res.InBytes += jr.InBytes
		res.Blocks += jr.Blocks
		res.Resumed += jr.Resumed
		res.Stats.Add(jr.Stats)
		res.CRCVerify = res.CRCVerify || jr.CRCVerify
	}
	return res, nil
}

// settings is what, besides the input, a resumed run must share.
func (r *archiveRun) settings() string {
	o := r.opt
	s := fmt.Sprintf("dtype=%s casting=%s raw-bits=%v verify=%v", o.DType, o.Casting, o.RawBits, !o.NoVerify)
	if o.Rows != nil {
		s += " rows=" + o.Rows.String()
	}
	if r.stack != nil {
		s += " join=" + r.stack.Join.String()
		if r.stack.Rows != "" {
			s += " rows=" + r.stack.Rows
		}
	}
	return s
}

// resume decides about a journal an interrupted run left, before its
// partial file is touched, then cuts each tensor into blocks (of the
// interrupted run's size unless one is given) and starts this run's
// journal.
func (r *archiveRun) resume() error {
	var outTotal int64
	for _, j := range r.jobs {
		outTotal += j.outBytes
	}
	_, jerr := os.Stat(r.jpath)
	r.journaling = r.opt.CheckpointBytes >= 0 && outTotal > cmp.Or(r.opt.CheckpointBytes, DefaultCheckpointBytes) || jerr == nil
	if r.opt.NoSync {
		// no fsync, so no journal of its own (it could outlive data a
		// power cut loses); a journal an earlier run left is still
		// reported, or discarded with Restart
		if r.opt.Resume {
			return ErrNoSyncResume
		}
		if jerr == nil {
			if _, err := findArchiveJournal(r.out, r.jpath, r.opt.Options); err != nil {
				return err
			}
		}
		r.journaling = false
	}
	if r.journaling {
		var err error
		if r.old, err = findArchiveJournal(r.out, r.jpath, r.opt.Options); err != nil {
			return err
		}
	} else {
		os.Remove(r.jpath)
	}
	if r.bs <= 0 {
		r.bs = DefaultBlockSize(r.workers)
		if r.old != nil {
			r.bs = r.old.BlockSize
		}
	}
	r.cum = make([]int64, len(r.jobs)+1)
	for k, j := range r.jobs {
		j.blocks = 1
		if !j.stream {
			src := *j.t
			src.DType = j.plan.From
			var err error
			if j.sl, err = slicer.New(&src, slicer.Options{BlockSize: r.bs, OutItemSize: j.plan.To.Size()}); err != nil {
				return err
			}
			j.blocks = j.sl.Len()
			j.rangeSrc, j.rangeOff = fileRange(j.plan, j.verify, r.opt.Write)
		}
		r.cum[k+1] = r.cum[k] + j.blocks
	}
	if !r.journaling {
		return nil
	}
	r.jr = &archiveJournal{Version: archiveJournalVersion, Output: filepath.Base(r.out), Input: r.opt.inputIdentity(),
		Settings: r.settings(), BlockSize: r.bs}
	for _, j := range r.jobs {
		sample := "stream" // read once: its edges cannot be looked at first
		if !j.stream {
			var err error
			if sample, err = sampleHash(j.t, j.inBytes); err != nil {
				return err
			}
		}
		r.jr.Tensors = append(r.jr.Tensors, archiveTensor{Name: j.t.Name, Sample: sample, From: j.plan.From.String(),
			To: j.plan.To.String(), Shape: j.t.Shape.Clone(), Fortran: j.t.Fortran, Blocks: j.blocks, Verify: j.verify})
	}
	if r.old != nil {
		if m := r.old.mismatch(r.jr); m != "" {
			return fmt.Errorf("%w %s: %s; %s is kept (restart to discard it)", ErrResume, r.out, m, r.jpath)
		}
	}
	return nil
}

// fileRange is the file and offset the kernel can copy a plan's tensor
// from (copy_file_range): same dtype, one contiguous range of a file,
// nothing to verify, mapped windows not asked for.
func fileRange(p *Plan, verify bool, mode WriteMode) (*os.File, int64) {
	if !p.copyOK || verify || mode == WriteMapped {
		return nil, 0
	}
	return tensorRange(p.Tensor)
}

// openOutput creates the archive (reusing the partial file of the run
// being continued, with the CRC-32s its journal recorded).
func (r *archiveRun) openOutput() error {
	var err error
	r.w, err = mmapnpz.Create(r.out, r.members, mmapnpz.Options{FlushWindows: r.opt.FlushWindows,
		Keep: r.old != nil, Replace: r.opt.Replace, ModTime: r.opt.ModTime, NoSync: r.opt.NoSync})
	if err != nil {
		return err
	}
	if r.old != nil && r.w.Reused() {
		if err := r.w.Restore(r.old.Sums); err != nil {
			r.w.Abort()
			return err
		}
		for k, j := range r.jobs {
			o := r.old.Tensors[k]
			j.first, j.done, j.crc, j.stats = o.Done, o.Done, o.CRC, o.Stats
			r.jr.Tensors[k].Done, r.jr.Tensors[k].CRC, r.jr.Tensors[k].Stats = o.Done, o.CRC, o.Stats
			switch {
			case j.first == 0:
			case j.stream:
				r.inDone.Add(j.inBytes)
			default:
				b := j.sl.Block(j.first - 1)
				r.inDone.Add(b.Off + b.Len)
			}
		}
	} else {
		// the partial file was not this archive's: start over, and drop
		// the journal that described it (as run.openOutput does)
		r.old = nil
		os.Remove(r.jpath)
	}
	return nil
}

// streamBlocks converts every block not yet written on one pool of
// workers, checkpointing in the background. It returns the first error;
// a cancelled ctx is not one (the caller looks at ctx).
func (r *archiveRun) streamBlocks(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	fail := func(err error) { errOnce.Do(func() { firstErr = err; cancel() }) }
	remaining := int64(0)
	for k, j := range r.jobs {
		r.cum[k+1] = r.cum[k] + j.blocks - j.first
		remaining += j.blocks - j.first
	}
	// Tensors with nothing left to write: kept whole, or of no elements.
	for _, j := range r.jobs {
		if j.first == j.blocks {
			r.mu.Lock()
			err := r.finishJob(j, j.first > 0)
			r.mu.Unlock()
			if err != nil {
				return err
			}
		}
	}
	stopCk := r.startCheckpoints(fail)
	for range int(min(int64(r.workers), max(remaining, 1))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.work(ctx, fail)
		}()
	}
	wg.Wait()
	stopCk()
	if firstErr == nil && r.inTotal == 0 && r.opt.Progress != nil {
		r.opt.Progress(0, 0)
	}
	return firstErr
}

// work is one worker: it takes blocks until none are left, ctx is
// cancelled or a block fails.
func (r *archiveRun) work(ctx context.Context, fail func(error)) {
	wk := &archiveWorker{}
	total := r.cum[len(r.cum)-1]
	for {
		g := r.next.Add(1) - 1
		if g >= total || ctx.Err() != nil {
			return
		}
		k := sort.Search(len(r.jobs), func(k int) bool { return r.cum[k+1] > g })
		j := r.jobs[k]
		i := j.first + g - r.cum[k]
		j.started.CompareAndSwap(0, time.Now().UnixNano())
		if testhook.BeforeBlock != nil {
			testhook.BeforeBlock(g, total)
		}
		if j.stream {
			sum, err := r.copyStream(ctx, wk, j)
			if errors.Is(err, errStopped) {
				return
			}
			if err == nil {
				err = r.blockDone(j, 0, sum, j.outBytes)
			}
			if err != nil {
				fail(err)
				return
			}
			continue
		}
		b := j.sl.Block(i)
		sum := blockSum{len: b.Len}
		if err := r.writeBlock(wk, j, b, &sum); err != nil {
			var te *tensor.Error
			if !errors.As(err, &te) {
				err = tensor.Errorf(err, j.t.File, j.t.Name, j.t.Offset+b.Off, "block %d", i)
			}
			fail(err)
			return
		}
		if err := r.blockDone(j, i, sum, b.Elems*int64(j.plan.To.Size())); err != nil {
			fail(err)
			return
		}
		r.progress(b.Len)
	}
}

// errStopped: a stream's copy stopped because ctx was cancelled.
var errStopped = errors.New("engine: stopped")

// copyStream reads a one-pass stream of known size from its start to
// its end and writes it, converted, into its member (copyStream).
func (r *archiveRun) copyStream(ctx context.Context, wk *archiveWorker, j *archiveJob) (blockSum, error) {
	e := r.w.Entry(j.member)
	return copyStream(ctx, j.plan, j.inBytes, j.verify, streamPiece(r.bs, j.plan.From, j.plan.To), &wk.buf, &wk.obuf,
		func(out []byte, off int64) error { return e.WriteAt(out, j.base+off) }, r.progress)
}

// progress counts n more input bytes done.
func (r *archiveRun) progress(n int64) {
	d := r.inDone.Add(n)
	if r.opt.Progress != nil {
		r.progMu.Lock()
		r.opt.Progress(d, r.inTotal)
		r.progMu.Unlock()
	}
}

// archiveWorker holds one worker's buffers, grown to the largest block
// met.
type archiveWorker struct {
	buf, obuf []byte
}

func grow(b []byte, n int64) []byte {
	if int64(cap(b)) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// writeBlock converts block b of job j into its member.
func (r *archiveRun) writeBlock(wk *archiveWorker, j *archiveJob, b slicer.Block, sum *blockSum) error {
	e := r.w.Entry(j.member)
	outItem := int64(j.plan.To.Size())
	off, n := j.base+b.Elem0*outItem, b.Elems*outItem
	if j.rangeSrc != nil && !r.noRange.Load() {
		err := e.CopyFrom(j.rangeSrc, j.rangeOff+b.Off, off, n)
		switch {
		case errors.Is(err, mmapnpy.ErrNoCopyRange):
			r.noRange.Store(true) // and convert it as any block
		case errors.Is(err, io.ErrUnexpectedEOF):
			return tensor.Errorf(tensor.ErrCorrupt, j.t.File, j.t.Name, j.t.Offset+b.Off, "block %d: %v (truncated file?)", b.Index, err)
		default:
			return err
		}
	}
	if r.opt.Write == WriteMapped {
		return e.Write(off, n, func(dst []byte) error { return wk.fill(j, b, dst, sum) })
	}
	wk.obuf = grow(wk.obuf, n)
	if err := wk.fill(j, b, wk.obuf, sum); err != nil {
		return err
	}
	return e.WriteAt(wk.obuf, off)
}

// fill converts block b of job j into dst, summing the input for
// verification.
func (wk *archiveWorker) fill(j *archiveJob, b slicer.Block, dst []byte, sum *blockSum) error {
	if !j.plan.noCast {
		wk.buf = grow(wk.buf, b.Len)
	}
	return convertBlock(j.plan, j.sl, b, wk.buf, dst, j.verify, sum)
}

// blockDone marks block i of job j written and folds the blocks now
// contiguous with the job's prefix into it; the job's last block
// finishes it (checksum verified, event sent).
func (r *archiveRun) blockDone(j *archiveJob, i int64, sum blockSum, outLen int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	j.add(i, sum)
	r.pending += outLen
	if r.jr != nil && r.pending >= cmp.Or(r.opt.CheckpointBytes, DefaultCheckpointBytes) {
		r.pending = 0
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
	if j.done == j.blocks && !j.finished {
		return r.finishJob(j, false)
	}
	return nil
}

// finishJob verifies a tensor whose blocks are all written and reports
// it (r.mu held).
func (r *archiveRun) finishJob(j *archiveJob, kept bool) error {
	j.finished = true
	t := j.t
	if j.verify && j.crc != *t.CRC32C {
		return tensor.Errorf(tensor.ErrChecksum, t.File, t.Name, t.Offset,
			"crc32c of %d data bytes is %#08x, expected %#08x (masked %#08x); the file is damaged (--no-verify skips this check)",
			j.inBytes, j.crc, *t.CRC32C, crc32c.Mask(*t.CRC32C))
	}
	kind := Converted
	if kept {
		kind = Kept
	}
	start := r.start
	if ns := j.started.Load(); ns != 0 {
		start = time.Unix(0, ns)
	}
	r.event(Event{Kind: kind, Tensor: t, Output: r.out, Member: j.name + ".npy", Result: j.result(),
		Elapsed: time.Since(start)})
	return nil
}

// result describes a job as far as it went.
func (j *archiveJob) result() Result {
	return Result{From: j.plan.From, To: j.plan.To, Shape: j.t.Shape.Clone(), InBytes: j.inBytes, OutBytes: j.outBytes,
		Blocks: j.blocks, Stats: j.stats, CRCVerify: j.verify && j.done == j.blocks, Resumed: j.first}
}

// startCheckpoints records progress in the journal after every
// CheckpointBytes of output and every CheckpointEvery; the returned
// function stops it.
func (r *archiveRun) startCheckpoints(fail func(error)) func() {
	if r.jr == nil {
		return func() {}
	}
	quit, exit := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exit)
		tick := time.NewTicker(cmp.Or(r.opt.CheckpointEvery, DefaultCheckpointEvery))
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-r.kick:
			case <-tick.C:
			}
			if err := r.checkpoint(); err != nil {
				fail(err)
				return
			}
		}
	}()
	return func() { close(quit); <-exit }
}

// checkpoint makes what is written durable and records it, as the
// mmapnpz doc says: the jobs' finished prefixes and the writer's CRC-32s
// are taken first, then fsync, then the journal is replaced.
func (r *archiveRun) checkpoint() error {
	if r.jr == nil {
		return nil
	}
	r.ckMu.Lock()
	defer r.ckMu.Unlock()
	type prog struct {
		done  int64
		crc   uint32
		stats cast.Stats
	}
	progs := make([]prog, len(r.jobs))
	changed := false
	var done, blocks int64
	r.mu.Lock()
	for k, j := range r.jobs {
		progs[k] = prog{j.done, j.crc, j.stats}
		changed = changed || j.done != r.jr.Tensors[k].Done
		done += j.done
		blocks += j.blocks
	}
	r.mu.Unlock()
	if !changed && r.jr.written {
		return nil
	}
	sums := r.w.Sums()
	if err := r.w.Sync(); err != nil {
		return err
	}
	for k, p := range progs {
		r.jr.Tensors[k].Done, r.jr.Tensors[k].CRC, r.jr.Tensors[k].Stats = p.done, p.crc, p.stats
	}
	r.jr.Sums = sums
	if err := r.jr.write(r.jpath); err != nil {
		return err
	}
	if !r.jr.written {
		r.jr.written = true
		if d, err := os.Open(filepath.Dir(r.jpath)); err == nil {
			d.Sync()
			d.Close()
		}
	}
	if testhook.Checkpoint != nil {
		testhook.Checkpoint(done, blocks)
	}
	return nil
}

// interrupted keeps what is durable for a resumed run, or removes the
// partial archive of a run without a journal.
func (r *archiveRun) interrupted(cause error) error {
	if r.jr == nil || r.old == nil && !r.anyDone() {
		// no journal, or nothing to record in it (stopped before a
		// block was finished, or inside its only stream)
		r.w.Abort()
		os.Remove(r.jpath)
		return cause
	}
	err := r.checkpoint()
	if rerr := r.w.Release(); err == nil {
		err = rerr
	}
	if err != nil {
		r.w.Abort()
		os.Remove(r.jpath)
		return fmt.Errorf("%w; the partial output could not be kept: %v", cause, err)
	}
	var done, blocks int64
	for _, t := range r.jr.Tensors {
		done += t.Done
		blocks += t.Blocks
	}
	return &InterruptedError{Err: cause, Output: r.out, Partial: r.w.TempPath(), Journal: r.jpath, Done: done, Blocks: blocks}
}

// anyDone reports whether a block of any job is written.
func (r *archiveRun) anyDone() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, j := range r.jobs {
		if j.n > 0 {
			return true
		}
	}
	return false
}

// commit records the finished state (so that a crash during the rename
// costs a resumed run only the rename), finishes the archive, moves it
// into place and drops the journal.
func (r *archiveRun) commit() (Summary, error) {
	if r.jr != nil {
		if err := r.checkpoint(); err != nil {
			r.w.Abort()
			os.Remove(r.jpath)
			return Summary{}, err
		}
		if testhook.BeforeCommit != nil {
			testhook.BeforeCommit()
		}
	}
	if err := r.w.Commit(); err != nil {
		os.Remove(r.jpath)
		return Summary{}, err
	}
	if r.jr != nil {
		if testhook.AfterCommit != nil {
			testhook.AfterCommit()
		}
		os.Remove(r.jpath)
	}
	sum := Summary{Output: r.out, Archive: true, Skipped: r.skips}
	for _, j := range r.jobs {
		sum.Tensors = append(sum.Tensors, entry(j.t, j.name+".npy", j.result()))
	}
	return sum, nil
}

func (r *archiveRun) event(e Event) {
	if r.opt.Event != nil {
		r.opt.Event(e)
	}
}
