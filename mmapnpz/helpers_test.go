package mmapnpz

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bigconv/bigconv/format/npz"
	"github.com/bigconv/bigconv/internal/numpytest"
)

// pattern is byte k of member i's data in every test: NumPy recomputes
// it (judge) and compares with what np.load gives.
func pattern(i int, dst []byte, off int64, boolean bool) {
	for j := range dst {
		k := off + int64(j)
		v := byte((k*31 + int64(i)*7 + 3) % 251)
		if boolean {
			v &= 1
		}
		dst[j] = v
	}
}

func memberBytes(i int, m Member) []byte {
	n, _ := m.Shape.NumBytes(m.DType.Size())
	b := make([]byte, n)
	pattern(i, b, 0, m.DType.Descr() == "|b1")
	return b
}

type job struct {
	member   int
	off, len int64
}

// writeAll writes every member's pattern in blocks of random sizes, in a
// shuffled order, from workers goroutines, through WriteAt, Write and
// CopyFrom in turn.
func writeAll(t *testing.T, w *Writer, members []Member, workers int, seed int64) {
	t.Helper()
	r := rand.New(rand.NewSource(seed))
	var jobs []job
	src := make([]*os.File, len(members))
	for i, m := range members {
		body := memberBytes(i, m)
		f, err := os.Create(filepath.Join(t.TempDir(), "src"))
		if err != nil {
			t.Fatal(err)
		}
		f.Write(body)
		t.Cleanup(func() { f.Close() })
		src[i] = f
		for off := int64(0); off < int64(len(body)); {
			n := min(int64(1+r.Intn(5000)), int64(len(body))-off)
			if r.Intn(8) == 0 {
				n = min(int64(1+r.Intn(300000)), int64(len(body))-off)
			}
			jobs = append(jobs, job{i, off, n})
			off += n
		}
		if len(body) == 0 {
			jobs = append(jobs, job{i, 0, 0})
		}
	}
	r.Shuffle(len(jobs), func(a, b int) { jobs[a], jobs[b] = jobs[b], jobs[a] })
	ch := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range ch {
				j := jobs[k]
				e := w.Entry(j.member)
				buf := make([]byte, j.len)
				pattern(j.member, buf, j.off, members[j.member].DType.Descr() == "|b1")
				var err error
				switch k % 3 {
				case 0:
					err = e.WriteAt(buf, j.off)
				case 1:
					err = e.Write(j.off, j.len, func(dst []byte) error { copy(dst, buf); return nil })
				case 2:
					err = e.CopyFrom(src[j.member], j.off, j.off, j.len)
				}
				if err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
				}
			}
		}()
	}
	for k := range jobs {
		ch <- k
	}
	close(ch)
	wg.Wait()
	if first != nil {
		t.Fatal(first)
	}
}

type specMember struct {
	Name  string  `json:"name"`
	Descr string  `json:"descr"`
	Shape []int64 `json:"shape"`
	Zero  bool    `json:"zero,omitempty"` // data all zero (written nowhere)
}

// judgeScript: zipfile's testzip (every CRC-32), the member names
// against those np.savez gives for the same keys, and np.load of each
// member (or every stride-th) against the pattern.
const judgeScript = `
import io, json, sys, zipfile
import numpy as np
out, spec, stride = sys.argv[1], json.load(open(sys.argv[2])), int(sys.argv[3])
z = zipfile.ZipFile(out)
bad = z.testzip()
assert bad is None, "testzip: bad CRC in %r" % bad
names = z.namelist()
assert names == [m["name"] + ".npy" for m in spec], names[:5]
sample = [m for i, m in enumerate(spec) if i % stride == 0 or i == len(spec) - 1]
buf = io.BytesIO()
np.savez(buf, **{m["name"]: np.zeros(0) for m in sample})
assert zipfile.ZipFile(buf).namelist() == [m["name"] + ".npy" for m in sample], "np.savez names differ"
for zi in z.infolist():
    assert zi.compress_type == zipfile.ZIP_STORED, zi
checked = 0
with np.load(out) as f:
    assert f.files == [m["name"] for m in spec]
    for i, m in enumerate(spec):
        if i % stride and i != len(spec) - 1:
            continue
        a = f[m["name"]]
        assert a.dtype.str == m["descr"], (m, a.dtype.str)
        assert list(a.shape) == m["shape"], (m, a.shape)
        k = np.arange(a.nbytes, dtype=np.int64)
        exp = ((k * 31 + i * 7 + 3) % 251).astype(np.uint8)
        if m["descr"] == "|b1":
            exp &= 1
        if m.get("zero"):
            exp[:] = 0
        assert a.tobytes() == exp.tobytes(), m
        checked += 1
print("ok", len(spec), "members,", checked, "loaded")
`

