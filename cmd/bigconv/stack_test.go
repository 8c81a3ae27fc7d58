package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/engine"
	"github.com/bigconv/bigconv/internal/numpytest"
	"github.com/bigconv/bigconv/internal/tfgen"
	"github.com/bigconv/bigconv/mmapnpy"
)

// stackGen writes the inputs of a stack test with NumPy: argv[1] is the
// directory, argv[2] a JSON list of [name, dtype, shape, order, seed].
// Values are small (|v| < 100) and fractional for floats, so that every
// cast of the tests is defined in NumPy.
const stackGen = `
import json, sys, os, numpy as np
d = sys.argv[1]
for name, dt, shape, order, seed in json.loads(sys.argv[2]):
    rng = np.random.default_rng(seed)
    a = (rng.standard_normal(shape) * 30).clip(-99, 99)
    dt = np.dtype(dt)
    if dt.kind in "iu":
        a = np.abs(a) if dt.kind == "u" else a
        a = a.astype(dt)
    elif dt.kind == "b":
        a = a > 0
    else:
        a = a.astype(dt)
    if order == "F":
        a = np.asfortranarray(a)
    p = os.path.join(d, name)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    if name.endswith(".npy"):
        np.save(p, a)
    else:
        a.tofile(p)   # raw, C order
`

// stackJudge compares outputs with np.stack / np.concatenate of their
// inputs .astype(dtype) (dtype: np.result_type of the inputs when ""):
// argv[1] is a JSON list of jobs [out, "stack" or "concat", dtype,
// inputs], an input being {"npy": path}, {"raw": path, "dtype": d,
// "shape": s} or {"array": values, "dtype": d, "shape": s}. It prints
// each output's dtype and shape, one line per job.
const stackJudge = `
import json, sys, numpy as np
for out, join, dt, specs in json.loads(sys.argv[1]):
    arrs = []
    for s in specs:
        if "npy" in s:
            arrs.append(np.load(s["npy"]))
        elif "raw" in s:
            arrs.append(np.fromfile(s["raw"], dtype=s["dtype"]).reshape(s["shape"]))
        else:
            arrs.append(np.array(s["array"], dtype=s["dtype"]).reshape(s["shape"]))
    want_dt = np.dtype(dt) if dt else np.result_type(*arrs)
    f = np.stack if join == "stack" else np.concatenate
    want = f([a.astype(want_dt) for a in arrs])
    got = np.load(out, mmap_mode="r")
    assert got.dtype == want_dt.newbyteorder("<") or got.dtype == want_dt, (out, got.dtype, want_dt)
    assert got.shape == want.shape, (out, got.shape, want.shape)
    assert np.array_equal(got, want), "%s: values differ at %s" % (out, np.argwhere(got != want)[:5])
    assert not np.isfortran(got) or got.ndim < 2
    print(got.dtype.str, got.shape)
`

type judgeJob struct {
	out, join, dt string
	inputs        []map[string]any
}

// judgeStacks runs stackJudge over jobs and returns its lines.
func judgeStacks(t *testing.T, jobs []judgeJob) []string {
	t.Helper()
	var list [][]any
	for _, j := range jobs {
		list = append(list, []any{j.out, j.join, j.dt, j.inputs})
	}
	js, _ := json.Marshal(list)
	return strings.Split(strings.TrimSpace(string(numpytest.Run(t, stackJudge, string(js)))), "\n")
}

type genSpec struct {
	name, dt string
	shape    []int64
	order    string
}

func genInputs(t *testing.T, dir string, specs []genSpec) {
	t.Helper()
	var list [][]any
	for i, s := range specs {
		list = append(list, []any{s.name, s.dt, s.shape, s.order, i + 1})
	}
	js, _ := json.Marshal(list)
	numpytest.Run(t, stackGen, dir, string(js))
}

func judgeStack(t *testing.T, out, join, dt string, inputs []map[string]any) string {
	t.Helper()
	return judgeStacks(t, []judgeJob{{out, join, dt, inputs}})[0]
}

