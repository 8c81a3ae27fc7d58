package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format/npy/npyhdr"
	"github.com/bigconv/bigconv/internal/numpytest"
)

// child is a bigconv process (this test binary in child mode).
func child(env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
	cmd.Env = append(append(os.Environ(), "BIGCONV_CHILD=1"), env...)
	return cmd
}

// runParts starts the parts idx of n at once and waits for them all.
func runParts(t *testing.T, n int, idx []int, args ...string) []string {
	t.Helper()
	logs := make([]string, len(idx))
	var wg sync.WaitGroup
	for k, i := range idx {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var stderr bytes.Buffer
			cmd := child(nil, append([]string{"convert", "--part", fmt.Sprintf("%d/%d", i, n)}, args...)...)
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				logs[k] = fmt.Sprintf("FAILED %v: %s", err, stderr.String())
				return
			}
			logs[k] = stderr.String()
		}()
	}
	wg.Wait()
	for k, l := range logs {
		if strings.HasPrefix(l, "FAILED") {
			t.Fatalf("part %d/%d: %s", idx[k], n, l)
		}
	}
	return logs
}

func partsSetup(t *testing.T) (dir, in, want string, args func(out string) []string) {
	dir = t.TempDir()
	in = filepath.Join(dir, "in.bin")
	writeRamp(t, in, 8<<20)
	args = func(out string) []string {
		return []string{"--progress", "never", "--in-dtype", "<i8", "--dtype", "float32", "--block-size", "256KiB", "--workers", "2", in, out}
	}
	want = filepath.Join(dir, "want.npy")
	if code, _, stderr := bigconv(t, append([]string{"convert"}, args(want)...)...); code != 0 {
		t.Fatal(stderr)
	}
	return dir, in, want, args
}

func sameBytes(t *testing.T, got, want string) {
	t.Helper()
	a, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(want)
	if !bytes.Equal(a, b) {
		t.Fatalf("%s differs from the one-process output %s", got, want)
	}
}

// TestPartsCLI (issue 13): N processes started at once with the same
// arguments produce the one-process output, committed once, with nothing
// left beside it; run in two waves, OUTPUT is absent until the last part.
func TestPartsCLI(t *testing.T) {
	dir, _, want, args := partsSetup(t)
	for _, n := range []int{2, 4, 7, 16} {
		out := filepath.Join(dir, fmt.Sprintf("o%d.npy", n))
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		logs := runParts(t, n, idx, args(out)...)
		last := strings.Count(strings.Join(logs, ""), "(this part finished last)")
		if last != 1 {
			t.Fatalf("%d parts: %d say they finished last:\n%s", n, last, strings.Join(logs, "\n"))
		}
		sameBytes(t, out, want)
		leftovers(t, dir, "in.bin", filepath.Base(out), "want.npy")
		os.Remove(out)
	}

	// a same-dtype copy (copy_file_range inside each part's ranges)
	in := filepath.Join(dir, "in.bin")
	cargs := []string{"--progress", "never", "--in-dtype", "<f8", "--block-size", "256KiB", in}
	cwant := filepath.Join(dir, "cwant.npy")
	if code, _, stderr := bigconv(t, append(append([]string{"convert"}, cargs...), cwant)...); code != 0 {
		t.Fatal(stderr)
	}
	cout := filepath.Join(dir, "copy.npy")
	runParts(t, 5, []int{0, 1, 2, 3, 4}, append(cargs, cout)...)
	sameBytes(t, cout, cwant)
	os.Remove(cout)
	os.Remove(cwant)

	// two waves: parts 0–2 of 4, then part 3
	out := filepath.Join(dir, "waves.npy")
	runParts(t, 4, []int{0, 1, 2}, args(out)...)
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("OUTPUT exists before the last part: %v", err)
	}
	code, stdout, _ := bigconv(t, "status", out)
	if code != 0 || !strings.Contains(stdout, "3 of 4 parts done, 0 running, 1 missing") || !strings.Contains(stdout, "missing  3/4") {
		t.Fatalf("status: exit %d\n%s", code, stdout)
	}
	logs := runParts(t, 4, []int{3}, args(out)...)
	if !strings.Contains(logs[0], "finished last") {
		t.Fatalf("last part: %s", logs[0])
	}
	sameBytes(t, out, want)
	// a part rerun after the commit (a scheduler's retry) has nothing to do
	logs = runParts(t, 4, []int{1}, args(out)...)
	if !strings.Contains(logs[0], "nothing to do") {
		t.Fatalf("rerun after commit: %s", logs[0])
	}
	if code, stdout, _ := bigconv(t, "status", out); code != 0 || !strings.Contains(stdout, "complete") {
		t.Fatalf("status after commit: %s", stdout)
	}
	leftovers(t, dir, "in.bin", "want.npy", "waves.npy")
}

