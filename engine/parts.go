package engine

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bigconv/bigconv/cast"
	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/engine/part"
	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/format/npy/npyhdr"
	"github.com/bigconv/bigconv/internal/atomicfile"
	"github.com/bigconv/bigconv/internal/crc32c"
	"github.com/bigconv/bigconv/internal/testhook"
	"github.com/bigconv/bigconv/mmapnpy"
	"github.com/bigconv/bigconv/mmapnpz"
	"github.com/bigconv/bigconv/slicer"
	"github.com/bigconv/bigconv/tensor"
)

// PartBlockSize is the block size of a part run when none is given. It
// is fixed, not derived from the host's cores, because every part must
// cut the tensor into the same blocks.
const PartBlockSize = 4 << 20

// PartResult is what one part run did.
type PartResult struct {
	Part   part.Spec
	Output string
	// Ranges are the output file's byte ranges this part owns.
	Ranges []part.Range
	// Bytes is how many output bytes it wrote (0 when already done).
	Bytes int64
	// AlreadyDone: the part's marker was there; nothing was redone.
	AlreadyDone bool
	// Resumed counts the chunks an earlier, killed run of this part had
	// made durable, which this run did not redo.
	Resumed int
	// Waited is how long the part waited for its turns on this host's
	// CPUs (Options.PartsAtOnce).
	Waited time.Duration
	// NothingToDo: OUTPUT had been committed by an earlier run of these
	// parts before this one started.
	NothingToDo bool
	// Committed: every part was done, and this process put OUTPUT in
	// place (CommittedElsewhere: another one did, at the same moment).
	Committed, CommittedElsewhere bool
	// State is what the markers said after this part's own was written.
	State part.State
	// Result describes a one-file output; Stats in it are summed over
	// all parts once committed, otherwise this part's own.
	Result Result
	// Summary lists a directory output's tensors once committed.
	Summary *Summary
}

// partExtra is what a part hands the committer in its marker: for each
// output file it wrote to, what it owns of it.
type partExtra struct {
	Files []fileExtra
	// Sums are the CRC-32 ranges of the archive data this part wrote (an
	// .npz output), for the committer to record instead of reading the
	// data back.
	Sums *mmapnpz.Sums `json:",omitempty"`
}

// fileExtra is one part's share of one output file.
type fileExtra struct {
	File int // index into the conversion's output files
	Seg  int // and into its segments (the inputs of a stack; else 0)
	// Blocks [First, End) are the blocks this part owns (whose first
	// output byte falls in its ranges): their input CRC and cast stats
	// are its to report.
	First, End int64
	CRC        uint32 // crc32c of the input bytes of the owned blocks
	InLen      int64  // their input bytes
	Stats      cast.Stats
}

// RunPart converts part sp of the conversion of in to out, as
// ConvertInput would in one process: one tensor to the .npy file out,
// several to the directory out with manifest.json, or to the .npz
// archive out (one member per tensor, as ConvertArchive; its members'
// time is opt.ModTime, or mmapnpz.PartsModTime when unset, since every
// part must write the same headers). N processes run the
// same call, each with its index, at once or one after another, on one
// host or on many sharing a file system; none coordinates the others.
//
// Each part writes the byte ranges part.Split gives it — the output files
// laid end to end, cut on 4 KiB pages — into shared partial files, makes
// them durable and records itself done (part.Marker); the process that
// finds every part done verifies the input checksums over all parts and
// puts OUTPUT in place. A part whose marker exists is not redone; a
// killed part is rerun with the same call and redoes its own ranges.
// Parts started with another input, other flags or another count are
// refused (part.ErrMismatch), and a second process of a running part gets
// part.ErrTaken. A part run after the commit does nothing (NothingToDo).
func RunPart(ctx context.Context, in *format.Input, out string, opt InputOptions, sp part.Spec) (PartResult, error) {
	pr, err := planPart(in, out, opt, sp)
	if err != nil {
		return pr.res, err
	}
	return pr.run(ctx)
}

// planPart plans part sp of the conversion of in into out (RunPart's
// first step).
func planPart(in *format.Input, out string, opt InputOptions, sp part.Spec) (*partRun, error) {
	res := PartResult{Part: sp, Output: out}
	if _, err := part.Parse(sp.String()); err != nil {
		return &partRun{res: res}, err
	}
	sel, err := opt.selectFrom(in)
	if err != nil {
		return &partRun{res: res}, err
	}
	if len(sel) == 0 {
		return &partRun{res: res}, fmt.Errorf("%s: no tensors to convert", in.Path)
	}
	opt.Identity = opt.identity(in)
	defaultBS := opt.BlockSize <= 0
	if defaultBS {
		opt.BlockSize = PartBlockSize
	}
	pr := &partRun{opt: opt, out: out, sp: sp, res: res, copyBlocks: defaultBS}
	npyOut := strings.HasSuffix(strings.ToLower(out), ".npy")
	switch {
	case IsArchivePath(out):
		err = pr.planArchive(sel)
	case len(sel) == 1 && (!in.Collection || npyOut):
		err = pr.planFile(sel[0], out, "")
	case npyOut:
		err = fmt.Errorf("%w: %s names one file, and the input has %d tensors; pick one with --tensor NAME, or give a directory as OUTPUT",
			ErrManyTensors, out, len(sel))
	default:
		err = pr.planDir(in, sel)
	}
	if err != nil {
		return pr, err
	}
	pr.identity = pr.identityOf()
	return pr, nil
}

