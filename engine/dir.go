package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/internal/atomicfile"
	"github.com/bigconv/bigconv/internal/testhook"
	"github.com/bigconv/bigconv/mmapnpy"
	"github.com/bigconv/bigconv/tensor"
)

// Errors of whole-input conversions.
var (
	// ErrManyTensors: several tensors were asked to go into one .npy file.
	ErrManyTensors = errors.New("engine: several tensors for one .npy file")
	// ErrNotOurs: the output directory exists, is not empty and was not
	// made by bigconv; InputOptions.Force writes into it anyway.
	ErrNotOurs = errors.New("engine: output directory was not made by bigconv")
)

// ManifestName is the file a directory output lists its tensors in.
const ManifestName = "manifest.json"

// InputOptions control ConvertInput and ConvertDir: Options apply to
// every tensor, except Progress, which counts the input bytes of all the
// selected tensors together.
type InputOptions struct {
	Options
	// Tensors selects tensors by name or glob (format.Input.Select);
	// none selects all.
	Tensors []string
	// Pick, if set, narrows the selection further (a distributed run's
	// share of the tensors, say). What it returns is what is converted
	// and what a resumed run must select again.
	Pick func([]*tensor.Tensor) []*tensor.Tensor
	// Force writes into an existing non-empty directory that bigconv did
	// not make: the converted files and manifest.json are added to it
	// (replacing files of the same names), nothing else is touched. A
	// directory bigconv made is replaced whole without it.
	Force bool
	// Event, if set, is told what happens to each tensor, in order.
	Event func(Event)
	// Rows, if set, converts only those rows of each selected tensor's
	// first axis (tensor.Rows, Python's slice rules). With several
	// tensors, one that has no rows (a scalar) is skipped.
	Rows *tensor.RowRange
	// ModTime is the modification time of an .npz output's members
	// (zero: now, as np.savez).
	ModTime time.Time
}

// EventKind says what an Event reports.
type EventKind int

const (
	// Converted: a tensor was written; Result says how.
	Converted EventKind = iota
	// Skipped: a tensor that cannot be converted (resource, string…)
	// was left out of a directory output; Err says why.
	Skipped
	// Kept: an interrupted run had already finished this tensor.
	Kept
)

