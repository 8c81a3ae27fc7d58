package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
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
	// NothingToDo: OUTPUT had been committed by an earlier run of these
	// parts before this one started.
	NothingToDo bool
	// Committed: every part was done, and this process put OUTPUT in
	// place (CommittedElsewhere: another one did, at the same moment).
	Committed, CommittedElsewhere bool
	// State is what the markers said after this part's own was written.
	State part.State
	// Result describes the whole output; Stats in it are summed over all
	// parts once committed, otherwise this part's own.
	Result Result
}

// partExtra is what a part hands the committer in its marker.
type partExtra struct {
	// Blocks [First, End) are the blocks this part owns (whose first
	// output byte falls in its ranges): their input CRC and cast stats
	// are its to report.
	First, End int64
	CRC        uint32 // crc32c of the input bytes of the owned blocks
	InLen      int64  // their input bytes
	Stats      cast.Stats
}

// RunPart converts part sp of the conversion of in to out. N processes
// run the same call, each with its index, at once or one after another,
// on one host or on many sharing a file system; none coordinates the
// others. Each writes the output's byte ranges part.Split gives it (on
// 4 KiB pages) into the shared partial file, makes them durable and
// records itself done (part.Marker); the process that finds every part
// done verifies the input checksum over all parts, and puts OUTPUT in
// place. A part whose marker exists is not redone; a killed part is
// rerun with the same call and redoes its own range. Parts started
// with another input, other flags or another count are refused
// (part.ErrMismatch), and a second process of a running part gets
// part.ErrTaken.
//
// The output is one .npy file: the input's one selected tensor.
func RunPart(ctx context.Context, in *format.Input, out string, opt InputOptions, sp part.Spec) (PartResult, error) {
	res := PartResult{Part: sp, Output: out}
	if _, err := part.Parse(sp.String()); err != nil {
		return res, err
	}
	sel, err := opt.selectFrom(in)
	if err != nil {
		return res, err
	}
	switch {
	case len(sel) == 0:
		return res, fmt.Errorf("%s: no tensors to convert", in.Path)
	case len(sel) > 1:
		return res, fmt.Errorf("%w: --part writes one .npy, and %s has %d tensors: pick one with --tensor NAME (parts of a directory output are not supported yet)",
			ErrManyTensors, in.Path, len(sel))
	}
	if opt.Identity == "" {
		opt.Identity = in.Identity()
	}
	if opt.BlockSize <= 0 {
		opt.BlockSize = PartBlockSize
	}
	pr, err := newPartRun(sel[0], out, opt.Options, sp)
	if err != nil {
		return res, err
	}
	return pr.run(ctx)
}

// partRun is one RunPart in progress.
type partRun struct {
	t        *tensor.Tensor
	p        *Plan
	opt      Options
	out      string
	sp       part.Spec
	identity string
	sl       *slicer.Slicer
	header   []byte // the output's .npy header
	fileLen  int64  // the output file's length
	ranges   []part.Range
	res      PartResult
}

func newPartRun(t *tensor.Tensor, out string, opt Options, sp part.Spec) (*partRun, error) {
	if t.Stream != nil {
		return nil, tensor.Errorf(tensor.ErrUnsupported, t.File, t.Name, t.Offset,
			"a one-pass stream cannot be split into parts; convert it in one process")
	}
	p, err := NewPlan(t, opt)
	if err != nil {
		return nil, err
	}
	src := *t
	src.DType = p.From
	sl, err := slicer.New(&src, slicer.Options{BlockSize: opt.BlockSize, OutItemSize: p.To.Size()})
	if err != nil {
		return nil, err
	}
	pr := &partRun{t: t, p: p, opt: opt, out: out, sp: sp, sl: sl}
	if pr.header, err = npyhdr.Encode(p.To, t.Shape, false); err != nil {
		return nil, err
	}
	dataLen, err := t.Shape.NumBytes(p.To.Size())
	if err != nil {
		return nil, err
	}
	pr.fileLen = int64(len(pr.header)) + dataLen
	pr.identity = partIdentity(t, p, opt, sp.Count)
	pr.res = PartResult{Part: sp, Output: out, Result: Result{From: p.From, To: p.To, Shape: t.Shape.Clone(), Blocks: sl.Len()}}
	return pr, nil
}

