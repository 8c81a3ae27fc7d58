package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/bigconv/bigconv/engine"
	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/format/tfrecord"
	"github.com/bigconv/bigconv/tensor"
)

type tensorInfo struct {
	Name        string            `json:"name"`
	DType       string            `json:"dtype"`
	Shape       []int64           `json:"shape"`
	Bytes       int64             `json:"bytes"`
	File        string            `json:"file,omitempty"`
	Offset      int64             `json:"offset"`
	Order       string            `json:"order"`
	Unsupported string            `json:"unsupported,omitempty"`
	Extra       map[string]string `json:"extra,omitempty"`
}

func cmdInspect(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(stdout)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	fo := addFormatFlags(fs)
	jf := addJoinFlags(fs)
	var tensors multiFlag
	fs.Var(&tensors, "tensor", "with several INPUTs: the tensor NAME taken from each")
	rowsFlag := fs.String("rows", "", "show rows START:STOP of each tensor's first axis (Python's slice rules), as convert --rows would write them; with several INPUTs, of the joined array")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: bigconv inspect [--json] [format flags] INPUT\n       bigconv inspect [--json] [--stack|--concat] INPUT...\n\nLists each tensor's name, dtype, shape and size from the file's headers,\nwithout reading tensor data, except from TFRecord files: an uncompressed\none is read through once (every record's CRC checked, to index them), and\nwith --stack/--concat each GZIP/ZLIB one is decompressed whole to count its\nrecords (a one-pass stream of one input is not: its row count shows as\nunknown).\nWith several INPUTs (or a quoted glob, expanded sorted by name), prints the\narray convert would write: joined dtype and shape (of rows START:STOP with\n--rows), then each input it takes.\n\nFlags:")
		fs.PrintDefaults()
	}
	pos, opt, err := parseArgsAtLeast(fs, fo, args, 1, "an INPUT")
	if err != nil {
		return err
	}
	opt.Stdin = stdin
	rows, err := parseRowsFlag(*rowsFlag)
	if err != nil {
		return err
	}
	if jf.multi(pos) {
		return inspectMany(ctx, pos, opt, jf, tensors, rows, *asJSON, stdout, stderr)
	}
	in, err := format.OpenPath(pos[0], opt)
	var nt *tfrecord.NotTensorsError
	if errors.As(err, &nt) {
		// TensorBoard event files and other record files: count them
		if *asJSON {
			return json.NewEncoder(stdout).Encode(map[string]any{"path": pos[0], "format": "tfrecord",
				"records": nt.Records, "features": nt.Features, "tensors": []any{}, "note": err.Error()})
		}
		fmt.Fprintf(stdout, "%s: tfrecord, %d records, not serialized tensors", pos[0], nt.Records)
		if len(nt.Features) > 0 {
			fmt.Fprintf(stdout, " (tf.train.Example with features %s: use --feature NAME)", strings.Join(nt.Features, ", "))
		}
		fmt.Fprintln(stdout)
		return nil
	}
	if err != nil {
		return err
	}
	defer in.Close()
	warnInputs(stderr, in)
	ts := in.Tensors
	if rows != nil {
		// as convert cuts them: a scalar among others skipped, any
		// other error (a lone scalar included) convert's error
		if ts, err = engine.CutRows(in.Tensors, *rows); err != nil {
			return err
		}
	}
	var infos []tensorInfo
	for _, t := range ts {
		n, _ := t.NumBytes()
		order := "C"
		if t.Fortran {
			order = "F"
		}
		infos = append(infos, tensorInfo{Name: t.Name, DType: t.TypeName(), Shape: append([]int64{}, t.Shape...),
			Bytes: n, File: t.File, Offset: t.Offset, Order: order, Unsupported: t.Unsupported, Extra: t.Extra})
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"path": in.Path, "format": in.Format, "tensors": infos})
	}
	fmt.Fprintf(stdout, "%s: %s, %d tensor(s)\n", in.Path, in.Format, len(infos))
	tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDTYPE\tSHAPE\tBYTES\tFILE\tOFFSET\tNOTE")
	for i, ti := range infos {
		note := []string{}
		if ti.Order == "F" {
			note = append(note, "fortran order")
		}
		keys := make([]string, 0, len(ti.Extra))
		for k := range ti.Extra {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if k == tensor.ExtraDescr && !ts[i].DType.Type.Valid() {
				continue // the DTYPE column shows it
			}
			note = append(note, k+"="+ti.Extra[k])
		}
		if ti.Unsupported != "" {
			note = append(note, "not convertible: "+ti.Unsupported)
		}
		name := ti.Name
		if name == "" {
			name = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%d\t%s\t%d\t%s\n", name, ti.DType, ts[i].Shape, ti.Bytes, ti.File, ti.Offset, strings.Join(note, "; "))
	}
	return tw.Flush()
}

// formatFlags are the flags that say how to read an input.
type formatFlags struct {
	format, inDType, shape, feature, compression string
	offset                                       int64
}

func addFormatFlags(fs *flag.FlagSet) *formatFlags {
	f := &formatFlags{}
	fs.StringVar(&f.format, "format", "", "input format: "+strings.Join(format.Names(), ", ")+" (default: detected from magic bytes, then extension)")
	fs.StringVar(&f.inDType, "in-dtype", "", "raw input: element type, e.g. '<i8', float32, bfloat16 (implies --format raw)")
	fs.StringVar(&f.shape, "shape", "", "raw input: shape, e.g. 3000000,1024 (one dimension may be -1; default 1-D)")
	fs.Int64Var(&f.offset, "offset", 0, "raw input: byte offset of the data")
	fs.StringVar(&f.feature, "feature", "", "TFRecord of tf.train.Example: the feature to take")
	fs.StringVar(&f.compression, "compression", "", "TFRecord compression: none, gzip or zlib (default: from the extension)")
	return f
}

// parseArgs parses a command's flags and checks it got n positional
// arguments (described by want in the usage error), then the format flags.
func parseArgs(fs *flag.FlagSet, fo *formatFlags, args []string, n int, want string) ([]string, format.Options, error) {
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, format.Options{}, err
	}
	if len(pos) != n {
		return nil, format.Options{}, usageError{fmt.Errorf("%s needs %s, got %d argument(s); see bigconv %s -h", fs.Name(), want, len(pos), fs.Name())}
	}
	opt, err := fo.options()
	return pos, opt, err
}