// TestStackNumPy stacks and concatenates inputs of every dtype class
// (same type, widened, narrowed with --casting unsafe, promoted to the
// common type), in C and Fortran order, named one by one or by a glob,
// and has NumPy compare each output with np.stack / np.concatenate of
// the inputs .astype(dtype).
func TestStackNumPy(t *testing.T) {
	numpytest.Require(t)
	f := func(dt string, n int, shape []int64, fortranEvery int) []genSpec {
		var s []genSpec
		for i := range n {
			o := "C"
			if fortranEvery > 0 && i%fortranEvery == 0 {
				o = "F"
			}
			s = append(s, genSpec{name: "in_" + string(rune('a'+i)) + ".npy", dt: dt, shape: shape, order: o})
		}
		return s
	}
	cases := []struct {
		name   string
		specs  []genSpec
		join   string
		dt     string
		extra  []string
		wantDT string
	}{
		{"same/f4", f("<f4", 5, []int64{30, 7, 5}, 2), "stack", "", nil, "<f4"},
		{"same/i8-concat", f("<i8", 4, []int64{33, 6}, 3), "concat", "", nil, "<i8"},
		{"widen/f2-f4", f("<f2", 6, []int64{17, 9}, 2), "stack", "float32", nil, "<f4"},
		{"widen/i2-f8-concat", f(">i2", 3, []int64{40, 3, 2}, 2), "concat", "float64", nil, "<f8"},
		{"narrow/f8-f2", f("<f8", 4, []int64{25, 8}, 2), "stack", "float16", []string{"--casting", "unsafe"}, "<f2"},
		{"narrow/f4-i1", f("<f4", 4, []int64{25, 8}, 3), "concat", "int8", []string{"--casting", "unsafe"}, "|i1"},
		{"promote/i1-u1-f2", []genSpec{{"p0.npy", "|i1", []int64{12, 5}, "C"}, {"p1.npy", "|u1", []int64{12, 5}, "F"}, {"p2.npy", "<f2", []int64{12, 5}, "C"}}, "stack", "", nil, "<f2"},
		{"promote/i8-u8", []genSpec{{"p0.npy", "<i8", []int64{3, 5}, "C"}, {"p1.npy", "<u8", []int64{9, 5}, "F"}}, "concat", "", nil, "<f8"},
		{"promote/b1-i4-c8", []genSpec{{"p0.npy", "|b1", []int64{4, 4}, "C"}, {"p1.npy", "<i4", []int64{4, 4}, "C"}, {"p2.npy", "<c8", []int64{4, 4}, "F"}}, "stack", "", nil, "<c16"},
		{"scalars", f("<f4", 3, []int64{}, 0), "stack", "", nil, "<f4"},
	}
	// One Python run writes every case's inputs, one judges every output.
	dir := t.TempDir()
	var all []genSpec
	for i, c := range cases {
		for _, s := range c.specs {
			s.name = filepath.Join(fmt.Sprint(i), s.name)
			all = append(all, s)
		}
	}
	genInputs(t, dir, all)
	var jobs []judgeJob
	for i, c := range cases {
		args := []string{"convert", "--progress", "never", "--" + c.join, "--block-size", "1KiB"}
		var in []map[string]any
		for _, s := range c.specs {
			p := filepath.Join(dir, fmt.Sprint(i), s.name)
			args = append(args, p)
			in = append(in, map[string]any{"npy": p})
		}
		if c.dt != "" {
			args = append(args, "--dtype", c.dt)
		}
		out := filepath.Join(dir, fmt.Sprint(i), "out.npy")
		args = append(append(args, c.extra...), out)
		if code, _, stderr := bigconv(t, args...); code != 0 {
			t.Fatalf("%s: exit %d: %s", c.name, code, stderr)
		}
		jobs = append(jobs, judgeJob{out, c.join, c.dt, in})
	}
	got := judgeStacks(t, jobs)
	for i, c := range cases {
		if i >= len(got) || !strings.HasPrefix(got[i], c.wantDT+" ") {
			t.Errorf("%s: NumPy reads %q, want dtype %s", c.name, got, c.wantDT)
		}
	}
}

