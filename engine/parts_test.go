package engine_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/engine"
	"github.com/bigconv/bigconv/engine/part"
	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/internal/crc32c"
	"github.com/bigconv/bigconv/internal/testhook"
	"github.com/bigconv/bigconv/tensor"
)

// partInput is one float64 tensor [rows, 37] in memory whose values
// include some that float16 cannot hold, with its crc32c.
func partInput(rows int64, fortran bool) (*format.Input, []byte) {
	data := make([]byte, rows*37*8)
	for i := range rows * 37 {
		v := float64(i%1000) * 0.37
		switch i % 997 {
		case 5:
			v = 1e9 // out of float16's range
		case 6:
			v = math.Inf(-1)
		case 7:
			v = math.NaN()
		}
		binary.LittleEndian.PutUint64(data[i*8:], math.Float64bits(v))
	}
	t := &tensor.Tensor{Name: "acts", File: "mem.bin", DType: dtype.Of(dtype.Float64), Shape: dtype.Shape{rows, 37},
		Data: bytes.NewReader(data), Contiguous: true, Fortran: fortran}
	if !fortran { // checksums cover C-order bytes (TF bundles); Fortran inputs carry none
		crc := crc32c.Checksum(data)
		t.CRC32C = &crc
	}
	return &format.Input{Format: "mem", Path: "mem.bin", Tensors: []*tensor.Tensor{t}}, data
}

// partsAtOnce runs the n parts of converting partInput(1000, fortran) to
// out at once, goroutines standing in for processes.
func partsAtOnce(n int, out string, opt engine.InputOptions, fortran bool) ([]engine.PartResult, []error) {
	results := make([]engine.PartResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in, _ := partInput(1000, fortran)
			results[i], errs[i] = engine.RunPart(context.Background(), in, out, opt, part.Spec{Index: i, Count: n})
		}()
	}
	wg.Wait()
	return results, errs
}

// TestRunPartMatchesOneRun: N parts run at once (goroutines standing in
// for processes) produce the bytes of a one-process run, commit exactly
// once, sum the cast's loss counts over parts, verify the checksum over
// all parts and leave no marker, lock or partial file.
func TestRunPartMatchesOneRun(t *testing.T) {
	for _, fortran := range []bool{false, true} {
		for _, n := range []int{1, 2, 3, 4, 7, 16, 40} {
			t.Run(fmt.Sprintf("fortran=%v/parts=%d", fortran, n), func(t *testing.T) {
				dir := t.TempDir()
				opt := engine.InputOptions{Options: engine.Options{DType: dtype.MustParse("<f2"), Casting: dtype.Unsafe, BlockSize: 24 << 10, Workers: 2}}
				in, _ := partInput(1000, fortran)
				want := filepath.Join(dir, "want.npy")
				wres, err := engine.Convert(context.Background(), in.Tensors[0], want, opt.Options)
				if err != nil {
					t.Fatal(err)
				}
				out := filepath.Join(dir, "out.npy")
				results, errs := partsAtOnce(n, out, opt, fortran)
				commits := 0
				var bytesWritten int64
				for i, r := range results {
					if errs[i] != nil {
						t.Fatalf("part %d: %v", i, errs[i])
					}
					if r.Committed {
						commits++
						if r.Result.Stats != wres.Stats || r.Result.CRCVerify == fortran {
							t.Errorf("committer's stats %+v (crc verified %v), one run's %+v", r.Result.Stats, r.Result.CRCVerify, wres.Stats)
						}
					}
					bytesWritten += r.Bytes
				}
				if commits != 1 {
					t.Fatalf("%d parts committed, want 1", commits)
				}
				a, _ := os.ReadFile(out)
				b, _ := os.ReadFile(want)
				if !bytes.Equal(a, b) {
					t.Fatal("parts' output differs from one run's")
				}
				if bytesWritten != int64(len(b))-128 && bytesWritten != int64(len(b)) {
					// header bytes are written apart from the data
					t.Errorf("parts wrote %d data bytes, the output holds %d", bytesWritten, len(b))
				}
				if got := names(t, dir); got != "out.npy,want.npy" {
					t.Fatalf("left behind: %s", got)
				}
				// a part rerun after the commit has nothing to do
				in2, _ := partInput(1000, fortran)
				r, err := engine.RunPart(context.Background(), in2, out, opt, part.Spec{Index: n - 1, Count: n})
				if err != nil || !r.NothingToDo {
					t.Fatalf("rerun after commit: %+v, %v", r, err)
				}
				if got := names(t, dir); got != "out.npy,want.npy" {
					t.Fatalf("rerun after commit left: %s", got)
				}
			})
		}
	}
}