// partIdentity names everything every part must agree on, as
// "key=value" fields, so that a mismatch can say which differ.
func partIdentity(t *tensor.Tensor, p *Plan, opt Options, count int) string {
	sum := sha256.Sum256([]byte(opt.Identity))
	fields := []string{
		"input=" + hex.EncodeToString(sum[:8]),
		"tensor=" + t.Name,
		"from=" + p.From.String(),
		"to=" + p.To.String(),
		"shape=" + fmt.Sprint([]int64(t.Shape)),
		"fortran=" + fmt.Sprint(t.Fortran),
		"casting=" + p.Casting.String(),
		fmt.Sprintf("block-size=%d", opt.BlockSize),
		fmt.Sprintf("verify=%v", t.CRC32C != nil && !opt.NoVerify),
		fmt.Sprintf("parts=%d", count),
	}
	return strings.Join(fields, " ")
}

const identityXattr = "user.bigconv.parts"

// committedHere reports whether OUTPUT is the one these parts committed:
// its identity attribute matches or, where the file system keeps no
// extended attributes, it has the planned size and header.
func (pr *partRun) committedHere() bool {
	buf := make([]byte, len(pr.identity)+1)
	n, err := unix.Getxattr(pr.out, identityXattr, buf)
	if err == nil || !errors.Is(err, unix.ENOTSUP) {
		return err == nil && string(buf[:n]) == pr.identity
	}
	f, err := os.Open(pr.out)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, len(pr.header))
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() != pr.fileLen {
		return false
	}
	_, err = f.ReadAt(head, 0)
	return err == nil && string(head) == string(pr.header)
}

