// Command bigconv converts tensors written by TensorFlow, NumPy and others
// into NumPy .npy files, streaming: memory stays flat whatever the size.
//
//	bigconv convert [flags] INPUT OUTPUT
//	bigconv convert --stack|--concat [flags] INPUT... OUTPUT.npy|OUTPUT.npz
//	bigconv inspect [--json] INPUT
//	bigconv status [--clean] OUTPUT
//	bigconv --version
//
// Exit status: 0 success, 1 failure, 2 usage error, 130 interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/bigconv/bigconv/engine"
)

// version is set at build time with -ldflags "-X main.version=…";
// otherwise the build info says what was built.
var version = ""

func getVersion() string {
	if version != "" {
		return version
	}
	bi, _ := debug.ReadBuildInfo()
	return versionOf(bi)
}

// versionOf is the module version of a `go install`ed binary; for a
// build from a checkout, "devel-" and the VCS revision (12 digits,
// "-dirty" with uncommitted changes) and its commit time; "devel" when
// the build knows neither.
func versionOf(bi *debug.BuildInfo) string {
	if bi == nil {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, when, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return "devel"
	}
	v := "devel-" + rev[:min(len(rev), 12)] + dirty
	if when != "" {
		v += " (" + when + ")"
	}
	return v
}

const usageText = `bigconv converts tensors (TensorFlow checkpoints and SavedModels, TFRecords,
serialized TensorProtos, ONNX tensors and models, PyTorch torch.save files, .npy,
.npz, .safetensors and sharded Hugging Face models, raw dumps) into NumPy .npy
files or one .npz, streaming.

Usage:
  bigconv convert [flags] INPUT OUTPUT   convert (OUTPUT: a .npy file, a .npz archive, or
                                         a directory for inputs with several tensors)
  bigconv convert --stack|--concat [flags] INPUT... OUTPUT.npy|OUTPUT.npz
                                         several inputs (or a quoted glob) → one array
  bigconv convert --part I/N|auto [flags] INPUT... OUTPUT
                                         one of N processes of one conversion (Slurm, Kubernetes)
  bigconv inspect [--json] INPUT         list tensors: format, dtype, shape, bytes
  bigconv status [--clean] OUTPUT        the parts of a conversion run with --part I/N
  bigconv --version                      print the version

Run 'bigconv convert -h' or 'bigconv inspect -h' for their flags.
Exit status: 0 success, 1 failure, 2 usage error, 130 interrupted (the work
is kept: run the same command with --resume to continue).
`

// exitInterrupted is the status after SIGINT/SIGTERM (128 + SIGINT).
const exitInterrupted = 130

// usageError marks errors that exit with status 2.
type usageError struct{ error }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return 2
	}
	var err error
	switch args[0] {
	case "convert":
		err = cmdConvert(ctx, args[1:], stdin, stdout, stderr)
	case "inspect":
		err = cmdInspect(ctx, args[1:], stdin, stdout, stderr)
	case "status":
		err = cmdStatus(args[1:], stdout, stderr)
	case "--version", "-version", "version":
		fmt.Fprintln(stdout, "bigconv", getVersion())
		return 0
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usageText)
		return 0
	default:
		fmt.Fprintf(stderr, "bigconv: unknown command %q\n\n%s", args[0], usageText)
		return 2
	}
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "bigconv: %v\n", oneLine(err))
		return 2
	}
	switch {
	case errors.Is(err, engine.ErrInterrupted):
		fmt.Fprintf(stderr, "bigconv: %v\nbigconv: run the same command with --resume to continue\n", oneLine(err))
		return exitInterrupted
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "bigconv: interrupted; nothing was written to the output")
		return exitInterrupted
	case errors.Is(err, engine.ErrPending):
		fmt.Fprintf(stderr, "bigconv: %v\nbigconv: run the same command with --resume to continue it, or with --restart to start over\n", oneLine(err))
		return 1
	case errors.Is(err, engine.ErrResume):
		fmt.Fprintf(stderr, "bigconv: %v\nbigconv: --restart discards the interrupted run and starts over\n", oneLine(err))
		return 1
	}
	fmt.Fprintf(stderr, "bigconv: %v\n", oneLine(err))
	return 1
}

func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

// parseInterspersed parses flags that may appear before, between or after
// the positional arguments (as in "convert in.bin out.npy --dtype f4"),
// and returns the positionals. "--" ends flags; "-" is a positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue // Parse reports it
		}
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			flags = append(flags, args[i+1])
			i++
		}
	}
	if err := fs.Parse(flags); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err}
	}
	return pos, nil
}
