package engine

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/bigconv/bigconv/cast"
	"github.com/bigconv/bigconv/engine/part"
	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/format/npy/npyhdr"
	"github.com/bigconv/bigconv/internal/atomicfile"
	"github.com/bigconv/bigconv/internal/crc32c"
	"github.com/bigconv/bigconv/internal/testhook"
	"github.com/bigconv/bigconv/mmapnpy"
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
}

// fileExtra is one part's share of one output file.
type fileExtra struct {
	File int // index into the conversion's output files
	// Blocks [First, End) are the blocks this part owns (whose first
	// output byte falls in its ranges): their input CRC and cast stats
	// are its to report.
	First, End int64
	CRC        uint32 // crc32c of the input bytes of the owned blocks
	InLen      int64  // their input bytes
	Stats      cast.Stats
}

// RunPart converts part sp of the conversion of in to out, as
// ConvertInput would in one process: one tensor to the .npy file out, or
// several to the directory out with manifest.json. N processes run the
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
	res := PartResult{Part: sp, Output: out}
	if _, err := part.Parse(sp.String()); err != nil {
		return res, err
	}
	sel, err := opt.selectFrom(in)
	if err != nil {
		return res, err
	}
	if len(sel) == 0 {
		return res, fmt.Errorf("%s: no tensors to convert", in.Path)
	}
	if IsArchivePath(out) {
		return res, fmt.Errorf("%s: an .npz output cannot be written in parts yet; convert it in one run, or to a directory", out)
	}
	opt.Identity = opt.identity(in)
	if opt.BlockSize <= 0 {
		opt.BlockSize = PartBlockSize
	}
	pr := &partRun{opt: opt, out: out, sp: sp, res: res}
	npyOut := strings.HasSuffix(strings.ToLower(out), ".npy")
	switch {
	case len(sel) == 1 && (!in.Collection || npyOut):
		err = pr.planFile(sel[0], out, "")
	case npyOut:
		err = fmt.Errorf("%w: %s names one file, and the input has %d tensors; pick one with --tensor NAME, or give a directory as OUTPUT",
			ErrManyTensors, out, len(sel))
	default:
		err = pr.planDir(in, sel)
	}
	if err != nil {
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
	files    []*partFile
	dir      *dirRun // a directory output
	ranges   []part.Range
	res      PartResult
}

// partFile is one output file of a part run.
type partFile struct {
	t       *tensor.Tensor
	p       *Plan
	sl      *slicer.Slicer
	path    string // where it is built (its partial file is beside it)
	file    string // its name in the manifest (directory outputs)
	header  []byte // its .npy header
	fileLen int64  // header and data
}