// TestPartKilledAndRerun: a part killed halfway is rerun with the same
// command and continues from its journal; the output is the one-process
// output. A second process of a running part is refused; parts with
// another count are refused.
func TestPartKilledAndRerun(t *testing.T) {
	dir, _, want, args := partsSetup(t)
	out := filepath.Join(dir, "o.npy")
	part1 := append([]string{"convert", "--part", "1/3", "--checkpoint", "256KiB"}, args(out)...)
	code, log := stopChild(t, "block:50", syscall.SIGKILL, part1...)
	if code == 0 {
		t.Fatalf("part 1 was not killed:\n%s", log)
	}
	runParts(t, 3, []int{0, 2}, args(out)...)
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatal("OUTPUT exists with part 1 killed")
	}
	if code, _, stderr := bigconv(t, append([]string{"convert", "--part", "0/3", "--no-sync"}, args(out)...)...); code != 2 || !strings.Contains(stderr, "--no-sync does not apply") {
		t.Fatalf("--part with --no-sync: exit %d: %s", code, stderr)
	}
	if code, _, stderr := bigconv(t, append([]string{"convert", "--part", "0/4"}, args(out)...)...); code != 1 || !strings.Contains(stderr, "was run with 3 parts, this run has 4") {
		t.Fatalf("another count: exit %d: %s", code, stderr)
	}

	// part 1 rerun, but first a second process of it while it runs
	cmd := child([]string{"BIGCONV_STOP=block:0"}, part1...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() && sc.Text() != "STOPPED" {
	}
	code, _, msg := bigconv(t, part1...)
	if code != 1 || !strings.Contains(msg, "being run by another process") {
		t.Fatalf("second process of part 1: exit %d: %s", code, msg)
	}
	if code, stdout, _ := bigconv(t, "status", out); code != 0 || !strings.Contains(stdout, "running  1/3") {
		t.Fatalf("status while part 1 runs: %s", stdout)
	}
	cmd.Process.Signal(syscall.SIGTERM) // the stopped rerun resumes on the signal and is cancelled
	for sc.Scan() {
	}
	cmd.Wait()
	code, _, msg = bigconv(t, part1...)
	if code != 0 || !strings.Contains(msg, "finished last") || !strings.Contains(msg, "continued: ") {
		t.Fatalf("rerun of part 1: exit %d: %s", code, msg)
	}
	sameBytes(t, out, want)
	leftovers(t, dir, "in.bin", "o.npy", "want.npy")
}

// TestPartAuto: --part auto reads a Slurm job array's variables (and a
// Kubernetes Indexed Job's with --parts) and says which it used.
func TestPartAuto(t *testing.T) {
	dir, _, want, args := partsSetup(t)
	out := filepath.Join(dir, "o.npy")
	for i := range 2 {
		cmd := child([]string{"SLURM_ARRAY_TASK_ID=" + fmt.Sprint(10+i), "SLURM_ARRAY_TASK_MIN=10", "SLURM_ARRAY_TASK_COUNT=2"},
			append([]string{"convert", "--part", "auto"}, args(out)...)...)
		b, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(b), fmt.Sprintf("Slurm job array: SLURM_ARRAY_TASK_ID=%d", 10+i)) {
			t.Fatalf("slurm task %d: %v\n%s", i, err, b)
		}
	}
	sameBytes(t, out, want)
	os.Remove(out)
	for i := range 3 {
		cmd := child([]string{"JOB_COMPLETION_INDEX=" + fmt.Sprint(i)}, append([]string{"convert", "--part", "auto", "--parts", "3"}, args(out)...)...)
		b, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(b), "Kubernetes Indexed Job") {
			t.Fatalf("k8s index %d: %v\n%s", i, err, b)
		}
	}
	sameBytes(t, out, want)
	cmd := child([]string{"JOB_COMPLETION_INDEX=0"}, append([]string{"convert", "--part", "auto"}, args(out)...)...)
	if b, _ := cmd.CombinedOutput(); cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(b), "--parts N") {
		t.Fatalf("k8s without --parts: exit %d: %s", cmd.ProcessState.ExitCode(), b)
	}
}