// RunPartStack is RunPart for several inputs made one array, as
// StackInputs makes it in one process: the output .npy's bytes are split
// among the parts whatever input they come from, so a stack of 10,000
// clips spreads evenly however large each clip is. Each input's checksum
// is verified by the committer over the blocks every part owns.
func RunPartStack(ctx context.Context, ins []*format.Input, out string, opt StackInputOptions, sp part.Spec) (PartResult, error) {
	res := PartResult{Part: sp, Output: out}
	if _, err := part.Parse(sp.String()); err != nil {
		return res, err
	}
	if err := notAnInput(ins, out); err != nil {
		return res, err
	}
	if IsArchivePath(out) {
		return res, fmt.Errorf("engine: %s: parts write a stack into a .npy file; a stack into an .npz is written by one process (drop --part, or name a .npy OUTPUT)", out)
	}
	ts, err := StackTensors(ins, opt.Tensors)
	if err != nil {
		return res, err
	}
	// before NewStackPlan, which would count a compressed input's
	// records (decompressing it whole) in every part only to fail
	for _, t := range ts {
		if t.Data == nil {
			return res, errOnePassPart(t)
		}
	}
	plan, err := NewStackPlan(ctx, ts, opt.StackOptions)
	if err != nil {
		return res, err
	}
	iopt := InputOptions{Options: opt.Options, Tensors: opt.Tensors}
	if iopt.Identity == "" {
		iopt.Identity = InputsIdentity(ins)
	}
	if plan.Rows != "" {
		if len(plan.Segments) == 0 {
			return res, fmt.Errorf("%w: rows %s keep none of the inputs; an empty array is not split into parts (run without --part)", ErrStackShape, plan.Rows)
		}
		iopt.Identity += " rows=" + plan.Rows // every part must keep the same rows
	}
	defaultBS := iopt.BlockSize <= 0
	if defaultBS {
		iopt.BlockSize = PartBlockSize
	}
	pr := &partRun{opt: iopt, out: out, sp: sp, res: res, copyBlocks: defaultBS}
	if err := pr.planStack(plan); err != nil {
		return pr.res, err
	}
	pr.identity = pr.identityOf()
	return pr.run(ctx)
}

// partRun is one RunPart in progress.
type partRun struct {
	opt      InputOptions
	out      string
	sp       part.Spec
	identity string
	// copyBlocks: no block size was given, so plain copies the kernel
	// makes take CopyBlockSize blocks (as Plan.Run's do)
	copyBlocks bool
	files      []*partFile
	dir        *dirRun     // a directory output
	archive    *archiveRun // an .npz output (its plan: members, skipped tensors)
	stack      *StackPlan  // a stack or concatenation of several inputs
	ranges     []part.Range
	res        PartResult
}

// partFile is one output file of a part run: one tensor, the inputs of
// a stack laid one after another, or the members of an .npz archive
// (segments).
type partFile struct {
	segs    []*partSeg
	to      dtype.DType
	shape   dtype.Shape
	path    string           // where it is built (its partial file is beside it)
	file    string           // its name in the manifest (directory outputs)
	header  []byte           // its .npy header (an archive: its first bytes, a local header's signature)
	fileLen int64            // header and data (an archive: all of it)
	npz     []mmapnpz.Member // an .npz archive: its members, one per segment
}

// partSeg is one input of an output file and the output elements it
// fills, from elem0 on; its element 0 is at file offset base (after the
// .npy header, or at its member's data in an archive).
type partSeg struct {
	t            *tensor.Tensor
	p            *Plan
	sl           *slicer.Slicer
	elem0, elems int64
	base, item   int64 // file offset of its element 0; output item size
}

// the one tensor of a one-tensor file
func (f *partFile) t() *tensor.Tensor { return f.segs[0].t }
func (f *partFile) p() *Plan          { return f.segs[0].p }

// blockSize is the block size of an input: CopyBlockSize for a plain
// copy of a file range with nothing to verify when no block size was
// given (every part decides alike: it depends on the input alone),
// else the run's.
func (pr *partRun) blockSize(p *Plan) int64 {
	if pr.copyBlocks && kernelCopy(p, pr.opt.Options) {
		return CopyBlockSize
	}
	return pr.opt.BlockSize
}

// kernelCopy reports whether p is a plain copy of a file range with
// nothing to verify, which the kernel does (copy_file_range).
func kernelCopy(p *Plan, opt Options) bool {
	r := &run{p: p, opt: opt, verifyCRC: p.Tensor.CRC32C != nil && !opt.NoVerify}
	f, _ := r.copyRange()
	return f != nil
}

// errOnePassPart refuses a one-pass input (a stream) in a part run.
func errOnePassPart(t *tensor.Tensor) error {
	return tensor.Errorf(tensor.ErrUnsupported, t.File, t.Name, t.Offset,
		"a one-pass stream cannot be split into parts; convert it in one process")
}

func newSeg(t *tensor.Tensor, p *Plan, blockSize, elem0 int64) (*partSeg, error) {
	if t.Stream != nil || t.Data == nil {
		return nil, errOnePassPart(t)
	}
	src := *t
	src.DType = p.From
	sl, err := slicer.New(&src, slicer.Options{BlockSize: blockSize, OutItemSize: p.To.Size()})
	if err != nil {
		return nil, err
	}
	n, err := t.Shape.NumElements()
	if err != nil {
		return nil, err
	}
	return &partSeg{t: t, p: p, sl: sl, elem0: elem0, elems: n, item: int64(p.To.Size())}, nil
}

// addFile adds an output file of dtype to and shape, filled by segs.
func (pr *partRun) addFile(segs []*partSeg, to dtype.DType, shape dtype.Shape, path, file string) error {
	f := &partFile{segs: segs, to: to, shape: shape.Clone(), path: path, file: file}
	var err error
	if f.header, err = npyhdr.Encode(to, shape, false); err != nil {
		return err
	}
	dataLen, err := shape.NumBytes(to.Size())
	if err != nil {
		return err
	}
	f.fileLen = int64(len(f.header)) + dataLen
	for _, sg := range segs {
		sg.base = int64(len(f.header)) + sg.elem0*sg.item
	}
	pr.files = append(pr.files, f)
	if len(pr.files) == 1 {
		var blocks int64
		for _, sg := range segs {
			blocks += sg.sl.Len()
		}
		pr.res.Result = Result{From: segs[0].p.From, To: to, Shape: shape.Clone(), Blocks: blocks, OutBytes: dataLen}
	}
	return nil
}

