package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format/npy/npyhdr"
	"github.com/bigconv/bigconv/internal/numpytest"
	"github.com/bigconv/bigconv/internal/tfgen"
)

// The rough edges of issue 10, one test each.

// bigconvIn runs the CLI in-process with stdin.
func bigconvIn(t *testing.T, stdin io.Reader, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, stdin, &out, &errb)
	return code, out.String(), errb.String()
}

func smallCheckpoint(t *testing.T, dir, prefix string, names ...string) string {
	t.Helper()
	var ts []tfgen.BundleTensor
	for _, n := range names {
		ts = append(ts, tfgen.BundleTensor{Name: n, DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{4, 3}})
	}
	if err := tfgen.WriteBundle(dir, prefix, ts, tfgen.BundleOptions{}); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, prefix)
}

// A multi-tensor input to an OUTPUT ending in .npy is a usage error
// naming --tensor, and creates nothing.
func TestManyTensorsToNPY(t *testing.T) {
	dir := t.TempDir()
	ckpt := smallCheckpoint(t, dir, "ckpt", "a", "b")
	out := filepath.Join(dir, "x.npy")
	code, _, stderr := bigconv(t, "convert", "--progress", "never", ckpt, out)
	if code != 2 || !strings.Contains(stderr, "--tensor") {
		t.Fatalf("exit %d, want 2 naming --tensor: %s", code, stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("%s was created", out)
	}
	leftovers(t, dir, "ckpt.data-00000-of-00001", "ckpt.index")
	// One of them is fine.
	if code, _, stderr := bigconv(t, "convert", "--progress", "never", "--tensor", "b", ckpt, out); code != 0 {
		t.Fatal(stderr)
	}
}

// An existing non-empty OUTPUT directory bigconv did not make is refused
// unless --force; one it made is replaced whole.
func TestOutputDirectory(t *testing.T) {
	dir := t.TempDir()
	ckptA := smallCheckpoint(t, dir, "a", "a/one", "a/two")
	ckptB := smallCheckpoint(t, dir, "b", "b/one", "b/two")
	out := filepath.Join(dir, "out")
	os.Mkdir(out, 0o755)
	os.WriteFile(filepath.Join(out, "notes.txt"), []byte("mine"), 0o644)

	code, _, stderr := bigconv(t, "convert", "--progress", "never", ckptA, out)
	if code != 1 || !strings.Contains(stderr, "--force") {
		t.Fatalf("foreign directory: exit %d, want 1 naming --force: %s", code, stderr)
	}
	leftovers(t, out, "notes.txt")
	if code, _, stderr := bigconv(t, "convert", "--progress", "never", "--force", ckptA, out); code != 0 {
		t.Fatal(stderr)
	}
	leftovers(t, out, "a", "manifest.json", "notes.txt")

	// A directory bigconv made is replaced whole: b's manifest lists b
	// only, and a's files are gone.
	out2 := filepath.Join(dir, "out2")
	for _, ck := range []string{ckptA, ckptB} {
		if code, _, stderr := bigconv(t, "convert", "--progress", "never", ck, out2); code != 0 {
			t.Fatal(stderr)
		}
	}
	leftovers(t, out2, "b", "manifest.json")
	m := readManifest(t, out2)
	if len(m.Tensors) != 2 || m.Tensors[0].Name != "b/one" || m.Tensors[1].Name != "b/two" {
		t.Fatalf("manifest lists %+v", m.Tensors)
	}
	leftovers(t, dir, "a.data-00000-of-00001", "a.index", "b.data-00000-of-00001", "b.index", "out", "out2")
	// An empty directory is simply filled.
	out3 := filepath.Join(dir, "out3")
	os.Mkdir(out3, 0o755)
	if code, _, stderr := bigconv(t, "convert", "--progress", "never", ckptB, out3); code != 0 {
		t.Fatal(stderr)
	}
	leftovers(t, out3, "b", "manifest.json")
}

// .npy and raw read from stdin stream; the output equals the one
// converted from the file. A truncated stream fails.
func TestStdinStreams(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "in.bin")
	writeRamp(t, raw, 1<<20) // writes 4 MiB: 512 Ki int64
	data, _ := os.ReadFile(raw)
	data = data[:1<<20] // 128 Ki
	os.WriteFile(raw, data, 0o644)
	hdr, err := npyhdr.Encode(dtype.MustParse("<i8"), dtype.Shape{128, 1024}, false)
	if err != nil {
		t.Fatal(err)
	}
	npyBytes := append(hdr, data...)
	npyFile := filepath.Join(dir, "in.npy")
	os.WriteFile(npyFile, npyBytes, 0o644)
	cases := []struct {
		name  string
		stdin []byte
		flags []string
		file  string
	}{
		{"npy", npyBytes, nil, npyFile},
		{"raw 1-D", data, []string{"--in-dtype", "<i8"}, raw},
		{"raw -1,1024", data, []string{"--in-dtype", "<i8", "--shape", "-1,1024"}, raw},
		{"raw 128,1024", data, []string{"--in-dtype", "<i8", "--shape", "128,1024"}, raw},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conv := append([]string{"convert", "--progress", "never", "--dtype", "float32", "--block-size", "64KiB"}, c.flags...)
			fromFile, fromPipe := filepath.Join(dir, "file.npy"), filepath.Join(dir, "pipe.npy")
			if code, _, stderr := bigconv(t, append(conv, c.file, fromFile)...); code != 0 {
				t.Fatal(stderr)
			}
			if code, _, stderr := bigconvIn(t, bytes.NewReader(c.stdin), append(conv, "-", fromPipe)...); code != 0 {
				t.Fatal(stderr)
			}
			a, _ := os.ReadFile(fromFile)
			b, _ := os.ReadFile(fromPipe)
			if !bytes.Equal(a, b) {
				t.Fatalf("from stdin %d bytes differ from the file's %d", len(b), len(a))
			}
			// Cut short: refused, nothing written.
			os.Remove(fromPipe)
			short := c.stdin[:len(c.stdin)-4096]
			code, _, stderr := bigconvIn(t, bytes.NewReader(short), append(conv, "-", fromPipe)...)
			shaped := c.name == "npy" || c.name == "raw 128,1024"
			if shaped && (code != 1 || !strings.Contains(stderr, "corrupt")) {
				t.Fatalf("truncated stdin: exit %d: %s", code, stderr)
			}
			if _, err := os.Stat(fromPipe); shaped && !os.IsNotExist(err) {
				t.Fatal("output written from a truncated stream")
			}
		})
	}
	// Formats that need to seek say so.
	code, _, stderr := bigconvIn(t, strings.NewReader("PK\x03\x04"+strings.Repeat("\x00", 100)), "convert", "--format", "npz", "-", filepath.Join(dir, "x"))
	if code != 1 || !strings.Contains(stderr, "stream") {
		t.Fatalf("npz from stdin: exit %d: %s", code, stderr)
	}
}

