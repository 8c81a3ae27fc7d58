package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/bigconv/bigconv/engine"
	"github.com/bigconv/bigconv/engine/part"
	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/tensor"
)

// joinFlags are --stack and --concat, shared by convert and inspect.
type joinFlags struct{ stack, concat bool }

func addJoinFlags(fs *flag.FlagSet) *joinFlags {
	j := &joinFlags{}
	fs.BoolVar(&j.stack, "stack", false, "several INPUTs → one array along a new leading axis (np.stack); shapes must be equal")
	fs.BoolVar(&j.concat, "concat", false, "several INPUTs → one array along axis 0 (np.concatenate); shapes after axis 0 must be equal (the default for TFRecord shards)")
	return j
}

// multi reports whether the positional inputs ask for a stack.
func (j *joinFlags) multi(inputs []string) bool {
	if j.stack || j.concat || len(inputs) > 1 {
		return true
	}
	_, err := os.Lstat(inputs[0])
	return err != nil && inputs[0] != "-" && hasGlob(inputs[0])
}

func hasGlob(s string) bool {
	for _, c := range s {
		if c == '*' || c == '?' || c == '[' {
			return true
		}
	}
	return false
}

// join is the Join the flags ask for; with neither flag, TFRecord
// shards concatenate (one record stream) and anything else is a usage
// error.
func (j *joinFlags) join(ins []*format.Input) (engine.Join, error) {
	switch {
	case j.stack && j.concat:
		return 0, usageError{errors.New("--stack and --concat exclude each other")}
	case j.stack:
		return engine.JoinStack, nil
	case j.concat:
		return engine.JoinConcat, nil
	}
	for _, in := range ins {
		if in.Format != "tfrecord" {
			return 0, usageError{fmt.Errorf("%d inputs (%s is %s): say --stack (new leading axis) or --concat (along axis 0); only TFRecord shards concatenate by default",
				len(ins), in.Path, in.Format)}
		}
	}
	return engine.JoinConcat, nil
}

// warnInputs prints each input's warnings (a raw shape that uses only a
// prefix of its file) on stderr, for convert and inspect of one input or
// several.
func warnInputs(stderr io.Writer, ins ...*format.Input) {
	for _, in := range ins {
		for _, w := range in.Warnings {
			fmt.Fprintln(stderr, "bigconv: warning:", w)
		}
	}
}

func closeInputs(ins []*format.Input) {
	for _, in := range ins {
		in.Close()
	}
}

// convertMany is `convert` with several INPUTs (or a pattern): one array.
func convertMany(ctx context.Context, inputs []string, out string, fopt format.Options, jf *joinFlags,
	iopt engine.InputOptions, showBar, replace bool, sp *part.Spec, stderr io.Writer) error {
	if jf.stack && jf.concat {
		return usageError{errors.New("--stack and --concat exclude each other")}
	}
	if sp != nil && engine.IsArchivePath(out) {
		return usageError{fmt.Errorf("--part writes several inputs into one .npy; %s (an .npz) is written by one process: drop --part, or name a .npy OUTPUT", out)}
	}
	ins, err := format.OpenPaths(inputs, fopt)
	if err != nil {
		return err
	}
	defer closeInputs(ins)
	warnInputs(stderr, ins...)
	join, err := jf.join(ins)
	if err != nil {
		return err
	}
	sopt := engine.StackInputOptions{StackOptions: engine.StackOptions{Options: iopt.Options, Join: join, Rows: iopt.Rows, ModTime: iopt.ModTime},
		Tensors: iopt.Tensors}
	if sp != nil {
		res, err := engine.RunPartStack(ctx, ins, out, sopt, *sp)
		if errors.Is(err, engine.ErrManyTensors) {
			return usageError{err}
		}
		if err != nil {
			return err
		}
		reportPart(res, out, *sp, stderr)
		return nil
	}
	b := newBar(showBar, stderr, fmt.Sprintf("%s of %d inputs", join, len(ins)))
	sopt.Progress = b.update
	var old os.FileInfo
	if replace {
		if fi, err := os.Stat(out); err == nil && fi.Mode().IsRegular() {
			old = fi
			fmt.Fprintf(stderr, "bigconv: --replace: the existing %s (%d bytes) is removed before the new output is written; if this run fails, it is gone\n", out, fi.Size())
		}
	}
	start := time.Now()
	res, err := engine.StackInputs(ctx, ins, out, sopt)
	b.finish(err == nil)
	if err != nil && old != nil {
		if _, serr := os.Stat(out); os.IsNotExist(serr) {
			fmt.Fprintf(stderr, "bigconv: the old %s was removed (--replace) and no new one was written\n", out)
		}
	}
	switch {
	case errors.Is(err, engine.ErrManyTensors) || errors.Is(err, filepath.ErrBadPattern):
		return usageError{err}
	case err != nil:
		return err
	}
	d := time.Since(start)
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
	rows := ""
	if iopt.Rows != nil {
		rows = " rows " + iopt.Rows.String()
	}
	member := ""
	if engine.IsArchivePath(out) {
		member = " (member arr_0.npy)"
	}
	fmt.Fprintf(stderr, "bigconv: wrote %s%s: %s of %d inputs%s, %s %v, %d bytes in %.2fs%s%s%s\n",
		out, member, join, len(ins), rows, res.To, res.Shape, res.OutBytes, d.Seconds(), rate, crc, resumed)
	if res.Stats.Lost() {
		fmt.Fprintf(stderr, "bigconv: warning: casting to %s changed values: %s\n", res.To, res.Stats)
	}
	return nil
}