func (pr *partRun) planFile(t *tensor.Tensor, path, file string) error {
	if t.Stream != nil {
		return errOnePassPart(t)
	}
	p, err := NewPlan(t, pr.opt.Options)
	if err != nil {
		return err
	}
	sg, err := newSeg(t, p, pr.blockSize(p), 0)
	if err != nil {
		return err
	}
	return pr.addFile([]*partSeg{sg}, p.To, t.Shape, path, file)
}

// planStack plans a stack or concatenation into the one .npy out: one
// segment per input.
func (pr *partRun) planStack(sp *StackPlan) error {
	var segs []*partSeg
	for _, s := range sp.Segments {
		sg, err := newSeg(s.Plan.Tensor, s.Plan, pr.blockSize(s.Plan), s.Elem0)
		if err != nil {
			return err
		}
		segs = append(segs, sg)
	}
	pr.stack = sp
	return pr.addFile(segs, sp.To, sp.Shape, pr.out, "")
}

// planDir plans a directory output as ConvertDir does — each tensor's
// file, tensors that cannot be converted skipped — built in
// PartialDir(out), which the parts share.
func (pr *partRun) planDir(in *format.Input, sel []*tensor.Tensor) error {
	r := &dirRun{in: in, opt: pr.opt, final: pr.out, work: PartialDir(pr.out), written: map[string]bool{}}
	if err := r.checkOutput(len(sel)); err != nil {
		return err
	}
	if err := r.plan(sel); err != nil {
		return err
	}
	pr.dir = r
	for _, j := range r.jobs {
		if err := pr.planFile(j.t, filepath.Join(r.work, filepath.FromSlash(j.file)), j.file); err != nil {
			return err
		}
	}
	return nil
}

// planArchive plans an .npz output as ConvertArchive does — members
// named as np.savez names them, tensors that cannot be converted skipped
// — as one output file whose segments are the members, each at its
// data offset in the archive.
func (pr *partRun) planArchive(sel []*tensor.Tensor) error {
	r := &archiveRun{opt: pr.opt, out: pr.out}
	if err := r.plan(sel); err != nil {
		return err
	}
	pr.archive = r
	f := &partFile{path: pr.out, header: []byte("PK\x03\x04")}
	for _, j := range r.jobs {
		sg, err := newSeg(j.t, j.plan, pr.blockSize(j.plan), 0)
		if err != nil {
			return err
		}
		f.segs = append(f.segs, sg)
		f.npz = append(f.npz, mmapnpz.Member{Name: j.name, DType: j.plan.To, Shape: j.t.Shape})
	}
	total, offs, err := mmapnpz.Layout(f.npz)
	if err != nil {
		return err
	}
	for k, sg := range f.segs {
		sg.base = offs[k]
	}
	f.fileLen = total
	pr.files = append(pr.files, f)
	return nil
}

// identityOf names everything every part must agree on, as "key=value"
// fields, so that a mismatch can say which differ.
func (pr *partRun) identityOf() string {
	sum := sha256.Sum256([]byte(pr.opt.Identity))
	fields := []string{"input=" + hex.EncodeToString(sum[:8])}
	shape := func(s dtype.Shape) string { return strings.ReplaceAll(fmt.Sprint([]int64(s)), " ", ",") }
	switch {
	case pr.stack != nil:
		h := sha256.New()
		for _, sg := range pr.files[0].segs {
			fmt.Fprintf(h, "%q %q %s %v %v\n", sg.t.File, sg.t.Name, sg.p.From, sg.t.Shape, sg.t.Fortran)
		}
		fields = append(fields, "join="+pr.stack.Join.String(), fmt.Sprintf("inputs=%d:%x", len(pr.files[0].segs), h.Sum(nil)[:8]),
			"to="+pr.stack.To.String(), "shape="+shape(pr.stack.Shape))
	case pr.archive != nil:
		h := sha256.New()
		f := pr.files[0]
		for k, sg := range f.segs {
			fmt.Fprintf(h, "%q %q %s %s %v %v\n", sg.t.Name, f.npz[k].Name, sg.p.From, sg.p.To, sg.t.Shape, sg.t.Fortran)
		}
		fields = append(fields, fmt.Sprintf("members=%d:%x", len(f.segs), h.Sum(nil)[:8]))
		if !pr.opt.ModTime.IsZero() { // its wall clock, as the zip headers hold it
			fields = append(fields, "mtime="+pr.opt.ModTime.Format("2006-01-02T15:04:05"))
		}
	case pr.dir == nil:
		f := pr.files[0]
		fields = append(fields, "tensor="+f.t().Name, "from="+f.p().From.String(), "to="+f.to.String(),
			"shape="+shape(f.shape), "fortran="+fmt.Sprint(f.t().Fortran))
	default:
		h := sha256.New()
		for _, f := range pr.files {
			fmt.Fprintf(h, "%q %s %s %v %v %s\n", f.t().Name, f.p().From, f.to, f.shape, f.t().Fortran, f.file)
		}
		fields = append(fields, fmt.Sprintf("tensors=%d:%x", len(pr.files), h.Sum(nil)[:8]))
	}
	fields = append(fields, "casting="+pr.opt.Casting.String(), fmt.Sprintf("block-size=%d", pr.opt.BlockSize),
		fmt.Sprintf("verify=%v", !pr.opt.NoVerify), fmt.Sprintf("parts=%d", pr.sp.Count))
	return strings.Join(fields, " ")
}

const identityXattr = "user.bigconv.parts"

