package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/crc32c"
	"github.com/bigconv/bigconv/mmapnpy"
	"github.com/bigconv/bigconv/tensor"
)

func f64Tensor(n int) (*tensor.Tensor, []byte) {
	b := make([]byte, 8*n)
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(float64(i)+0.25))
	}
	return &tensor.Tensor{Name: "x", File: "x.bin", DType: dtype.MustParse("<f8"), Shape: dtype.Shape{int64(n / 16), 16}, Data: bytes.NewReader(b)}, b
}

func emptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Fatalf("files left behind: %v", ents)
	}
}

func TestConvertValues(t *testing.T) {
	for _, mode := range []WriteMode{WriteAuto, WriteMapped, WritePwrite} {
		tt, _ := f64Tensor(1 << 16)
		out := filepath.Join(t.TempDir(), "o.npy")
		res, err := Convert(context.Background(), tt, out, Options{DType: dtype.MustParse("<f4"), BlockSize: 4096, Workers: 3, Write: mode})
		if err != nil {
			t.Fatal(err)
		}
		checkValues(t, res, out)
	}
}

// TestCopyModes converts a same-dtype tensor held in a file (the
// copy_file_range path in pwrite mode) and one in memory, in each mode.
func TestCopyModes(t *testing.T) {
	tt, b := f64Tensor(1 << 16)
	dir := t.TempDir()
	src := filepath.Join(dir, "in.bin")
	os.WriteFile(src, append(make([]byte, 100), b...), 0o644)
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ft := *tt
	ft.Data, ft.Contiguous, ft.Offset = io.NewSectionReader(f, 100, int64(len(b))), true, 100
	for _, mode := range []WriteMode{WriteAuto, WriteMapped, WritePwrite} {
		for _, in := range []*tensor.Tensor{tt, &ft} {
			out := filepath.Join(dir, "o.npy")
			if _, err := Convert(context.Background(), in, out, Options{BlockSize: 4096, Write: mode}); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(out)
			if !bytes.Equal(got[len(got)-len(b):], b) {
				t.Fatalf("mode %d: output data differs from input", mode)
			}
		}
	}
}

func checkValues(t *testing.T, res Result, out string) {
	t.Helper()
	if res.Blocks != 128 || res.OutBytes != 4<<16 {
		t.Fatalf("result %+v", res)
	}
	b, _ := os.ReadFile(out)
	data := b[len(b)-4<<16:]
	for i := 0; i < 1<<16; i++ {
		if v := math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:])); v != float32(float64(i)+0.25) {
			t.Fatalf("element %d = %v", i, v)
		}
	}
}

func TestCastRefusedNamesFlag(t *testing.T) {
	tt, _ := f64Tensor(64)
	_, err := Convert(context.Background(), tt, filepath.Join(t.TempDir(), "o.npy"), Options{DType: dtype.MustParse("<i4")})
	if !errors.Is(err, dtype.ErrCast) {
		t.Fatalf("err = %v, want ErrCast", err)
	}
	res, err := Convert(context.Background(), tt, filepath.Join(t.TempDir(), "o.npy"), Options{DType: dtype.MustParse("<i4"), Casting: dtype.Unsafe})
	if err != nil || res.Stats.Lost() {
		t.Fatalf("unsafe cast: %v, stats %v", err, res.Stats)
	}
}

func TestCancelWithoutJournalLeavesNothing(t *testing.T) {
	tt, _ := f64Tensor(1 << 16)
	dir := t.TempDir()
	ctx, cancel, progress := cancelAfter(10)
	defer cancel()
	_, err := Convert(ctx, tt, filepath.Join(dir, "o.npy"), Options{BlockSize: 4096, Workers: 2, CheckpointBytes: -1,
		Progress: progress})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrInterrupted) {
		t.Fatalf("err = %v, want Canceled only", err)
	}
	emptyDir(t, dir)
}

// cancelAfter returns a context and an Options.Progress that cancels it
// at its nth call (Progress calls are serialised).
func cancelAfter(n int) (context.Context, context.CancelFunc, func(done, total int64)) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	return ctx, cancel, func(int64, int64) {
		if calls++; calls == n {
			cancel()
		}
	}
}

// interrupt converts tt to out and cancels after the given number of
// blocks; the work must be kept.
func interrupt(t *testing.T, tt *tensor.Tensor, out string, opt Options, after int) *InterruptedError {
	t.Helper()
	ctx, cancel, progress := cancelAfter(after)
	defer cancel()
	opt.Progress = progress
	_, err := Convert(ctx, tt, out, opt)
	var ie *InterruptedError
	if !errors.As(err, &ie) || !errors.Is(err, ErrInterrupted) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want an InterruptedError", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("output exists after interruption: %v", err)
	}
	for _, p := range []string{mmapnpy.PartialPath(out), JournalPath(out)} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("interrupted run did not keep %s: %v", p, err)
		}
	}
	if ie.Done < int64(after)-2 || ie.Done >= ie.Blocks {
		t.Fatalf("interrupted after %d blocks but journal records %d of %d", after, ie.Done, ie.Blocks)
	}
	return ie
}