// TestStackGlobMixed stacks a glob of .npy clips, a raw dump and a
// TFRecord of serialized tensors (formats mixed, --in-dtype applying to
// the raw dump only), then TFRecord shards by glob (concatenated by
// default, one record stream), and checks the glob's order.
func TestStackGlobMixed(t *testing.T) {
	numpytest.Require(t)
	dir := t.TempDir()
	// Not zero-padded on purpose: sorted by name, clip_10 comes before clip_2.
	genInputs(t, dir, []genSpec{
		{"clip_1.npy", "<f4", []int64{4, 3}, "C"}, {"clip_10.npy", "<f2", []int64{4, 3}, "F"},
		{"clip_2.npy", "<f4", []int64{4, 3}, "C"}, {"dump.bin", "<f4", []int64{4, 3}, "C"},
	})
	const recs = 4
	rec := func(r int, off int64, p []byte) {
		for i := 0; i+4 <= len(p); i += 4 {
			binary.LittleEndian.PutUint32(p[i:], math.Float32bits(float32(r*100)+float32(off/4+int64(i/4))+0.5))
		}
	}
	recValues := func(shard int) []float32 {
		var v []float32
		for r := range recs {
			for i := range 3 {
				v = append(v, float32((shard*recs+r)*100)+float32(i)+0.5)
			}
		}
		return v
	}
	writeShard := func(name string, shard int) {
		fh, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		err = tfgen.WriteTensorRecords(fh, "", recs, dtype.Of(dtype.Float32), dtype.Shape{3}, func(r int, off int64, p []byte) { rec(shard*recs+r, off, p) })
		if err != nil {
			t.Fatal(err)
		}
	}
	writeShard("train-00000-of-00003.tfrecord", 0)
	writeShard("train-00001-of-00003.tfrecord", 1)
	writeShard("train-00002-of-00003.tfrecord", 2)

	out := filepath.Join(dir, "mixed.npy")
	code, _, stderr := bigconv(t, "convert", "--progress", "never", "--stack", filepath.Join(dir, "clip_*.npy"),
		filepath.Join(dir, "dump.bin"), "--in-dtype", "<f4", "--shape", "4,3",
		filepath.Join(dir, "train-00001-of-00003.tfrecord"), "--dtype", "float64", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	in := []map[string]any{
		{"npy": filepath.Join(dir, "clip_1.npy")}, {"npy": filepath.Join(dir, "clip_10.npy")}, {"npy": filepath.Join(dir, "clip_2.npy")},
		{"raw": filepath.Join(dir, "dump.bin"), "dtype": "<f4", "shape": []int{4, 3}},
		{"array": recValues(1), "dtype": "<f4", "shape": []int{4, 3}},
	}
	if got := judgeStack(t, out, "stack", "float64", in); got != "<f8 (5, 4, 3)" {
		t.Errorf("NumPy reads %s", got)
	}

	// inspect prints the same combined result before converting
	code, stdout, stderr := bigconv(t, "inspect", "--stack", filepath.Join(dir, "clip_*.npy"))
	if code != 0 || !strings.Contains(stdout, "stack of 3 inputs: <f4 (3, 4, 3)") ||
		strings.Index(stdout, "clip_10.npy") > strings.Index(stdout, "clip_2.npy") || !strings.Contains(stdout, "  F  ") {
		t.Errorf("inspect: exit %d:\n%s%s", code, stdout, stderr)
	}

	// TFRecord shards: one record stream, in name order, without a flag
	shards := filepath.Join(dir, "train-*-of-00003.tfrecord")
	code, stdout, stderr = bigconv(t, "inspect", shards)
	if code != 0 || !strings.Contains(stdout, "concat of 3 inputs: <f4 (12, 3)") {
		t.Errorf("inspect shards: exit %d:\n%s%s", code, stdout, stderr)
	}
	out = filepath.Join(dir, "records.npy")
	if code, _, stderr := bigconv(t, "convert", "--progress", "never", shards, out); code != 0 {
		t.Fatalf("shards: exit %d: %s", code, stderr)
	}
	var all []float32
	for s := range 3 {
		all = append(all, recValues(s)...)
	}
	in = []map[string]any{{"array": all, "dtype": "<f4", "shape": []int{12, 3}}}
	if got := judgeStack(t, out, "concat", "", in); got != "<f4 (12, 3)" {
		t.Errorf("NumPy reads %s", got)
	}
}

// TestStackBroken: each broken case is refused before anything is
// written, with an error naming the file at fault, and leaves no file.
func TestStackBroken(t *testing.T) {
	numpytest.Require(t)
	dir := t.TempDir()
	genInputs(t, dir, []genSpec{
		{"a_0.npy", "<f4", []int64{6, 5}, "C"}, {"a_1.npy", "<f4", []int64{6, 5}, "C"},
		{"wide.npy", "<f4", []int64{6, 4}, "C"}, {"long.npy", "<f4", []int64{7, 5}, "C"},
		{"f8.npy", "<f8", []int64{6, 5}, "C"}, {"short.npy", "<f4", []int64{600, 50}, "C"},
		{"tall.npy", "<f4", []int64{6, 5, 1}, "C"},
	})
	// truncate short.npy: the header says 600×50 float32
	short := filepath.Join(dir, "short.npy")
	st, _ := os.Stat(short)
	os.Truncate(short, st.Size()-1000)
	p := func(n string) string { return filepath.Join(dir, n) }
	out := p("out.npy")
	cases := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"glob matches nothing", []string{"--stack", p("b_*.npy")}, 1, []string{"b_*.npy", "matches no file"}},
		{"stack shape", []string{"--stack", p("a_*.npy"), p("wide.npy")}, 1, []string{"wide.npy", "(6, 4)", "(6, 5)", "a_0.npy"}},
		{"stack rank", []string{"--stack", p("a_*.npy"), p("tall.npy")}, 1, []string{"tall.npy", "(6, 5, 1)", "(6, 5)"}},
		{"concat trailing", []string{"--concat", p("a_*.npy"), p("wide.npy")}, 1, []string{"wide.npy", "(6, 4)", "(6, 5)"}},
		{"narrowing refused", []string{"--stack", p("a_*.npy"), p("f8.npy"), "--dtype", "int16"}, 1, []string{"a_0.npy", "same_kind", "unsafe"}},
		{"safe refuses f8→f4", []string{"--stack", p("a_*.npy"), p("f8.npy"), "--dtype", "float32", "--casting", "safe"}, 1, []string{"f8.npy", "<f8", "<f4", "same_kind"}},
		{"truncated", []string{"--concat", p("a_*.npy"), short}, 1, []string{"short.npy"}},
		{"no join", []string{p("a_0.npy"), p("a_1.npy")}, 2, []string{"--stack", "--concat"}},
		{"both joins", []string{"--stack", "--concat", p("a_0.npy"), p("a_1.npy")}, 2, []string{"exclude"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := bigconv(t, append(append([]string{"convert", "--progress", "never"}, c.args...), out)...)
			if code != c.code {
				t.Fatalf("exit %d, want %d: %s", code, c.code, stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not mention %q", stderr, w)
				}
			}
			if strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
				t.Errorf("error is not one line: %q", stderr)
			}
			leftovers(t, dir, "a_0.npy", "a_1.npy", "f8.npy", "long.npy", "short.npy", "tall.npy", "wide.npy")
		})
	}
	// The same with the widening f8 input allowed: the result type is f8.
	if code, _, stderr := bigconv(t, "convert", "--progress", "never", "--concat", p("a_*.npy"), p("long.npy"), p("f8.npy"), out); code != 0 {
		t.Fatalf("concat: %s", stderr)
	}
	// An output a pattern matches is refused as an input, and kept.
	a := p("a_all.npy")
	if code, _, stderr := bigconv(t, "convert", "--progress", "never", "--concat", p("a_*.npy"), a); code != 0 {
		t.Fatalf("concat: %s", stderr)
	}
	code, _, stderr := bigconv(t, "convert", "--progress", "never", "--concat", p("a_*.npy"), a)
	if code != 1 || !strings.Contains(stderr, "a_all.npy is also an input") {
		t.Errorf("output matched by the pattern: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(a); err != nil {
		t.Errorf("the earlier output is gone: %v", err)
	}
}

