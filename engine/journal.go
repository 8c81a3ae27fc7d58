package engine

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/bigconv/bigconv/cast"
	"github.com/bigconv/bigconv/internal/atomicfile"
	"github.com/bigconv/bigconv/internal/crc32c"
	"github.com/bigconv/bigconv/internal/testhook"
	"github.com/bigconv/bigconv/mmapnpy"
	"github.com/bigconv/bigconv/slicer"
	"github.com/bigconv/bigconv/tensor"
)

// Resume errors.
var (
	// ErrInterrupted: the run was cancelled; the partial output and its
	// journal are kept, and a run with Options.Resume continues it.
	ErrInterrupted = errors.New("engine: conversion interrupted")
	// ErrPending: an interrupted run of the same output left a journal;
	// pass Options.Resume to continue it or Options.Restart to discard it.
	ErrPending = errors.New("engine: an interrupted conversion of this output was found")
	// ErrResume: the journal does not match this conversion (the input
	// or the settings changed), so it cannot be resumed.
	ErrResume = errors.New("engine: cannot resume")
	// ErrNoSyncResume: Options.NoSync and Options.Resume were both set;
	// a run without fsync keeps no journal, and does not continue one.
	ErrNoSyncResume = errors.New("engine: a run without fsync (no-sync) keeps no resume journal and cannot resume one; drop no-sync to resume")
)

// JournalSuffix is appended (with a leading dot on the name) to form the
// journal beside the output.
const JournalSuffix = ".bigconv-journal"

// JournalPath is the journal Run keeps for an output path.
func JournalPath(out string) string {
	return filepath.Join(filepath.Dir(out), "."+filepath.Base(out)+JournalSuffix)
}

// Default checkpoint cadence: the journal records progress once this much
// output has been written and this much time has passed since the last
// checkpoint, whichever comes later. A run shorter than 10 s takes none;
// a slow one (less than 1 GiB in 10 s) takes one per GiB.
const (
	DefaultCheckpointBytes = 1 << 30
	DefaultCheckpointEvery = 10 * time.Second
)

// cadence is the checkpoint interval in output bytes and in time; a zero
// part does not hold a checkpoint back.
func (o Options) cadence() (int64, time.Duration) {
	if o.CheckpointBytes <= 0 && o.CheckpointEvery <= 0 {
		return DefaultCheckpointBytes, DefaultCheckpointEvery
	}
	return max(o.CheckpointBytes, 0), max(o.CheckpointEvery, 0)
}

// clock is the time the checkpointer reads; tests replace it.
var clock = time.Now

const journalVersion = 1

// journal records which blocks of an output are durably written, and
// what the conversion was, so that a resumed run can check that it is
// continuing the same work. It is small JSON, replaced atomically.
type journal struct {
	Version   int        `json:"version"`
	Output    string     `json:"output"`
	Tensor    string     `json:"tensor"`
	Source    string     `json:"source"`
	Input     string     `json:"input,omitempty"` // the caller's identity of the input files
	Sample    string     `json:"sample"`          // sha256 of the data's first and last 64 KiB
	From      string     `json:"from"`
	To        string     `json:"to"`
	Shape     []int64    `json:"shape"`
	Fortran   bool       `json:"fortran"`
	BlockSize int64      `json:"block_size"`
	Blocks    int64      `json:"blocks"`
	Verify    bool       `json:"verify"`
	Done      int64      `json:"done"`   // blocks [0, Done) are durable in the partial file
	CRC       uint32     `json:"crc32c"` // crc32c of the input bytes of blocks [0, Done)
	Stats     cast.Stats `json:"stats"`  // what the cast met in blocks [0, Done)
	// Ahead are the blocks past Done also durable, as spans (a stack's
	// journal: blocks finished behind a one-pass input still being read,
	// or in flight); the crc32c and stats above do not count them.
	Ahead   []journalSpan `json:"ahead,omitempty"`
	Updated time.Time     `json:"updated"`
}

// journalSpan is a span of blocks [Start, End) durable past a journal's
// Done: the crc32c of their Bytes input bytes and what the cast met.
type journalSpan struct {
	Start int64      `json:"start"`
	End   int64      `json:"end"`
	Bytes int64      `json:"bytes"`
	CRC   uint32     `json:"crc32c"`
	Stats cast.Stats `json:"stats"`
}

