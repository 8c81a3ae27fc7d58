package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/bigconv/bigconv/engine"
	"github.com/bigconv/bigconv/engine/part"
	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/mmapnpy"
)

// partSpec reads --part I/N, or --part auto from the scheduler's
// environment (saying which variables it used).
func partSpec(s string, parts int, stderr io.Writer) (*part.Spec, error) {
	if s == "auto" {
		sp, how, err := part.FromEnv(os.Getenv, parts)
		if err != nil {
			return nil, usageError{err}
		}
		fmt.Fprintf(stderr, "bigconv: --part auto: %s\n", how)
		return &sp, nil
	}
	sp, err := part.Parse(s)
	if err != nil {
		return nil, usageError{err}
	}
	if parts > 0 && parts != sp.Count {
		return nil, usageError{fmt.Errorf("--part %s but --parts %d", s, parts)}
	}
	return &sp, nil
}

func convertPart(ctx context.Context, in *format.Input, out string, opt engine.InputOptions, sp part.Spec, stderr io.Writer) error {
	res, err := engine.RunPart(ctx, in, out, opt, sp)
	if errors.Is(err, engine.ErrManyTensors) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	reportPart(res, out, sp, stderr)
	return nil
}

// reportPart says what a part run did.
func reportPart(res engine.PartResult, out string, sp part.Spec, stderr io.Writer) {
	switch {
	case res.NothingToDo:
		fmt.Fprintf(stderr, "bigconv: part %s: %s is already complete (committed by these parts); nothing to do\n", sp, out)
		return
	case res.AlreadyDone:
		fmt.Fprintf(stderr, "bigconv: part %s of %s was already done; nothing redone\n", sp, out)
	default:
		resumed := ""
		if res.Resumed > 0 {
			resumed = fmt.Sprintf(" (continued: %d chunk(s) an interrupted run of this part had written were kept)", res.Resumed)
		}
		waited := ""
		if res.Waited >= 100*time.Millisecond {
			waited = fmt.Sprintf("; waited %s for other parts on this host's CPUs to take their turns", res.Waited.Round(100*time.Millisecond))
		}
		fmt.Fprintf(stderr, "bigconv: part %s of %s: wrote %d bytes in %d range(s)%s%s\n", sp, out, res.Bytes, len(res.Ranges), resumed, waited)
	}
	switch {
	case res.Committed && res.Summary != nil:
		if res.Summary.Archive {
			fmt.Fprintf(stderr, "bigconv: every part of %s is done: wrote %d tensor(s) to the archive (this part finished last)\n", out, len(res.Summary.Tensors))
		} else {
			fmt.Fprintf(stderr, "bigconv: every part of %s is done: wrote %d tensor(s), manifest.json lists them (this part finished last)\n", out, len(res.Summary.Tensors))
		}
		for _, sk := range res.Summary.Skipped {
			fmt.Fprintf(stderr, "bigconv: skipped %q: %s\n", sk.Name, sk.Reason)
		}
		for _, e := range res.Summary.Tensors {
			if e.Lost != "" {
				fmt.Fprintf(stderr, "bigconv: warning: %s: %s → %s changed values: %s\n", e.Name, e.SourceDType, e.DType, e.Lost)
			}
		}
	case res.Committed:
		fmt.Fprintf(stderr, "bigconv: every part of %s is done: %s %s %v written (this part finished last)\n", out, out, res.Result.To, res.Result.Shape)
		if s := res.Result.Stats; s.Lost() {
			fmt.Fprintf(stderr, "bigconv: warning: %s → %s changed values: %s\n", res.Result.From, res.Result.To, s)
		}
	case res.CommittedElsewhere:
		fmt.Fprintf(stderr, "bigconv: every part of %s is done; another part put it in place\n", out)
	default:
		fmt.Fprintf(stderr, "bigconv: %d of %d parts done; waiting for part(s) %s\n", len(res.State.Done), sp.Count, intList(res.State.Missing))
	}
}

func intList(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	if len(s) > 20 {
		s = append(s[:20], fmt.Sprintf("… (%d in all)", len(xs)))
	}
	return strings.Join(s, ", ")
}

// cmdStatus reports the parts of an output: done (with host, pid and
// time), running, missing; --clean removes what unfinished parts left.
func cmdStatus(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	clean := fs.Bool("clean", false, "remove the partial output, markers and locks that parts left (refused while a part is running)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: bigconv status [--clean] OUTPUT\n\nLists the parts of a conversion run with --part: done, running, missing.\n\nFlags:")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return usageError{errors.New("status takes one OUTPUT")}
	}
	out := pos[0]
	rep, err := part.Look(out)
	if err != nil {
		return err
	}
	_, perr := os.Stat(mmapnpy.PartialPath(out))
	if rep.Count == 0 {
		if _, err := os.Stat(out); err == nil && perr != nil {
			fmt.Fprintf(stdout, "%s: complete (no parts pending)\n", out)
		} else if perr == nil {
			fmt.Fprintf(stdout, "%s: a partial output without part markers (%s)\n", out, mmapnpy.PartialPath(out))
		} else {
			fmt.Fprintf(stdout, "%s: no parts started\n", out)
		}
	} else {
		fmt.Fprintf(stdout, "%s: %d of %d parts done, %d running, %d missing\n", out, len(rep.Done), rep.Count, len(rep.Running), len(rep.Missing))
		for _, m := range rep.Done {
			fmt.Fprintf(stdout, "  done     %d/%d  %s  host %s pid %d  %s\n", m.Index, m.Count, fmt.Sprintf("%d bytes", m.Bytes), m.Host, m.PID, m.Done.Format("2006-01-02 15:04:05Z"))
		}
		for _, i := range rep.Running {
			fmt.Fprintf(stdout, "  running  %d/%d\n", i, rep.Count)
		}
		for _, i := range rep.Missing {
			fmt.Fprintf(stdout, "  missing  %d/%d\n", i, rep.Count)
		}
	}
	if *clean {
		if len(rep.Running) > 0 {
			return fmt.Errorf("status --clean: part(s) %s of %s are running", intList(rep.Running), out)
		}
		if err := part.Clean(out); err != nil {
			return err
		}
		os.Remove(mmapnpy.PartialPath(out))
		fmt.Fprintf(stdout, "%s: removed what the parts left\n", out)
	}
	return nil
}