func (k EventKind) String() string {
	switch k {
	case Converted:
		return "converted"
	case Skipped:
		return "skipped"
	case Kept:
		return "kept"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event reports one tensor of a whole-input conversion.
type Event struct {
	Kind    EventKind
	Tensor  *tensor.Tensor
	Output  string // the .npy file, at its final path (the archive for .npz outputs)
	Member  string // the archive member (NAME.npy) for .npz outputs
	Result  Result // Converted only
	Elapsed time.Duration
	Err     error // Skipped only
}

// Summary describes a finished whole-input conversion.
type Summary struct {
	Output string
	// Dir is set when Output is a directory with manifest.json.
	Dir bool
	// Archive is set when Output is an .npz archive (ConvertArchive).
	Archive bool
	// Tensors lists what was written, in input order (a Kept tensor's
	// entry as the interrupted run recorded it).
	Tensors []ManifestEntry
	Skipped []SkippedTensor
}

// ManifestEntry describes one converted tensor in manifest.json.
type ManifestEntry struct {
	Name        string  `json:"name"`
	File        string  `json:"file"`
	DType       string  `json:"dtype"`
	Shape       []int64 `json:"shape"`
	SourceDType string  `json:"source_dtype"`
	CRCChecked  bool    `json:"crc_checked"`
	Lost        string  `json:"lost,omitempty"`
	// Rows is the row range converted (InputOptions.Rows): "START:STOP
	// of N", the bounds resolved.
	Rows string `json:"rows,omitempty"`
}

// SkippedTensor is a tensor manifest.json lists as left out.
type SkippedTensor struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// ConvertInput converts the selected tensors of in to out, deciding the
// shape of the output as `bigconv convert` does: one tensor goes to the
// .npy file out, unless the input is a collection (a checkpoint, an
// archive) and out does not end in .npy; several tensors go to the
// directory out (ConvertDir). Several tensors to a path ending in .npy
// is ErrManyTensors. An out ending in .npz receives every selected
// tensor, one or many, as a member of one archive (ConvertArchive).
func ConvertInput(ctx context.Context, in *format.Input, out string, opt InputOptions) (Summary, error) {
	sel, err := opt.selectFrom(in)
	if err != nil {
		return Summary{}, err
	}
	if len(sel) == 0 {
		return Summary{}, fmt.Errorf("%s: no tensors to convert", in.Path)
	}
	if IsArchivePath(out) {
		return convertArchive(ctx, in, sel, out, opt)
	}
	opt.Identity = opt.identity(in)
	npyOut := strings.HasSuffix(strings.ToLower(out), ".npy")
	if len(sel) == 1 && (!in.Collection || npyOut) {
		return convertOne(ctx, sel[0], out, opt)
	}
	if npyOut {
		return Summary{}, fmt.Errorf("%w: %s names one file, and the input has %d tensors; pick one with --tensor NAME, or give a directory as OUTPUT",
			ErrManyTensors, out, len(sel))
	}
	return convertDir(ctx, in, sel, out, opt)
}

// selectFrom is the tensors of in that opt selects, cut to opt.Rows.
func (opt *InputOptions) selectFrom(in *format.Input) ([]*tensor.Tensor, error) {
	sel, err := in.Select(opt.Tensors)
	if err == nil && opt.Pick != nil {
		sel = opt.Pick(sel)
	}
	if err != nil || opt.Rows == nil {
		return sel, err
	}
	return CutRows(sel, *opt.Rows)
}

// CutRows is ts cut to rows r of each one's first axis (tensor.Rows), as
// a conversion with InputOptions.Rows writes them, for a caller that
// shows the plan (inspect): a tensor that is unsupported or has no data
// stays as it is; a scalar among several is marked Unsupported (a
// directory or archive output skips it, saying why); a lone scalar, or
// any other range a tensor cannot take, is an error.
func CutRows(ts []*tensor.Tensor, r tensor.RowRange) ([]*tensor.Tensor, error) {
	rows := make([]*tensor.Tensor, len(ts))
	for i, t := range ts {
		if t.Unsupported != "" || (t.Data == nil && t.Stream == nil) {
			rows[i] = t // skipped or refused for its own reason
			continue
		}
		v, err := tensor.Rows(t, r)
		if err != nil {
			if len(t.Shape) != 0 || len(ts) == 1 {
				return nil, err
			}
			c := *t // a scalar among others: skipped, saying why
			c.Unsupported = fmt.Sprintf("--rows %s: it has no rows (a scalar)", r)
			v = &c
		}
		rows[i] = v
	}
	return rows, nil
}

// identity is the resume identity of a .npy or directory output: the
// input's (opt.Identity, else in.Identity()) and the row range.
func (opt *InputOptions) identity(in *format.Input) string {
	id := opt.Identity
	if id == "" {
		id = in.Identity()
	}
	if opt.Rows != nil && !strings.Contains(id, " rows=") {
		id += " rows=" + opt.Rows.String()
	}
	return id
}

// convertOne writes one tensor to a .npy file.
func convertOne(ctx context.Context, t *tensor.Tensor, out string, opt InputOptions) (Summary, error) {
	plan, err := NewPlan(t, opt.Options)
	if err != nil {
		return Summary{}, err
	}
	start := time.Now()
	res, err := plan.Run(ctx, out, opt.Options)
	if err != nil {
		return Summary{}, err
	}
	e := entry(t, filepath.Base(out), res)
	if opt.Event != nil {
		opt.Event(Event{Kind: Converted, Tensor: t, Output: out, Result: res, Elapsed: time.Since(start)})
	}
	return Summary{Output: out, Tensors: []ManifestEntry{e}}, nil
}

// ConvertDir converts the selected tensors of in into the directory dir:
// one .npy per tensor (SafeName of its name) and a manifest.json mapping
// names to files. Tensors that cannot be converted are skipped and
// listed in the manifest, unless they were the only one selected.
//
// The directory is built beside dir under a temporary name and takes
// dir's place when complete: a new dir appears whole, an existing one
// made by bigconv (it has a manifest.json) is replaced whole, in one
// rename where the system can swap two names. A non-empty dir that
// bigconv did not make is refused (ErrNotOurs) unless opt.Force.
//
// An interrupted run (cancelled ctx) keeps its work, recorded in a
// journal, and returns ErrInterrupted; a run with opt.Resume continues
// it, skipping finished tensors, and one without it fails with
// ErrPending. The resume identity is the input (opt.Identity, else
// in.Identity()), the selection and the casting settings; block and
// checkpoint sizes are not part of it.
func ConvertDir(ctx context.Context, in *format.Input, dir string, opt InputOptions) (Summary, error) {
	sel, err := opt.selectFrom(in)
	if err != nil {
		return Summary{}, err
	}
	return convertDir(ctx, in, sel, dir, opt)
}

// dirRun is one directory conversion: its tensors and where they go.
type dirRun struct {
	in      *format.Input
	opt     InputOptions
	final   string // the output directory
	work    string // the directory being built
	jobs    []dirJob
	skips   []SkippedTensor
	total   int64 // input bytes of all jobs
	journal *dirJournal
	written map[string]bool // tensors finished, by this run or a kept one
	done    int64           // input bytes finished
}

type dirJob struct {
	t    *tensor.Tensor
	plan *Plan
	file string // relative, slash-separated
}

func convertDir(ctx context.Context, in *format.Input, sel []*tensor.Tensor, dir string, opt InputOptions) (Summary, error) {
	if opt.NoSync && opt.Resume {
		return Summary{}, ErrNoSyncResume
	}
	r := &dirRun{in: in, opt: opt, final: dir, work: PartialDir(dir), written: map[string]bool{}}
	r.opt.Identity = opt.identity(in)
	if err := r.checkOutput(len(sel)); err != nil {
		return Summary{}, err
	}
	if err := r.plan(sel); err != nil {
		return Summary{}, err
	}
	if err := r.resume(); err != nil {
		return Summary{}, err
	}
	if err := r.streamTensors(ctx); err != nil {
		if !errors.Is(err, ErrInterrupted) || r.opt.NoSync {
			os.RemoveAll(r.work)
		}
		return Summary{}, err
	}
	return r.commit()
}

// PartialDir is where ConvertDir builds the directory dir.
func PartialDir(dir string) string {
	dir = filepath.Clean(dir)
	return filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+".bigconv-partial")
}

// checkOutput refuses an output that is a file, or a non-empty
// directory bigconv did not make (unless Force).
func (r *dirRun) checkOutput(n int) error {
	st, err := os.Stat(r.final)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case !st.IsDir():
		return fmt.Errorf("%s: the input has %d tensors, so OUTPUT must be a directory (or pick one with --tensor and give a .npy path)", r.final, n)
	case r.opt.Force || isEmptyDir(r.final) || MadeByBigconv(r.final):
		return nil
	}
	return fmt.Errorf("%w: %s is not empty and has no bigconv %s; name a new directory, or add --force to write into it",
		ErrNotOurs, r.final, ManifestName)
}