// TestRunPartSequentialAndRefusals: parts run one after another (as a
// Slurm array with one slot would); OUTPUT appears only with the last;
// a part rerun before the end is not redone; other flags or another
// count are refused, naming what differs; a damaged input fails at the
// commit and leaves nothing.
func TestRunPartSequentialAndRefusals(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.npy")
	opt := engine.InputOptions{Options: engine.Options{BlockSize: 16 << 10}}
	const n = 4
	for i := range n {
		in, _ := partInput(500, false)
		r, err := engine.RunPart(context.Background(), in, out, opt, part.Spec{Index: i, Count: n})
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		if _, err := os.Stat(out); (err == nil) != (i == n-1) || r.Committed != (i == n-1) {
			t.Fatalf("after part %d: output exists %v, committed %v", i, err == nil, r.Committed)
		}
		if i == 0 {
			r, err = engine.RunPart(context.Background(), in, out, opt, part.Spec{Index: 0, Count: n})
			if err != nil || !r.AlreadyDone || r.Bytes != 0 {
				t.Fatalf("part 0 again: %+v %v", r, err)
			}
			in, _ = partInput(500, false)
			other := opt
			other.DType = dtype.MustParse("<f4")
			if _, err := engine.RunPart(context.Background(), in, out, other, part.Spec{Index: 1, Count: n}); !errors.Is(err, part.ErrMismatch) ||
				!bytes.Contains([]byte(err.Error()), []byte("to <f8 there, <f4 here")) {
				t.Fatalf("other dtype: %v", err)
			}
			if _, err := engine.RunPart(context.Background(), in, out, opt, part.Spec{Index: 1, Count: n + 1}); !errors.Is(err, part.ErrMismatch) {
				t.Fatalf("other count: %v", err)
			}
		}
	}
	_, data := partInput(500, false)
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got[128:], data) {
		t.Fatal("output differs from the input bytes")
	}

	// damaged: the recorded crc does not match the data
	out2 := filepath.Join(dir, "bad.npy")
	for i := range 2 {
		in, _ := partInput(500, false)
		bad := *in.Tensors[0].CRC32C ^ 1
		in.Tensors[0].CRC32C = &bad
		_, err := engine.RunPart(context.Background(), in, out2, opt, part.Spec{Index: i, Count: 2})
		if i == 1 && !errors.Is(err, tensor.ErrChecksum) {
			t.Fatalf("damaged input: %v", err)
		}
	}
	if got := names(t, dir); got != "out.npy" {
		t.Fatalf("damaged input left: %s", got)
	}
}

// multiInput is a collection of tensors of many sizes (some smaller than
// a page, one larger than several blocks), each with its crc32c, plus one
// that cannot be converted.
func multiInput() *format.Input {
	in := &format.Input{Format: "mem", Collection: true, Path: "ckpt"}
	for k, rows := range []int64{1, 3000, 7, 0, 900, 64} {
		data := make([]byte, rows*24*4)
		for i := range data {
			data[i] = byte(i*31 + k)
		}
		crc := crc32c.Checksum(data)
		in.Tensors = append(in.Tensors, &tensor.Tensor{Name: fmt.Sprintf("layer%d/w", k), File: "ckpt.data", DType: dtype.Of(dtype.Int32),
			Shape: dtype.Shape{rows, 24}, Data: bytes.NewReader(data), Contiguous: true, CRC32C: &crc})
	}
	in.Tensors = append(in.Tensors, &tensor.Tensor{Name: "res", Unsupported: "a resource handle"})
	return in
}

