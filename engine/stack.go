package engine

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/crc32c"
	"github.com/bigconv/bigconv/internal/testhook"
	"github.com/bigconv/bigconv/mmapnpy"
	"github.com/bigconv/bigconv/slicer"
	"github.com/bigconv/bigconv/tensor"
)

// ErrStackShape: the inputs of a stack or concatenation do not have the
// shapes it needs.
var ErrStackShape = errors.New("engine: inputs do not fit together")

// Join is how several tensors become one array.
type Join int

const (
	// JoinStack puts the inputs along a new leading axis (np.stack):
	// every input has the same shape.
	JoinStack Join = iota
	// JoinConcat puts them one after another along axis 0
	// (np.concatenate): every input has the same trailing shape.
	JoinConcat
)

func (j Join) String() string {
	if j == JoinConcat {
		return "concat"
	}
	return "stack"
}

// StackOptions control Stack. Options.DType is the output type; its zero
// value is the common type of the inputs (dtype.ResultType, as
// np.result_type; bfloat16 and float8 count as float32 unless RawBits).
type StackOptions struct {
	Options
	Join Join
	// Rows, if set, keeps only rows START:STOP of the joined array's
	// first axis, with Python's slice rules: np.stack(inputs)[START:STOP]
	// (the inputs in that range) or np.concatenate(inputs)[START:STOP]
	// (the rows of each input that fall in it; an input cut at either end
	// is read through tensor.Rows). Every input is still checked (shapes,
	// casts) and counts for the common type, as in NumPy.
	Rows *tensor.RowRange
	// ModTime is the member time of an .npz output (zero: now, as
	// np.savez).
	ModTime time.Time
}

// Segment is one input of a stack: its tensor, the plan that converts
// it, and the elements of the output it fills.
type Segment struct {
	Plan  *Plan
	Input int   // the input's place among the tensors stacked
	Elem0 int64 // first output element, in C order
	Elems int64
}

// OutRange is the segment's bytes in the output's data (after the .npy
// header): [Off, Off+Len).
func (s Segment) OutRange() (off, n int64) {
	item := int64(s.Plan.To.Size())
	return s.Elem0 * item, s.Elems * item
}

// StackPlan is a resolved stack or concatenation: the output's dtype and
// shape and one Segment per input, in order. Every check (shapes, casts,
// data present) is done by NewStackPlan, before anything is written.
//
// The segments partition the output's data bytes, so a run over a byte
// range of the output (a distributed --part, engine/part.Split on 4 KiB
// pages) needs only the segments that overlap it, and in each the input
// elements [max(Elem0, lo), min(Elem0+Elems, hi)) - Elem0 where lo and hi
// are the range in elements (4 KiB pages hold whole elements of every
// NumPy type; the header's length is a multiple of 64).
type StackPlan struct {
	Join     Join
	To       dtype.DType
	Shape    dtype.Shape
	Segments []Segment
	// Rows is the row range kept (StackOptions.Rows) as "START:STOP of
	// N", the bounds resolved over the joined array's N rows; "" for all.
	// Segments then hold only the inputs, or parts of inputs, in it.
	Rows string
	// ModTime is the member time of an .npz output (StackOptions.ModTime).
	ModTime time.Time
}