// inspect shows NumPy's own dtype string for arrays bigconv does not
// convert.
func TestInspectUnsupportedDType(t *testing.T) {
	dir := t.TempDir()
	for _, descr := range []string{"<U3", "|O", "|V8"} {
		dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (2,), }", descr)
		dict += strings.Repeat(" ", 64-10-len(dict)%64-1+64) + "\n"
		dict = dict[len(dict)-((len(dict)+10)/64*64-10):]
		head := []byte("\x93NUMPY\x01\x00")
		head = binary.LittleEndian.AppendUint16(head, uint16(len(dict)))
		f := filepath.Join(dir, "a.npy")
		os.WriteFile(f, append(append(head, dict...), make([]byte, 64)...), 0o644)
		code, stdout, stderr := bigconv(t, "inspect", f)
		if code != 0 || !strings.Contains(stdout, " "+descr+" ") || strings.Contains(stdout, "dtype.Type") {
			t.Errorf("inspect %s: exit %d: %s%s", descr, code, stdout, stderr)
		}
		code, stdout, _ = bigconv(t, "inspect", "--json", f)
		if code != 0 || !strings.Contains(stdout, `"dtype": "`+descr+`"`) {
			t.Errorf("inspect --json %s: exit %d: %s", descr, code, stdout)
		}
	}
}

