package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/engine"
	"github.com/bigconv/bigconv/engine/part"
	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/tensor"
)

func (f *formatFlags) options() (format.Options, error) {
	opt := format.Options{Format: f.format}
	if f.inDType != "" {
		dt, err := dtype.Parse(f.inDType)
		if err != nil {
			return opt, usageError{fmt.Errorf("--in-dtype: %v", err)}
		}
		opt.DType = dt
	}
	if f.shape != "" {
		sh, err := parseShapeFlag(f.shape)
		if err != nil {
			return opt, usageError{fmt.Errorf("--shape: %v", err)}
		}
		opt.Shape = sh
	}
	if f.offset < 0 {
		return opt, usageError{errors.New("--offset must not be negative")}
	}
	opt.Offset = f.offset
	opt.Feature = f.feature
	switch strings.ToLower(f.compression) {
	case "", "none", "gzip", "zlib":
		opt.Compression = strings.ToLower(f.compression)
	default:
		return opt, usageError{fmt.Errorf("--compression %q: want none, gzip or zlib", f.compression)}
	}
	return opt, nil
}

// parseShapeFlag reads "3000000,1024" or "(2, 3)", allowing one -1.
func parseShapeFlag(s string) (dtype.Shape, error) {
	s = strings.Trim(strings.TrimSpace(s), "()[] ")
	if s == "" {
		return dtype.Shape{}, nil
	}
	var sh dtype.Shape
	for _, p := range strings.Split(strings.TrimSuffix(s, ","), ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
		if err != nil || n < -1 {
			return nil, fmt.Errorf("dimension %q is not a non-negative integer (or -1)", strings.TrimSpace(p))
		}
		sh = append(sh, n)
	}
	return sh, nil
}