// NewStackPlan checks that the tensors ts fit together under opt.Join
// and that each casts to the output type under opt.Casting, then keeps
// the rows opt.Rows selects. Errors name the file at fault and both
// shapes or types. A one-pass input whose row count only its end tells
// (a compressed TFRecord file) has its records counted first, in a pass
// of its own; a cancelled ctx stops that with ctx.Err().
func NewStackPlan(ctx context.Context, ts []*tensor.Tensor, opt StackOptions) (*StackPlan, error) {
	if len(ts) == 0 {
		return nil, fmt.Errorf("%w: no inputs", ErrStackShape)
	}
	sp := &StackPlan{Join: opt.Join, ModTime: opt.ModTime}
	for _, t := range ts {
		if t.Unsupported != "" {
			return nil, tensor.Errorf(tensor.ErrUnsupported, t.File, t.Name, -1, "%s", t.Unsupported)
		}
		if t.Data == nil && t.Stream == nil {
			return nil, tensor.Errorf(tensor.ErrUnsupported, t.File, t.Name, -1, "no data to convert")
		}
	}
	ts, err := countRows(ctx, ts, opt.Join, opt.Workers)
	if err != nil {
		return nil, err
	}
	first := ts[0]
	for _, t := range ts {
		switch {
		case opt.Join == JoinStack && !t.Shape.Equal(first.Shape):
			return nil, fmt.Errorf("%w: %s has shape %v, %s has %v; --stack needs equal shapes",
				ErrStackShape, t.File, t.Shape, first.File, first.Shape)
		case opt.Join == JoinConcat && len(t.Shape) == 0:
			return nil, fmt.Errorf("%w: %s is a scalar (shape ()); --concat joins along axis 0, use --stack", ErrStackShape, t.File)
		case opt.Join == JoinConcat && !t.Shape[1:].Equal(first.Shape[1:]):
			return nil, fmt.Errorf("%w: %s has shape %v, %s has %v; --concat needs equal shapes after axis 0 (%v vs %v)",
				ErrStackShape, t.File, t.Shape, first.File, first.Shape, t.Shape[1:], first.Shape[1:])
		}
	}
	to := opt.DType
	if !to.Type.Valid() {
		if to, err = commonType(ts, opt.RawBits); err != nil {
			return nil, err
		}
	}
	popt := opt.Options
	popt.DType = to
	plans := make([]*Plan, len(ts))
	for i, t := range ts {
		var err error
		if plans[i], err = NewPlan(t, popt); err != nil {
			return nil, err
		}
		if _, err := t.Shape.NumElements(); err != nil {
			return nil, tensor.Errorf(tensor.ErrCorrupt, t.File, t.Name, -1, "%v", err)
		}
	}
	sp.To = plans[0].To
	// rows of the joined array, and the first axis of each input in it
	rows := int64(len(ts))
	if opt.Join == JoinConcat {
		rows = 0
		for _, t := range ts {
			var err error
			if rows, err = addCheck(rows, t.Shape[0]); err != nil {
				return nil, err
			}
		}
	}
	start, stop := int64(0), rows
	if opt.Rows != nil {
		start, stop = opt.Rows.Resolve(rows)
		sp.Rows = fmt.Sprintf("%d:%d of %d", start, stop, rows)
	}
	var elem0, row0 int64
	for i, t := range ts {
		p := plans[i]
		switch opt.Join {
		case JoinStack:
			if int64(i) < start || int64(i) >= stop {
				continue
			}
		default:
			n := t.Shape[0]
			lo, hi := max(start, row0)-row0, min(stop, row0+n)-row0
			row0 += n
			if hi <= lo {
				continue
			}
			if lo > 0 || hi < n {
				v, err := tensor.Rows(t, tensor.RowRange{Start: &lo, Stop: &hi})
				if err != nil {
					return nil, err
				}
				if p, err = NewPlan(v, popt); err != nil {
					return nil, err
				}
			}
		}
		n, err := p.Tensor.Shape.NumElements()
		if err != nil {
			return nil, tensor.Errorf(tensor.ErrCorrupt, t.File, t.Name, -1, "%v", err)
		}
		sp.Segments = append(sp.Segments, Segment{Plan: p, Input: i, Elem0: elem0, Elems: n})
		if elem0, err = addCheck(elem0, n); err != nil {
			return nil, err
		}
	}
	if opt.Join == JoinStack {
		sp.Shape = append(dtype.Shape{stop - start}, first.Shape...)
	} else {
		sp.Shape = append(dtype.Shape{stop - start}, first.Shape[1:]...)
	}
	if _, err := sp.Shape.NumBytes(sp.To.Size()); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStackShape, err)
	}
	return sp, nil
}

// rowCounter is a one-pass Stream that can count its rows in a pass of
// its own (a compressed TFRecord file, decompressed once more), stopping
// when ctx is done.
type rowCounter interface {
	Rows(ctx context.Context) (int64, error)
}

