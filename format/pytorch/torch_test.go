package pytorch

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/bigconv/bigconv/engine"
	"github.com/bigconv/bigconv/internal/numpytest"
)

// TestAgainstTorch has the real torch (Debian's python3-torch) write
// torch.save files — every storage dtype, views of one storage (offsets,
// transposes, columns, steps, permutes, expanded zero strides), 0-d and
// empty tensors, a training checkpoint with a state_dict and optimizer
// state, nn.Parameter, a tensor with Python attributes, in the zip and the
// legacy format with pickle protocols 2 and 4 — converts every tensor
// with the engine, and has torch judge the .npy files against
// torch.load(...).contiguous().numpy() (bfloat16 via .float()), value for
// value, along with the names of the tensors and non-tensor values.
func TestAgainstTorch(t *testing.T) {
	numpytest.RequireTorch(t)
	dir := t.TempDir()
	script := scriptPath(t)
	var files []string
	if err := json.Unmarshal(numpytest.Run(t, "import runpy,sys; sys.argv=sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')", script, "write", dir), &files); err != nil {
		t.Fatal(err)
	}
	type result struct {
		Tensors map[string]string `json:"tensors"`
		Values  []string          `json:"values"`
	}
	got := map[string]*result{}
	kinds := map[string]int{}
	// conversions run 8 at a time: each output's commit waits on an fsync
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	var mu sync.Mutex
	var failed []string
	for _, fn := range files {
		p := filepath.Join(dir, fn)
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		st, _ := f.Stat()
		head := make([]byte, 512)
		n, _ := f.ReadAt(head, 0)
		if !Sniff(head[:n]) {
			t.Errorf("%s: not sniffed", fn)
		}
		pf, err := Open(f, st.Size(), p)
		if err != nil {
			t.Fatalf("%s: %v", fn, err)
		}
		if want := map[bool]string{true: "zip", false: "legacy"}[strings.HasSuffix(fn, "_zip.pt")]; pf.Format != want {
			t.Errorf("%s: format %s", fn, pf.Format)
		}
		res := &result{Tensors: map[string]string{}, Values: []string{}}
		got[fn] = res
		for i, tt := range pf.Tensors {
			if tt.Unsupported != "" {
				if !strings.HasPrefix(tt.Unsupported, "not a tensor: ") {
					t.Errorf("%s: %q: %s", fn, tt.Name, tt.Unsupported)
				}
				res.Values = append(res.Values, tt.Name)
				continue
			}
			switch {
			case tt.Contiguous:
				kinds["contiguous"]++
			case tt.Fortran:
				kinds["fortran"]++
			default:
				kinds["gather"]++
			}
			out := filepath.Join(dir, fmt.Sprintf("%s.%d.npy", fn, i))
			// small blocks, so that the gather is read at many offsets
			bs := int64(4 << 10)
			if n, _ := tt.NumBytes(); n > 1<<20 {
				bs = 256 << 10
			}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				if _, err := engine.Convert(context.Background(), tt, out, engine.Options{BlockSize: bs, Workers: 2}); err != nil {
					mu.Lock()
					failed = append(failed, fmt.Sprintf("%s: %q: %v", fn, tt.Name, err))
					mu.Unlock()
				}
			}()
			res.Tensors[tt.Name] = filepath.Base(out)
		}
	}
	wg.Wait()
	if len(failed) > 0 {
		t.Fatal(strings.Join(failed, "\n"))
	}
	t.Logf("tensors by layout: %v", kinds)
	if kinds["fortran"] == 0 || kinds["gather"] == 0 || kinds["contiguous"] == 0 {
		t.Errorf("layouts not all exercised: %v", kinds)
	}
	b, _ := json.Marshal(got)
	mp := filepath.Join(dir, "map.json")
	if err := os.WriteFile(mp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := numpytest.Run(t, "import runpy,sys; sys.argv=sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')", script, "judge", dir, mp)
	t.Logf("torch: %s", strings.TrimSpace(string(out)))
	if !strings.HasPrefix(string(out), "ok ") {
		t.Fatalf("torch judge: %s", out)
	}
}

func scriptPath(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", "torchcases.py")
}