func isEmptyDir(dir string) bool {
	ents, err := os.ReadDir(dir)
	return err == nil && len(ents) == 0
}

// MadeByBigconv reports whether dir holds a manifest.json that ConvertDir
// wrote.
func MadeByBigconv(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return false
	}
	var m struct {
		Format  *string          `json:"format"`
		Tensors *json.RawMessage `json:"tensors"`
	}
	return json.Unmarshal(b, &m) == nil && m.Format != nil && m.Tensors != nil
}

// plan resolves each tensor's conversion and output file; tensors that
// cannot be converted are skipped when there are others.
func (r *dirRun) plan(sel []*tensor.Tensor) error {
	files := map[string]string{}
	for _, t := range sel {
		plan, err := NewPlan(t, r.opt.Options)
		if err != nil {
			if errors.Is(err, tensor.ErrUnsupported) && len(sel) > 1 {
				r.skips = append(r.skips, SkippedTensor{t.Name, oneLine(err)})
				r.event(Event{Kind: Skipped, Tensor: t, Err: err})
				continue
			}
			return err
		}
		file := SafeName(t.Name) + ".npy"
		if other, dup := files[file]; dup {
			return fmt.Errorf("tensors %q and %q map to the same file %s", other, t.Name, file)
		}
		files[file] = t.Name
		n, _ := t.NumBytes()
		r.total += n
		r.jobs = append(r.jobs, dirJob{t, plan, file})
	}
	return nil
}