// The bar shows bytes done of the total, rate and ETA, and 100 % only
// for finished work.
func TestProgressBar(t *testing.T) {
	var w bytes.Buffer
	b := newBar(true, &w, "ckpt")
	b.update(0, 3<<30)
	time.Sleep(150 * time.Millisecond) // past the library's redraw throttle
	b.update(1<<30, 3<<30)
	if s := w.String(); !strings.Contains(s, " 33% ") || !strings.Contains(s, "(1.0/3.0 GiB, ") ||
		!regexp.MustCompile(`[0-9.]+ [KMG]iB/s\) \[[0-9]+s:[0-9]+s\]`).MatchString(s) {
		t.Fatalf("bar at a third (want bytes done/total, rate, [elapsed:ETA]): %q", s)
	}
	b.update(3<<30-1, 3<<30) // one byte short
	b.finish(false)          // Ctrl-C
	if s := w.String(); strings.Contains(s, "100%") || !strings.Contains(s, " 99% ") || !strings.HasSuffix(s, "(stopped)\n") {
		t.Fatalf("interrupted bar: %q", s)
	}
	w.Reset()
	b = newBar(true, &w, "ckpt")
	b.update(1<<30, 3<<30)
	b.update(3<<30, 3<<30) // all read, not yet committed: not 100 % yet
	if s := w.String(); strings.Contains(s, "100%") {
		t.Fatalf("bar before commit: %q", s)
	}
	b.finish(true)
	if s := w.String(); !strings.Contains(s, "100%") || !strings.Contains(s, "(3.0/3.0 GiB") || !strings.HasSuffix(s, "\n") {
		t.Fatalf("finished bar: %q", s)
	}
	// Unknown total (a stream): bytes and rate.
	w.Reset()
	s := newBar(true, &w, "-")
	s.update(5<<20, -1)
	if !strings.Contains(w.String(), "5.0 MiB") {
		t.Fatalf("stream bar: %q", w.String())
	}
}

// Ctrl-C halfway: the bar stops where the work stopped, short of 100 %.
func TestProgressBarInterrupted(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.bin")
	writeRamp(t, in, 4<<20)
	code, log := stopChild(t, "block:50", syscall.SIGINT, "convert", "--progress", "always", "--workers", "1",
		"--in-dtype", "<i8", "--block-size", "64KiB", "--checkpoint", "64KiB", in, filepath.Join(dir, "out.npy"))
	if code != exitInterrupted || strings.Contains(log, "100%") || !strings.Contains(log, "(stopped)") ||
		!strings.Contains(log, "/4.0 MiB") {
		t.Fatalf("exit %d, want %d with a bar stopped short of 100%%:\n%s", code, exitInterrupted, log)
	}
}

// A run interrupted with --checkpoint 256KiB resumes without the flag
// (the checkpoint interval is no part of the resume identity).
func TestResumeOtherCheckpoint(t *testing.T) {
	// The run is interrupted with --checkpoint 256KiB, then resumed with
	// no --checkpoint at all (the default cadence) or with another one.
	for _, resume := range [][]string{{"--resume"}, {"--resume", "--checkpoint", "1GiB"}} {
		t.Run(strings.Join(resume, " "), func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "in.bin")
			writeRamp(t, in, 4<<20)
			out := filepath.Join(dir, "out.npy")
			conv := []string{"convert", "--progress", "never", "--in-dtype", "<i8", "--block-size", "64KiB", in, out}
			if code, log := stopChild(t, "checkpoint:25", syscall.SIGKILL, append(conv, "--checkpoint", "256KiB")...); code != -int(syscall.SIGKILL) {
				t.Fatalf("exit %d:\n%s", code, log)
			}
			// Without --resume the interrupted run is reported, not discarded.
			code, _, stderr := bigconv(t, conv...)
			if code != 1 || !strings.Contains(stderr, "--resume") {
				t.Fatalf("rerun without --resume or --checkpoint: exit %d: %s", code, stderr)
			}
			code, _, stderr = bigconv(t, append(conv, resume...)...)
			if code != 0 || !strings.Contains(stderr, "resumed after") {
				t.Fatalf("%v: exit %d: %s", resume, code, stderr)
			}
			want := filepath.Join(dir, "want.npy")
			if code, _, stderr := bigconv(t, "convert", "--progress", "never", "--in-dtype", "<i8", in, want); code != 0 {
				t.Fatal(stderr)
			}
			sameBytes(t, out, want)
			leftovers(t, dir, "in.bin", "out.npy", "want.npy")
		})
	}
}