// TestPartsDirectoryCLI: a whole checkpoint to a directory in parts
// gives the one-process directory, manifest.json included.
func TestPartsDirectoryCLI(t *testing.T) {
	root := t.TempDir()
	prefix, _ := embeddingCheckpoint(t, root)
	want := filepath.Join(root, "want_dir")
	if code, _, stderr := bigconv(t, "convert", "--progress", "never", prefix, want); code != 0 {
		t.Fatal(stderr)
	}
	out := filepath.Join(root, "out", "vars")
	logs := runParts(t, 5, []int{0, 1, 2, 3, 4}, "--progress", "never", prefix, out)
	if n := strings.Count(strings.Join(logs, ""), "finished last"); n != 1 {
		t.Fatalf("%d parts say they finished last:\n%s", n, strings.Join(logs, "\n"))
	}
	sameTree(t, out, want)
	leftovers(t, filepath.Dir(out), "vars")
}

// TestPartsStackCLI: a --stack of a glob of clips, run by 2, 4 and 7
// processes at once, is the one-process stack.
func TestPartsStackCLI(t *testing.T) {
	dir := t.TempDir()
	clips := filepath.Join(dir, "clips")
	os.Mkdir(clips, 0o755)
	for k := range 12 {
		hdr, _ := npyhdr.Encode(dtype.MustParse("<f4"), dtype.Shape{33, 40}, false)
		data := make([]byte, 33*40*4)
		for i := range data {
			data[i] = byte(i*7 + k)
		}
		for i := 3; i < len(data); i += 4 {
			data[i] &= 0x3f
		}
		os.WriteFile(filepath.Join(clips, fmt.Sprintf("act_%03d.npy", k)), append(hdr, data...), 0o644)
	}
	args := []string{"--progress", "never", "--stack", "--dtype", "float16", "--casting", "unsafe", "--block-size", "16KiB", filepath.Join(clips, "act_*.npy")}
	want := filepath.Join(dir, "want.npy")
	if code, _, stderr := bigconv(t, append(append([]string{"convert"}, args...), want)...); code != 0 {
		t.Fatal(stderr)
	}
	for _, n := range []int{2, 4, 7} {
		out := filepath.Join(dir, fmt.Sprintf("o%d.npy", n))
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		logs := runParts(t, n, idx, append(args, out)...)
		if c := strings.Count(strings.Join(logs, ""), "finished last"); c != 1 {
			t.Fatalf("%d parts: %d finished last:\n%s", n, c, strings.Join(logs, "\n"))
		}
		sameBytes(t, out, want)
	}
	leftovers(t, dir, "clips", "o2.npy", "o4.npy", "o7.npy", "want.npy")
}

