package mmapnpz

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bigconv/bigconv/mmapnpy"
)

// TestShared: n writers of one archive (the parts of a conversion),
// each writing the layout and data bytes of its own page-aligned share
// of the file at once, then CommitShared with every writer's Sums, give
// byte for byte the archive one Create writes with the same ModTime —
// with and without the sums (Commit reads back what none covers).
func TestShared(t *testing.T) {
	members := everyDType()
	dir := t.TempDir()
	mod := time.Date(2024, 5, 6, 7, 8, 10, 0, time.UTC)
	want := filepath.Join(dir, "want.npz")
	w, err := Create(want, members, Options{ModTime: mod})
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, members, 2, 7)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	wantB, _ := os.ReadFile(want)
	total, offs, err := Layout(members)
	if err != nil || total != int64(len(wantB)) {
		t.Fatalf("Layout: %d, %v; the archive is %d bytes", total, err, len(wantB))
	}
	for _, n := range []int{1, 3, 8} {
		for _, withSums := range []bool{true, false} {
			out := filepath.Join(dir, "out.npz")
			cut := func(k int) int64 { // page-aligned shares, as engine/part cuts them
				if k == n {
					return total
				}
				return (total * int64(k) / int64(n)) &^ 4095
			}
			sums := make([]Sums, n)
			var wg sync.WaitGroup
			errs := make([]error, n)
			for k := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					sw, err := OpenShared(out, members, Options{ModTime: mod})
					if err != nil {
						errs[k] = err
						return
					}
					defer sw.Abort()
					lo, hi := cut(k), cut(k+1)
					if err := sw.WriteLayoutRange(lo, hi); err != nil {
						errs[k] = err
						return
					}
					for i, m := range members {
						body := memberBytes(i, m)
						a, b := max(lo, offs[i]), min(hi, offs[i]+int64(len(body)))
						if a < b {
							if err := sw.Entry(i).WriteAt(body[a-offs[i]:b-offs[i]], a-offs[i]); err != nil {
								errs[k] = err
								return
							}
						}
					}
					if err := sw.Commit(); err == nil {
						errs[k] = errors.New("Commit of a shared writer worked")
						return
					}
					errs[k] = sw.Sync()
					sums[k] = sw.Sums()
				}()
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(mmapnpy.PartialPath(out)); err != nil {
				t.Fatalf("Abort of a shared writer removed the partial file: %v", err)
			}
			if !withSums {
				sums = nil
			}
			if err := CommitShared(out, members, Options{ModTime: mod}, sums); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(out)
			if !bytes.Equal(got, wantB) {
				t.Fatalf("%d shared writers (sums %v): the archive differs from Create's", n, withSums)
			}
			os.Remove(out)
		}
	}
	unzipTest(t, want)
}

// TestSharedRefusals: CommitShared leaves alone a partial file of
// another layout, and a one-process Create is refused while a shared
// writer holds the file (and the other way round).
func TestSharedRefusals(t *testing.T) {
	members := everyDType()
	out := filepath.Join(t.TempDir(), "x.npz")
	sw, err := OpenShared(out, members, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Create(out, members, Options{Keep: true}); !errors.Is(err, mmapnpy.ErrBusy) {
		t.Fatalf("Create while a part writes: %v, want ErrBusy", err)
	}
	if err := CommitShared(out, members, Options{}, nil); !errors.Is(err, mmapnpy.ErrBusy) {
		t.Fatalf("CommitShared while a part writes: %v, want ErrBusy", err)
	}
	sw.Abort()
	// no headers written: not this layout, and left as it is
	if err := CommitShared(out, members, Options{}, nil); err == nil {
		t.Fatal("CommitShared of a file without the layout worked")
	}
	st, err := os.Stat(mmapnpy.PartialPath(out))
	if total, _, _ := Layout(members); err != nil || st.Size() != total {
		t.Fatalf("partial file after a refused CommitShared: %v, %v", st, err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("output appeared: %v", err)
	}
}

// TestCommitSharedRetry: a commit that fails (here the rename, OUTPUT
// being a directory) leaves the parts' partial file, and a second
// CommitShared finishes the archive.
func TestCommitSharedRetry(t *testing.T) {
	members := everyDType()
	dir := t.TempDir()
	mod := time.Date(2022, 2, 2, 2, 2, 2, 0, time.UTC)
	want := filepath.Join(dir, "want.npz")
	w, err := Create(want, members, Options{ModTime: mod})
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, members, 2, 3)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	wantB, _ := os.ReadFile(want)
	out := filepath.Join(dir, "out.npz")
	sw, err := OpenShared(out, members, Options{ModTime: mod})
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.WriteLayoutRange(0, sw.Size()); err != nil {
		t.Fatal(err)
	}
	for i, m := range members {
		if err := sw.Entry(i).WriteAt(memberBytes(i, m), 0); err != nil {
			t.Fatal(err)
		}
	}
	sums := []Sums{sw.Sums()}
	sw.Abort()
	os.MkdirAll(filepath.Join(out, "x"), 0o755)
	if err := CommitShared(out, members, Options{ModTime: mod}, sums); err == nil {
		t.Fatal("CommitShared over a directory worked")
	}
	if _, err := os.Stat(mmapnpy.PartialPath(out)); err != nil {
		t.Fatalf("a failed CommitShared removed the partial file: %v", err)
	}
	os.RemoveAll(out)
	if err := CommitShared(out, members, Options{ModTime: mod}, sums); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, wantB) {
		t.Fatal("the retried commit differs from Create's archive")
	}
}
