package engine

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/format/npy/npyhdr"
	"github.com/bigconv/bigconv/tensor"
)

// TestInputsIdentity: the identity of many inputs, read on several
// goroutines, is that of the inputs one after another, in their order:
// it changes when two inputs swap or one input's header changes, and is
// the same again for the same files.
func TestInputsIdentity(t *testing.T) {
	paths := zeroNPYFiles(t, t.TempDir(), "x%02d.npy", 40, func(i int) dtype.Shape { return dtype.Shape{int64(1 + i%3), 4} })
	open := func(paths []string) []*format.Input { return openInputs(t, paths) }
	oneByOne := func(ins []*format.Input) string {
		var parts []string
		for _, in := range ins {
			parts = append(parts, in.Identity())
		}
		return strings.Join(parts, "; ")
	}
	ins := open(paths)
	got := InputsIdentity(ins)
	sum := sha256.Sum256([]byte(oneByOne(ins)))
	if want := fmt.Sprintf("40 inputs, sha256 of their names, sizes, times and headers %x", sum[:12]); got != want {
		t.Fatalf("identity of 40 inputs:\n%s\nwant\n%s", got, want)
	}
	for range 5 {
		if again := InputsIdentity(open(paths)); again != got {
			t.Fatalf("the same files again: %s, was %s", again, got)
		}
	}
	if few := InputsIdentity(ins[:3]); few != oneByOne(ins[:3]) || !strings.Contains(few, "x02.npy size=") {
		t.Fatalf("identity of 3 inputs: %q, want each input's in order", few)
	}
	swapped := append([]string(nil), paths...)
	swapped[7], swapped[30] = swapped[30], swapped[7]
	if InputsIdentity(open(swapped)) == got {
		t.Fatal("two inputs swapped: same identity")
	}
	// the same size and shape, another header byte (a padding space made a newline's neighbour)
	b, err := os.ReadFile(paths[21])
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(paths[21])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-16*(1+21%3)-2] = '\t'
	if err := os.WriteFile(paths[21], b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(paths[21], info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
	if InputsIdentity(open(paths)) == got {
		t.Fatal("one input's header changed (same size and time): same identity")
	}
}

// TestStackInputsIdentityInJournal: StackInputs computes the inputs'
// identity only when the run keeps a journal, and that journal (.npy or
// .npz output, a row range or not) records it as computed eagerly: the
// joined identity, with the rows. A run without fsync never computes it.
func TestStackInputsIdentityInJournal(t *testing.T) {
	dir := t.TempDir()
	ins := openInputs(t, zeroNPYFiles(t, dir, "in%d.npy", 6, func(int) dtype.Shape { return dtype.Shape{64, 16} }))
	rows, err := tensor.ParseRows("1:")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, out string
		rows      *tensor.RowRange
		journal   func(path string) string // the identity the journal records
	}{
		{"npy", "o.npy", nil, npyJournalInput},
		{"npy rows", "o.npy", &rows, npyJournalInput},
		{"npz", "o.npz", nil, npzJournalInput},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, c.out)
			computed := 0
			identityProbe = func() { computed++ }
			defer func() { identityProbe = nil }()
			opt := StackInputOptions{StackOptions: StackOptions{Join: JoinConcat, Rows: c.rows,
				Options: Options{BlockSize: 8 << 10, Workers: 1, CheckpointBytes: 1, NoSync: true}}}
			if _, err := StackInputs(context.Background(), ins, out, opt); err != nil {
				t.Fatal(err)
			}
			if computed != 0 {
				t.Fatalf("a run without fsync computed the inputs' identity %d times", computed)
			}
			os.Remove(out)
			ctx, cancel, progress := cancelAfter(3)
			defer cancel()
			opt.NoSync = false
			opt.Progress = progress
			_, err := StackInputs(ctx, ins, out, opt)
			var ie *InterruptedError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want an interruption", err)
			}
			if computed != 1 {
				t.Fatalf("a run keeping a journal computed the inputs' identity %d times, want once", computed)
			}
			want, got := InputsIdentity(ins), c.journal(JournalPath(out))
			if c.rows != nil {
				want += " rows=1:384 of 384" // the plan's rows, as Stack adds them
			}
			if got != want {
				t.Fatalf("journal records %q, want %q", got, want)
			}
			// a run without fsync that meets the journal reports it, still
			// without computing the identity
			computed = 0
			nosync := opt
			nosync.Progress, nosync.NoSync = nil, true
			if _, err := StackInputs(context.Background(), ins, out, nosync); !errors.Is(err, ErrPending) || computed != 0 {
				t.Fatalf("--no-sync over a left journal: %v (identity computed %d times), want ErrPending and none", err, computed)
			}
			opt.Progress, opt.Resume = nil, true
			if res, err := StackInputs(context.Background(), ins, out, opt); err != nil || res.Resumed == 0 {
				t.Fatalf("resume: %+v, %v", res, err)
			}
		})
	}
}

// npyJournalInput and npzJournalInput read the input identity a .npy's
// or an .npz's journal records.
func npyJournalInput(path string) string {
	j, err := readJournal(path)
	if err != nil {
		return err.Error()
	}
	return j.Input
}

func npzJournalInput(path string) string {
	j, err := readArchiveJournal(path)
	if err != nil {
		return err.Error()
	}
	return j.Input
}

// zeroNPYFiles writes n float32 .npy files of zeros into dir, named by
// the format name (with the index) and shaped by shape, and returns
// their paths.
func zeroNPYFiles(t *testing.T, dir, name string, n int, shape func(i int) dtype.Shape) []string {
	t.Helper()
	var paths []string
	for i := range n {
		sh := shape(i)
		hdr, err := npyhdr.Encode(dtype.MustParse("<f4"), sh, false)
		if err != nil {
			t.Fatal(err)
		}
		size, _ := sh.NumBytes(4)
		p := filepath.Join(dir, fmt.Sprintf(name, i))
		if err := os.WriteFile(p, append(hdr, make([]byte, size)...), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// openInputs opens each path with format.OpenPath, closed when t ends.
func openInputs(t *testing.T, paths []string) []*format.Input {
	t.Helper()
	var ins []*format.Input
	for _, p := range paths {
		in, err := format.OpenPath(p, format.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { in.Close() })
		ins = append(ins, in)
	}
	return ins
}