// countRows gives each one-pass input whose first axis is known only at
// its end (a Stream with Shape[0] 0) its row count, which its stream
// counts (workers at a time), so that every input has its place in the
// output before anything is read; one that cannot count (stdin, a pipe)
// is an error saying so. Inputs of known length are returned as they are.
// A cancelled ctx stops the counting between records: ctx.Err().
func countRows(ctx context.Context, ts []*tensor.Tensor, join Join, workers int) ([]*tensor.Tensor, error) {
	var idx []int
	for i, t := range ts {
		if t.Data != nil || t.Stream == nil || len(t.Shape) == 0 || t.Shape[0] != 0 {
			continue
		}
		if _, ok := t.Stream.(rowCounter); !ok {
			return nil, tensor.Errorf(tensor.ErrUnsupported, t.File, t.Name, -1,
				"this input is read once, in order (stdin or a pipe), and its row count is known only at its end, so it cannot be %s with other inputs: "+
					"save it to a file first (for a raw dump, a --shape without -1 also does)", join.verb())
		}
		idx = append(idx, i)
	}
	if len(idx) == 0 {
		return ts, nil
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	out := slices.Clone(ts)
	errs := make([]error, len(idx))
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for k, i := range idx {
		wg.Add(1)
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Done()
			errs[k] = ctx.Err()
			continue
		}
		go func() {
			defer func() { <-sem; wg.Done() }()
			t := ts[i]
			n, err := t.Stream.(rowCounter).Rows(ctx)
			if err != nil {
				errs[k] = err
				return
			}
			c := *t
			c.Shape = t.Shape.Clone()
			c.Shape[0] = n
			c.Extra = maps.Clone(t.Extra)
			if c.Extra == nil {
				c.Extra = map[string]string{}
			}
			c.Extra["records"] = fmt.Sprintf("%d (counted in a pass of their own)", n)
			out[i] = &c
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// verb is the join as a past participle, for messages.
func (j Join) verb() string {
	if j == JoinConcat {
		return "concatenated"
	}
	return "stacked"
}

func addCheck(a, b int64) (int64, error) {
	if a > (1<<63-1)-b {
		return 0, fmt.Errorf("%w: the joined array has more than 2^63 elements", ErrStackShape)
	}
	return a + b, nil
}

// commonType is the type np.result_type gives for the tensors, each
// taken as the engine would write it alone (bfloat16 and float8 as
// float32, or their raw bits).
func commonType(ts []*tensor.Tensor, rawBits bool) (dtype.DType, error) {
	var ds []dtype.DType
	for _, t := range ts {
		p, err := NewPlan(t, Options{RawBits: rawBits, Casting: dtype.Unsafe})
		if err != nil {
			return dtype.DType{}, err
		}
		ds = append(ds, p.To)
	}
	return dtype.ResultType(ds...)
}

// Stack writes the tensors ts as one array to the .npy file out: along a
// new leading axis (np.stack) or axis 0 (np.concatenate), each cast to
// the output type. An out ending in .npz receives the array as the
// archive's one stored member arr_0.npy, as np.savez(out, array) names
// it (written, resumed and checked as ConvertArchive writes a member). Blocks of every input are converted by one pool of
// workers (blocks of different files are in flight at once), memory is
// a few blocks per worker whatever the number of inputs, progress
// counts the input bytes of all of them, a checksum an input carries is
// verified when its last block is read (an error names the file), and a
// resume journal covers the whole output as Run's does for one tensor.
// A resumed run stopped inside an input carrying a checksum reads that
// input's written part again to seed its CRC.
// Options.Identity should cover every input file (StackInputs joins
// their format.Input identities).
func Stack(ctx context.Context, ts []*tensor.Tensor, out string, opt StackOptions) (Result, error) {
	sp, err := NewStackPlan(ctx, ts, opt)
	if err != nil {
		return Result{}, err
	}
	return sp.Run(ctx, out, opt.Options)
}

// Run carries out the stack plan, writing out (a .npy file, or an .npz
// archive holding the array as member arr_0.npy); cancellation, the
// journal and its refusals are as for Plan.Run (ConvertArchive's for an
// .npz).
func (sp *StackPlan) Run(ctx context.Context, out string, opt Options) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err // nothing reserved, nothing to keep
	}
	if sp.Rows != "" {
		opt = opt.withIdentity(" rows=" + sp.Rows) // another range is another output
	}
	if IsArchivePath(out) {
		return sp.runArchive(ctx, out, opt)
	}
	r, err := sp.plan(out, opt)
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
	if err != nil {
		r.w.Abort()
		os.Remove(r.jpath)
		return r.res, err
	}
	return r.res, r.commit()
}

// stackRun is one StackPlan.Run in progress.
type stackRun struct {
	sp          *StackPlan
	opt         Options
	out, jpath  string
	workers     int
	bs          int64
	direct      bool // write past the page cache (writeDirect)
	journaling  bool
	leftJournal bool // a journal was found beside the output
	segs        []*stackSeg
	blocks      int64 // blocks of all segments
	inBytes     int64
	old, jr     *journal
	keep        []span // the global blocks the interrupted run left durable: [0, Done) and its Ahead
	w           *mmapnpy.Writer
	ck          *checkpointer
	res         Result
	noRange     atomic.Bool // copy_file_range turned out unavailable
	wmu         sync.Mutex  // writePieces' turns at the output
}

// stackSeg is a segment being written: its blocks are the global blocks
// [first, first+blocks). A one-pass input (stream) is one block, read
// from its start to its end by one worker.
type stackSeg struct {
	Segment
	sl      *slicer.Slicer // nil for a stream
	stream  bool
	first   int64
	blocks  int64
	inBytes int64
	verify  bool
	sums    crcFold
	// rangeSrc and rangeOff: the file and offset the kernel can copy
	// this input from (copy_file_range), or nil (as run.copyRange).
	rangeSrc *os.File
	rangeOff int64
	// src and srcOff: the file and offset the input is one range of, or
	// nil (writePieces).
	src    *os.File
	srcOff int64
	// din reads src past the page cache where it is not cached, in a
	// run written past it; opened when a worker first reads the input.
	dinOnce sync.Once
	din     *inDirect
}

// directIn is the segment's input read past the page cache where not
// cached (inDirect), or nil.
func (s *stackSeg) directIn() *inDirect {
	s.dinOnce.Do(func() { s.din = openInDirect(s.src, s.srcOff) })
	return s.din
}

// fileRange is the file and offset a plain copy of s can be left to the
// kernel from: same dtype, one contiguous range of a file, nothing to
// verify, mapped windows not asked for.
func (s *stackSeg) fileRange(mode WriteMode) (*os.File, int64) {
	if !s.Plan.copyOK || s.verify || mode == WriteMapped {
		return nil, 0
	}
	return tensorRange(s.Plan.Tensor)
}

// crcFold folds the crc32c of a segment's blocks, which finish in any
// order, into the crc of its prefix.
type crcFold struct {
	mu sync.Mutex
	prefix
}

// add records local block i and reports whether the segment's blocks
// are now all folded in, and the crc of all of them.
func (f *crcFold) add(i, n int64, s blockSum) (bool, uint32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.prefix.add(i, s)
	return f.done == n, f.crc
}

// plan sizes the run.
func (sp *StackPlan) plan(out string, opt Options) (*stackRun, error) {
	r := &stackRun{sp: sp, opt: opt, out: out, jpath: JournalPath(out), bs: opt.BlockSize}
	outBytes, err := sp.Shape.NumBytes(sp.To.Size())
	if err != nil {
		return nil, err
	}
	r.direct = writeDirect(opt, outBytes)
	r.workers = opt.workers(r.direct)
	if r.bs <= 0 && r.direct {
		inItem := 1
		for _, s := range sp.Segments {
			inItem = max(inItem, s.Plan.From.Size())
		}
		// every worker holds an input and an output buffer, copies too
		r.bs = directBlockSize(r.workers, inItem, sp.To.Size(), false)
	}
	if r.bs <= 0 {
		r.bs = DefaultBlockSize(r.workers)
	}
	for _, s := range sp.Segments {
		n, err := s.Plan.Tensor.Shape.NumBytes(s.Plan.From.Size())
		if err != nil {
			return nil, err
		}
		r.inBytes += n
		seg := &stackSeg{Segment: s, inBytes: n, verify: s.Plan.Tensor.CRC32C != nil && !opt.NoVerify, stream: s.Plan.Tensor.Data == nil}
		if !r.direct {
			seg.rangeSrc, seg.rangeOff = seg.fileRange(opt.Write)
		}
		seg.src, seg.srcOff = tensorRange(s.Plan.Tensor)
		r.segs = append(r.segs, seg)
	}
	if opt.NoSync && opt.Resume {
		return nil, ErrNoSyncResume
	}
	_, jerr := os.Stat(r.jpath)
	r.leftJournal = jerr == nil
	// as run: no journal without fsync (it could outlive data a power
	// cut loses)
	r.journaling = !opt.NoSync && (opt.CheckpointBytes >= 0 && outBytes > cmp.Or(opt.CheckpointBytes, DefaultCheckpointBytes) || r.leftJournal)
	from := sp.To // no rows kept: no input is read
	if len(sp.Segments) > 0 {
		from = sp.Segments[0].Plan.From
	}
	r.res = Result{From: from, To: sp.To, Shape: sp.Shape.Clone(), InBytes: r.inBytes, OutBytes: outBytes}
	return r, nil
}

// resume decides about a journal an interrupted run left (as run.resume
// does), cuts every input into blocks and starts this run's journal.
func (r *stackRun) resume() error {
	var err error
	if r.journaling {
		if r.old, err = findJournal(r.out, r.jpath, r.opt); err != nil {
			return err
		}
		if r.old != nil && r.opt.BlockSize <= 0 {
			r.bs = r.old.BlockSize
			r.workers = r.opt.capWorkers(r.workers, r.bs, r.direct)
		}
	} else if r.leftJournal {
		// A run without a journal of its own (NoSync) still reports
		// the work an interrupted run left, or discards it on Restart.
		if _, err := findJournal(r.out, r.jpath, r.opt); err != nil {
			return err
		}
	}
	for _, s := range r.segs {
		s.blocks = 1
		if !s.stream {
			src := *s.Plan.Tensor
			src.DType = s.Plan.From
			if s.sl, err = slicer.New(&src, slicer.Options{BlockSize: r.bs, OutItemSize: r.sp.To.Size()}); err != nil {
				return err
			}
			s.blocks = s.sl.Len()
		}
		s.first = r.blocks
		r.blocks += s.blocks
	}
	r.res.Blocks = r.blocks
	if !r.journaling {
		return nil
	}
	sample, err := r.sample()
	if err != nil {
		return err
	}
	var files []string
	var verify bool
	for _, s := range r.segs {
		files = append(files, s.Plan.Tensor.File)
		verify = verify || s.verify
	}
	r.jr = &journal{Version: journalVersion, Output: filepath.Base(r.out), Tensor: r.sp.Join.String(),
		Source: summarizeFiles(files), Input: r.opt.inputIdentity(), Sample: sample, From: r.fromList(), To: r.sp.To.String(),
		Shape: r.sp.Shape.Clone(), BlockSize: r.bs, Blocks: r.blocks, Verify: verify}
	if r.old != nil {
		if m := r.old.mismatch(r.jr); m != "" {
			return fmt.Errorf("%w %s: %s; %s is kept (restart to discard it)", ErrResume, r.out, m, r.jpath)
		}
	}
	return nil
}

// sample fingerprints every input's data edges and tensor name. The
// inputs are sampled on one goroutine per CPU (eachIndex; a stack of
// 5000 files of 128 KiB hashes all of their 640 MB) and hashed in order.
func (r *stackRun) sample() (string, error) {
	ones := make([]string, len(r.segs))
	errs := make([]error, len(r.segs))
	eachIndex(len(r.segs), func(i int) {
		s := r.segs[i]
		ones[i] = "stream" // read once: its edges cannot be looked at first
		if !s.stream {
			ones[i], errs[i] = sampleHash(s.Plan.Tensor, s.inBytes)
		}
	})
	h := sha256.New()
	for i, s := range r.segs {
		if errs[i] != nil {
			return "", errs[i] // the first input in order that failed, as one by one
		}
		fmt.Fprintf(h, "%q %s\n", s.Plan.Tensor.Name, ones[i])
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// fromList is the inputs' dtypes in order, run-length coded.
func (r *stackRun) fromList() string {
	var parts []string
	for i := 0; i < len(r.segs); {
		j := i
		for j < len(r.segs) && r.segs[j].Plan.From.Equal(r.segs[i].Plan.From) {
			j++
		}
		parts = append(parts, fmt.Sprintf("%d×%s", j-i, r.segs[i].Plan.From))
		i = j
	}
	return strings.Join(parts, ",")
}

func summarizeFiles(files []string) string {
	if len(files) <= 2 {
		return strings.Join(files, ", ")
	}
	return fmt.Sprintf("%s … %s (%d files)", files[0], files[len(files)-1], len(files))
}

// openOutput creates the output (reusing the interrupted run's partial
// file) and the checkpointer. When the interrupted run stopped inside an
// input that carries a checksum, the part of that input it had written
// is read again (not written) so that the checksum covers all of it.
func (r *stackRun) openOutput() error {
	var err error
	r.w, err = mmapnpy.Create(r.out, r.sp.To, r.sp.Shape, mmapnpy.Options{FlushWindows: r.opt.FlushWindows, Keep: r.old != nil, Replace: r.opt.Replace,
		NoSync: r.opt.NoSync, Direct: r.direct})
	if err != nil {
		return err
	}
	if r.old != nil && r.w.Reused() {
		r.jr.Done, r.jr.CRC, r.jr.Stats, r.jr.Ahead = r.old.Done, r.old.CRC, r.old.Stats, r.old.Ahead
		r.res.Resumed = r.old.kept()
		if r.old.Done > 0 {
			r.keep = append(r.keep, span{start: 0, end: r.old.Done})
		}
		r.keep = append(r.keep, r.old.spans()...)
		if err := r.resumeChecksums(); err != nil {
			r.w.Release() // keep the partial file and its journal: the work is not lost
			return err
		}
	} else {
		// The partial file was not this output's: start over, and drop
		// the journal that described it, which this run may not
		// overwrite before its first checkpoint (a crash before then
		// would leave it beside a new partial file it does not describe).
		r.old = nil
		os.Remove(r.jpath)
	}
	r.ck = newCheckpointer(r.w, r.jr, r.jpath, nil, r.opt)
	r.ck.spans = true
	return nil
}

// kept reports whether global block g was left durable by the
// interrupted run this one continues.
func (r *stackRun) kept(g int64) bool {
	k := sort.Search(len(r.keep), func(k int) bool { return r.keep[k].end > g })
	return k < len(r.keep) && r.keep[k].start <= g
}

// resumeChecksums folds into each verified input that the interrupted
// run left partly written the CRC-32C of its kept blocks, read again
// (not written), so that its checksum still covers all of it. An input
// it left whole was verified when its last block was written.
func (r *stackRun) resumeChecksums() error {
	for _, s := range r.segs {
		if !s.verify || s.stream {
			continue
		}
		var kept int64
		for i := range s.blocks {
			if r.kept(s.first + i) {
				kept++
			}
		}
		if kept == 0 || kept == s.blocks {
			continue
		}
		buf := make([]byte, s.sl.MaxElems()*int64(s.Plan.From.Size()))
		for i := range s.blocks {
			if !r.kept(s.first + i) {
				continue
			}
			b := s.sl.Block(i)
			if err := s.sl.ReadBlock(b, buf); err != nil {
				return err
			}
			s.sums.add(i, s.blocks, blockSum{crc: crc32c.Checksum(buf[:b.Len]), len: b.Len})
		}
	}
	return nil
}

// segOf is the segment global block g belongs to (nil past the end).
func (r *stackRun) segOf(g int64) *stackSeg {
	i := sort.Search(len(r.segs), func(i int) bool { return r.segs[i].first+r.segs[i].blocks > g })
	if i == len(r.segs) {
		return nil
	}
	return r.segs[i]
}

// streamBlocks converts the blocks not yet written, of every input, on
// one pool of workers; blocks are taken in output order, so the workers
// are in several files at once at every boundary and the journal's
// prefix advances steadily.
func (r *stackRun) streamBlocks(ctx context.Context) error {
	first := r.jr.startBlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
		next     atomic.Int64
		done     atomic.Int64
		progMu   sync.Mutex
	)
	fail := func(err error) { errOnce.Do(func() { firstErr = err; cancel() }) }
	next.Store(first)
	for _, a := range r.keep { // the prefix [0, first) and the spans past it
		done.Add(r.inputBytesBefore(a.end) - r.inputBytesBefore(a.start))
	}
	var maxIn, maxOut int64
	for _, s := range r.segs {
		elems := streamPiece(r.bs, s.Plan.From, r.sp.To) // a stream is copied in pieces
		if !s.stream {
			elems = s.sl.MaxElems()
		}
		maxIn = max(maxIn, elems*int64(s.Plan.From.Size()))
		maxOut = max(maxOut, elems*int64(r.sp.To.Size()))
	}
	progress := func(n int64) {
		d := done.Add(n)
		if r.opt.Progress != nil {
			progMu.Lock()
			r.opt.Progress(d, r.inBytes)
			progMu.Unlock()
		}
	}
	r.ck.start(fail)
	for range int(min(int64(r.workers), max(r.blocks-first, 1))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Buffers are made when a block needs them: a worker writing
			// in pieces (writePieces) needs neither.
			w := &stackWorker{r: r, maxIn: maxIn, maxOut: maxOut, mapped: r.opt.Write == WriteMapped}
			for {
				g := next.Add(1) - 1
				if g >= r.blocks || ctx.Err() != nil {
					return
				}
				if r.kept(g) {
					continue
				}
				if testhook.BeforeBlock != nil {
					testhook.BeforeBlock(g, r.blocks)
				}
				s := r.segOf(g)
				if s.stream {
					sum, err := w.copyStream(ctx, s, progress)
					if errors.Is(err, errStopped) {
						return
					}
					if err == nil && s.verify {
						err = s.check(0, sum)
					}
					if err != nil {
						fail(err)
						return
					}
					r.ck.blockDone(g, sum, s.Elems*int64(r.sp.To.Size()))
					continue
				}
				b := s.sl.Block(g - s.first)
				sum, err := w.write(s, b)
				if err == nil && s.verify {
					err = s.check(b.Index, sum)
				}
				if err != nil {
					fail(err)
					return
				}
				r.ck.blockDone(g, sum, b.Elems*int64(r.sp.To.Size()))
				progress(b.Len)
			}
		}()
	}
	wg.Wait()
	r.ck.stop()
	r.res.Stats = r.ck.stats
	for _, s := range r.segs {
		r.res.CRCVerify = r.res.CRCVerify || s.verify
		r.res.DirectReadBytes += s.din.bytes()
		s.din.close()
	}
	if firstErr == nil {
		firstErr = r.ck.err
	}
	if firstErr == nil && r.blocks == 0 && r.opt.Progress != nil {
		r.opt.Progress(0, 0)
	}
	return firstErr
}

// inputBytesBefore is the input bytes of global blocks [0, g).
func (r *stackRun) inputBytesBefore(g int64) int64 {
	var n int64
	for _, s := range r.segs {
		if g >= s.first+s.blocks {
			n += s.inBytes
			continue
		}
		if g > s.first { // not a stream: it has one block
			b := s.sl.Block(g - s.first - 1)
			n += b.Off + b.Len
		}
		break
	}
	return n
}

// check folds a block's crc into its segment's and, once the segment's
// last block is in, compares it with the checksum the input carries.
func (s *stackSeg) check(i int64, sum blockSum) error {
	all, crc := s.sums.add(i, s.blocks, sum)
	if !all {
		return nil
	}
	t := s.Plan.Tensor
	if crc != *t.CRC32C {
		return tensor.Errorf(tensor.ErrChecksum, t.File, t.Name, t.Offset,
			"crc32c of %d data bytes is %#08x, expected %#08x (masked %#08x); the file is damaged (--no-verify skips this check)",
			s.inBytes, crc, *t.CRC32C, crc32c.Mask(*t.CRC32C))
	}
	return nil
}

// stackWorker holds one worker's buffers.
type stackWorker struct {
	r         *stackRun
	maxIn     int64 // the input bytes of the largest block (buf's size)
	maxOut    int64 // its output bytes
	mapped    bool  // mapped output windows (Options.Write == WriteMapped)
	buf, obuf []byte
	sbuf      []byte // a stream's converted pieces, with mapped windows
	pieces    pieceBufs
}

// write converts block b of segment s into its place in the output.
func (w *stackWorker) write(s *stackSeg, b slicer.Block) (blockSum, error) {
	sum := blockSum{len: b.Len}
	outItem := int64(w.r.sp.To.Size())
	off, n := (s.Elem0+b.Elem0)*outItem, b.Elems*outItem
	p := s.Plan
	fill := func(dst []byte) error {
		if w.buf == nil && !p.noCast {
			// room for a read past the page cache too (inDirect.fill)
			w.buf = make([]byte, w.maxIn+3*mmapnpy.DirectAlign)
		}
		if w.r.direct && s.directIn().fill(p, b, &w.buf, &w.obuf, dst, s.verify, &sum) {
			return nil
		}
		return convertBlock(p, s.sl, b, w.buf, dst, s.verify, &sum)
	}
	var err error
	if s.rangeSrc != nil && !w.r.noRange.Load() {
		err = w.r.w.CopyFrom(s.rangeSrc, s.rangeOff+b.Off, off, n)
		if errors.Is(err, mmapnpy.ErrNoCopyRange) {
			w.r.noRange.Store(true)
		} else {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				t := s.Plan.Tensor
				err = tensor.Errorf(tensor.ErrCorrupt, t.File, t.Name, t.Offset+b.Off, "block %d: %v (truncated file?)", b.Index, err)
			}
			if err == nil {
				w.r.w.StartWriteBack(off, n) // a kernel copy: no background flushes
			}
			return sum, err
		}
	}
	switch {
	case w.mapped:
		err = w.r.w.Write(off, n, fill)
	case goesPiecewise(p, s.verify, w.r.direct):
		err = writePieces(p, s.sl, s.src, s.srcOff, b, w.r.w, &w.r.wmu, off, s.verify, &sum, &w.pieces)
	default:
		if w.obuf == nil && w.r.direct {
			// room for a copy's read past the page cache (inDirect.fill)
			w.obuf = make([]byte, w.maxOut+3*mmapnpy.DirectAlign)
		}
		obuf := w.r.w.Buffer(&w.obuf, off, n)
		if err = fill(obuf); err == nil {
			err = w.r.w.WriteAt(obuf, off)
		}
	}
	if err != nil {
		t := s.Plan.Tensor
		var te *tensor.Error
		if !errors.As(err, &te) {
			err = tensor.Errorf(err, t.File, t.Name, t.Offset+b.Off, "block %d", b.Index)
		}
		return sum, err
	}
	w.r.w.WriteBack(off, n) // start the disk now (and flush in the background)
	return sum, nil
}