func TestInterruptAndResume(t *testing.T) {
	for _, c := range []struct {
		name   string
		to     string
		verify bool
	}{{"copy", "", false}, {"cast", "<f4", false}, {"copy/crc", "", true}, {"cast/crc", "<f4", true}} {
		t.Run(c.name, func(t *testing.T) {
			tt, b := f64Tensor(1 << 16)
			if c.verify {
				crc := crc32c.Checksum(b)
				tt.CRC32C = &crc
			}
			opt := Options{BlockSize: 4096, Workers: 2, CheckpointBytes: 1}
			if c.to != "" {
				opt.DType = dtype.MustParse(c.to)
			}
			dir := t.TempDir()
			want := filepath.Join(dir, "want.npy")
			if _, err := Convert(context.Background(), tt, want, opt); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "o.npy")
			ie := interrupt(t, tt, out, opt, 20)

			// Without Resume the journal is reported, not reused.
			if _, err := Convert(context.Background(), tt, out, opt); !errors.Is(err, ErrPending) {
				t.Fatalf("rerun without Resume: err = %v, want ErrPending", err)
			}
			// Other settings refuse to resume.
			other := opt
			other.Resume, other.DType = true, dtype.MustParse("<f2")
			if _, err := Convert(context.Background(), tt, out, other); !errors.Is(err, ErrResume) {
				t.Fatalf("resume with another dtype: err = %v, want ErrResume", err)
			}
			other = opt
			other.Resume, other.Identity = true, "size=1 mtime=2"
			if _, err := Convert(context.Background(), tt, out, other); !errors.Is(err, ErrResume) {
				t.Fatalf("resume with another input identity: err = %v, want ErrResume", err)
			}

			opt.Resume = true
			first := int64(-1)
			opt.Progress = func(done, total int64) {
				if first < 0 {
					first = done
				}
			}
			res, err := Convert(context.Background(), tt, out, opt)
			if err != nil {
				t.Fatal(err)
			}
			if res.Resumed != ie.Done || first <= 0 {
				t.Fatalf("resumed at block %d (progress from %d bytes), journal had %d", res.Resumed, first, ie.Done)
			}
			if c.verify && !res.CRCVerify {
				t.Fatal("resumed run did not verify the checksum")
			}
			got, _ := os.ReadFile(out)
			exp, _ := os.ReadFile(want)
			if !bytes.Equal(got, exp) {
				t.Fatal("resumed output differs from an uninterrupted run")
			}
			os.Remove(want)
			ents, _ := os.ReadDir(dir)
			if len(ents) != 1 {
				t.Fatalf("files besides the output: %v", ents)
			}
		})
	}
}

func TestResumeDetectsDamageInKeptPart(t *testing.T) {
	// A resumed run verifies the whole input checksum: the part written
	// before the interruption is covered by the crc the journal recorded.
	tt, b := f64Tensor(1 << 16)
	crc := crc32c.Checksum(b)
	tt.CRC32C = &crc
	dir := t.TempDir()
	out := filepath.Join(dir, "o.npy")
	opt := Options{BlockSize: 4096, Workers: 2, CheckpointBytes: 1}
	interrupt(t, tt, out, opt, 20)
	bad := crc ^ 1
	tt.CRC32C = &bad
	opt.Resume = true
	if _, err := Convert(context.Background(), tt, out, opt); !errors.Is(err, tensor.ErrChecksum) {
		t.Fatalf("err = %v, want ErrChecksum", err)
	}
	emptyDir(t, dir)
}

func TestRestartAndStaleJournal(t *testing.T) {
	tt, _ := f64Tensor(1 << 16)
	dir := t.TempDir()
	out := filepath.Join(dir, "o.npy")
	opt := Options{BlockSize: 4096, Workers: 2, CheckpointBytes: 1}
	interrupt(t, tt, out, opt, 20)
	opt.Restart = true
	res, err := Convert(context.Background(), tt, out, opt)
	if err != nil || res.Resumed != 0 {
		t.Fatalf("restart: resumed %d, err %v", res.Resumed, err)
	}
	// A journal whose partial file is gone (a run that died after its
	// rename) is stale: it is removed, not reported.
	os.Remove(out)
	interrupt(t, tt, out, Options{BlockSize: 4096, Workers: 2, CheckpointBytes: 1}, 20)
	os.Remove(mmapnpy.PartialPath(out))
	if _, err := Convert(context.Background(), tt, out, Options{BlockSize: 4096}); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("files besides the output: %v", ents)
	}
	// Resume with nothing to resume converts from the start.
	os.Remove(out)
	res, err = Convert(context.Background(), tt, out, Options{Resume: true})
	if err != nil || res.Resumed != 0 {
		t.Fatalf("resume of nothing: resumed %d, err %v", res.Resumed, err)
	}
}

type failingReader struct {
	r     *bytes.Reader
	after int64
}

func (f failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= f.after {
		return 0, errors.New("device gone")
	}
	return f.r.ReadAt(p, off)
}