// resume looks at what an interrupted run left in the work directory
// and keeps the tensors it finished (with Resume).
func (r *dirRun) resume() error {
	names := make([]string, len(r.jobs))
	for i, j := range r.jobs {
		names[i] = j.t.Name
	}
	o := r.opt
	r.journal = &dirJournal{Input: o.Identity, Settings: fmt.Sprintf("dtype=%s casting=%s raw-bits=%v verify=%v",
		o.DType, o.Casting, o.RawBits, !o.NoVerify), Tensors: names}
	prev, err := r.journal.open(r.work, r.final, o.Resume, o.Restart)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(r.work, 0o755); err != nil {
		return err
	}
	for _, j := range r.jobs {
		e, ok := prev[j.t.Name]
		if !ok || e.File != j.file {
			continue
		}
		if _, err := os.Stat(filepath.Join(r.work, filepath.FromSlash(j.file))); err == nil {
			r.written[j.t.Name] = true
			r.journal.Done = append(r.journal.Done, e)
			n, _ := j.t.NumBytes()
			r.done += n
			r.event(Event{Kind: Kept, Tensor: j.t, Output: r.finalPath(j.file)})
		}
	}
	return r.writeJournal()
}

// writeJournal records the finished tensors, except in a run without
// fsync (NoSync), which keeps nothing to resume: its tensors may not
// survive a power cut, so no journal may claim them.
func (r *dirRun) writeJournal() error {
	if r.opt.NoSync {
		return nil
	}
	return r.journal.write(r.work)
}

// streamTensors converts the tensors not yet written, recording them in
// the journal once durable. A tensor's file is made durable by a second
// goroutine (the syncer) while the next tensor converts: a model of many
// tensors then keeps the disk busy instead of waiting on each file's
// fsync in turn.
func (r *dirRun) streamTensors(ctx context.Context) (err error) {
	sy := r.startSyncer()
	defer func() {
		if serr := sy.wait(err != nil); err == nil {
			err = serr
		}
	}()
	// The directory is one output: past the kernel's dirty limit
	// all of it is written past the page cache (writeDirect), even when
	// each tensor alone is smaller.
	var outBytes int64
	for _, j := range r.jobs {
		if n, err := j.t.Shape.NumBytes(j.plan.To.Size()); err == nil {
			outBytes += n
		}
	}
	direct := r.opt.Write == WriteAuto && writeDirect(r.opt.Options, outBytes)
	for _, j := range r.jobs {
		if r.written[j.t.Name] {
			continue
		}
		if err := sy.error(); err != nil {
			return err
		}
		dst := filepath.Join(r.work, filepath.FromSlash(j.file))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		opt := r.opt.Options
		opt.Progress = r.progress(r.done)
		opt.deferSync = !opt.NoSync
		if direct {
			opt.Write = WriteDirect
		}
		start := time.Now()
		res, err := j.plan.Run(ctx, dst, opt)
		if err != nil {
			sy.wait(true) // the journal then lists every tensor made durable
		}
		switch {
		case err != nil && r.opt.NoSync && ctx.Err() != nil && errors.Is(err, ctx.Err()):
			return fmt.Errorf("%w; a run without fsync (no-sync) keeps nothing of an interrupted conversion", err)
		case errors.Is(err, ErrInterrupted):
			return fmt.Errorf("%w; %d of %d tensors were finished before it", err, len(r.journal.Done), len(r.jobs))
		case err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()):
			// A tensor too small to keep a journal of its own: the
			// finished ones are kept all the same.
			return fmt.Errorf("%w: %d of %d tensors were finished and are kept in %s (journal %s): %w",
				ErrInterrupted, len(r.journal.Done), len(r.jobs), r.work, r.journal.path(r.work), err)
		case err != nil:
			return err
		}
		n, _ := j.t.NumBytes()
		r.done += n
		r.written[j.t.Name] = true
		r.event(Event{Kind: Converted, Tensor: j.t, Output: r.finalPath(j.file), Result: res, Elapsed: time.Since(start)})
		sy.add(dst, entry(j.t, j.file, res))
	}
	return nil
}