// building is where the output is built: the partial file of a .npy
// output, or the partial directory.
func (pr *partRun) building() string {
	if pr.dir != nil {
		return pr.dir.work
	}
	return mmapnpy.PartialPath(pr.out)
}

// committedHere reports whether OUTPUT is the one these parts committed:
// its identity attribute matches or, where the file system keeps no
// extended attributes, it looks like it (a .npy of the planned size and
// header, an archive of the planned size; a directory bigconv made).
func (pr *partRun) committedHere() bool {
	buf := make([]byte, len(pr.identity)+1)
	n, err := unix.Getxattr(pr.out, identityXattr, buf)
	if err == nil || !errors.Is(err, unix.ENOTSUP) {
		return err == nil && string(buf[:n]) == pr.identity
	}
	if pr.dir != nil {
		return MadeByBigconv(pr.out)
	}
	f := pr.files[0]
	fh, err := os.Open(pr.out)
	if err != nil {
		return false
	}
	defer fh.Close()
	head := make([]byte, len(f.header))
	st, err := fh.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() != f.fileLen {
		return false
	}
	_, err = fh.ReadAt(head, 0)
	return err == nil && string(head) == string(f.header)
}

func (pr *partRun) run(ctx context.Context) (PartResult, error) {
	// 1. Was the whole output committed already? (Checked before
	// anything is created.)
	if _, err := os.Stat(pr.building()); os.IsNotExist(err) && pr.committedHere() {
		pr.res.NothingToDo = true
		return pr.res, nil
	}
	unlock, err := part.Lock(pr.out, pr.sp)
	if err != nil {
		return pr.res, err
	}
	defer unlock()
	st, _, err := part.Status(pr.out, pr.identity, pr.sp.Count)
	if err != nil {
		return pr.res, err
	}
	sizes := make([]int64, len(pr.files))
	for i, f := range pr.files {
		sizes[i] = f.fileLen
	}
	pr.ranges = part.Split(sizes, pr.sp.Count, part.Page)[pr.sp.Index]
	pr.res.Ranges = pr.ranges
	if slices.Contains(st.Done, pr.sp.Index) {
		pr.res.AlreadyDone = true
	} else {
		// 2. Write this part's ranges, make them durable, say so.
		extra, err := pr.write(ctx)
		if err != nil {
			return pr.res, err
		}
		raw, _ := json.Marshal(extra)
		if testhook.BeforeCommit != nil {
			testhook.BeforeCommit()
		}
		if err := part.WriteMarker(pr.out, part.Marker{Identity: pr.identity, Index: pr.sp.Index, Count: pr.sp.Count,
			Bytes: pr.res.Bytes, Extra: raw}); err != nil {
			return pr.res, err
		}
		os.Remove(part.MarkerPath(pr.out, pr.sp) + ".journal")
	}
	// 3. The last part to finish commits.
	st, ms, err := part.Status(pr.out, pr.identity, pr.sp.Count)
	pr.res.State = st
	if err != nil || !st.Complete() {
		return pr.res, err
	}
	err = pr.commit(ms)
	return pr.res, err
}

// write writes this part's ranges, file by file, in chunks of
// CheckpointBytes: at the checkpoint cadence (and at the end of each
// file) the file is made durable and the part's journal records the
// chunks written, so that a part killed halfway continues from its last
// checkpoint when rerun.
func (pr *partRun) write(ctx context.Context) (partExtra, error) {
	var extra partExtra
	jpath := part.MarkerPath(pr.out, pr.sp) + ".journal"
	chunk := cmp.Or(pr.opt.CheckpointBytes, DefaultCheckpointBytes)
	if chunk < 0 {
		chunk = math.MaxInt64
	}
	// the chunks are numbered, so their size is part of what a journal
	// must match
	jr := readPartJournal(jpath, fmt.Sprintf("%s chunk=%d", pr.identity, chunk))
	// Chunks are checkpointed (fsync, then the journal) at the cadence of
	// a one-process run: once CheckpointEvery has passed since the last
	// checkpoint (by default 10 s, so a part done sooner writes no
	// journal before its marker). Each file is fsynced at its end too,
	// since the next journal entries are written with another file open.
	_, every := pr.opt.cadence()
	lastCheckpoint := clock()
	var oldSums mmapnpz.Sums // an archive's CRC-32 ranges of the chunks kept
	if jr.Sums != nil {
		oldSums = *jr.Sums
	}
	for k := 0; k < len(pr.ranges); {
		fi := pr.ranges[k].File
		var rs []part.Range
		for ; k < len(pr.ranges) && pr.ranges[k].File == fi; k++ {
			rs = append(rs, pr.ranges[k])
		}
		f := pr.files[fi]
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			return extra, err
		}
		w, err := f.open(pr.opt)
		if err != nil {
			return extra, err
		}
		fxs := make([]fileExtra, len(f.segs)) // what this part owns, per segment
		for k := range fxs {
			fxs[k] = fileExtra{File: fi, Seg: k}
		}
		chs := chunks(rs, chunk)
		for ci, ch := range chs {
			key := fmt.Sprintf("%d/%d", fi, ci)
			// the part's marker follows its last chunk at once: no
			// journal entry for that one (two fsyncs fewer per part)
			last := k == len(pr.ranges) && ci == len(chs)-1
			cxs, done := jr.Chunks[key]
			if done {
				pr.res.Resumed++
			} else {
				var n int64
				cxs, n, err = pr.writeChunk(ctx, f, w, ch)
				// decided after the chunk (and its wait for a turn): a
				// killed part redoes at most one interval and one chunk
				due := every <= 0 || clock().Sub(lastCheckpoint) >= every
				if err == nil && (due || ci == len(chs)-1) {
					err = w.Sync()
				}
				pr.res.Bytes += n
				if err != nil {
					w.Abort() // closes; the shared file stays
					return extra, err
				}
				jr.Chunks[key] = cxs
				if s := w.sums(); s != nil {
					jr.Sums = mergeSums(oldSums, *s)
				}
				if due && !last {
					lastCheckpoint = clock()
					if err := jr.write(jpath); err != nil {
						w.Abort()
						return extra, err
					}
				}
			}
			for _, cx := range cxs {
				if cx.Seg < 0 || cx.Seg >= len(fxs) {
					return extra, fmt.Errorf("engine: part journal %s names segment %d of %d", jpath, cx.Seg, len(fxs))
				}
				fxs[cx.Seg].join(cx)
			}
		}
		if s := w.sums(); s != nil {
			extra.Sums = mergeSums(oldSums, *s)
		}
		w.Abort()
		for _, fx := range fxs {
			if fx.End > fx.First || fx.Stats != (cast.Stats{}) {
				extra.Files = append(extra.Files, fx)
			}
		}
		if pr.dir == nil {
			var st cast.Stats
			for _, fx := range fxs {
				st.Add(fx.Stats)
			}
			pr.res.Result.Stats = st
		}
	}
	return extra, nil
}