// Detection names V1 checkpoints and sharded models' index.json files.
func TestDetectionNames(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"model.safetensors.index.json":  `{"metadata": {"total_size": 8}, "weight_map": {"w": "model-00001-of-00002.safetensors"}}`,
		"pytorch_model.bin.index.json":  `{"metadata": {}, "weight_map": {"w": "pytorch_model-00001-of-00002.bin"}}`,
		"weights.json":                  `{"weight_map": {"w": "a.safetensors"}}`,
		"model.safetensors.index.json2": `{}`,
	} {
		f := filepath.Join(dir, name)
		os.WriteFile(f, []byte(body), 0o644)
		code, _, stderr := bigconv(t, "inspect", f)
		if name == "pytorch_model.bin.index.json" { // read by format/pytorch: the shard is missing
			if code != 1 || !strings.Contains(stderr, `shard "pytorch_model-00001-of-00002.bin"`) {
				t.Errorf("%s: exit %d, want the missing shard named: %s", name, code, stderr)
			}
			continue
		}
		if name == "model.safetensors.index.json2" {
			if code != 1 || !strings.Contains(stderr, "use --format") {
				t.Errorf("%s: exit %d: %s", name, code, stderr)
			}
			continue
		}
		if name == "model.safetensors.index.json" { // read by format/safetensors: the shard is missing
			if code != 1 || !strings.Contains(stderr, `shard "model-00001-of-00002.safetensors"`) {
				t.Errorf("%s: exit %d, want the missing shard named: %s", name, code, stderr)
			}
			continue
		}
		if code != 1 || !strings.Contains(stderr, "sharded") || !strings.Contains(stderr, "--format safetensors") {
			t.Errorf("%s: exit %d, want a message about sharded models: %s", name, code, stderr)
		}
	}
	src := numpytest.SharedDir(t)
	for _, rel := range []string{
		"tensorflow+serving/tensorflow_serving/session_bundle/testdata/half_plus_two/00000123/export-00000-of-00001",
		"tensorflow+serving/tensorflow_serving/servables/tensorflow/testdata/bad_half_plus_two/00000123/export",
	} {
		for _, cmd := range []string{"inspect", "convert"} {
			args := []string{cmd, filepath.Join(src, rel)}
			if cmd == "convert" {
				args = append(args, filepath.Join(dir, "out"))
			}
			code, _, stderr := bigconv(t, args...)
			if code != 1 || !strings.Contains(stderr, "V1 checkpoint") || strings.Contains(stderr, "use --format") {
				t.Errorf("%s %s: exit %d, want a message naming V1 checkpoints: %s", cmd, rel, code, stderr)
			}
		}
	}
}

// --version: the module version, else the VCS revision and time, else
// "devel".
func TestVersion(t *testing.T) {
	vcs := []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-12-02T01:00:00Z"}}
	cases := []struct {
		bi   *debug.BuildInfo
		want string
	}{
		{&debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}, Settings: vcs}, "v1.2.3"},
		{&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs}, "devel-0123456789ab (2026-12-02T01:00:00Z)"},
		{&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: append(vcs, debug.BuildSetting{Key: "vcs.modified", Value: "true"})},
			"devel-0123456789ab-dirty (2026-12-02T01:00:00Z)"},
		{&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "devel"},
		{nil, "devel"},
	}
	for _, c := range cases {
		if got := versionOf(c.bi); got != c.want {
			t.Errorf("versionOf(%+v) = %q, want %q", c.bi, got, c.want)
		}
	}
	code, stdout, _ := bigconv(t, "--version")
	if code != 0 || !strings.HasPrefix(stdout, "bigconv ") {
		t.Fatalf("--version: exit %d: %q", code, stdout)
	}
}

// A raw --shape smaller than the file converts that prefix and says so
// on stderr (issue 16).
func TestRawPrefixWarning(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.bin")
	writeRamp(t, in, 4<<20)
	out := filepath.Join(dir, "o.npy")
	code, _, stderr := bigconv(t, "convert", "--progress", "never", "--in-dtype", "<i8", "--shape", "1000,8", in, out)
	if code != 0 || !strings.Contains(stderr, "bigconv: warning:") || !strings.Contains(stderr, in) {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got, _ := os.ReadFile(out)
	src, _ := os.ReadFile(in)
	if len(got) != 128+64000 || !bytes.Equal(got[128:], src[:64000]) {
		t.Fatalf("output of %d bytes is not the 64000-byte prefix", len(got))
	}
	// inspect, of one input as of several, warns the same on stderr (and
	// notes unused_bytes in its table)
	for _, args := range [][]string{
		{"inspect", "--in-dtype", "<i8", "--shape", "1000,8", in},
		{"inspect", "--stack", "--in-dtype", "<i8", "--shape", "1000,8", in, in},
	} {
		code, stdout, istderr := bigconv(t, args...)
		if code != 0 || !strings.Contains(istderr, "bigconv: warning:") || !strings.Contains(istderr, in) {
			t.Errorf("%v: exit %d, stderr %q, want the warning", args, code, istderr)
		}
		if len(args) == 6 && !strings.Contains(stdout, "unused_bytes=") {
			t.Errorf("%v: no unused_bytes note:\n%s", args, stdout)
		}
		if w := strings.SplitN(istderr, "\n", 2)[0]; w != strings.SplitN(stderr, "\n", 2)[0] {
			t.Errorf("%v: warning %q differs from convert's %q", args, w, strings.SplitN(stderr, "\n", 2)[0])
		}
	}
}