// TestRunPartDirectory: a multi-tensor input to a directory, in N parts
// at once, gives ConvertDir's directory (files and manifest.json); whole
// small tensors and page ranges of big ones are handed out; one commit.
func TestRunPartDirectory(t *testing.T) {
	dir := t.TempDir()
	opt := engine.InputOptions{Options: engine.Options{DType: dtype.MustParse("<f8"), BlockSize: 20 << 10}}
	want := filepath.Join(dir, "want")
	if _, err := engine.ConvertDir(context.Background(), multiInput(), want, opt); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 3, 8, 50} {
		out := filepath.Join(dir, fmt.Sprintf("out%d", n))
		var wg sync.WaitGroup
		res := make([]engine.PartResult, n)
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res[i], errs[i] = engine.RunPart(context.Background(), multiInput(), out, opt, part.Spec{Index: i, Count: n})
			}()
		}
		wg.Wait()
		commits := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("%d parts: part %d: %v", n, i, errs[i])
			}
			if res[i].Committed {
				commits++
				if res[i].Summary == nil || len(res[i].Summary.Tensors) != 6 || len(res[i].Summary.Skipped) != 1 {
					t.Fatalf("summary %+v", res[i].Summary)
				}
			}
		}
		if commits != 1 {
			t.Fatalf("%d parts: %d commits", n, commits)
		}
		if got, wantNames := names(t, out), names(t, want); got != wantNames {
			t.Fatalf("%d parts wrote %s, one run %s", n, got, wantNames)
		}
		filepath.WalkDir(want, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(want, p)
			a, _ := os.ReadFile(p)
			b, _ := os.ReadFile(filepath.Join(out, rel))
			if !bytes.Equal(a, b) {
				t.Errorf("%d parts: %s differs:\n%s\n%s", n, rel, b, a)
			}
			return nil
		})
		if ents, _ := os.ReadDir(dir); len(ents) != 2 {
			var ns []string
			for _, e := range ents {
				ns = append(ns, e.Name())
			}
			t.Fatalf("%d parts left %v", n, ns)
		}
		os.RemoveAll(out)
	}
}

// stackInputs is 9 clips of different dtypes and sizes (one Fortran, the
// others with crc32c), each a format.Input.
func stackInputs() []*format.Input {
	var ins []*format.Input
	for k := range 9 {
		rows := int64(10 + k*37%23)
		dt := dtype.Of([]dtype.Type{dtype.Float32, dtype.Int16, dtype.Float64}[k%3])
		data := make([]byte, rows*50*int64(dt.Size()))
		for i := range data {
			data[i] = byte(i*13 + k)
		}
		if dt.Type != dtype.Int16 { // finite floats: keep the exponent byte small
			for i := dt.Size() - 1; i < len(data); i += dt.Size() {
				data[i] &= 0x3f
			}
		}
		t := &tensor.Tensor{Name: "x", File: fmt.Sprintf("clip%d.bin", k), DType: dt, Shape: dtype.Shape{rows, 50},
			Data: bytes.NewReader(data), Contiguous: true, Fortran: k == 4}
		if k != 4 {
			crc := crc32c.Checksum(data)
			t.CRC32C = &crc
		}
		ins = append(ins, &format.Input{Format: "mem", Path: t.File, Tensors: []*tensor.Tensor{t}})
	}
	return ins
}