// TestStackChecksumPerInput stacks a tensor of three checkpoints whose
// data carry crc32c; a damaged second checkpoint is named, nothing is
// left, and --no-verify converts it.
func TestStackChecksumPerInput(t *testing.T) {
	dir := t.TempDir()
	var prefixes []string
	for i, name := range []string{"c0", "c1", "c2"} {
		fill := func(off int64, p []byte) {
			for k := 0; k+4 <= len(p); k += 4 {
				binary.LittleEndian.PutUint32(p[k:], math.Float32bits(float32(i*1000)+float32(off/4+int64(k/4))))
			}
		}
		err := tfgen.WriteBundle(dir, name, []tfgen.BundleTensor{
			{Name: "w", DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{256, 256}, Fill: fill},
			{Name: "b", DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{256}, Fill: fill},
		}, tfgen.BundleOptions{})
		if err != nil {
			t.Fatal(err)
		}
		prefixes = append(prefixes, filepath.Join(dir, name))
	}
	out := filepath.Join(dir, "w.npy")
	args := append([]string{"convert", "--progress", "never", "--stack", "--tensor", "w", "--block-size", "16KiB"}, prefixes...)
	code, _, stderr := bigconv(t, append(args, out)...)
	if code != 0 || !strings.Contains(stderr, "crc32c verified") || !strings.Contains(stderr, "(3, 256, 256)") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// without --tensor: each checkpoint holds two
	code, _, stderr = bigconv(t, append(append([]string{"convert", "--stack"}, prefixes...), out)...)
	if code != 2 || !strings.Contains(stderr, "--tensor") || !strings.Contains(stderr, "c0.index") {
		t.Errorf("no --tensor: exit %d: %s", code, stderr)
	}
	shard := filepath.Join(dir, "c1.data-00000-of-00001")
	b, _ := os.ReadFile(shard)
	b[100000] ^= 0x10
	os.WriteFile(shard, b, 0o644)
	os.Remove(out)
	code, _, stderr = bigconv(t, append(args, out)...)
	if code != 1 || !strings.Contains(stderr, "c1.data-00000-of-00001") || !strings.Contains(stderr, "checksum") {
		t.Errorf("damaged c1: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output left after a checksum error")
	}
	if code, _, stderr := bigconv(t, append(append(args, "--no-verify"), out)...); code != 0 {
		t.Errorf("--no-verify: %s", stderr)
	}
}

