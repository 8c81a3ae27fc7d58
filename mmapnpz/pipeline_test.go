package mmapnpz

import (
	"context"
	"encoding/json"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bigconv/bigconv/cast"
	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format/npz"
	"github.com/bigconv/bigconv/internal/numpytest"
	"github.com/bigconv/bigconv/slicer"
	"github.com/bigconv/bigconv/tensor"
)

// TestPipeline is the engine's future .npz path in miniature, as the
// package doc describes it: every tensor of an .npz written by NumPy
// (C and Fortran order, big-endian, float16, a scalar, an empty array;
// one cut to rows 5:-5 with tensor.Rows) is sliced into small blocks,
// the (tensor, block) pairs are shuffled onto one pool of workers, each
// block cast to float32 and written at its offset; NumPy compares
// np.load(out)[k] with np.load(in)[k][rows].astype('<f4').
func TestPipeline(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.npz"), filepath.Join(dir, "out.npz")
	numpytest.Run(t, `
import sys, numpy as np
r = np.random.default_rng(3)
np.savez(sys.argv[1], a=r.standard_normal((300, 50)),
         **{"b/f": np.asfortranarray(r.standard_normal((123, 7, 3)).astype('<f4')),
            "c": np.arange(1000, dtype='>i8') * 3 - 700, "s": np.float64(2.5),
            "e": np.zeros((0, 4), np.int16), "h": r.standard_normal((64, 64)).astype(np.float16)})
`, in)
	fh, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	st, _ := fh.Stat()
	arch, err := npz.Open(fh, st.Size(), in)
	if err != nil {
		t.Fatal(err)
	}
	f4 := dtype.MustParse("<f4")
	rows := map[string]string{}
	var members []Member
	var slicers []*slicer.Slicer
	var kernels []cast.Kernel
	type job struct {
		member int
		block  int64
	}
	var jobs []job
	for i, tt := range arch.Tensors {
		if tt.Name == "b/f" {
			r, _ := tensor.ParseRows("5:-5")
			if tt, err = tensor.Rows(tt, r); err != nil {
				t.Fatal(err)
			}
			rows[tt.Name] = "5:-5"
		}
		members = append(members, Member{Name: tt.Name, DType: f4, Shape: tt.Shape})
		sl, err := slicer.New(tt, slicer.Options{BlockSize: 4096, OutItemSize: 4})
		if err != nil {
			t.Fatal(err)
		}
		k, err := cast.New(tt.DType, f4)
		if err != nil {
			t.Fatal(err)
		}
		slicers, kernels = append(slicers, sl), append(kernels, k)
		for b := int64(0); b < sl.Len(); b++ {
			jobs = append(jobs, job{i, b})
		}
	}
	rand.New(rand.NewSource(1)).Shuffle(len(jobs), func(a, b int) { jobs[a], jobs[b] = jobs[b], jobs[a] })
	w, err := Create(out, members, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	next := make(chan job)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var inBuf, outBuf []byte
			var stats cast.Stats
			for j := range next {
				sl := slicers[j.member]
				b := sl.Block(j.block)
				inBuf = append(inBuf[:0], make([]byte, b.Len)...)
				outBuf = append(outBuf[:0], make([]byte, b.Elems*4)...)
				err := sl.ReadBlock(b, inBuf)
				if err == nil {
					kernels[j.member](outBuf, inBuf, &stats)
					err = w.Entry(j.member).WriteAt(outBuf, b.Elem0*4)
				}
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					cancel()
				}
			}
		}()
	}
	for _, j := range jobs {
		select {
		case next <- j:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		w.Abort()
		t.Fatal(firstErr)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	spec, _ := json.Marshal(rows)
	res := string(numpytest.Run(t, `
import json, sys, zipfile
import numpy as np
inp, out, rows = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
assert zipfile.ZipFile(out).testzip() is None
with np.load(inp) as a, np.load(out) as b:
    assert a.files == b.files, (a.files, b.files)
    for k in a.files:
        want = a[k]
        if k in rows:
            s, e = [int(x) for x in rows[k].split(":")]
            want = want[s:e]
        want = want.astype("<f4")
        assert b[k].dtype == want.dtype and b[k].shape == want.shape and np.array_equal(b[k], want), k
print("ok", len(a.files), "arrays")
`, in, out, string(spec)))
	if !strings.HasPrefix(res, "ok") {
		t.Fatal(res)
	}
	t.Logf("%d blocks in shuffled order: %s", len(jobs), strings.TrimSpace(res))
	unzipTest(t, out)
}