// TestRunPartStack: a concatenation of 9 inputs in N parts at once is the
// one-process StackInputs output; every input's checksum is verified by
// the committer.
func TestRunPartStack(t *testing.T) {
	dir := t.TempDir()
	opt := engine.StackInputOptions{StackOptions: engine.StackOptions{Join: engine.JoinConcat, Options: engine.Options{BlockSize: 8 << 10}}}
	want := filepath.Join(dir, "want.npy")
	if _, err := engine.StackInputs(context.Background(), stackInputs(), want, opt); err != nil {
		t.Fatal(err)
	}
	wb, _ := os.ReadFile(want)
	for _, n := range []int{1, 2, 5, 16} {
		out := filepath.Join(dir, fmt.Sprintf("o%d.npy", n))
		res := make([]engine.PartResult, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res[i], errs[i] = engine.RunPartStack(context.Background(), stackInputs(), out, opt, part.Spec{Index: i, Count: n})
			}()
		}
		wg.Wait()
		commits := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("%d parts: part %d: %v", n, i, errs[i])
			}
			if res[i].Committed {
				commits++
				if !res[i].Result.CRCVerify {
					t.Error("committer verified no checksum")
				}
			}
		}
		got, _ := os.ReadFile(out)
		if commits != 1 || !bytes.Equal(got, wb) {
			t.Fatalf("%d parts: %d commits, output equal: %v", n, commits, bytes.Equal(got, wb))
		}
	}
	// one damaged input among nine: the committer names it
	out := filepath.Join(dir, "bad.npy")
	for i := range 3 {
		ins := stackInputs()
		bad := *ins[6].Tensors[0].CRC32C ^ 1
		ins[6].Tensors[0].CRC32C = &bad
		_, err := engine.RunPartStack(context.Background(), ins, out, opt, part.Spec{Index: i, Count: 3})
		if i == 2 && (!errors.Is(err, tensor.ErrChecksum) || !bytes.Contains([]byte(err.Error()), []byte("clip6.bin"))) {
			t.Fatalf("damaged clip6: %v", err)
		}
	}
}

// countSpy is a one-pass input that can count its rows, and says whether
// it was asked to.
type countSpy struct {
	*bytes.Reader
	counted bool
}

func (c *countSpy) Rows(context.Context) (int64, error) { c.counted = true; return 4, nil }

// TestRunPartStackRefusesStreamsFirst: a stack with a one-pass input (a
// compressed TFRecord shard) is refused by --part before its records are
// counted, so N parts do not each decompress every shard only to fail.
func TestRunPartStackRefusesStreamsFirst(t *testing.T) {
	ins := stackInputs()
	spy := &countSpy{Reader: bytes.NewReader(nil)}
	st := *ins[1].Tensors[0]
	st.File, st.Data, st.Stream = "shard.tfrecord.gz", nil, spy
	st.Shape = append(dtype.Shape{0}, st.Shape[1:]...)
	ins[1] = &format.Input{Format: "mem", Path: st.File, Tensors: []*tensor.Tensor{&st}}
	out := filepath.Join(t.TempDir(), "o.npy")
	opt := engine.StackInputOptions{StackOptions: engine.StackOptions{Join: engine.JoinConcat}}
	_, err := engine.RunPartStack(context.Background(), ins, out, opt, part.Spec{Index: 0, Count: 2})
	if !errors.Is(err, tensor.ErrUnsupported) || !bytes.Contains([]byte(err.Error()), []byte("shard.tfrecord.gz")) {
		t.Fatalf("err = %v, want ErrUnsupported naming the shard", err)
	}
	if spy.counted {
		t.Fatal("the shard's records were counted before --part refused it")
	}
}