func (pr *partRun) run(ctx context.Context) (PartResult, error) {
	// 1. Was the whole output committed already? (Checked before
	// anything is created, and again once the partial file is open.)
	if _, err := os.Stat(mmapnpy.PartialPath(pr.out)); os.IsNotExist(err) && pr.committedHere() {
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
	w, err := mmapnpy.OpenShared(pr.out, pr.p.To, pr.t.Shape)
	if err != nil {
		return pr.res, err
	}
	defer w.Abort() // closes; the shared file stays
	if pr.committedHere() {
		pr.res.NothingToDo = true
		return pr.res, nil
	}
	pr.ranges = part.Split([]int64{w.FileLen()}, pr.sp.Count, part.Page)[pr.sp.Index]
	pr.res.Ranges = pr.ranges
	if slices.Contains(st.Done, pr.sp.Index) {
		pr.res.AlreadyDone = true
	} else {
		// 2. Write this part's ranges, make them durable, say so.
		extra, err := pr.write(ctx, w)
		if err != nil {
			return pr.res, err
		}
		if err := w.Sync(); err != nil {
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
		pr.res.Result.Stats = extra.Stats
	}
	w.Release()
	// 3. The last part to finish commits.
	st, ms, err := part.Status(pr.out, pr.identity, pr.sp.Count)
	pr.res.State = st
	if err != nil || !st.Complete() {
		return pr.res, err
	}
	return pr.res, pr.commit(ms)
}

// write converts every block that overlaps this part's ranges and writes
// the bytes of it that fall inside them.
func (pr *partRun) write(ctx context.Context, w *mmapnpy.Writer) (partExtra, error) {
	hdr := w.HeaderLen()
	outItem := int64(pr.p.To.Size())
	extra := partExtra{First: -1}
	var blocks []int64 // blocks to convert, in order
	for _, r := range pr.ranges {
		if err := w.WriteHeaderRange(r.Start, r.End); err != nil {
			return extra, err
		}
		d0, d1 := max(r.Start-hdr, 0), r.End-hdr
		if d1 <= d0 {
			continue
		}
		e0, e1 := d0/outItem, (d1+outItem-1)/outItem
		i := pr.blockAt(e0)
		for ; i < pr.sl.Len(); i++ {
			b := pr.sl.Block(i)
			if b.Elem0 >= e1 {
				break
			}
			if len(blocks) == 0 || blocks[len(blocks)-1] != i {
				blocks = append(blocks, i)
			}
			if b.Elem0*outItem >= d0 && extra.First < 0 {
				extra.First = i
			}
			if b.Elem0*outItem >= d0 {
				extra.End = i + 1
			}
		}
	}
	if extra.First < 0 {
		extra.First, extra.End = 0, 0
	}
	// convert on a pool of workers; owned blocks' sums are kept by index
	// and folded in order at the end.
	r := &run{p: pr.p, opt: pr.opt, sl: pr.sl, verifyCRC: pr.t.CRC32C != nil && !pr.opt.NoVerify}
	pool := &blockPool{run: r}
	sums := make([]blockSum, extra.End-extra.First)
	workers := pr.opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var (
		next     int64
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		written  int64
	)
	take := func() (int64, bool) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr != nil || next >= int64(len(blocks)) || ctx.Err() != nil {
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
			if !pr.p.copyOK {
				wk.buf = make([]byte, pr.sl.MaxElems()*int64(pr.p.From.Size()))
			}
			obuf := make([]byte, pr.sl.MaxElems()*outItem)
			for {
				i, ok := take()
				if !ok {
					return
				}
				if testhook.BeforeBlock != nil {
					testhook.BeforeBlock(i, pr.sl.Len())
				}
				n, err := pr.block(w, wk, obuf, i, hdr, &sums, extra.First)
				mu.Lock()
				written += n
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
		return extra, firstErr
	}
	for k, s := range sums {
		if k == 0 {
			extra.CRC = s.crc
		} else {
			extra.CRC = crc32c.Combine(extra.CRC, s.crc, s.len)
		}
		extra.InLen += s.len
		extra.Stats.Add(s.stats)
	}
	pr.res.Bytes = written
	return extra, nil
}

// block converts block i and writes the part of it inside this part's
// ranges; an owned block's sums go to sums[i-first].
func (pr *partRun) block(w *mmapnpy.Writer, wk *worker, obuf []byte, i, hdr int64, sums *[]blockSum, first int64) (int64, error) {
	b := pr.sl.Block(i)
	outItem := int64(pr.p.To.Size())
	n := b.Elems * outItem
	sum := blockSum{len: b.Len}
	if err := wk.fill(b, obuf[:n], &sum); err != nil {
		var te *tensor.Error
		if !errors.As(err, &te) {
			err = tensor.Errorf(err, pr.t.File, pr.t.Name, pr.t.Offset+b.Off, "block %d", i)
		}
		return 0, err
	}
	if k := i - first; k >= 0 && k < int64(len(*sums)) {
		(*sums)[k] = sum
	}
	var written int64
	boff := hdr + b.Elem0*outItem // the block's place in the file
	for _, r := range pr.ranges {
		lo, hi := max(r.Start, boff), min(r.End, boff+n)
		if lo >= hi {
			continue
		}
		if err := w.WriteAt(obuf[lo-boff:hi-boff], lo-hdr); err != nil {
			return written, err
		}
		written += hi - lo
	}
	return written, nil
}

// blockAt is the first block holding output element e.
func (pr *partRun) blockAt(e int64) int64 {
	n := pr.sl.Len()
	return int64(sort.Search(int(n), func(i int) bool {
		b := pr.sl.Block(int64(i))
		return b.Elem0+b.Elems > e
	}))
}

// commit verifies the input checksum over every part's owned blocks,
// then puts the partial file in place and removes the markers.
func (pr *partRun) commit(ms []part.Marker) error {
	var crc uint32
	var stats cast.Stats
	var next int64
	for _, m := range ms {
		var x partExtra
		if err := json.Unmarshal(m.Extra, &x); err != nil {
			return fmt.Errorf("part: marker of part %d/%d: %v", m.Index, m.Count, err)
		}
		if x.End > x.First {
			if x.First != next {
				return fmt.Errorf("part: the parts' blocks do not tile the tensor: part %d/%d starts at block %d, want %d", m.Index, m.Count, x.First, next)
			}
			if next == 0 {
				crc = x.CRC
			} else {
				crc = crc32c.Combine(crc, x.CRC, x.InLen)
			}
			next = x.End
		}
		stats.Add(x.Stats)
	}
	if next != pr.sl.Len() {
		return fmt.Errorf("part: the parts' blocks cover %d of %d blocks", next, pr.sl.Len())
	}
	pr.res.Result.Stats = stats
	if pr.t.CRC32C != nil && !pr.opt.NoVerify {
		pr.res.Result.CRCVerify = true
		if crc != *pr.t.CRC32C {
			part.Clean(pr.out)
			os.Remove(mmapnpy.PartialPath(pr.out))
			return tensor.Errorf(tensor.ErrChecksum, pr.t.File, pr.t.Name, pr.t.Offset,
				"crc32c over all parts is %#08x, expected %#08x; the file is damaged (--no-verify skips this check)", crc, *pr.t.CRC32C)
		}
	}
	tmp := mmapnpy.PartialPath(pr.out)
	unix.Setxattr(tmp, identityXattr, []byte(pr.identity), 0) // best effort: see committedHere
	if err := mmapnpy.CommitPartial(pr.out); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			if _, serr := os.Stat(pr.out); serr == nil {
				pr.res.CommittedElsewhere = true
				return nil
			}
		}
		return err
	}
	pr.res.Committed = true
	if testhook.AfterCommit != nil {
		testhook.AfterCommit()
	}
	return part.Clean(pr.out)
}