// TestStackKillAndResume kills a stack of 8 files at several points and
// resumes it (as TestKillAndResume does for one input); a resumed stack
// of checkpoints restarts the input it was in, so its crc32c is still
// verified; a changed input is refused.
func TestStackKillAndResume(t *testing.T) {
	numpytest.Require(t)
	dir := t.TempDir()
	var specs []genSpec
	for i := range 8 {
		o := "C"
		if i%3 == 1 {
			o = "F"
		}
		specs = append(specs, genSpec{name: "act_00" + string(rune('0'+i)) + ".npy", dt: "<f2", shape: []int64{256, 512}, order: o})
	}
	genInputs(t, dir, specs)
	var ckpts []string
	for i, name := range []string{"k0", "k1", "k2", "k3"} {
		fill := func(off int64, p []byte) {
			for k := 0; k+4 <= len(p); k += 4 {
				binary.LittleEndian.PutUint32(p[k:], math.Float32bits(float32(i)+float32(off/4+int64(k/4))))
			}
		}
		if err := tfgen.WriteBundle(dir, name, []tfgen.BundleTensor{{Name: "w", DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{256, 512}, Fill: fill}}, tfgen.BundleOptions{}); err != nil {
			t.Fatal(err)
		}
		ckpts = append(ckpts, filepath.Join(dir, name))
	}
	base := []string{"convert", "--progress", "never", "--block-size", "64KiB", "--checkpoint", "128KiB"}
	runs := []struct {
		name   string
		inputs []string
		extra  []string
	}{
		{"npy", []string{filepath.Join(dir, "act_*.npy")}, []string{"--stack", "--dtype", "float32"}},
		{"ckpt", ckpts, []string{"--concat", "--tensor", "w", "--dtype", "float16", "--casting", "unsafe"}},
	}
	for _, rn := range runs {
		conv := append(append(append([]string{}, base...), rn.extra...), rn.inputs...)
		wantDir := filepath.Join(dir, "want-"+rn.name)
		os.Mkdir(wantDir, 0o755)
		if code, _, stderr := bigconv(t, append(conv, filepath.Join(wantDir, "out.npy"))...); code != 0 {
			t.Fatal(stderr)
		}
		for _, c := range []struct {
			where string
			sig   syscall.Signal
		}{
			{"checkpoint:30", syscall.SIGKILL},
			{"commit", syscall.SIGKILL},
			{"block:60", syscall.SIGINT},
		} {
			t.Run(rn.name+"/"+c.where+"/"+c.sig.String(), func(t *testing.T) {
				args := conv
				if strings.HasPrefix(c.where, "block:") {
					args = append(args[:len(args):len(args)], "--workers", "1")
				}
				outDir := filepath.Join(dir, "run")
				os.RemoveAll(outDir)
				os.Mkdir(outDir, 0o755)
				out := filepath.Join(outDir, "out.npy")
				code, log := stopChild(t, c.where, c.sig, append(args, out)...)
				if c.sig == syscall.SIGKILL && code != -int(syscall.SIGKILL) || c.sig == syscall.SIGINT && code != exitInterrupted {
					t.Fatalf("exit %d:\n%s", code, log)
				}
				leftovers(t, outDir, ".out.npy"+engine.JournalSuffix, ".out.npy"+mmapnpy.PartialSuffix)
				code, _, stderr := bigconv(t, append(conv, out)...)
				if code != 1 || !strings.Contains(stderr, "--resume") {
					t.Fatalf("rerun without --resume: exit %d: %s", code, stderr)
				}
				code, _, stderr = bigconv(t, append(conv, out, "--resume")...)
				if code != 0 {
					t.Fatalf("resume: exit %d: %s", code, stderr)
				}
				if c.where != "commit" && !strings.Contains(stderr, "resumed after") {
					t.Errorf("resume did not resume: %s", stderr)
				}
				sameTree(t, outDir, wantDir)
			})
		}
	}
	// an input changed since the interruption: refused
	outDir := filepath.Join(dir, "run")
	os.RemoveAll(outDir)
	os.Mkdir(outDir, 0o755)
	out := filepath.Join(outDir, "out.npy")
	conv := append(append(append([]string{}, base...), runs[0].extra...), runs[0].inputs...)
	if code, log := stopChild(t, "checkpoint:30", syscall.SIGKILL, append(conv, out)...); code != -int(syscall.SIGKILL) {
		t.Fatalf("exit %d:\n%s", code, log)
	}
	changed := filepath.Join(dir, "act_005.npy")
	b, _ := os.ReadFile(changed)
	b[len(b)-1] ^= 1
	os.WriteFile(changed, b, 0o644)
	code, _, stderr := bigconv(t, append(conv, out, "--resume")...)
	if code != 1 || !strings.Contains(stderr, "changed") || !strings.Contains(stderr, "--restart") {
		t.Fatalf("resume after an input changed: exit %d: %s", code, stderr)
	}
}

