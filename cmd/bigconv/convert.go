package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/engine"
	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/internal/atomicfile"
	"github.com/bigconv/bigconv/tensor"
)

func (f *formatFlags) options() (format.Options, error) {
	var opt format.Options
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
	blockSize := fs.String("block-size", "", "bytes per block, e.g. 4MiB (default: a memory budget of 32 MiB shared by the workers)")
	workers := fs.Int("workers", 0, "blocks converted at once (default: number of CPUs)")
	progress := fs.String("progress", "auto", "progress bar on stderr: auto (only on a terminal), always or never")
	noVerify := fs.Bool("no-verify", false, "skip verifying checksums the input carries (TF bundle crc32c)")
	resume := fs.Bool("resume", false, "continue an interrupted conversion of the same input to the same OUTPUT")
	restart := fs.Bool("restart", false, "discard what an interrupted conversion to OUTPUT left and start over")
	writeMode := fs.String("write", "auto", "how blocks reach the output: auto (copy_file_range for plain copies of a file range, pwrite in 1 MiB pieces for the rest), mmap (mapped windows for every block) or pwrite")
	checkpoint := fs.String("checkpoint", "256MiB", "output written between resume checkpoints (each one an fsync), e.g. 1GiB")
	var tensors multiFlag
	fs.Var(&tensors, "tensor", "tensor NAME to convert (repeatable; globs like 'dnn/*' allowed; default: all)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `Usage: bigconv convert [flags] INPUT OUTPUT

INPUT is a .npy, .npz, .safetensors, raw dump (with --in-dtype), TF checkpoint
PREFIX / .index / SavedModel directory, TFRecord, or serialized TensorProto;
"-" reads stdin.
OUTPUT is a .npy path for one tensor, or a directory (one .npy per tensor plus
manifest.json) for inputs with several tensors.

Flags:`)
		fs.PrintDefaults()
	}
	pos, fopt, err := parseArgs(fs, fo, args, 2, "INPUT and OUTPUT")
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
	eopt.Resume, eopt.Restart = *resume, *restart
	if eopt.Write, err = engine.ParseWriteMode(*writeMode); err != nil {
		return usageError{fmt.Errorf("--write: %v", err)}
	}
	if eopt.CheckpointBytes, err = parseSize(*checkpoint); err != nil {
		return usageError{fmt.Errorf("--checkpoint: %v", err)}
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

	in, err := openInput(pos[0], stdin, fo.format, fopt)
	if err != nil {
		return err
	}
	defer in.Close()
	eopt.Identity = in.identity()
	sel, err := selectTensors(in.Tensors, tensors)
	if err != nil {
		return err
	}
	if len(sel) == 0 {
		return fmt.Errorf("%s: no tensors to convert", in.path)
	}
	out := pos[1]
	// Checkpoints and archives (bundles, safetensors, .npz) convert to a
	// directory unless one tensor goes to a .npy path; single-tensor
	// formats always give one file.
	multi := in.Format == "tfbundle" || in.Format == "safetensors" || in.Format == "npz" || in.Format == "onnx-model"
	single := len(sel) == 1 && (!multi || strings.HasSuffix(strings.ToLower(out), ".npy"))
	if single {
		t := sel[0]
		plan, err := engine.NewPlan(t, eopt)
		if err != nil {
			return err
		}
		total, _ := t.NumBytes()
		bar := newBar(showBar, stderr, total, displayName(t, in.path))
		eopt.Progress = bar.update(0)
		start := time.Now()
		res, err := plan.Run(ctx, out, eopt)
		bar.finish()
		if err != nil {
			return err
		}
		report(stderr, t, out, res, time.Since(start))
		return nil
	}
	return convertMany(ctx, in, sel, out, eopt, showBar, stderr)
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

// manifestEntry describes one converted tensor in manifest.json.
type manifestEntry struct {
	Name        string  `json:"name"`
	File        string  `json:"file"`
	DType       string  `json:"dtype"`
	Shape       []int64 `json:"shape"`
	SourceDType string  `json:"source_dtype"`
	CRCChecked  bool    `json:"crc_checked"`
	Lost        string  `json:"lost,omitempty"`
}

type skipped struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// convertMany writes each tensor to OUTDIR/<safe name>.npy and a
// manifest.json that maps names to files. Tensors that cannot be converted
// (resource, variant) are skipped and listed in the manifest, unless the
// user selected them by name.
func convertMany(ctx context.Context, in *input, sel []*tensor.Tensor, outDir string, eopt engine.Options, showBar bool, stderr io.Writer) error {
	if st, err := os.Stat(outDir); err == nil && !st.IsDir() {
		return fmt.Errorf("%s: the input has %d tensors, so OUTPUT must be a directory (or pick one with --tensor and give a .npy path)", outDir, len(sel))
	}
	type job struct {
		t    *tensor.Tensor
		plan *engine.Plan
		file string
	}
	var jobs []job
	var skips []skipped
	var total int64
	files := map[string]string{}
	for _, t := range sel {
		plan, err := engine.NewPlan(t, eopt)
		if err != nil {
			if errors.Is(err, tensor.ErrUnsupported) && len(sel) > 1 {
				skips = append(skips, skipped{t.Name, oneLine(err)})
				fmt.Fprintf(stderr, "bigconv: skipping %q: %s\n", t.Name, oneLine(err))
				continue
			}
			return err
		}
		file := safeName(t.Name) + ".npy"
		if other, dup := files[file]; dup {
			return fmt.Errorf("tensors %q and %q map to the same file %s", other, t.Name, file)
		}
		files[file] = t.Name
		n, _ := t.NumBytes()
		total += n
		jobs = append(jobs, job{t, plan, file})
	}
	// A new OUTPUT directory is built under a temporary name and renamed
	// when complete; into an existing directory each file lands atomically
	// and a failure removes what this run wrote. An interrupted run keeps
	// its work, recorded in a directory journal, for --resume.
	finalDir := outDir
	if _, err := os.Stat(outDir); os.IsNotExist(err) {
		outDir = filepath.Join(filepath.Dir(finalDir), "."+filepath.Base(finalDir)+".bigconv-partial")
	}
	names := make([]string, len(jobs))
	for i, j := range jobs {
		names[i] = j.t.Name
	}
	dj := &dirJournal{Input: eopt.Identity, Settings: fmt.Sprintf("dtype=%s casting=%s raw-bits=%v verify=%v",
		eopt.DType, eopt.Casting, eopt.RawBits, !eopt.NoVerify), Tensors: names}
	prev, err := dj.open(outDir, finalDir, eopt.Resume, eopt.Restart)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	finished := map[string]bool{}
	var done int64
	for _, j := range jobs {
		e, ok := prev[j.t.Name]
		if !ok || e.File != j.file {
			continue
		}
		if _, err := os.Stat(filepath.Join(outDir, filepath.FromSlash(j.file))); err == nil {
			finished[j.t.Name] = true
			dj.Done = append(dj.Done, e)
			n, _ := j.t.NumBytes()
			done += n
			fmt.Fprintf(stderr, "bigconv: %s was finished before the interruption\n", j.t.Name)
		}
	}
	if err := dj.write(outDir); err != nil {
		return err
	}
	var written []string
	ok, keep := false, false
	defer func() {
		if ok || keep {
			return
		}
		os.Remove(dj.path(outDir))
		if outDir != finalDir {
			os.RemoveAll(outDir)
			return
		}
		for _, f := range written {
			os.Remove(f)
		}
	}()
	bar := newBar(showBar, stderr, total, filepath.Base(in.path))
	for _, j := range jobs {
		if finished[j.t.Name] {
			continue
		}
		dst := filepath.Join(outDir, filepath.FromSlash(j.file))
		n, _ := j.t.NumBytes()
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		opt := eopt
		opt.Progress = bar.update(done)
		start := time.Now()
		res, err := j.plan.Run(ctx, dst, opt)
		if err != nil {
			bar.finish()
			if errors.Is(err, engine.ErrInterrupted) {
				keep = true
				return fmt.Errorf("%w; %d of %d tensors were finished before it", err, len(dj.Done), len(jobs))
			}
			return err
		}
		written = append(written, dst)
		done += n
		if !bar.on {
			report(stderr, j.t, filepath.Join(finalDir, filepath.FromSlash(j.file)), res, time.Since(start))
		}
		e := manifestEntry{Name: j.t.Name, File: j.file, DType: res.To.String(), Shape: append([]int64{}, res.Shape...),
			SourceDType: j.t.DType.String(), CRCChecked: res.CRCVerify}
		if res.Stats.Lost() {
			e.Lost = res.Stats.String()
		}
		dj.Done = append(dj.Done, e)
		if err := dj.write(outDir); err != nil {
			return err
		}
	}
	entries := dj.Done
	order := map[string]int{}
	for i, n := range names {
		order[n] = i
	}
	sort.SliceStable(entries, func(a, b int) bool { return order[entries[a].Name] < order[entries[b].Name] })
	bar.finish()
	m := map[string]any{"source": in.path, "format": in.Format, "tensors": entries}
	if len(skips) > 0 {
		m["skipped"] = skips
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	enc.Encode(m)
	if err := atomicfile.Write(filepath.Join(outDir, "manifest.json"), buf.Bytes()); err != nil {
		return err
	}
	if err := os.Remove(dj.path(outDir)); err != nil && !os.IsNotExist(err) {
		return err
	}
	if outDir != finalDir {
		if err := os.Rename(outDir, finalDir); err != nil {
			return err
		}
	}
	ok = true
	fmt.Fprintf(stderr, "bigconv: wrote %d tensor(s) to %s (manifest.json lists them)\n", len(entries), finalDir)
	return nil
}

// safeName maps a tensor name to a relative file path that is safe and
// unambiguous: "/" separates directories; every byte outside
// [A-Za-z0-9._-] (and "%") is percent-encoded; empty, "." and ".."
// components are encoded too, so no name escapes the output directory and
// two names never share a file.
func safeName(name string) string {
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