// kept is the number of blocks the journal records durable.
func (j *journal) kept() int64 {
	n := j.Done
	for _, a := range j.Ahead {
		n += a.End - a.Start
	}
	return n
}

// spans are the journal's blocks past Done, as a prefix holds them.
func (j *journal) spans() []span {
	var sp []span
	for _, a := range j.Ahead {
		sp = append(sp, span{a.Start, a.End, blockSum{crc: a.CRC, len: a.Bytes, stats: a.Stats}})
	}
	return sp
}

// maxJournal caps the size of a journal file read back.
const maxJournal = 1 << 20

func readJournal(path string) (*journal, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxJournal+1))
	if err != nil {
		return nil, err
	}
	var j journal
	if len(b) > maxJournal {
		return nil, fmt.Errorf("%w: journal %s is larger than %d bytes", ErrResume, path, maxJournal)
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("%w: journal %s is unreadable: %v", ErrResume, path, err)
	}
	if j.Version != journalVersion {
		return nil, fmt.Errorf("%w: journal %s has version %d, this bigconv writes %d", ErrResume, path, j.Version, journalVersion)
	}
	if j.Done < 0 || j.Done > j.Blocks {
		return nil, fmt.Errorf("%w: journal %s records %d of %d blocks", ErrResume, path, j.Done, j.Blocks)
	}
	end := j.Done
	for _, a := range j.Ahead {
		if a.Start < end || a.End <= a.Start || a.End > j.Blocks || a.Bytes < 0 {
			return nil, fmt.Errorf("%w: journal %s records blocks [%d, %d) out of order (after block %d of %d)", ErrResume, path, a.Start, a.End, end, j.Blocks)
		}
		end = a.End
	}
	return &j, nil
}

// write replaces the journal at path atomically and durably.
func (j *journal) write(path string) error {
	j.Updated = time.Now().UTC().Truncate(time.Second)
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, append(b, '\n')); err != nil {
		return fmt.Errorf("engine: journal: %w", err)
	}
	return nil
}