// writeChunk writes the ranges rs of f (f.write). Unless PartsAtOnce, a
// chunk that converts runs in a turn of its own among the parts on this
// host's CPUs (part.Turn), ended on return, before the caller's fsync, so
// that the next part converts while the disk takes these bytes. No turn
// is taken for a chunk the kernel only copies (copy_file_range: mostly
// disk work, measured slower in turns, docs/distributed.md), nor by a
// part with fewer workers than CPUs, which leaves room for others.
func (pr *partRun) writeChunk(ctx context.Context, f *partFile, w partOut, rs []part.Range) ([]fileExtra, int64, error) {
	if pr.takesTurns(f, rs) {
		end, waited, err := part.Turn(ctx, pr.out)
		pr.res.Waited += waited
		if err != nil {
			return nil, 0, err
		}
		defer end()
	}
	if testhook.PartConverting != nil {
		testhook.PartConverting(pr.sp.Index, true)
		defer testhook.PartConverting(pr.sp.Index, false)
	}
	return f.write(ctx, w, rs, pr.opt.Options)
}

// takesTurns reports whether converting the ranges rs of f takes a turn.
func (pr *partRun) takesTurns(f *partFile, rs []part.Range) bool {
	if pr.opt.PartsAtOnce || cmp.Or(pr.opt.Workers, runtime.GOMAXPROCS(0)) < part.CPUs() {
		return false
	}
	for _, sg := range f.segs {
		for _, r := range rs {
			if max(r.Start, sg.base) < min(r.End, sg.base+sg.elems*sg.item) && !kernelCopy(sg.p, pr.opt.Options) {
				return true // a segment in these ranges is converted
			}
		}
	}
	return false
}

// join appends what the next chunk of the same file owns.
func (fx *fileExtra) join(cx fileExtra) {
	fx.Stats.Add(cx.Stats)
	if cx.End <= cx.First {
		return
	}
	if fx.End <= fx.First {
		fx.First, fx.End, fx.CRC, fx.InLen = cx.First, cx.End, cx.CRC, cx.InLen
		return
	}
	fx.CRC = crc32c.Combine(fx.CRC, cx.CRC, cx.InLen)
	fx.End, fx.InLen = cx.End, fx.InLen+cx.InLen
}