// A syncer makes a directory run's finished files durable in the
// background, in order, and records them in the journal at the
// checkpoint cadence (Options.CheckpointEvery, 10 s by default) once
// they and their directories are fsynced: a run of many small tensors
// then takes one journal write per interval instead of one per tensor.
type syncer struct {
	r     *dirRun
	todo  chan syncJob
	exit  chan struct{}
	every time.Duration
	last  time.Time       // the last journal write
	dirs  map[string]bool // directories with names not yet fsynced
	mu    sync.Mutex
	err   error
}

type syncJob struct {
	path string
	e    ManifestEntry
}

func (r *dirRun) startSyncer() *syncer {
	_, every := r.opt.cadence()
	sy := &syncer{r: r, todo: make(chan syncJob, len(r.jobs)), exit: make(chan struct{}), every: every,
		last: clock(), dirs: map[string]bool{}}
	go sy.loop()
	return sy
}

func (sy *syncer) loop() {
	defer close(sy.exit)
	for j := range sy.todo {
		if sy.error() != nil {
			continue // drain: nothing more is recorded after a failure
		}
		sy.fail(sy.sync(j))
	}
}

func (sy *syncer) fail(err error) {
	sy.mu.Lock()
	defer sy.mu.Unlock()
	if sy.err == nil {
		sy.err = err
	}
}

// sync makes one finished file durable and, when a checkpoint is due,
// records it and those before it.
func (sy *syncer) sync(j syncJob) error {
	if !sy.r.opt.NoSync {
		f, err := os.Open(j.path)
		if err != nil {
			return err
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("engine: fsync %s: %w", j.path, err)
		}
		testhook.Fsynced(j.path)
		sy.dirs[filepath.Dir(j.path)] = true
	}
	sy.r.journal.Done = append(sy.r.journal.Done, j.e)
	if sy.every > 0 && clock().Sub(sy.last) < sy.every {
		return nil
	}
	return sy.record()
}

// record fsyncs the directories of the files synced since the last
// checkpoint and writes the journal.
func (sy *syncer) record() error {
	sy.syncDirs()
	sy.last = clock()
	return sy.r.writeJournal()
}

func (sy *syncer) syncDirs() {
	for d := range sy.dirs {
		mmapnpy.SyncDir(d)
	}
	clear(sy.dirs)
}

func (sy *syncer) add(path string, e ManifestEntry) { sy.todo <- syncJob{path, e} }

func (sy *syncer) error() error {
	sy.mu.Lock()
	defer sy.mu.Unlock()
	return sy.err
}

// wait lets the files handed over so far be made durable, then stops the
// syncer; with record (an interrupted run) the journal then lists them
// all, without (the run goes on to its commit, which drops the journal)
// only their directories are fsynced. Later calls only return its error.
func (sy *syncer) wait(record bool) error {
	select {
	case <-sy.exit:
		return sy.error()
	default:
	}
	close(sy.todo)
	<-sy.exit
	if sy.error() == nil {
		if record {
			sy.fail(sy.record())
		} else {
			sy.syncDirs()
		}
	}
	return sy.error()
}

// progress reports one tensor's bytes as part of the whole input's.
func (r *dirRun) progress(base int64) func(done, total int64) {
	if r.opt.Progress == nil {
		return nil
	}
	return func(done, _ int64) { r.opt.Progress(base+done, r.total) }
}