// mismatch names the first difference between a journal found on disk
// (j) and the one this run would write (k), or "" when k continues j.
func (j *journal) mismatch(k *journal) string {
	switch {
	case j.Tensor != k.Tensor:
		return fmt.Sprintf("it was converting tensor %q, not %q", j.Tensor, k.Tensor)
	case j.Input != k.Input:
		return fmt.Sprintf("the input changed since (was %s, now %s)", j.Input, k.Input)
	case j.Sample != k.Sample:
		return "the input's data changed since (its first or last 64 KiB differ)"
	case j.From != k.From || j.To != k.To:
		return fmt.Sprintf("it converted %s to %s, this run %s to %s", j.From, j.To, k.From, k.To)
	case !slices.Equal(j.Shape, k.Shape) || j.Fortran != k.Fortran:
		return fmt.Sprintf("its shape was %v, now %v", j.Shape, k.Shape)
	case j.BlockSize != k.BlockSize || j.Blocks != k.Blocks:
		return fmt.Sprintf("it used blocks of %d bytes, this run %d (drop --block-size to reuse the journal's)", j.BlockSize, k.BlockSize)
	case j.Verify != k.Verify:
		return fmt.Sprintf("checksum verification was %v, now %v", onOff(j.Verify), onOff(k.Verify))
	}
	return ""
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// sampleEdge is how much of each end of a tensor's data sampleHash hashes.
const sampleEdge = 64 << 10

// sampleBufs holds sampleHash's read buffers (a stack samples thousands
// of inputs).
var sampleBufs = sync.Pool{New: func() any { b := make([]byte, sampleEdge); return &b }}

// sampleHash fingerprints a tensor's data cheaply: the sha256 of its
// first and last 64 KiB (all of it when smaller), and its length.
func sampleHash(t *tensor.Tensor, n int64) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%d:", n)
	bp := sampleBufs.Get().(*[]byte)
	defer sampleBufs.Put(bp)
	buf := (*bp)[:min(n, sampleEdge)]
	for _, off := range []int64{0, max(n-sampleEdge, 0)} {
		if k, err := t.Data.ReadAt(buf, off); err != nil && !(err == io.EOF && k == len(buf)) {
			return "", tensor.Errorf(err, t.File, t.Name, t.Offset+off, "read")
		}
		h.Write(buf)
		if n <= sampleEdge {
			break
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// findJournal looks for the journal of an interrupted run of out and
// returns it when this run should continue it.
func findJournal(out, jpath string, opt Options) (*journal, error) {
	j, err := readJournal(jpath)
	cont, err := leftJournal(out, jpath, opt, err, func() (string, time.Time) {
		return fmt.Sprintf("%d of %d blocks of tensor %q", j.kept(), j.Blocks, j.Tensor), j.Updated
	})
	if !cont {
		return nil, err
	}
	return j, nil
}

// leftJournal decides about the journal an interrupted run left at jpath
// (read with readErr): none, discarded (Restart) or stale (the partial
// file it described is gone: a run that finished but died before
// removing its journal) is not continued; an unreadable one is an error;
// without Resume it is ErrPending, saying what describe says was written;
// with Resume it is continued.
func leftJournal(out, jpath string, opt Options, readErr error, describe func() (string, time.Time)) (bool, error) {
	if errors.Is(readErr, fs.ErrNotExist) {
		return false, nil
	}
	partial := mmapnpy.PartialPath(out)
	if _, serr := os.Stat(partial); opt.Restart || errors.Is(serr, fs.ErrNotExist) {
		os.Remove(jpath)
		return false, nil
	}
	if readErr != nil {
		return false, fmt.Errorf("%w; restart to discard it", readErr)
	}
	if !opt.Resume {
		what, updated := describe()
		return false, fmt.Errorf("%w: %s has %s written (journal %s, updated %s); resume to continue it, or restart to discard it",
			ErrPending, partial, what, jpath, updated.Format(time.RFC3339))
	}
	return true, nil
}

// startBlock is the first block a run must write.
func (j *journal) startBlock() int64 {
	if j == nil {
		return 0
	}
	return j.Done
}

// checkpointer records progress in the journal: it tracks which blocks
// are written, and once an interval of output bytes and of time has
// passed (Options.cadence) makes them durable (fsync) and then records
// the prefix of blocks that are, with their input crc32c.
type checkpointer struct {
	w     *mmapnpy.Writer
	j     *journal // nil: no journal
	path  string
	sl    *slicer.Slicer
	bytes int64         // output bytes between checkpoints
	every time.Duration // work time between checkpoints
	last  time.Time     // when the last checkpoint was asked for (or the run began)
	taken int           // checkpoints recorded by this run

	// spans: the journal records the blocks written past the prefix
	// too (a stack, where a one-pass input holds the prefix back)
	spans bool

	mu       sync.Mutex
	prefix         // the blocks written, folded in order (under mu)
	pending  int64 // output bytes since the last checkpoint
	recorded int64 // blocks recorded (prefix.n as last recorded)
	dirSync  bool

	kick chan struct{}
	quit chan struct{}
	exit chan struct{}
	err  error
}

func newCheckpointer(w *mmapnpy.Writer, j *journal, path string, sl *slicer.Slicer, opt Options) *checkpointer {
	c := &checkpointer{w: w, j: j, path: path, sl: sl, last: clock(),
		kick: make(chan struct{}, 1), quit: make(chan struct{}), exit: make(chan struct{})}
	c.bytes, c.every = opt.cadence()
	if j != nil {
		c.done, c.crc, c.stats, c.n = j.Done, j.CRC, j.Stats, j.Done
		for _, sp := range j.spans() {
			c.addSpan(sp)
		}
		c.recorded = c.n
	}
	return c
}

// start runs the background checkpoints; an error is passed to fail.
func (c *checkpointer) start(fail func(error)) {
	if c.j == nil {
		close(c.exit)
		return
	}
	go func() {
		defer close(c.exit)
		for {
			select {
			case <-c.quit:
				return
			case <-c.kick:
			}
			if err := c.checkpoint(); err != nil {
				c.err = err
				fail(err)
				return
			}
		}
	}()
}

func (c *checkpointer) stop() {
	close(c.quit)
	<-c.exit
}

// prefix is what is known of blocks [0, done) of a tensor, whose blocks
// finish in any order: ahead holds those past done, merged into spans of
// consecutive blocks, until they can be folded in. Its memory is one span
// per gap between finished blocks (the blocks in flight, a one-pass
// stream still being read), not one per block. Its users hold their own
// lock.
type prefix struct {
	ahead []span     // sorted, disjoint, not adjacent, all past done
	done  int64      // blocks [0, done) written
	crc   uint32     // crc32c of their input bytes
	stats cast.Stats // what the cast met in them
	n     int64      // blocks added in all: done and those in ahead
}

// span is the blocks [start, end) written, with the crc32c, length and
// cast counts of their input bytes in order.
type span struct {
	start, end int64
	sum        blockSum
}

// then appends the blockSum b of the bytes that follow a's.
func (a blockSum) then(b blockSum) blockSum {
	a.crc = crc32c.Combine(a.crc, b.crc, b.len)
	a.len += b.len
	a.stats.Add(b.stats)
	return a
}

// add records block i and folds in every block now contiguous with the
// prefix.
func (p *prefix) add(i int64, s blockSum) {
	p.addSpan(span{i, i + 1, s})
}

// addSpan records the blocks of sp (none of them recorded yet), merging
// it with the spans it touches, and folds in what is now contiguous with
// the prefix.
func (p *prefix) addSpan(sp span) {
	p.n += sp.end - sp.start
	k, _ := slices.BinarySearchFunc(p.ahead, sp.start, func(a span, i int64) int { return cmp.Compare(a.start, i) })
	if k > 0 && p.ahead[k-1].end == sp.start { // joins the span before it
		k--
		sp = span{p.ahead[k].start, sp.end, p.ahead[k].sum.then(sp.sum)}
		p.ahead = slices.Delete(p.ahead, k, k+1)
	}
	if k < len(p.ahead) && p.ahead[k].start == sp.end { // and the one after
		sp = span{sp.start, p.ahead[k].end, sp.sum.then(p.ahead[k].sum)}
		p.ahead = slices.Delete(p.ahead, k, k+1)
	}
	if sp.start != p.done {
		p.ahead = slices.Insert(p.ahead, k, sp)
		return
	}
	if p.done == 0 {
		p.crc = sp.sum.crc
	} else {
		p.crc = crc32c.Combine(p.crc, sp.sum.crc, sp.sum.len)
	}
	p.stats.Add(sp.sum.stats)
	p.done = sp.end
}

// blockSum is what a written block (or a span of them) contributes to
// the journal.
type blockSum struct {
	crc   uint32 // crc32c of its input bytes
	len   int64  // its input bytes
	stats cast.Stats
}

// blockDone marks block i written, with its input crc32c and cast stats,
// and folds the blocks now contiguous with the prefix into it.
func (c *checkpointer) blockDone(i int64, sum blockSum, outLen int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.add(i, sum)
	c.pending += outLen
	if c.j == nil || c.pending < c.bytes {
		return
	}
	if now := clock(); now.Sub(c.last) >= c.every {
		c.pending, c.last = 0, now
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
}

// checkpoint makes the written prefix durable and records it.
func (c *checkpointer) checkpoint() error {
	if c.j == nil {
		return nil
	}
	c.mu.Lock()
	done, crc, stats, n := c.done, c.crc, c.stats, c.n
	var ahead []journalSpan
	if c.spans {
		for _, a := range c.ahead {
			ahead = append(ahead, journalSpan{Start: a.start, End: a.end, Bytes: a.sum.len, CRC: a.sum.crc, Stats: a.sum.stats})
		}
	} else {
		n = done
	}
	c.mu.Unlock()
	if n == c.recorded {
		return nil
	}
	if err := c.w.Sync(); err != nil {
		return err
	}
	c.j.Done, c.j.CRC, c.j.Stats, c.j.Ahead = done, crc, stats, ahead
	if err := c.j.write(c.path); err != nil {
		return err
	}
	if !c.dirSync {
		c.dirSync = true
		mmapnpy.SyncDir(filepath.Dir(c.path))
	}
	c.recorded = n
	c.taken++
	if testhook.Checkpoint != nil {
		testhook.Checkpoint(n, c.j.Blocks)
	}
	return nil
}
