package mmapnpz

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/bigconv/bigconv/mmapnpy"
)

// TestCrashHelper is the process TestCrash kills: it writes half the
// members, prints a CRC snapshot taken before an fsync, and dies.
func TestCrashHelper(t *testing.T) {
	out := os.Getenv("MMAPNPZ_CRASH_OUT")
	if out == "" {
		t.Skip("run by TestCrash")
	}
	members := everyDType()
	w, err := Create(out, members, Options{})
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, members[:len(members)/2], 2, 9)
	sums := w.Sums()
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(sums)
	os.WriteFile(out+".sums", b, 0o644)
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
}

// TestCrash: a process killed mid-run leaves nothing at the output path,
// only the partial file; a run with Keep reuses it (with the snapshot the
// dead process persisted) and commits a correct archive.
func TestCrash(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "x.npz")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$")
	cmd.Env = append(os.Environ(), "MMAPNPZ_CRASH_OUT="+out)
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("helper: %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("output after a crash: %v", err)
	}
	if _, err := os.Stat(mmapnpy.PartialPath(out)); err != nil {
		t.Fatalf("no partial file after a crash: %v", err)
	}
	var sums Sums
	b, err := os.ReadFile(out + ".sums")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sums); err != nil {
		t.Fatal(err)
	}
	os.Remove(out + ".sums")
	members := everyDType()
	w, err := Create(out, members, Options{Keep: true})
	if err != nil {
		t.Fatal(err)
	}
	if !w.Reused() {
		t.Fatal("partial file of the crashed run not reused")
	}
	if err := w.Restore(sums); err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, members, 2, 10) // everything again: overlaps with restored ranges are handled
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	t.Log(judge(t, out, members, 1, nil))
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("left beside the output: %v", ents)
	}
}