// streamPiece is the elements of a one-pass input converted at a time:
// a block's worth.
func streamPiece(bs int64, from, to dtype.DType) int64 {
	return max(bs/int64(max(from.Size(), to.Size(), 1)), 1)
}

// copyStream reads the one-pass input of segment s from its start to its
// end and writes it, converted, into its place in the output (copyStream).
func (w *stackWorker) copyStream(ctx context.Context, s *stackSeg, progress func(int64)) (blockSum, error) {
	base := s.Elem0 * int64(w.r.sp.To.Size())
	obuf := &w.obuf
	if w.mapped { // mapped windows are not for a stream: pieces go through sbuf
		obuf = &w.sbuf
	}
	return copyStream(ctx, s.Plan, s.inBytes, s.verify, streamPiece(w.r.bs, s.Plan.From, w.r.sp.To), &w.buf, obuf,
		func(out []byte, off int64) error {
			if err := w.r.w.WriteAt(out, base+off); err != nil {
				return err
			}
			w.r.w.WriteBack(base+off, int64(len(out)))
			return nil
		}, progress)
}

// copyStream reads the one-pass stream of p's tensor, n input bytes,
// from its start to its end (so that the source's own end checks run: a
// zip or GZIP CRC, its length) and converts it in pieces of items
// elements, through the buffers *buf and *obuf (grown as needed), each
// piece handed to write with its offset in output bytes from the
// tensor's element 0 and counted by progress. It is what a stack into a
// .npy and an .npz archive both do with such an input. A stream cannot
// be resumed part way, so it is one block, done or not: a cancelled ctx
// stops it between pieces with errStopped. A stream shorter or longer
// than n is ErrCorrupt, naming where it ended.
func copyStream(ctx context.Context, p *Plan, n int64, verify bool, items int64, buf, obuf *[]byte,
	write func(out []byte, off int64) error, progress func(int64)) (blockSum, error) {
	t := p.Tensor
	inItem, outItem := int64(p.From.Size()), int64(p.To.Size())
	*buf, *obuf = grow(*buf, items*inItem), grow(*obuf, items*outItem)
	in, out := *buf, *obuf
	sum := blockSum{len: n}
	for off := int64(0); off < n; {
		if ctx.Err() != nil {
			return sum, errStopped
		}
		m := min(int64(len(in)), n-off)
		if k, err := io.ReadFull(t.Stream, in[:m]); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
				end := off + int64(k)
				return sum, tensor.Errorf(tensor.ErrCorrupt, t.File, t.Name, t.Offset+end, "the stream ends %d bytes early, after %d of its %d bytes%s",
					n-end, end, n, recountHint(t))
			}
			return sum, err
		}
		if verify {
			sum.crc = crc32c.Update(sum.crc, in[:m])
		}
		o := out[:m/inItem*outItem]
		p.kernel(o, in[:m], &sum.stats)
		if err := write(o, off/inItem*outItem); err != nil {
			return sum, err
		}
		off += m
		progress(m)
	}
	return sum, streamEnds(t, n, recountHint(t))
}