// TestRunPartTakesTurns: parts of one output started at once on the same
// CPUs convert one at a time, each in its turn (part.Turn), unless
// PartsAtOnce; either way the output holds the one-process bytes.
func TestRunPartTakesTurns(t *testing.T) {
	defer func() { testhook.PartConverting, testhook.BeforeBlock = nil, nil }()
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	for _, tc := range []struct {
		atOnce  bool
		workers int
		turns   bool
	}{
		{false, part.CPUs(), true},
		{true, part.CPUs(), false},
		{false, 1, part.CPUs() == 1}, // fewer workers than CPUs: room for other parts, no turns
	} {
		t.Run(fmt.Sprintf("at-once=%v/workers=%d", tc.atOnce, tc.workers), func(t *testing.T) {
			dir := t.TempDir()
			opt := engine.InputOptions{Options: engine.Options{DType: dtype.MustParse("<f2"), Casting: dtype.Unsafe,
				BlockSize: 24 << 10, Workers: tc.workers, PartsAtOnce: tc.atOnce}}
			in, _ := partInput(1000, false)
			want := filepath.Join(dir, "want.npy")
			if _, err := engine.Convert(context.Background(), in.Tensors[0], want, opt.Options); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			active, most, turns := 0, 0, 0
			testhook.PartConverting = func(_ int, converting bool) {
				mu.Lock()
				defer mu.Unlock()
				if converting {
					active++
					turns++
					most = max(most, active)
				} else {
					active--
				}
			}
			// blocks take a while, so that parts started together overlap
			testhook.BeforeBlock = func(int64, int64) { time.Sleep(2 * time.Millisecond) }
			const n = 4
			out := filepath.Join(dir, "out.npy")
			results, errs := partsAtOnce(n, out, opt, false)
			testhook.PartConverting, testhook.BeforeBlock = nil, nil
			var waited time.Duration
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("part %d: %v", i, errs[i])
				}
				waited += results[i].Waited
			}
			if turns != n {
				t.Fatalf("%d turns for %d parts", turns, n)
			}
			switch {
			case tc.turns && most != 1:
				t.Fatalf("%d parts converted at once; they should take turns", most)
			case !tc.turns && waited != 0:
				t.Fatalf("parts without turns waited %v for them", waited)
			}
			a, _ := os.ReadFile(out)
			b, _ := os.ReadFile(want)
			if !bytes.Equal(a, b) {
				t.Fatal("parts' output differs from one run's")
			}
			if got := names(t, dir); got != "out.npy,want.npy" {
				t.Fatalf("left behind: %s", got)
			}
			if locks, _ := filepath.Glob(filepath.Join(tmp, "bigconv-turn-*")); len(locks) > 0 {
				t.Fatalf("turn locks left behind: %s", locks)
			}
		})
	}
}

// TestRunPartCheckpointCadence: a part checkpoints (fsync of the shared
// file, then its journal) at the cadence of a one-process run: with a
// byte interval alone after every chunk, with a time interval too only
// once that much time has passed — so a part done sooner syncs once,
// before its marker.
func TestRunPartCheckpointCadence(t *testing.T) {
	defer func() { testhook.Fsync = nil }()
	for _, tc := range []struct {
		every                  time.Duration
		wantSyncs, wantJournal int
	}{
		{0, 4, 3},         // 74,128 bytes in 4 chunks of 24 KiB; the last chunk's record is the marker
		{time.Hour, 1, 0}, // no interval passes: one fsync at the end
	} {
		t.Run(fmt.Sprint(tc.every), func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out.npy")
			opt := engine.InputOptions{Options: engine.Options{DType: dtype.MustParse("<f2"), Casting: dtype.Unsafe,
				BlockSize: 24 << 10, Workers: 2, CheckpointBytes: 24 << 10, CheckpointEvery: tc.every}}
			syncs, journal := 0, 0
			testhook.Fsync = func(what string) {
				switch {
				case strings.HasSuffix(what, ".journal"):
					journal++
				case strings.HasSuffix(what, "bigconv-partial"):
					syncs++
				}
			}
			in, data := partInput(1000, false)
			res, err := engine.RunPart(context.Background(), in, out, opt, part.Spec{Index: 0, Count: 1})
			testhook.Fsync = nil
			if err != nil || !res.Committed {
				t.Fatalf("%+v, %v", res, err)
			}
			if syncs != tc.wantSyncs || journal != tc.wantJournal {
				t.Fatalf("%d fsyncs of the partial file and %d journal writes, want %d and %d", syncs, journal, tc.wantSyncs, tc.wantJournal)
			}
			if st, _ := os.Stat(out); st == nil || st.Size() != 128+int64(len(data))/4 {
				t.Fatalf("output %v", st)
			}
		})
	}
}