// TestStackRawPrefixWarnings: a raw input whose --shape covers less than
// the file converts that prefix and says so on stderr, once per input,
// when stacked as when alone — for convert and for inspect.
func TestStackRawPrefixWarnings(t *testing.T) {
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	os.WriteFile(p("r0.bin"), make([]byte, 48), 0o644) // 12 float32, shape (2, 5) uses 10
	os.WriteFile(p("r1.bin"), make([]byte, 40), 0o644) // exactly (2, 5)
	os.WriteFile(p("r2.bin"), make([]byte, 44), 0o644)
	raw := []string{"--in-dtype", "<f4", "--shape", "2,5"}
	check := func(what, stderr string) {
		t.Helper()
		for _, w := range []string{"r0.bin: shape (2, 5) of <f4 uses only 40 of the 48 bytes", "r2.bin: shape (2, 5) of <f4 uses only 40 of the 44 bytes"} {
			if n := strings.Count(stderr, w); n != 1 {
				t.Errorf("%s: %q appears %d times in stderr:\n%s", what, w, n, stderr)
			}
		}
		if strings.Contains(stderr, "r1.bin: shape") {
			t.Errorf("%s: a warning for r1.bin, which is used whole:\n%s", what, stderr)
		}
	}
	args := append([]string{"convert", "--progress", "never", "--stack"}, raw...)
	code, _, stderr := bigconv(t, append(args, p("r*.bin"), p("out.npy"))...)
	if code != 0 {
		t.Fatalf("convert: exit %d: %s", code, stderr)
	}
	check("convert --stack", stderr)
	for _, js := range [][]string{nil, {"--json"}} {
		code, stdout, stderr := bigconv(t, append(append(append([]string{"inspect", "--stack"}, js...), raw...), p("r*.bin"))...)
		var j struct{ Shape []int64 }
		json.Unmarshal([]byte(stdout), &j)
		if code != 0 || !strings.Contains(stdout, "(3, 2, 5)") && fmt.Sprint(j.Shape) != "[3 2 5]" {
			t.Fatalf("inspect --stack %v: exit %d:\n%s%s", js, code, stdout, stderr)
		}
		check(fmt.Sprintf("inspect --stack %v", js), stderr)
		if strings.Contains(stdout, "uses only") {
			t.Errorf("inspect %v: a warning on stdout:\n%s", js, stdout)
		}
	}
}