// recountHint is what ends the message of a stream whose length differs
// from its rows when those were counted in a pass of their own.
func recountHint(t *tensor.Tensor) string {
	if strings.Contains(t.Extra["records"], "counted") {
		return " (did the file change since its rows were counted?)"
	}
	return ""
}

// streamEnds checks that the one-pass stream of t, read for its n bytes,
// has nothing more: a longer stream is ErrCorrupt (why, when not empty,
// ends the message).
func streamEnds(t *tensor.Tensor, n int64, why string) error {
	var one [1]byte
	if k, err := t.Stream.Read(one[:]); k > 0 {
		return tensor.Errorf(tensor.ErrCorrupt, t.File, t.Name, t.Offset+n, "the stream is longer than its %d bytes%s", n, why)
	} else if err != nil && err != io.EOF {
		return err
	}
	return nil
}

// interrupted keeps what is durable for a resumed run (keepJournaled).
func (r *stackRun) interrupted(cause error) error {
	return keepJournaled(cause, r.w, r.ck, r.out, r.jpath, r.journaling, r.old != nil, r.blocks)
}

// commit records the finished state, renames the output into place and
// drops the journal (as run.commit).
func (r *stackRun) commit() error {
	// a stack records its finished state whenever it journals
	err := commitJournaled(r.w, r.ck, r.jpath, r.journaling, true)
	r.res.DirectBytes = r.w.DirectBytes()
	return err
}