// chunks cuts ranges of one file into pieces of about size bytes, on
// pages.
func chunks(rs []part.Range, size int64) [][]part.Range {
	size = max(size/part.Page*part.Page, part.Page)
	var out [][]part.Range
	var cur []part.Range
	var n int64
	for _, r := range rs {
		for r.Start < r.End {
			take := min(r.End-r.Start, size-n)
			cur = append(cur, part.Range{File: r.File, Start: r.Start, End: r.Start + take})
			r.Start += take
			if n += take; n >= size {
				out, cur, n = append(out, cur), nil, 0
			}
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// partJournal records the chunks of a part that are durable, so that a
// rerun of a killed part continues from there. It is dropped once the
// part's marker is written.
type partJournal struct {
	Identity string                 `json:"identity"`
	Chunks   map[string][]fileExtra `json:"chunks"` // "file/chunk" → what it owns, per segment
	// Sums are the CRC-32 ranges of an archive's data in those chunks.
	Sums *mmapnpz.Sums `json:"sums,omitempty"`
}

// readPartJournal reads the journal at path if it is this conversion's;
// otherwise the part starts over.
func readPartJournal(path, identity string) *partJournal {
	j := &partJournal{Identity: identity, Chunks: map[string][]fileExtra{}}
	b, err := os.ReadFile(path)
	if err != nil || len(b) > maxJournal {
		return j
	}
	var old partJournal
	if json.Unmarshal(b, &old) != nil || old.Identity != identity || old.Chunks == nil {
		return j
	}
	return &old
}

func (j *partJournal) write(path string) error {
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, b); err != nil {
		return fmt.Errorf("engine: part journal: %w", err)
	}
	return nil
}

// blockRef names block i of segment seg of a file.
type blockRef struct {
	seg int
	i   int64
}

// write converts every block of f that overlaps the ranges rs and writes
// the bytes of it that fall inside them, on a pool of workers. It
// returns what this part owns of each segment of f (the blocks whose
// first byte falls in rs: their input CRC and loss counts) and how many
// bytes it wrote.
func (f *partFile) write(ctx context.Context, w partOut, rs []part.Range, opt Options) ([]fileExtra, int64, error) {
	owned := make([]fileExtra, len(f.segs))
	for k := range owned {
		owned[k] = fileExtra{Seg: k, First: -1}
	}
	var blocks []blockRef // blocks to convert, in order
	for _, r := range rs {
		if err := w.writeHeaders(r.Start, r.End); err != nil {
			return nil, 0, err
		}
		for k, sg := range f.segs {
			lo, hi := max(r.Start, sg.base), min(r.End, sg.base+sg.elems*sg.item)
			if lo >= hi {
				continue
			}
			e0, e1 := (lo-sg.base)/sg.item, (hi-sg.base+sg.item-1)/sg.item
			for i := sg.blockAt(e0); i < sg.sl.Len(); i++ {
				b := sg.sl.Block(i)
				if b.Elem0 >= e1 {
					break
				}
				if len(blocks) == 0 || blocks[len(blocks)-1] != (blockRef{k, i}) {
					blocks = append(blocks, blockRef{k, i})
				}
				if sg.base+b.Elem0*sg.item >= r.Start { // its first byte is ours: we own it
					if owned[k].First < 0 {
						owned[k].First = i
					}
					owned[k].End = i + 1
				}
			}
		}
	}
	sums := make([][]blockSum, len(f.segs))
	for k := range owned {
		if owned[k].First < 0 {
			owned[k].First, owned[k].End = 0, 0
		}
		sums[k] = make([]blockSum, owned[k].End-owned[k].First)
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var (
		next     int
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		written  int64
	)
	take := func() (blockRef, bool) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr != nil || next >= len(blocks) || ctx.Err() != nil {
			return blockRef{}, false
		}
		next++
		return blocks[next-1], true
	}
	for range min(workers, max(len(blocks), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wks := make([]*worker, len(f.segs)) // per segment: its plan, sharing ibuf
			var ibuf, obuf []byte
			for {
				ref, ok := take()
				if !ok {
					return
				}
				sg := f.segs[ref.seg]
				if testhook.BeforeBlock != nil {
					testhook.BeforeBlock(ref.i, sg.sl.Len())
				}
				if wks[ref.seg] == nil {
					r := &run{p: sg.p, opt: opt, sl: sg.sl, verifyCRC: sg.t.CRC32C != nil && !opt.NoVerify}
					wks[ref.seg] = &worker{pool: &blockPool{run: r}}
				}
				if need := sg.sl.MaxElems() * int64(sg.p.From.Size()); !sg.p.noCast && int64(len(ibuf)) < need {
					ibuf = make([]byte, need) // one input buffer for all segments
				}
				wks[ref.seg].buf = ibuf
				getObuf := func(need int64) []byte { // only when the block is converted, not copied by the kernel
					if int64(len(obuf)) < need {
						obuf = make([]byte, need)
					}
					return obuf
				}
				sum, n, err := sg.block(w, ref.seg, wks[ref.seg], getObuf, ref.i, rs)
				mu.Lock()
				written += n
				if k := ref.i - owned[ref.seg].First; err == nil && k >= 0 && k < int64(len(sums[ref.seg])) {
					sums[ref.seg][k] = sum
				}
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return nil, written, firstErr
	}
	var out []fileExtra
	for k := range owned {
		fx := owned[k]
		for j, sm := range sums[k] {
			if j == 0 {
				fx.CRC = sm.crc
			} else {
				fx.CRC = crc32c.Combine(fx.CRC, sm.crc, sm.len)
			}
			fx.InLen += sm.len
			fx.Stats.Add(sm.stats)
		}
		if fx.End > fx.First {
			out = append(out, fx)
		}
	}
	return out, written, nil
}

// block converts block i of the segment and writes the part of it inside
// the ranges rs.
func (sg *partSeg) block(w partOut, seg int, wk *worker, getObuf func(int64) []byte, i int64, rs []part.Range) (blockSum, int64, error) {
	b := sg.sl.Block(i)
	n := b.Elems * sg.item
	sum := blockSum{len: b.Len}
	if src, srcOff := wk.pool.copyRange(); src != nil {
		// a plain copy of a file range with nothing to verify: the kernel
		// copies the pieces inside rs (copy_file_range), as Plan.Run does
		if n, err := sg.copyBlock(w, seg, src, srcOff, b, rs); !errors.Is(err, mmapnpy.ErrNoCopyRange) {
			return sum, n, err
		}
	}
	obuf := getObuf(sg.sl.MaxElems() * sg.item)
	if err := wk.fill(b, obuf[:n], &sum); err != nil {
		var te *tensor.Error
		if !errors.As(err, &te) {
			err = tensor.Errorf(err, sg.t.File, sg.t.Name, sg.t.Offset+b.Off, "block %d", i)
		}
		return sum, 0, err
	}
	var written int64
	boff := sg.base + b.Elem0*sg.item // the block's place in the file
	for _, r := range rs {
		lo, hi := max(r.Start, boff), min(r.End, boff+n)
		if lo >= hi {
			continue
		}
		if err := w.writeAt(seg, obuf[lo-boff:hi-boff], lo); err != nil {
			return sum, written, err
		}
		w.writeBack(lo, hi-lo, false)
		written += hi - lo
	}
	return sum, written, nil
}

// copyBlock copies the bytes of block b inside the ranges rs from the
// input file src (the tensor's data at srcOff) with copy_file_range.
func (sg *partSeg) copyBlock(w partOut, seg int, src *os.File, srcOff int64, b slicer.Block, rs []part.Range) (int64, error) {
	var written int64
	boff := sg.base + b.Elem0*sg.item
	for _, r := range rs {
		lo, hi := max(r.Start, boff), min(r.End, boff+b.Elems*sg.item)
		if lo >= hi {
			continue
		}
		if err := w.copyFrom(seg, src, srcOff+b.Off+(lo-boff), lo, hi-lo); err != nil {
			return written, err
		}
		w.writeBack(lo, hi-lo, true)
		written += hi - lo
	}
	return written, nil
}

// blockAt is the first block of the segment holding its element e.
func (sg *partSeg) blockAt(e int64) int64 {
	return int64(sort.Search(int(sg.sl.Len()), func(i int) bool {
		b := sg.sl.Block(int64(i))
		return b.Elem0+b.Elems > e
	}))
}

// commit runs in the part that finds every part done: under a commit
// lock (two parts finishing at once), it verifies each file's input
// checksum over the parts' owned blocks, puts the files in place (and,
// for a directory, manifest.json and the directory), and removes the
// markers.
func (pr *partRun) commit(ms []part.Marker) error {
	unlock, err := part.LockCommit(pr.out)
	if errors.Is(err, part.ErrTaken) {
		pr.res.CommittedElsewhere = true
		return nil
	}
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := os.Stat(pr.building()); os.IsNotExist(err) {
		// Committed by another part between our Status and our lock: its
		// Clean removed the markers and the lock file, and our LockCommit
		// may have made a new lock file, which nobody else would remove
		// (only that file: a new run's markers may exist by now).
		pr.res.CommittedElsewhere = true
		return part.RemoveCommitLock(pr.out)
	}
	results, err := pr.gather(ms)
	if err != nil {
		return err
	}
	for i, f := range pr.files {
		for k, sg := range f.segs {
			if crc := results[i].crc[k]; sg.t.CRC32C != nil && !pr.opt.NoVerify && crc != *sg.t.CRC32C {
				part.Clean(pr.out)
				os.RemoveAll(pr.building())
				return tensor.Errorf(tensor.ErrChecksum, sg.t.File, sg.t.Name, sg.t.Offset,
					"crc32c over all parts is %#08x, expected %#08x; the file is damaged (--no-verify skips this check)", crc, *sg.t.CRC32C)
			}
		}
	}
	switch {
	case pr.archive != nil:
		if err := pr.commitArchive(ms, results[0]); err != nil {
			return err
		}
	case pr.dir == nil:
		pr.res.Result.Stats, pr.res.Result.CRCVerify = results[0].res.Stats, results[0].res.CRCVerify
		unix.Setxattr(mmapnpy.PartialPath(pr.out), identityXattr, []byte(pr.identity), 0) // best effort: see committedHere
		if err := mmapnpy.CommitPartial(pr.out); err != nil {
			return err
		}
	default:
		if err := pr.commitDir(results); err != nil {
			return err
		}
	}
	pr.res.Committed = true
	if testhook.AfterCommit != nil {
		testhook.AfterCommit()
	}
	return part.Clean(pr.out)
}

type fileResult struct {
	crc      []uint32 // per segment
	segStats []cast.Stats
	res      Result
}

// gather joins the parts' shares of every file: owned blocks must tile
// each segment's blocks in order; checksums combine, loss counts add up.
func (pr *partRun) gather(ms []part.Marker) ([]fileResult, error) {
	out := make([]fileResult, len(pr.files))
	next := make([][]int64, len(pr.files))
	for i, f := range pr.files {
		out[i].crc = make([]uint32, len(f.segs))
		out[i].segStats = make([]cast.Stats, len(f.segs))
		next[i] = make([]int64, len(f.segs))
	}
	for _, m := range ms {
		var x partExtra
		if err := json.Unmarshal(m.Extra, &x); err != nil {
			return nil, fmt.Errorf("part: marker of part %d/%d: %v", m.Index, m.Count, err)
		}
		for _, fx := range x.Files {
			if fx.File < 0 || fx.File >= len(pr.files) || fx.Seg < 0 || fx.Seg >= len(pr.files[fx.File].segs) {
				return nil, fmt.Errorf("part: marker of part %d/%d names file %d segment %d", m.Index, m.Count, fx.File, fx.Seg)
			}
			r, nx := &out[fx.File], &next[fx.File][fx.Seg]
			if fx.End > fx.First {
				if fx.First != *nx {
					return nil, fmt.Errorf("part: the parts' blocks of %s do not tile it: part %d/%d starts at block %d of input %d, want %d",
						pr.files[fx.File].path, m.Index, m.Count, fx.First, fx.Seg, *nx)
				}
				if *nx == 0 {
					r.crc[fx.Seg] = fx.CRC
				} else {
					r.crc[fx.Seg] = crc32c.Combine(r.crc[fx.Seg], fx.CRC, fx.InLen)
				}
				*nx = fx.End
			}
			r.res.Stats.Add(fx.Stats)
			r.segStats[fx.Seg].Add(fx.Stats)
		}
	}
	for i, f := range pr.files {
		verify := false
		for k, sg := range f.segs {
			if next[i][k] != sg.sl.Len() {
				return nil, fmt.Errorf("part: the parts' blocks cover %d of the %d blocks of %s (input %d)", next[i][k], sg.sl.Len(), f.path, k)
			}
			verify = verify || sg.t.CRC32C != nil && !pr.opt.NoVerify
		}
		out[i].res = Result{From: f.p().From, To: f.to, Shape: f.shape.Clone(), Stats: out[i].res.Stats, CRCVerify: verify}
		for _, sg := range f.segs {
			out[i].res.Blocks += sg.sl.Len()
		}
	}
	return out, nil
}

// commitDir puts every file of a directory output in place inside the
// partial directory, writes manifest.json there, and places the
// directory as ConvertDir does.
func (pr *partRun) commitDir(results []fileResult) error {
	r := pr.dir
	var entries []ManifestEntry
	for i, f := range pr.files {
		if err := mmapnpy.CommitPartial(f.path); err != nil {
			return err
		}
		entries = append(entries, entry(f.t(), f.file, results[i].res))
	}
	r.journal = &dirJournal{Done: entries}
	for _, f := range pr.files {
		r.journal.Tensors = append(r.journal.Tensors, f.t().Name)
	}
	unix.Setxattr(r.work, identityXattr, []byte(pr.identity), 0) // best effort: see committedHere
	sum, err := r.commit()
	if err != nil {
		return err
	}
	pr.res.Summary = &sum
	return nil
}

// commitArchive finishes the .npz archive the parts wrote: the layout
// checked, every part's CRC-32 ranges recorded (what none covers is read
// back), central directory written, renamed into place
// (mmapnpz.CommitShared).
func (pr *partRun) commitArchive(ms []part.Marker, fr fileResult) error {
	f := pr.files[0]
	var sums []mmapnpz.Sums
	for _, m := range ms {
		var x partExtra
		if err := json.Unmarshal(m.Extra, &x); err != nil {
			return fmt.Errorf("part: marker of part %d/%d: %v", m.Index, m.Count, err)
		}
		if x.Sums != nil {
			sums = append(sums, *x.Sums)
		}
	}
	unix.Setxattr(mmapnpy.PartialPath(pr.out), identityXattr, []byte(pr.identity), 0) // best effort: see committedHere
	if err := mmapnpz.CommitShared(pr.out, f.npz, mmapnpz.Options{ModTime: pr.opt.ModTime}, sums); err != nil {
		return err
	}
	sum := Summary{Output: pr.out, Archive: true, Skipped: pr.archive.skips}
	var st cast.Stats
	for k, sg := range f.segs {
		inBytes, _ := sg.t.Shape.NumBytes(sg.p.From.Size())
		res := Result{From: sg.p.From, To: sg.p.To, Shape: sg.t.Shape.Clone(), InBytes: inBytes, OutBytes: sg.elems * sg.item,
			Blocks: sg.sl.Len(), Stats: fr.segStats[k], CRCVerify: sg.t.CRC32C != nil && !pr.opt.NoVerify}
		sum.Tensors = append(sum.Tensors, entry(sg.t, f.npz[k].Name+".npy", res))
		st.Add(fr.segStats[k])
	}
	pr.res.Result.Stats = st
	pr.res.Summary = &sum
	return nil
}

// partOut is the shared partial file of one output file, written at
// file offsets: a .npy (mmapnpy) or an .npz archive (mmapnpz, whose
// segments are its members).
type partOut interface {
	writeAt(seg int, p []byte, off int64) error
	copyFrom(seg int, src *os.File, srcOff, off, n int64) error
	writeHeaders(start, end int64) error // the header bytes in [start, end)
	writeBack(off, n int64, copied bool) // start the disk on file bytes [off, off+n) (copied: by CopyFrom)
	sums() *mmapnpz.Sums                 // an archive's CRC-32 ranges written (nil: none kept)
	Sync() error
	Abort()
}

// open opens f's shared partial file.
func (f *partFile) open(opt InputOptions) (partOut, error) {
	if f.npz == nil {
		w, err := mmapnpy.OpenShared(f.path, f.to, f.shape)
		if err != nil {
			return nil, err
		}
		return npyOut{w}, nil
	}
	w, err := mmapnpz.OpenShared(f.path, f.npz, mmapnpz.Options{ModTime: opt.ModTime})
	if err != nil {
		return nil, err
	}
	o := npzOut{Writer: w}
	for _, sg := range f.segs {
		o.base = append(o.base, sg.base)
	}
	return o, nil
}

type npyOut struct{ *mmapnpy.Writer }

func (o npyOut) writeAt(_ int, p []byte, off int64) error { return o.WriteAt(p, off-o.HeaderLen()) }
func (o npyOut) copyFrom(_ int, src *os.File, srcOff, off, n int64) error {
	return o.CopyFrom(src, srcOff, off-o.HeaderLen(), n)
}
func (o npyOut) writeHeaders(start, end int64) error { return o.WriteHeaderRange(start, end) }
func (o npyOut) writeBack(off, n int64, copied bool) {
	if copied {
		o.StartWriteBack(off-o.HeaderLen(), n)
	} else {
		o.WriteBack(off-o.HeaderLen(), n)
	}
}
func (o npyOut) sums() *mmapnpz.Sums { return nil }

type npzOut struct {
	*mmapnpz.Writer
	base []int64 // each member's data offset
}

func (o npzOut) writeAt(k int, p []byte, off int64) error {
	return o.Entry(k).WriteAt(p, off-o.base[k])
}
func (o npzOut) copyFrom(k int, src *os.File, srcOff, off, n int64) error {
	return o.Entry(k).CopyFrom(src, srcOff, off-o.base[k], n)
}
func (o npzOut) writeHeaders(start, end int64) error { return o.WriteLayoutRange(start, end) }
func (o npzOut) writeBack(off, n int64, copied bool) {} // mmapnpz has no early writeback yet
func (o npzOut) sums() *mmapnpz.Sums                 { s := o.Sums(); return &s }

// maxSumRanges caps the CRC-32 ranges a part hands on (about 50 bytes
// each in its marker and journal, which are read back whole): past it
// they are dropped, and the committer reads the data back instead.
var maxSumRanges = 16384

// mergeSums joins two snapshots of CRC-32 ranges of disjoint data (the
// chunks a killed run kept and those of this run), per member, in order;
// nil when there are more than maxSumRanges.
func mergeSums(a, b mmapnpz.Sums) *mmapnpz.Sums {
	by := map[int][]mmapnpz.Range{}
	for _, s := range []mmapnpz.Sums{a, b} {
		for _, ms := range s.Members {
			by[ms.Member] = append(by[ms.Member], ms.Ranges...)
		}
	}
	var out mmapnpz.Sums
	n := 0
	for _, m := range slices.Sorted(maps.Keys(by)) {
		rs := by[m]
		if n += len(rs); n > maxSumRanges {
			return nil
		}
		slices.SortFunc(rs, func(x, y mmapnpz.Range) int { return cmp.Compare(x.Off, y.Off) })
		out.Members = append(out.Members, mmapnpz.MemberSums{Member: m, Ranges: rs})
	}
	return &out
}