func TestReadErrorLeavesNothingAndNamesOffset(t *testing.T) {
	tt, b := f64Tensor(1 << 16)
	tt.Data = failingReader{bytes.NewReader(b), 200000}
	dir := t.TempDir()
	_, err := Convert(context.Background(), tt, filepath.Join(dir, "o.npy"), Options{BlockSize: 8192})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte(`x.bin: tensor "x": offset`)) {
		t.Fatalf("err = %v", err)
	}
	emptyDir(t, dir)
}

func TestChecksum(t *testing.T) {
	tt, b := f64Tensor(1 << 14)
	good := crc32c.Checksum(b)
	for _, c := range []struct {
		name string
		crc  uint32
		cast bool
		ok   bool
	}{{"copy/good", good, false, true}, {"cast/good", good, true, true}, {"copy/bad", good ^ 1, false, false}, {"cast/bad", good ^ 1, true, false}} {
		t.Run(c.name, func(t *testing.T) {
			crc := c.crc
			tt.CRC32C = &crc
			dir := t.TempDir()
			opt := Options{BlockSize: 3000, Workers: 2}
			if c.cast {
				opt.DType = dtype.MustParse("<f4")
			}
			res, err := Convert(context.Background(), tt, filepath.Join(dir, "o.npy"), opt)
			if c.ok {
				if err != nil || !res.CRCVerify {
					t.Fatalf("err %v, verified %v", err, res.CRCVerify)
				}
				return
			}
			if !errors.Is(err, tensor.ErrChecksum) {
				t.Fatalf("err = %v, want ErrChecksum", err)
			}
			emptyDir(t, dir)
			opt.NoVerify = true
			if _, err := Convert(context.Background(), tt, filepath.Join(dir, "o.npy"), opt); err != nil {
				t.Fatalf("--no-verify: %v", err)
			}
		})
	}
}

func TestUnsupportedRefused(t *testing.T) {
	tt := &tensor.Tensor{Name: "r", DType: dtype.Of(dtype.Int8), Unsupported: "resource handle"}
	if _, err := NewPlan(tt, Options{}); !errors.Is(err, tensor.ErrUnsupported) {
		t.Fatalf("err = %v", err)
	}
}

func TestDefaultTargets(t *testing.T) {
	cases := []struct {
		from    string
		raw     bool
		want    string
		wantErr bool
	}{
		{">f8", false, "<f8", false},
		{"bfloat16", false, "<f4", false},
		{"bfloat16", true, "<u2", false},
		{"float8_e4m3fn", true, "|u1", false},
		{"float8_e5m2", false, "<f4", false},
	}
	for _, c := range cases {
		tt := &tensor.Tensor{DType: dtype.MustParse(c.from), Shape: dtype.Shape{1}, Data: bytes.NewReader(make([]byte, 8))}
		p, err := NewPlan(tt, Options{RawBits: c.raw})
		if err != nil {
			t.Errorf("%s: %v", c.from, err)
			continue
		}
		if p.To.String() != c.want {
			t.Errorf("%s raw=%v: target %s, want %s", c.from, c.raw, p.To, c.want)
		}
	}
}

// TestStreamRefusals: a stream that is a scalar, or whose rows hold no
// elements, cannot be counted: a clear error, not a panic or a loop that
// never ends.
func TestStreamRefusals(t *testing.T) {
	for _, sh := range []dtype.Shape{{}, {0, 0}, {0, 4, 0}} {
		tt := &tensor.Tensor{Name: "s", DType: dtype.MustParse("<f8"), Shape: sh, Stream: bytes.NewReader(make([]byte, 64)), File: "in.tfrecord"}
		out := filepath.Join(t.TempDir(), "s.npy")
		_, err := Convert(context.Background(), tt, out, Options{})
		if !errors.Is(err, tensor.ErrUnsupported) || !strings.Contains(err.Error(), "in.tfrecord") {
			t.Fatalf("shape %v: err = %v, want ErrUnsupported naming the file", sh, err)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Fatalf("shape %v: output exists", sh)
		}
	}
}

func TestStream(t *testing.T) {
	for _, mode := range []WriteMode{WriteAuto, WriteMapped, WritePwrite} {
		_, b := f64Tensor(3 * 1000)
		tt := &tensor.Tensor{Name: "s", DType: dtype.MustParse("<f8"), Shape: dtype.Shape{0, 3}, Stream: bytes.NewReader(b)}
		out := filepath.Join(t.TempDir(), "s.npy")
		res, err := Convert(context.Background(), tt, out, Options{DType: dtype.MustParse("<f4"), BlockSize: 1000, Write: mode})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Shape.Equal(dtype.Shape{1000, 3}) {
			t.Fatalf("shape %v", res.Shape)
		}
		if _, err := os.Stat(mmapnpy.PartialPath(out)); !os.IsNotExist(err) {
			t.Fatal("partial left")
		}
		got, _ := os.ReadFile(out)
		data := got[len(got)-4*3000:]
		for i := 0; i < 3000; i++ {
			if v := math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:])); v != float32(float64(i)+0.25) {
				t.Fatalf("mode %d: element %d = %v", mode, i, v)
			}
		}
	}
}