// commit writes manifest.json, drops the journal and puts the work
// directory in the output's place.
func (r *dirRun) commit() (Summary, error) {
	entries := r.journal.Done
	order := map[string]int{}
	for i, n := range r.journal.Tensors {
		order[n] = i
	}
	sort.SliceStable(entries, func(a, b int) bool { return order[entries[a].Name] < order[entries[b].Name] })
	if r.opt.Progress != nil && len(r.jobs) == 0 {
		r.opt.Progress(0, 0)
	}
	m := map[string]any{"source": r.in.Path, "format": r.in.Format, "tensors": entries}
	if len(r.skips) > 0 {
		m["skipped"] = r.skips
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	enc.Encode(m)
	write := atomicfile.Write
	if r.opt.NoSync {
		write = atomicfile.WriteNoSync
	}
	if err := write(filepath.Join(r.work, ManifestName), buf.Bytes()); err != nil {
		return Summary{}, err
	}
	if err := os.Remove(r.journal.path(r.work)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Summary{}, err
	}
	if err := r.place(entries); err != nil {
		return Summary{}, err
	}
	if !r.opt.NoSync {
		mmapnpy.SyncDir(filepath.Dir(filepath.Clean(r.final))) // the new name survives a power cut
	}
	return Summary{Output: r.final, Dir: true, Tensors: entries, Skipped: r.skips}, nil
}

// place puts the finished work directory where the output goes: renamed
// there when there is nothing (or an empty directory); swapped with a
// directory bigconv made, which is then removed; or, with Force, its
// files moved into a directory bigconv did not make.
func (r *dirRun) place(entries []ManifestEntry) error {
	st, err := os.Stat(r.final)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return os.Rename(r.work, r.final)
	case err == nil && st.IsDir() && isEmptyDir(r.final):
		if err := os.Remove(r.final); err != nil {
			return err
		}
		return os.Rename(r.work, r.final)
	case err != nil:
		return err
	case MadeByBigconv(r.final):
		if err := atomicfile.Exchange(r.work, r.final); err != nil {
			// No atomic swap here: the old output goes aside first.
			old := r.work + "-old"
			if err := os.Rename(r.final, old); err != nil {
				return err
			}
			if err := os.Rename(r.work, r.final); err != nil {
				return err
			}
			return os.RemoveAll(old)
		}
		return os.RemoveAll(r.work) // now the old output
	}
	for _, e := range entries {
		dst := r.finalPath(e.File)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.Rename(filepath.Join(r.work, filepath.FromSlash(e.File)), dst); err != nil {
			return err
		}
	}
	if err := os.Rename(filepath.Join(r.work, ManifestName), filepath.Join(r.final, ManifestName)); err != nil {
		return err
	}
	return os.RemoveAll(r.work)
}

func (r *dirRun) finalPath(file string) string {
	return filepath.Join(r.final, filepath.FromSlash(file))
}

func (r *dirRun) event(e Event) {
	if r.opt.Event != nil {
		r.opt.Event(e)
	}
}

// entry is the manifest entry of a converted tensor.
func entry(t *tensor.Tensor, file string, res Result) ManifestEntry {
	e := ManifestEntry{Name: t.Name, File: file, DType: res.To.String(), Shape: append([]int64{}, res.Shape...),
		SourceDType: t.DType.String(), CRCChecked: res.CRCVerify}
	if res.Stats.Lost() {
		e.Lost = res.Stats.String()
	}
	if _, ok := t.Extra["rows"]; ok {
		e.Rows = t.Extra["rows"]
	}
	return e
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }

// SafeName maps a tensor name to a relative file path that is safe and
// unambiguous: "/" separates directories; every byte outside
// [A-Za-z0-9._-] (and "%") is percent-encoded; empty, "." and ".."
// components are encoded too, so no name escapes the output directory and
// two names never share a file.
func SafeName(name string) string {
	if name == "" {
		return "%00"
	}
	parts := strings.Split(name, "/")
	for i, p := range parts {
		var b strings.Builder
		for j := 0; j < len(p); j++ {
			c := p[j]
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' {
				b.WriteByte(c)
			} else {
				fmt.Fprintf(&b, "%%%02X", c)
			}
		}
		s := b.String()
		switch s {
		case "":
			s = "%00"
		case ".", "..":
			s = strings.Repeat("%2E", len(s))
		}
		parts[i] = s
	}
	return strings.Join(parts, "/")
}