// parseSize reads "64MiB", "8M", "1GiB", "4096".
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(strings.ToLower(s))
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"kb", 1000}, {"mb", 1000000}, {"gb", 1000000000},
		{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1}} {
		if strings.HasSuffix(t, u.suf) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suf)), u.m
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size like 64MiB", s)
	}
	return n * mult, nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func cmdConvert(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("convert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fo := addFormatFlags(fs)
	outDType := fs.String("dtype", "", "output dtype, e.g. float32, '<f2', int64 (default: the input's; bfloat16/float8 widen to float32)")
	castingName := fs.String("casting", "same_kind", "casting policy: no, equiv, safe, same_kind or unsafe (as NumPy's)")
	rawBits := fs.Bool("raw-bits", false, "write bfloat16/float8 inputs as their raw bits (<u2, |u1) instead of widening to float32")
	blockSize := fs.String("block-size", "", "bytes per block, e.g. 4MiB (default: a memory budget of 32 MiB shared by the workers; 48 MiB when writing direct)")
	workers := fs.Int("workers", 0, "blocks converted at once (default: number of CPUs; two per CPU when writing direct; one stream of 64 MiB blocks for a plain copy the kernel makes with copy_file_range)")
	progress := fs.String("progress", "auto", "progress bar on stderr: auto (only on a terminal), always or never")
	noVerify := fs.Bool("no-verify", false, "skip verifying checksums the input carries (TF bundle crc32c)")
	resume := fs.Bool("resume", false, "continue an interrupted conversion of the same input to the same OUTPUT")
	restart := fs.Bool("restart", false, "discard what an interrupted conversion to OUTPUT left and start over")
	writeMode := fs.String("write", "auto", "how blocks reach the output: auto (an output larger than the kernel's dirty limit, about a fifth of available memory: direct; otherwise copy_file_range for plain copies of a file range and pwrite in 1 MiB pieces for the rest, a cast of a cached file range read and converted piece by piece too), mmap (mapped windows for every block), pwrite, or direct (pwrite past the page cache with O_DIRECT, plain copies too, and read input blocks that are not cached past it; not for .npz outputs, one-pass streams or --part)")
	checkpoint := fs.String("checkpoint", "", "resume checkpoint interval (each checkpoint an fsync and a journal update): a size of output (e.g. 256MiB) or a time (e.g. 30s); after a kill, --resume redoes at most one interval (default: 10s of work and 1GiB of output, whichever comes later, so a run under 10s takes none)")
	noSync := fs.Bool("no-sync", false, "scratch output: no fsync at checkpoints or at the end; the output still appears whole under its name, but a power cut (not a kill) may lose it; keeps no resume journal, so an interrupted run keeps nothing and --resume is refused")
	partFlag := fs.String("part", "", "run part I/N of the conversion (N processes run the same command, each with its I; the last to finish puts OUTPUT in place); 'auto' takes I and N from a Slurm job array or a Kubernetes Indexed Job (with --parts)")
	atOnce := fs.Bool("parts-at-once", false, "with --part: convert at the same time as the other parts on this host's CPUs (by default parts with as many workers as CPUs take turns converting, since side by side they only share the CPUs; kernel copies take none)")
	partsFlag := fs.Int("parts", 0, "the number of parts, with --part auto under a Kubernetes Indexed Job (its completions); checked against Slurm's count")
	replace := fs.Bool("replace", false, "remove an existing OUTPUT .npy before writing the new one, so that a replacement needs room for one copy, not two; if the run then fails, the old output is gone (never the default: without it OUTPUT stays whole until the new one is complete)")
	force := fs.Bool("force", false, "write into an existing non-empty OUTPUT directory that bigconv did not make (adds the .npy files and manifest.json; a directory bigconv made is replaced whole without it)")
	jf := addJoinFlags(fs)
	rowsFlag := fs.String("rows", "", "convert only rows START:STOP of each tensor's first axis, as Python's a[START:STOP] (negatives count from the end, either bound may be empty; C or Fortran order); with several INPUTs, rows of the joined array: np.stack(inputs)[START:STOP] (a range of the inputs) or np.concatenate(inputs)[START:STOP]")
	var tensors multiFlag
	fs.Var(&tensors, "tensor", "tensor NAME to convert (repeatable; globs like 'dnn/*' allowed; default: all)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `Usage: bigconv convert [flags] INPUT OUTPUT
       bigconv convert --stack|--concat [flags] INPUT... OUTPUT.npy|OUTPUT.npz

INPUT is a .npy, .npz, .safetensors, raw dump (with --in-dtype), TF checkpoint
PREFIX / .index / SavedModel directory, TFRecord, or serialized TensorProto;
"-" reads stdin.
OUTPUT is a .npy path for one tensor, a directory (one .npy per tensor plus
manifest.json) for inputs with several tensors, or an .npz path: one archive
with a stored member NAME.npy per tensor, as np.savez writes (np.load(OUTPUT)
gives each tensor by its name; members are timestamped now, or at
$SOURCE_DATE_EPOCH when set, for reproducible archives).

Several INPUTs make one array: --stack adds a leading axis (np.stack), --concat
joins along axis 0 (np.concatenate); TFRecord shards concatenate without either.
Each input gives one tensor (--tensor NAME picks it); all are cast to --dtype
(default: their np.result_type) under --casting. An INPUT may be a quoted glob
('act_*.npy') that bigconv expands itself: the files it matches, sorted by name
byte by byte (zero-pad numbers: act_002 sorts before act_010, act_10 before act_2);
a pattern matching nothing is an error. With --in-dtype, inputs that another
format claims by magic bytes or extension (.npy, .tfrecord) are read as that.
Inputs that can be read only once (a GZIP/ZLIB TFRecord, a deflated .npz member
over 1 MiB) are each read by one worker, start to end; a compressed TFRecord is
first decompressed once more to count its records. stdin joins others only
when its length is known (a raw --shape without -1).
--rows START:STOP keeps rows of the joined array (np.stack(inputs)[START:STOP]).
An OUTPUT ending in .npz holds the joined array as its one member arr_0.npy,
as np.savez(OUTPUT, array) names it (not with --part).

Flags:`)
		fs.PrintDefaults()
	}
	pos, fopt, err := parseArgsAtLeast(fs, fo, args, 2, "INPUT and OUTPUT")
	if err != nil {
		return err
	}
	var eopt engine.Options
	if *outDType != "" {
		if eopt.DType, err = dtype.Parse(*outDType); err != nil {
			return usageError{fmt.Errorf("--dtype: %v", err)}
		}
	}
	if eopt.Casting, err = dtype.ParseCasting(*castingName); err != nil {
		return usageError{fmt.Errorf("--casting: %v", err)}
	}
	if *blockSize != "" {
		if eopt.BlockSize, err = parseSize(*blockSize); err != nil {
			return usageError{fmt.Errorf("--block-size: %v", err)}
		}
	}
	if *workers < 0 {
		return usageError{errors.New("--workers must not be negative")}
	}
	eopt.Workers, eopt.RawBits, eopt.NoVerify = *workers, *rawBits, *noVerify
	if *resume && *restart {
		return usageError{errors.New("--resume and --restart exclude each other")}
	}
	if *resume && *noSync {
		return usageError{errors.New("--resume and --no-sync exclude each other: a run without fsync keeps no journal and continues none (drop --no-sync to resume)")}
	}
	eopt.Resume, eopt.Restart, eopt.Replace, eopt.NoSync = *resume, *restart, *replace, *noSync
	eopt.PartsAtOnce = *atOnce
	if eopt.Write, err = engine.ParseWriteMode(*writeMode); err != nil {
		return usageError{fmt.Errorf("--write: %v", err)}
	}
	if *checkpoint != "" {
		if d, derr := time.ParseDuration(*checkpoint); derr == nil && d > 0 {
			eopt.CheckpointEvery = d
		} else if eopt.CheckpointBytes, err = parseSize(*checkpoint); err != nil {
			return usageError{fmt.Errorf("--checkpoint: %q is neither a size like 256MiB nor a time like 30s", *checkpoint)}
		}
	}
	showBar := false
	switch *progress {
	case "always":
		showBar = true
	case "never":
	case "auto":
		if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			showBar = true
		}
	default:
		return usageError{fmt.Errorf("--progress %q: want auto, always or never", *progress)}
	}

	rows, err := parseRowsFlag(*rowsFlag)
	if err != nil {
		return err
	}
	modTime, err := sourceDateEpoch()
	if err != nil {
		return usageError{err}
	}

	var sp *part.Spec
	if *partFlag != "" {
		if sp, err = partSpec(*partFlag, *partsFlag, stderr); err != nil {
			return err
		}
		if *resume || *restart || *replace {
			return usageError{errors.New("--part: a rerun of a part continues by itself; --resume, --restart and --replace do not apply (see 'bigconv status --clean')")}
		}
		if *noSync {
			return usageError{errors.New("--part: parts record themselves done only once their bytes are durable; --no-sync does not apply")}
		}
	} else if *atOnce {
		return usageError{errors.New("--parts-at-once applies to --part runs only")}
	}

	fopt.Stdin = stdin
	inputs, out := pos[:len(pos)-1], pos[len(pos)-1]
	if jf.multi(inputs) {
		iopt := engine.InputOptions{Options: eopt, Tensors: tensors, Rows: rows, ModTime: modTime}
		return convertMany(ctx, inputs, out, fopt, jf, iopt, showBar, *replace, sp, stderr)
	}
	in, err := format.OpenPath(pos[0], fopt)
	if err != nil {
		return err
	}
	defer in.Close()
	warnInputs(stderr, in)
	if sp != nil {
		return convertPart(ctx, in, pos[1], engine.InputOptions{Options: eopt, Tensors: tensors, Rows: rows, ModTime: modTime}, *sp, stderr)
	}
	desc := filepath.Base(in.Path)
	if len(in.Tensors) == 1 {
		desc = displayName(in.Tensors[0], in.Path)
	}
	b := newBar(showBar, stderr, desc)
	var single *engine.Event // reported once the bar is done
	iopt := engine.InputOptions{Options: eopt, Tensors: tensors, Rows: rows, ModTime: modTime, Force: *force, Event: func(e engine.Event) {
		switch e.Kind {
		case engine.Skipped:
			fmt.Fprintf(stderr, "bigconv: skipping %q: %s\n", e.Tensor.Name, oneLine(e.Err))
		case engine.Kept:
			fmt.Fprintf(stderr, "bigconv: %s was finished before the interruption\n", e.Tensor.Name)
		case engine.Converted:
			if e.Member != "" {
				e.Output = e.Output + ":" + e.Member
			}
			if !b.on {
				report(stderr, e.Tensor, e.Output, e.Result, e.Elapsed)
			} else {
				single = &e
			}
		}
	}}
	iopt.Progress = b.update
	var old os.FileInfo
	if *replace {
		if fi, err := os.Stat(pos[1]); err == nil && fi.Mode().IsRegular() {
			old = fi
			fmt.Fprintf(stderr, "bigconv: --replace: the existing %s (%d bytes) is removed before the new output is written; if this run fails, it is gone\n", pos[1], fi.Size())
		}
	}
	sum, err := engine.ConvertInput(ctx, in, pos[1], iopt)
	b.finish(err == nil)
	if err != nil && old != nil {
		if _, serr := os.Stat(pos[1]); os.IsNotExist(serr) {
			fmt.Fprintf(stderr, "bigconv: the old %s was removed (--replace) and no new one was written\n", pos[1])
		}
	}
	switch {
	case errors.Is(err, engine.ErrManyTensors) || errors.Is(err, filepath.ErrBadPattern):
		return usageError{err}
	case err != nil:
		return err
	case sum.Dir:
		fmt.Fprintf(stderr, "bigconv: wrote %d tensor(s) to %s (manifest.json lists them)\n", len(sum.Tensors), sum.Output)
	case sum.Archive:
		fmt.Fprintf(stderr, "bigconv: wrote %d tensor(s) to %s (np.load lists them)\n", len(sum.Tensors), sum.Output)
	case single != nil:
		report(stderr, single.Tensor, single.Output, single.Result, single.Elapsed)
	}
	return nil
}

func displayName(t *tensor.Tensor, path string) string {
	if t.Name != "" {
		return t.Name
	}
	return filepath.Base(path)
}

func report(w io.Writer, t *tensor.Tensor, out string, res engine.Result, d time.Duration) {
	name := ""
	if t.Name != "" {
		name = fmt.Sprintf(" (tensor %q)", t.Name)
	}
	rate := ""
	if s := d.Seconds(); s > 0 && res.InBytes > 0 {
		rate = fmt.Sprintf(", %.0f MiB/s", float64(res.InBytes)/s/(1<<20))
	}
	crc := ""
	if res.CRCVerify {
		crc = ", crc32c verified"
	}
	if r := t.Extra["rows"]; r != "" {
		name += " rows " + r
	}
	resumed := ""
	if res.Resumed > 0 {
		resumed = fmt.Sprintf(" (resumed after %d of %d blocks)", res.Resumed, res.Blocks)
	}
	fmt.Fprintf(w, "bigconv: wrote %s%s: %s %v from %s, %d bytes in %.2fs%s%s%s\n",
		out, name, res.To, res.Shape, res.From, res.OutBytes, d.Seconds(), rate, crc, resumed)
	if res.Stats.Lost() {
		fmt.Fprintf(w, "bigconv: warning: %s → %s changed values: %s\n", res.From, res.To, res.Stats)
	}
}

// sourceDateEpoch is the time $SOURCE_DATE_EPOCH sets (seconds since
// 1970, the reproducible-builds convention) for an .npz's members, or
// the zero time (now) when it is unset.
func sourceDateEpoch() (time.Time, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds since 1970", v)
	}
	return time.Unix(n, 0).UTC(), nil
}

// parseRowsFlag reads --rows START:STOP; nil when the flag is empty.
func parseRowsFlag(s string) (*tensor.RowRange, error) {
	if s == "" {
		return nil, nil
	}
	rr, err := tensor.ParseRows(s)
	if err != nil {
		return nil, usageError{fmt.Errorf("--rows: %v", err)}
	}
	return &rr, nil
}