func judge(t *testing.T, out string, members []Member, stride int, zero map[int]bool) string {
	t.Helper()
	spec := make([]specMember, len(members))
	for i, m := range members {
		spec[i] = specMember{Name: m.Name, Descr: m.DType.Descr(), Shape: append([]int64{}, m.Shape...), Zero: zero[i]}
	}
	b, _ := json.Marshal(spec)
	p := filepath.Join(t.TempDir(), "spec.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	res := strings.TrimSpace(string(numpytest.Run(t, judgeScript, out, p, itoa(stride))))
	if !strings.HasPrefix(res, "ok ") {
		t.Fatalf("judge: %s", res)
	}
	return res
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// goRead cross-checks with Go's archive/zip (which checks each member's
// CRC-32 when read to the end) and our own npz reader.
func goRead(t *testing.T, out string, members []Member, stride int) {
	t.Helper()
	zr, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != len(members) {
		t.Fatalf("archive/zip: %d members, want %d", len(zr.File), len(members))
	}
	for i, f := range zr.File {
		if i%stride != 0 && i != len(members)-1 {
			continue
		}
		if f.Name != members[i].Name+".npy" || f.Method != zip.Store {
			t.Fatalf("member %d: %q method %d", i, f.Name, f.Method)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Fatalf("archive/zip: %s: %v", f.Name, err)
		}
		rc.Close()
	}
	if len(members) > 0 { // unzip warns "zipfile is empty" (exit 1) for np.savez's empty archives too
		unzipTest(t, out)
	}
	fh, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	st, _ := fh.Stat()
	a, err := npz.Open(fh, st.Size(), out)
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range a.Tensors {
		if i%stride != 0 && i != len(members)-1 {
			continue
		}
		m := members[i]
		if tt.Name != m.Name || !tt.DType.Equal(m.DType) || !tt.Shape.Equal(m.Shape) || tt.Unsupported != "" {
			t.Fatalf("npz reader: member %d is %s (%s), want %q %s %v", i, tt.Describe(), tt.Unsupported, m.Name, m.DType, m.Shape)
		}
		if n, _ := tt.NumBytes(); n > 256<<20 {
			continue // a long test's big member: archive/zip has checked its CRC above
		}
		want := memberBytes(i, m)
		got := make([]byte, len(want))
		if n, err := tt.Data.ReadAt(got, 0); n != len(got) {
			t.Fatalf("npz reader: %q: read %d of %d: %v", m.Name, n, len(got), err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("npz reader: %q: data differ", m.Name)
		}
		if tt.Offset%align != 0 {
			t.Errorf("npz reader: %q: data at %d, not %d-aligned", m.Name, tt.Offset, align)
		}
	}
}

// unzipTest has Info-ZIP's unzip, a third and strict reader, test every
// member (CRCs, local headers against the central directory) when it is
// installed.
func unzipTest(t *testing.T, out string) {
	t.Helper()
	if _, err := os.Stat("/usr/bin/unzip"); err != nil {
		t.Logf("unzip -t not run: %v", err)
		return
	}
	b, err := exec.Command("/usr/bin/unzip", "-tq", out).CombinedOutput()
	if err != nil || !strings.Contains(string(b), "No errors detected") {
		t.Fatalf("unzip -tq %s: %v\n%s", out, err, b)
	}
}