// TestPartsArchiveCLI (issue 13): a checkpoint to an .npz by 2, 4, 7 and
// 16 processes at once: with SOURCE_DATE_EPOCH, byte for byte the
// one-process archive; without (4 processes), members dated 1980-01-01 (every part writes the same
// headers); NumPy's np.load and zipfile's testzip judge it; one commit,
// nothing left beside it.
func TestPartsArchiveCLI(t *testing.T) {
	numpytest.Require(t)
	root := t.TempDir()
	prefix, _ := embeddingCheckpoint(t, root)
	outDir := filepath.Join(root, "out")
	args := func(out string) []string {
		return []string{"--progress", "never", "--block-size", "64KiB", "--workers", "1", prefix, out}
	}
	for _, c := range []struct {
		epoch string
		n     int
	}{{"1700000000", 2}, {"1700000000", 4}, {"1700000000", 7}, {"1700000000", 16}, {"", 4}} {
		epoch := c.epoch
		t.Setenv("SOURCE_DATE_EPOCH", epoch)
		out := filepath.Join(outDir, "vars.npz")
		idx := make([]int, c.n)
		for i := range idx {
			idx[i] = i
		}
		logs := runParts(t, c.n, idx, args(out)...)
		if n := strings.Count(strings.Join(logs, ""), "to the archive (this part finished last)"); n != 1 {
			t.Fatalf("%d parts say they finished last:\n%s", n, strings.Join(logs, "\n"))
		}
		leftovers(t, outDir, "vars.npz")
		date := "(1980, 1, 1, 0, 0, 0)"
		if epoch != "" {
			want := filepath.Join(root, "want.npz")
			if code, _, stderr := bigconv(t, append([]string{"convert"}, args(want)...)...); code != 0 {
				t.Fatal(stderr)
			}
			sameBytes(t, out, want)
			os.Remove(want)
			date = "(2023, 11, 14, 22, 13, 20)"
		}
		// embeddingCheckpoint's fill: byte k of a tensor's data is k*7 % 251
		res := numpytest.Run(t, `
import sys, zipfile, numpy as np
out, date = sys.argv[1], sys.argv[2]
zf = zipfile.ZipFile(out)
assert zf.testzip() is None, "testzip: bad CRC in " + str(zf.testzip())
infos = zf.infolist()
assert [i.filename for i in infos] == ["dense/bias.npy", "embedding/weights.npy"], [i.filename for i in infos]
assert all(i.compress_type == zipfile.ZIP_STORED and str(i.date_time) == date for i in infos), [(i.compress_type, i.date_time) for i in infos]
z = np.load(out)
for name, shape in [("dense/bias", (96,)), ("embedding/weights", (3000, 96))]:
    n = int(np.prod(shape)) * 4
    want = (np.arange(n, dtype=np.int64) * 7 % 251).astype(np.uint8).view("<f4").reshape(shape)
    got = z[name]
    assert got.dtype == want.dtype and got.shape == want.shape, (name, got.dtype, got.shape)
    assert got.tobytes() == want.tobytes(), name
print("ok", len(infos))
`, out, date)
		t.Logf("%d parts, SOURCE_DATE_EPOCH=%q: %s", c.n, epoch, res)
		os.Remove(out)
	}
}

// TestPartKilledAndRerunArchive: a part of an .npz output killed halfway
// through its range is rerun with the same command and continues from
// its journal (chunks and their CRC-32 ranges); the archive is the
// one-process archive (same SOURCE_DATE_EPOCH), OUTPUT absent until then.
func TestPartKilledAndRerunArchive(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1650000000")
	dir, _, _, args := partsSetup(t)
	want := filepath.Join(dir, "want.npz")
	if code, _, stderr := bigconv(t, append([]string{"convert"}, args(want)...)...); code != 0 {
		t.Fatal(stderr)
	}
	out := filepath.Join(dir, "o.npz")
	part1 := append([]string{"convert", "--part", "1/3", "--checkpoint", "256KiB"}, args(out)...)
	code, log := stopChild(t, "block:50", syscall.SIGKILL, part1...)
	if code == 0 {
		t.Fatalf("part 1 was not killed:\n%s", log)
	}
	runParts(t, 3, []int{0, 2}, args(out)...)
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatal("OUTPUT exists with part 1 killed")
	}
	code, _, msg := bigconv(t, part1...)
	if code != 0 || !strings.Contains(msg, "finished last") || !strings.Contains(msg, "continued: ") {
		t.Fatalf("rerun of part 1: exit %d: %s", code, msg)
	}
	sameBytes(t, out, want)
	leftovers(t, dir, "in.bin", "o.npz", "want.npy", "want.npz")
}