// inspectMany prints what a stack of several inputs would be: the
// joined dtype and shape, then each input's file, format, tensor, dtype
// and shape; the inputs' warnings go to stderr.
func inspectMany(ctx context.Context, inputs []string, fopt format.Options, jf *joinFlags, tensors []string, rows *tensor.RowRange, asJSON bool, stdout, stderr io.Writer) error {
	ins, err := format.OpenPaths(inputs, fopt)
	if err != nil {
		return err
	}
	defer closeInputs(ins)
	warnInputs(stderr, ins...)
	join, err := jf.join(ins)
	if err != nil {
		return err
	}
	sp, err := engine.PlanInputs(ctx, ins, engine.StackInputOptions{StackOptions: engine.StackOptions{Join: join, Rows: rows}, Tensors: tensors})
	if err != nil {
		return err
	}
	type item struct {
		Input  int     `json:"input"`
		File   string  `json:"file"`
		Format string  `json:"format"`
		Tensor string  `json:"tensor"`
		DType  string  `json:"dtype"`
		Shape  []int64 `json:"shape"`
		Order  string  `json:"order"`
		Bytes  int64   `json:"bytes"`
		Rows   string  `json:"rows,omitempty"` // the input's rows kept, when --rows cuts it
	}
	// with --rows, the inputs (or their rows) that the range keeps
	items := make([]item, len(sp.Segments))
	for i, s := range sp.Segments {
		t := s.Plan.Tensor
		n, _ := t.NumBytes()
		order := "C"
		if t.Fortran {
			order = "F"
		}
		in := ins[s.Input]
		items[i] = item{Input: s.Input, File: in.Path, Format: in.Format, Tensor: t.Name, DType: t.DType.String(),
			Shape: append([]int64{}, t.Shape...), Order: order, Bytes: n, Rows: t.Extra["rows"]}
	}
	outBytes, _ := sp.Shape.NumBytes(sp.To.Size())
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		doc := map[string]any{"join": join.String(), "dtype": sp.To.String(),
			"shape": append([]int64{}, sp.Shape...), "bytes": outBytes, "inputs": items}
		if sp.Rows != "" {
			doc["rows"] = sp.Rows
		}
		return enc.Encode(doc)
	}
	kept := ""
	if sp.Rows != "" {
		kept = fmt.Sprintf(", rows %s (%d of the inputs)", sp.Rows, len(sp.Segments))
	}
	fmt.Fprintf(stdout, "%s of %d inputs%s: %s %v, %d bytes (dtype: np.result_type of the inputs unless --dtype)\n",
		join, len(ins), kept, sp.To, sp.Shape, outBytes)
	tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
	head := "#\tFILE\tFORMAT\tTENSOR\tDTYPE\tSHAPE\tORDER\tBYTES"
	if sp.Rows != "" {
		head += "\tROWS"
	}
	fmt.Fprintln(tw, head)
	for i, it := range items {
		name := it.Tensor
		if name == "" {
			name = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%v\t%s\t%d", it.Input, it.File, it.Format, name, it.DType,
			sp.Segments[i].Plan.Tensor.Shape, it.Order, it.Bytes)
		if sp.Rows != "" {
			r := it.Rows
			if r == "" {
				r = "all"
			}
			fmt.Fprintf(tw, "\t%s", r)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// parseArgsAtLeast is parseArgs for commands taking n or more
// positional arguments.
func parseArgsAtLeast(fs *flag.FlagSet, fo *formatFlags, args []string, n int, want string) ([]string, format.Options, error) {
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, format.Options{}, err
	}
	if len(pos) < n {
		return nil, format.Options{}, usageError{fmt.Errorf("%s needs %s, got %d argument(s); see bigconv %s -h", fs.Name(), want, len(pos), fs.Name())}
	}
	opt, err := fo.options()
	return pos, opt, err
}