func (pr *partRun) planFile(t *tensor.Tensor, path, file string) error {
	if t.Stream != nil {
		return tensor.Errorf(tensor.ErrUnsupported, t.File, t.Name, t.Offset,
			"a one-pass stream cannot be split into parts; convert it in one process")
	}
	p, err := NewPlan(t, pr.opt.Options)
	if err != nil {
		return err
	}
	src := *t
	src.DType = p.From
	sl, err := slicer.New(&src, slicer.Options{BlockSize: pr.opt.BlockSize, OutItemSize: p.To.Size()})
	if err != nil {
		return err
	}
	f := &partFile{t: t, p: p, sl: sl, path: path, file: file}
	if f.header, err = npyhdr.Encode(p.To, t.Shape, false); err != nil {
		return err
	}
	dataLen, err := t.Shape.NumBytes(p.To.Size())
	if err != nil {
		return err
	}
	f.fileLen = int64(len(f.header)) + dataLen
	pr.files = append(pr.files, f)
	if len(pr.files) == 1 {
		pr.res.Result = Result{From: p.From, To: p.To, Shape: t.Shape.Clone(), Blocks: sl.Len(), OutBytes: dataLen}
	}
	return nil
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

// identityOf names everything every part must agree on, as "key=value"
// fields, so that a mismatch can say which differ.
func (pr *partRun) identityOf() string {
	sum := sha256.Sum256([]byte(pr.opt.Identity))
	fields := []string{"input=" + hex.EncodeToString(sum[:8])}
	if pr.dir == nil {
		f := pr.files[0]
		fields = append(fields, "tensor="+f.t.Name, "from="+f.p.From.String(), "to="+f.p.To.String(),
			"shape="+strings.ReplaceAll(fmt.Sprint([]int64(f.t.Shape)), " ", ","), "fortran="+fmt.Sprint(f.t.Fortran))
	} else {
		h := sha256.New()
		for _, f := range pr.files {
			fmt.Fprintf(h, "%q %s %s %v %v %s\n", f.t.Name, f.p.From, f.p.To, f.t.Shape, f.t.Fortran, f.file)
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
// header; a directory bigconv made).
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

// write writes this part's ranges, file by file, in chunks: after each
// chunk the file is made durable and the part's journal records it, so
// that a part killed halfway continues from its last chunk when rerun.
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
		w, err := mmapnpy.OpenShared(f.path, f.p.To, f.t.Shape)
		if err != nil {
			return extra, err
		}
		fx := fileExtra{File: fi}
		for ci, ch := range chunks(rs, chunk) {
			key := fmt.Sprintf("%d/%d", fi, ci)
			cx, done := jr.Chunks[key]
			if done {
				pr.res.Resumed++
			} else {
				var n int64
				cx, n, err = f.write(ctx, w, ch, pr.opt.Options)
				if err == nil {
					err = w.Sync()
				}
				pr.res.Bytes += n
				if err != nil {
					w.Abort() // closes; the shared file stays
					return extra, err
				}
				jr.Chunks[key] = cx
				if err := jr.write(jpath); err != nil {
					w.Abort()
					return extra, err
				}
			}
			fx.join(cx)
		}
		w.Abort()
		extra.Files = append(extra.Files, fx)
		if pr.dir == nil {
			pr.res.Result.Stats = fx.Stats
		}
	}
	return extra, nil
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
	Identity string               `json:"identity"`
	Chunks   map[string]fileExtra `json:"chunks"` // "file/chunk" → what it owns
}

// readPartJournal reads the journal at path if it is this conversion's;
// otherwise the part starts over.
func readPartJournal(path, identity string) *partJournal {
	j := &partJournal{Identity: identity, Chunks: map[string]fileExtra{}}
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

// write converts every block of f that overlaps the ranges rs and writes
// the bytes of it that fall inside them, on a pool of workers. It
// returns what this part owns of f and how many bytes it wrote.
func (f *partFile) write(ctx context.Context, w *mmapnpy.Writer, rs []part.Range, opt Options) (fileExtra, int64, error) {
	hdr := w.HeaderLen()
	outItem := int64(f.p.To.Size())
	fx := fileExtra{First: -1}
	var blocks []int64 // blocks to convert, in order
	for _, r := range rs {
		if err := w.WriteHeaderRange(r.Start, r.End); err != nil {
			return fx, 0, err
		}
		d0, d1 := max(r.Start-hdr, 0), r.End-hdr
		if d1 <= d0 {
			continue
		}
		e1 := (d1 + outItem - 1) / outItem
		for i := f.blockAt(d0 / outItem); i < f.sl.Len(); i++ {
			b := f.sl.Block(i)
			if b.Elem0 >= e1 {
				break
			}
			if len(blocks) == 0 || blocks[len(blocks)-1] != i {
				blocks = append(blocks, i)
			}
			if b.Elem0*outItem >= d0 { // its first byte is ours: we own it
				if fx.First < 0 {
					fx.First = i
				}
				fx.End = i + 1
			}
		}
	}
	if fx.First < 0 {
		fx.First, fx.End = 0, 0
	}
	r := &run{p: f.p, opt: opt, sl: f.sl, verifyCRC: f.t.CRC32C != nil && !opt.NoVerify}
	pool := &blockPool{run: r}
	sums := make([]blockSum, fx.End-fx.First)
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
	take := func() (int64, bool) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr != nil || next >= len(blocks) || ctx.Err() != nil {
			return 0, false
		}
		next++
		return blocks[next-1], true
	}
	for range min(workers, max(len(blocks), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wk := &worker{pool: pool}
			if !f.p.copyOK {
				wk.buf = make([]byte, f.sl.MaxElems()*int64(f.p.From.Size()))
			}
			obuf := make([]byte, f.sl.MaxElems()*outItem)
			for {
				i, ok := take()
				if !ok {
					return
				}
				if testhook.BeforeBlock != nil {
					testhook.BeforeBlock(i, f.sl.Len())
				}
				sum, n, err := f.block(w, wk, obuf, i, rs)
				mu.Lock()
				written += n
				if k := i - fx.First; err == nil && k >= 0 && k < int64(len(sums)) {
					sums[k] = sum
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
		return fx, written, firstErr
	}
	for k, s := range sums {
		if k == 0 {
			fx.CRC = s.crc
		} else {
			fx.CRC = crc32c.Combine(fx.CRC, s.crc, s.len)
		}
		fx.InLen += s.len
		fx.Stats.Add(s.stats)
	}
	return fx, written, nil
}

// block converts block i of f and writes the part of it inside the
// ranges rs.
func (f *partFile) block(w *mmapnpy.Writer, wk *worker, obuf []byte, i int64, rs []part.Range) (blockSum, int64, error) {
	b := f.sl.Block(i)
	outItem := int64(f.p.To.Size())
	n := b.Elems * outItem
	sum := blockSum{len: b.Len}
	if err := wk.fill(b, obuf[:n], &sum); err != nil {
		var te *tensor.Error
		if !errors.As(err, &te) {
			err = tensor.Errorf(err, f.t.File, f.t.Name, f.t.Offset+b.Off, "block %d", i)
		}
		return sum, 0, err
	}
	var written int64
	hdr := w.HeaderLen()
	boff := hdr + b.Elem0*outItem // the block's place in the file
	for _, r := range rs {
		lo, hi := max(r.Start, boff), min(r.End, boff+n)
		if lo >= hi {
			continue
		}
		if err := w.WriteAt(obuf[lo-boff:hi-boff], lo-hdr); err != nil {
			return sum, written, err
		}
		written += hi - lo
	}
	return sum, written, nil
}

// blockAt is the first block of f holding output element e.
func (f *partFile) blockAt(e int64) int64 {
	return int64(sort.Search(int(f.sl.Len()), func(i int) bool {
		b := f.sl.Block(int64(i))
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
		pr.res.CommittedElsewhere = true // done while we waited for the lock
		return nil
	}
	results, err := pr.gather(ms)
	if err != nil {
		return err
	}
	for i, f := range pr.files {
		if res := results[i]; f.t.CRC32C != nil && !pr.opt.NoVerify && res.crc != *f.t.CRC32C {
			part.Clean(pr.out)
			os.RemoveAll(pr.building())
			return tensor.Errorf(tensor.ErrChecksum, f.t.File, f.t.Name, f.t.Offset,
				"crc32c over all parts is %#08x, expected %#08x; the file is damaged (--no-verify skips this check)", res.crc, *f.t.CRC32C)
		}
	}
	if pr.dir == nil {
		pr.res.Result.Stats, pr.res.Result.CRCVerify = results[0].res.Stats, results[0].res.CRCVerify
		unix.Setxattr(mmapnpy.PartialPath(pr.out), identityXattr, []byte(pr.identity), 0) // best effort: see committedHere
		if err := mmapnpy.CommitPartial(pr.out); err != nil {
			return err
		}
	} else if err := pr.commitDir(results); err != nil {
		return err
	}
	pr.res.Committed = true
	if testhook.AfterCommit != nil {
		testhook.AfterCommit()
	}
	return part.Clean(pr.out)
}

type fileResult struct {
	crc uint32
	res Result
}

// gather joins the parts' shares of every file: owned blocks must tile
// each file's blocks in order; checksums combine, loss counts add up.
func (pr *partRun) gather(ms []part.Marker) ([]fileResult, error) {
	out := make([]fileResult, len(pr.files))
	next := make([]int64, len(pr.files))
	for _, m := range ms {
		var x partExtra
		if err := json.Unmarshal(m.Extra, &x); err != nil {
			return nil, fmt.Errorf("part: marker of part %d/%d: %v", m.Index, m.Count, err)
		}
		for _, fx := range x.Files {
			if fx.File < 0 || fx.File >= len(pr.files) {
				return nil, fmt.Errorf("part: marker of part %d/%d names file %d of %d", m.Index, m.Count, fx.File, len(pr.files))
			}
			r := &out[fx.File]
			if fx.End > fx.First {
				if fx.First != next[fx.File] {
					return nil, fmt.Errorf("part: the parts' blocks of %s do not tile it: part %d/%d starts at block %d, want %d",
						pr.files[fx.File].path, m.Index, m.Count, fx.First, next[fx.File])
				}
				if next[fx.File] == 0 {
					r.crc = fx.CRC
				} else {
					r.crc = crc32c.Combine(r.crc, fx.CRC, fx.InLen)
				}
				next[fx.File] = fx.End
			}
			r.res.Stats.Add(fx.Stats)
		}
	}
	for i, f := range pr.files {
		if next[i] != f.sl.Len() {
			return nil, fmt.Errorf("part: the parts' blocks cover %d of the %d blocks of %s", next[i], f.sl.Len(), f.path)
		}
		out[i].res = Result{From: f.p.From, To: f.p.To, Shape: f.t.Shape.Clone(), Blocks: f.sl.Len(),
			Stats: out[i].res.Stats, CRCVerify: f.t.CRC32C != nil && !pr.opt.NoVerify}
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
		entries = append(entries, entry(f.t, f.file, results[i].res))
	}
	r.journal = &dirJournal{Done: entries}
	for _, f := range pr.files {
		r.journal.Tensors = append(r.journal.Tensors, f.t.Name)
	}
	unix.Setxattr(r.work, identityXattr, []byte(pr.identity), 0) // best effort: see committedHere
	sum, err := r.commit()
	if err != nil {
		return err
	}
	pr.res.Summary = &sum
	return nil
}
