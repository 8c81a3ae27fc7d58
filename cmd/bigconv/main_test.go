package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bigconv/bigconv/engine"
	"github.com/bigconv/bigconv/internal/numpytest"
)

// bigconv runs the CLI in-process and returns exit code, stdout, stderr.
func bigconv(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{nil, 2, "Usage"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"convert", "only-one"}, 2, "INPUT and OUTPUT"},
		{[]string{"convert", "--dtype", "float7", "a", "b"}, 2, "--dtype"},
		{[]string{"convert", "--casting", "loose", "a", "b"}, 2, "--casting"},
		{[]string{"convert", "--block-size", "lots", "a", "b"}, 2, "--block-size"},
		{[]string{"convert", "--bogus", "a", "b"}, 2, "bogus"},
		{[]string{"convert", filepath.Join(dir, "missing.npy"), filepath.Join(dir, "o.npy")}, 1, "missing.npy"},
		{[]string{"--version"}, 0, ""},
		{[]string{"inspect"}, 2, "needs an INPUT"},
	}
	for _, c := range cases {
		code, _, stderr := bigconv(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.msg) {
			t.Errorf("bigconv %v: exit %d, stderr %q; want exit %d mentioning %q", c.args, code, stderr, c.code, c.msg)
		}
		if c.code != 0 && strings.Count(strings.TrimSpace(stderr), "\n") > 0 && c.code == 1 {
			t.Errorf("bigconv %v: error is not one line: %q", c.args, stderr)
		}
	}
}

func TestSafeName(t *testing.T) {
	cases := map[string]string{
		"dnn/hiddenlayer_0/kernel":     "dnn/hiddenlayer_0/kernel",
		"a/.ATTRIBUTES/VARIABLE_VALUE": "a/.ATTRIBUTES/VARIABLE_VALUE",
		"../etc/passwd":                "%2E%2E/etc/passwd",
		"/abs":                         "%00/abs",
		"we ird:name%":                 "we%20ird%3Aname%25",
		"":                             "%00",
		"a//b":                         "a/%00/b",
	}
	for in, want := range cases {
		if got := engine.SafeName(in); got != want {
			t.Errorf("SafeName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRealNPYFiles converts every .npy file of the shared real test data
// and has NumPy compare each output with the input; the files bigconv
// refuses must be the ones NumPy cannot give as plain numeric arrays.
func TestRealNPYFiles(t *testing.T) {
	src := numpytest.SharedDir(t)
	var files []string
	filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".npy") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) < 50 {
		t.Fatalf("only %d .npy files found under %s", len(files), src)
	}
	dir := t.TempDir()
	type result struct {
		Src, Out, Err string
	}
	var results []result
	for i, f := range files {
		out := filepath.Join(dir, filepath.Base(f)+"."+string(rune('a'+i%26))+".npy")
		code, _, stderr := bigconv(t, "convert", "--progress", "never", f, out)
		r := result{Src: f}
		if code == 0 {
			r.Out = out
		} else {
			r.Err = strings.TrimSpace(stderr)
			if code != 1 || !strings.HasPrefix(r.Err, "bigconv: ") || strings.Contains(r.Err, "\n") {
				t.Errorf("%s: exit %d, error %q is not one clear line", f, code, r.Err)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("%s: refused, but %s exists", f, out)
			}
		}
		results = append(results, r)
	}
	js, _ := json.Marshal(results)
	out := numpytest.Run(t, `
import json, sys, warnings, numpy as np
warnings.simplefilter("ignore")
bad = []
for r in json.loads(sys.argv[1]):
    try:
        a = np.load(r["Src"], allow_pickle=False)
        plain = a.dtype.kind in "biufcS" and a.dtype.fields is None
    except Exception as e:
        a, plain = None, False
    if r["Out"]:
        b = np.load(r["Out"], mmap_mode="r")
        if a is None:
            bad.append(r["Src"] + ": converted, but numpy cannot load it plainly"); continue
        if not b.flags.c_contiguous or b.dtype.byteorder == ">":
            bad.append(r["Src"] + ": output not native C order")
        if b.shape != a.shape or b.dtype.newbyteorder("=") != a.dtype.newbyteorder("="):
            bad.append("%s: shape/dtype %s %s vs %s %s" % (r["Src"], b.shape, b.dtype, a.shape, a.dtype))
        elif not np.array_equal(np.asarray(b), a, equal_nan=(a.dtype.kind in "fc")):
            bad.append(r["Src"] + ": values differ")
    else:
        if plain:
            bad.append(r["Src"] + ": refused but numpy reads it as a plain array: " + r["Err"])
print(json.dumps(bad))
`, string(js))
	var bad []string
	if err := json.Unmarshal(out, &bad); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, b := range bad {
		t.Error(b)
	}
	refused := 0
	for _, r := range results {
		if r.Err != "" {
			refused++
			t.Logf("refused %s: %s", filepath.Base(r.Src), r.Err)
		}
	}
	if refused == len(results) {
		t.Fatal("everything was refused")
	}
}

// TestMemoryFlat runs bigconv as a child process on 256 MiB and 1 GiB
// inputs at default settings: its peak RSS must stay under 96 MiB for
// both and differ by less than 8 MiB.
func TestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 1.25 GiB of input")
	}
	bin := filepath.Join(t.TempDir(), "bigconv")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	peak := map[int64]int64{}
	for _, size := range []int64{256 << 20, 1 << 30} {
		in := filepath.Join(dir, "in.bin")
		writeRamp(t, in, size)
		out := filepath.Join(dir, "out.npy")
		cmd := exec.Command(bin, "convert", "--progress", "never", in, out, "--in-dtype", "<i8", "--shape", "-1,1024", "--dtype", "float32")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("convert %d: %v\n%s", size, err, b)
		}
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		peak[size] = ru.Maxrss << 10
		t.Logf("input %d MiB: peak RSS %.1f MiB", size>>20, float64(peak[size])/(1<<20))
		st, err := os.Stat(out)
		if err != nil || st.Size() < size/2 {
			t.Fatalf("output %v %v", st, err)
		}
		os.Remove(in)
		os.Remove(out)
	}
	for size, p := range peak {
		if p >= 96<<20 {
			t.Errorf("input %d MiB: peak RSS %.1f MiB ≥ 96 MiB", size>>20, float64(p)/(1<<20))
		}
	}
	if d := peak[1<<30] - peak[256<<20]; d > 8<<20 || d < -8<<20 {
		t.Errorf("peak RSS grew by %.1f MiB from 256 MiB to 1 GiB input", float64(d)/(1<<20))
	}
}

func writeRamp(t *testing.T, path string, size int64) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4<<20)
	var v uint64
	for off := int64(0); off < size; off += int64(len(buf)) {
		for i := 0; i < len(buf); i += 8 {
			buf[i] = byte(v)
			buf[i+1] = byte(v >> 8)
			buf[i+2] = byte(v >> 16)
			buf[i+3] = byte(v >> 24)
			v++
		}
		if _, err := f.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
}
