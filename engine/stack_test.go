package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/crc32c"
	"github.com/bigconv/bigconv/internal/testhook"
	"github.com/bigconv/bigconv/mmapnpy"
	"github.com/bigconv/bigconv/tensor"
)

// i16Tensor is rows×cols int16 values base+k in file name.
func i16Tensor(name string, base, rows, cols int) *tensor.Tensor {
	b := make([]byte, 2*rows*cols)
	for k := range rows * cols {
		binary.LittleEndian.PutUint16(b[2*k:], uint16(int16(base+k)))
	}
	return &tensor.Tensor{File: name, DType: dtype.MustParse("<i2"), Shape: dtype.Shape{int64(rows), int64(cols)}, Data: bytes.NewReader(b)}
}

// readI32 reads the data of an int32 .npy file written by mmapnpy.
func readI32(t *testing.T, path string, hdr int64) []int32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b = b[hdr:]
	v := make([]int32, len(b)/4)
	for i := range v {
		v[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// TestStackValues: a concatenation of int16 tensors of different row
// counts, widened to int32, holds every input's values in order, with
// progress counting the input bytes of all of them.
func TestStackValues(t *testing.T) {
	ts := []*tensor.Tensor{i16Tensor("a", 0, 3, 100), i16Tensor("b", 1000, 5, 100), i16Tensor("c", -2000, 2, 100)}
	out := filepath.Join(t.TempDir(), "o.npy")
	var mu sync.Mutex
	var calls, last, total int64
	res, err := Stack(context.Background(), ts, out, StackOptions{Join: JoinConcat, Options: Options{
		DType: dtype.MustParse("<i4"), BlockSize: 256, Workers: 3,
		Progress: func(d, tot int64) {
			mu.Lock()
			defer mu.Unlock()
			if d < last {
				t.Errorf("progress went back from %d to %d", last, d)
			}
			calls, last, total = calls+1, d, tot
		}}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Shape.Equal(dtype.Shape{10, 100}) || res.InBytes != 2000 || res.OutBytes != 4000 {
		t.Fatalf("result %+v", res)
	}
	if last != 2000 || total != 2000 || calls != res.Blocks {
		t.Errorf("progress: %d calls, last %d of %d; %d blocks", calls, last, total, res.Blocks)
	}
	st, _ := os.Stat(out)
	v := readI32(t, out, st.Size()-4000)
	var want []int32
	for _, c := range []struct{ base, n int }{{0, 300}, {1000, 500}, {-2000, 200}} {
		for k := range c.n {
			want = append(want, int32(c.base+k))
		}
	}
	for i := range want {
		if v[i] != want[i] {
			t.Fatalf("element %d = %d, want %d", i, v[i], want[i])
		}
	}
}

// TestStackRowsPlan: StackOptions.Rows keeps rows of the joined array,
// as np.concatenate(ts)[START:STOP] and np.stack(ts)[START:STOP] would:
// for a concatenation the segments are the inputs' rows in the range
// (Segment.Input naming each input), for a stack the inputs in it.
func TestStackRowsPlan(t *testing.T) {
	ts := []*tensor.Tensor{i16Tensor("a", 0, 3, 4), i16Tensor("b", 1000, 5, 4), i16Tensor("c", -2000, 2, 4)}
	rr := func(s string) *tensor.RowRange {
		r, err := tensor.ParseRows(s)
		if err != nil {
			t.Fatal(err)
		}
		return &r
	}
	// concatenated rows: a 0..2, b 3..7, c 8..9
	for _, c := range []struct {
		rows   string
		shape  dtype.Shape
		inputs []int
		first  int32 // value of the output's first element
	}{
		{"2:9", dtype.Shape{7, 4}, []int{0, 1, 2}, 8},
		{"-4:-1", dtype.Shape{3, 4}, []int{1, 2}, 1000 + 3*4}, // rows 6:9
		{"3:8", dtype.Shape{5, 4}, []int{1}, 1000},
		{"5:3", dtype.Shape{0, 4}, nil, 0},
	} {
		out := filepath.Join(t.TempDir(), "o.npy")
		sp, err := NewStackPlan(context.Background(), ts, StackOptions{Join: JoinConcat, Rows: rr(c.rows), Options: Options{DType: dtype.MustParse("<i4")}})
		if err != nil {
			t.Fatal(err)
		}
		var inputs []int
		for _, s := range sp.Segments {
			inputs = append(inputs, s.Input)
		}
		if !sp.Shape.Equal(c.shape) || fmt.Sprint(inputs) != fmt.Sprint(c.inputs) {
			t.Errorf("rows %s: shape %v, inputs %v; want %v, %v", c.rows, sp.Shape, inputs, c.shape, c.inputs)
			continue
		}
		res, err := sp.Run(context.Background(), out, Options{BlockSize: 16, Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(out)
		if v := readI32(t, out, st.Size()-res.OutBytes); len(v) > 0 && v[0] != c.first {
			t.Errorf("rows %s: first value %d, want %d", c.rows, v[0], c.first)
		}
	}
	same := []*tensor.Tensor{i16Tensor("a", 0, 2, 4), i16Tensor("b", 100, 2, 4), i16Tensor("c", 200, 2, 4)}
	sp, err := NewStackPlan(context.Background(), same, StackOptions{Join: JoinStack, Rows: rr("-2:")})
	if err != nil {
		t.Fatal(err)
	}
	if !sp.Shape.Equal(dtype.Shape{2, 2, 4}) || len(sp.Segments) != 2 || sp.Segments[0].Input != 1 || sp.Rows != "1:3 of 3" {
		t.Errorf("stack rows -2:: shape %v, %d segments, rows %q", sp.Shape, len(sp.Segments), sp.Rows)
	}
}

// gateReader reads a tensor's bytes after noting which file is being
// read: each read waits (up to 0.3 s) until reads of two different
// files are in flight, so a pool that worked one file at a time would
// be seen.
type gateReader struct {
	data []byte
	file string
	g    *gate
}

type gate struct {
	mu       sync.Mutex
	cond     *sync.Cond
	inFlight map[string]int
	most     int // most distinct files read at once
}

func (r *gateReader) ReadAt(p []byte, off int64) (int, error) {
	g := r.g
	g.mu.Lock()
	g.inFlight[r.file]++
	deadline := time.Now().Add(300 * time.Millisecond)
	for len(g.inFlight) < 2 && time.Now().Before(deadline) {
		g.mu.Unlock()
		time.Sleep(time.Millisecond)
		g.mu.Lock()
	}
	g.most = max(g.most, len(g.inFlight))
	if g.inFlight[r.file]--; g.inFlight[r.file] == 0 {
		delete(g.inFlight, r.file)
	}
	g.mu.Unlock()
	return bytes.NewReader(r.data).ReadAt(p, off)
}

// TestStackParallelAcrossFiles: with inputs of one block each, the
// workers read blocks of different files at once.
func TestStackParallelAcrossFiles(t *testing.T) {
	g := &gate{inFlight: map[string]int{}}
	var ts []*tensor.Tensor
	for i := range 6 {
		tt := i16Tensor(fmt.Sprintf("f%d", i), i*100, 4, 64)
		b := make([]byte, 512)
		tt.Data.ReadAt(b, 0)
		tt.Data = &gateReader{data: b, file: tt.File, g: g}
		ts = append(ts, tt)
	}
	out := filepath.Join(t.TempDir(), "o.npy")
	res, err := Stack(context.Background(), ts, out, StackOptions{Options: Options{BlockSize: 1 << 20, Workers: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Blocks != 6 || !res.Shape.Equal(dtype.Shape{6, 4, 64}) || res.To.String() != "<i2" {
		t.Fatalf("result %+v", res)
	}
	if g.most < 2 {
		t.Errorf("blocks of at most %d file(s) were in flight at once", g.most)
	}
}

// TestStackPlanRefusals: shapes and casts are checked before a file is
// made, and the errors name the file.
func TestStackPlanRefusals(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "o.npy")
	f8 := i16Tensor("f8.bin", 0, 3, 4)
	f8.DType = dtype.MustParse("<f8")
	f8.Shape = dtype.Shape{3, 2}
	cases := []struct {
		ts   []*tensor.Tensor
		opt  StackOptions
		is   error
		want string
	}{
		{nil, StackOptions{}, ErrStackShape, "no inputs"},
		{[]*tensor.Tensor{i16Tensor("a", 0, 3, 4), i16Tensor("b", 0, 4, 4)}, StackOptions{}, ErrStackShape, "b has shape (4, 4), a has (3, 4)"},
		{[]*tensor.Tensor{i16Tensor("a", 0, 3, 4), i16Tensor("b", 0, 3, 5)}, StackOptions{Join: JoinConcat}, ErrStackShape, "b has shape (3, 5)"},
		{[]*tensor.Tensor{i16Tensor("a", 0, 3, 4), {File: "s", DType: dtype.MustParse("<i2"), Shape: dtype.Shape{}, Data: bytes.NewReader(nil)}}, StackOptions{Join: JoinConcat}, ErrStackShape, "s is a scalar"},
		{[]*tensor.Tensor{i16Tensor("a", 0, 3, 2), f8}, StackOptions{Options: Options{DType: dtype.MustParse("<i2")}}, dtype.ErrCast, "f8.bin"},
		{[]*tensor.Tensor{i16Tensor("a", 0, 3, 2), {File: "gz", DType: dtype.MustParse("<i2"), Shape: dtype.Shape{0, 2}, Stream: bytes.NewReader(nil)}}, StackOptions{}, tensor.ErrUnsupported, "gz"},
	}
	for i, c := range cases {
		_, err := Stack(context.Background(), c.ts, out, c.opt)
		if !errors.Is(err, c.is) || err == nil || !bytes.Contains([]byte(err.Error()), []byte(c.want)) {
			t.Errorf("case %d: err = %v, want %v mentioning %q", i, err, c.is, c.want)
		}
		emptyDir(t, dir)
	}
	// The common type: int16 and float64 give float64.
	sp, err := NewStackPlan(context.Background(), []*tensor.Tensor{i16Tensor("a", 0, 3, 2), f8}, StackOptions{})
	if err != nil || sp.To.String() != "<f8" || !sp.Shape.Equal(dtype.Shape{2, 3, 2}) {
		t.Errorf("plan %+v, %v", sp, err)
	}
	if off, n := sp.Segments[1].OutRange(); off != 48 || n != 48 {
		t.Errorf("segment 1 covers [%d, +%d), want [48, +48)", off, n)
	}
}

// TestStackResumeChecksum interrupts a stack of two checksummed inputs
// inside the second one and resumes it: the part of that input written
// before the interruption is read again for its checksum, so a resumed
// run still verifies all of it, and a wrong checksum is still caught.
func TestStackResumeChecksum(t *testing.T) {
	var ts []*tensor.Tensor
	for i := range 2 {
		tt, b := f64Tensor(1 << 14)
		tt.File = fmt.Sprintf("in%d.bin", i)
		crc := crc32c.Checksum(b)
		tt.CRC32C = &crc
		ts = append(ts, tt)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "o.npy")
	opt := StackOptions{Options: Options{BlockSize: 4096, Workers: 1, CheckpointBytes: 1}}
	interruptStack := func(after int) {
		ctx, cancel, progress := cancelAfter(after)
		defer cancel()
		o := opt
		o.Progress = progress
		_, err := Stack(ctx, ts, out, o)
		var ie *InterruptedError
		if !errors.As(err, &ie) || ie.Done <= 32 || ie.Done >= 64 {
			t.Fatalf("err = %v, want an interruption in the second input's 32 blocks", err)
		}
	}
	interruptStack(40)
	resumed := opt
	resumed.Resume = true
	res, err := Stack(context.Background(), ts, out, resumed)
	if err != nil || res.Resumed <= 32 || !res.CRCVerify {
		t.Fatalf("resume: %+v, %v", res, err)
	}
	os.Remove(out)
	interruptStack(40)
	bad := *ts[1].CRC32C ^ 1
	ts[1].CRC32C = &bad
	if _, err := Stack(context.Background(), ts, out, resumed); !errors.Is(err, tensor.ErrChecksum) || !bytes.Contains([]byte(err.Error()), []byte("in1.bin")) {
		t.Fatalf("err = %v, want ErrChecksum naming in1.bin", err)
	}
	emptyDir(t, dir)
}

// countingStream is a one-pass stream of known bytes that, like a
// compressed TFRecord file, can count its rows apart from itself.
type countingStream struct {
	*bytes.Reader
	rows int64
}

func (c *countingStream) Rows(context.Context) (int64, error) { return c.rows, nil }

// TestStackStreams: one-pass inputs (Stream, no Data) stack with inputs
// of random access, each stream read by one worker from its start: one
// of known shape, one whose rows it counts first (Shape[0] 0); a stream
// shorter or longer than its shape is corrupt, naming the file; one that
// cannot count its rows is refused saying why.
func TestStackStreams(t *testing.T) {
	stream := func(name string, base, rows, cols int, count bool) *tensor.Tensor {
		d := i16Tensor(name, base, rows, cols)
		b := make([]byte, 2*rows*cols)
		d.Data.ReadAt(b, 0)
		d.Data = nil
		if count {
			d.Stream = &countingStream{bytes.NewReader(b), int64(rows)}
			d.Shape[0] = 0
		} else {
			d.Stream = bytes.NewReader(b)
		}
		return d
	}
	ts := []*tensor.Tensor{i16Tensor("a", 0, 3, 100), stream("s", 1000, 5, 100, false), i16Tensor("c", -2000, 2, 100), stream("u", 5000, 4, 100, true)}
	out := filepath.Join(t.TempDir(), "o.npy")
	res, err := Stack(context.Background(), ts, out, StackOptions{Join: JoinConcat, Options: Options{DType: dtype.MustParse("<i4"), BlockSize: 256, Workers: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Shape.Equal(dtype.Shape{14, 100}) {
		t.Fatalf("shape %v", res.Shape)
	}
	st, _ := os.Stat(out)
	v := readI32(t, out, st.Size()-res.OutBytes)
	var want []int32
	for _, c := range []struct{ base, n int }{{0, 300}, {1000, 500}, {-2000, 200}, {5000, 400}} {
		for k := range c.n {
			want = append(want, int32(c.base+k))
		}
	}
	for i := range want {
		if v[i] != want[i] {
			t.Fatalf("element %d = %d, want %d", i, v[i], want[i])
		}
	}

	for _, c := range []struct {
		name string
		bad  *tensor.Tensor
		want string
	}{
		// pieces of 64 elements (128 bytes) with BlockSize 256: the
		// stream of 1000 bytes ends inside its eighth piece
		{"short", func() *tensor.Tensor { s := stream("short", 0, 5, 100, false); s.Shape[0] = 6; return s }(),
			"offset 1000: the stream ends 200 bytes early, after 1000 of its 1200 bytes"},
		{"long", func() *tensor.Tensor { s := stream("long", 0, 5, 100, false); s.Shape[0] = 4; return s }(), "offset 800: the stream is longer than its 800 bytes"},
		{"uncounted", func() *tensor.Tensor { s := stream("pipe", 0, 5, 100, false); s.Shape[0] = 0; return s }(), "save it to a file"},
	} {
		// into a .npy and into an .npz: one copy of a stream, one message
		for _, name := range []string{"o.npy", "o.npz"} {
			data := c.bad.Stream.(*bytes.Reader)
			data.Seek(0, io.SeekStart)
			out := filepath.Join(t.TempDir(), name)
			_, err := Stack(context.Background(), []*tensor.Tensor{i16Tensor("a", 0, 3, 100), c.bad}, out,
				StackOptions{Join: JoinConcat, Options: Options{DType: dtype.MustParse("<i4"), BlockSize: 256}})
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.bad.File) {
				t.Errorf("%s into %s: %v, want %q", c.name, name, err, c.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("%s into %s: output left", c.name, name)
			}
		}
	}
}

// TestStackToArchiveResume: a stack into an .npz is the one member
// arr_0.npy; a run cancelled part way keeps its partial archive and
// journal, a resume with other rows is refused, and the resumed archive
// is byte for byte an uninterrupted run's — with a one-pass input among
// the inputs, redone whole when it was not finished.
func TestStackToArchiveResume(t *testing.T) {
	inputs := func() []*tensor.Tensor {
		var ts []*tensor.Tensor
		for k := range 6 {
			ts = append(ts, i16Tensor(fmt.Sprintf("in%d", k), 1000*k, 64, 1024))
		}
		s := ts[4]
		b := make([]byte, 64*1024*2)
		s.Data.ReadAt(b, 0)
		s.Data, s.Stream = nil, bytes.NewReader(b)
		return ts
	}
	dir := t.TempDir()
	mod := time.Date(2024, 5, 6, 7, 8, 10, 0, time.UTC)
	rows := func(s string) *tensor.RowRange { r, _ := tensor.ParseRows(s); return &r }
	base := StackOptions{Join: JoinConcat, ModTime: mod, Rows: rows("10:-10"), Options: Options{BlockSize: 32 << 10, Workers: 2,
		CheckpointBytes: 128 << 10, DType: dtype.MustParse("<i4")}}
	want := filepath.Join(dir, "want.npz")
	res, err := Stack(context.Background(), inputs(), want, base)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Shape.Equal(dtype.Shape{6*64 - 20, 1024}) {
		t.Fatalf("shape %v", res.Shape)
	}
	out := filepath.Join(dir, "out.npz")
	ctx, cancel := context.WithCancel(context.Background())
	opt := base
	opt.Progress = func(d, n int64) {
		if d*5 >= n*2 {
			cancel()
		}
	}
	_, err = Stack(ctx, inputs(), out, opt)
	var ie *InterruptedError
	if !errors.As(err, &ie) || ie.Done == 0 || ie.Done >= ie.Blocks {
		t.Fatalf("cancelled run: %v", err)
	}
	other := base
	other.Resume, other.Rows = true, rows("11:-9")
	if _, err := Stack(context.Background(), inputs(), out, other); !errors.Is(err, ErrResume) || !strings.Contains(err.Error(), "rows") {
		t.Fatalf("resume with other rows: %v", err)
	}
	again := base
	again.Resume = true
	if res, err = Stack(context.Background(), inputs(), out, again); err != nil || res.Resumed == 0 {
		t.Fatalf("resume: %v (resumed %d)", err, res.Resumed)
	}
	a, _ := os.ReadFile(out)
	b, _ := os.ReadFile(want)
	if !bytes.Equal(a, b) {
		t.Fatalf("resumed archive (%d bytes) differs from an uninterrupted one (%d bytes)", len(a), len(b))
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("left %d files", len(ents))
	}
}

// midStream is a one-pass input that, once half of it is read, calls
// half (once) before it goes on.
type midStream struct {
	r      io.Reader
	n, at  int64
	half   func()
	called bool
}

func (m *midStream) Read(p []byte) (int, error) {
	if !m.called && m.at*2 >= m.n {
		m.called = true
		m.half()
	}
	k, err := m.r.Read(p)
	m.at += int64(k)
	return k, err
}

// streamInputs are six int16 tensors of 64×1024 (128 KiB), input 1 a
// one-pass stream (mid) and inputs 3 and 5 carrying their crc32c.
func streamInputs(mid func()) []*tensor.Tensor {
	var ts []*tensor.Tensor
	for k := range 6 {
		tt := i16Tensor(fmt.Sprintf("in%d", k), 1000*k, 64, 1024)
		b := make([]byte, 64*1024*2)
		tt.Data.ReadAt(b, 0)
		switch k {
		case 1:
			tt.Data, tt.Stream = nil, &midStream{r: bytes.NewReader(b), n: int64(len(b)), half: mid}
		case 3, 5:
			crc := crc32c.Checksum(b)
			tt.CRC32C = &crc
		}
		ts = append(ts, tt)
	}
	return ts
}

// TestStackCancelInsideStream interrupts a stack into a .npy while its
// one-pass input (the second of six) is half read, after every other
// block is written: the journal on disk already records all of them
// (what a SIGKILL there would keep), the interruption keeps all but the
// stream, and the resumed run redoes only the stream and writes the
// bytes an uninterrupted run writes.
func TestStackCancelInsideStream(t *testing.T) {
	dir := t.TempDir()
	opt := StackOptions{Join: JoinConcat, Options: Options{BlockSize: 16 << 10, Workers: 3, CheckpointBytes: 1, DType: dtype.MustParse("<i4")}}
	want := filepath.Join(dir, "want.npy")
	if _, err := Stack(context.Background(), streamInputs(func() {}), want, opt); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.npy")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var journaled int64 // blocks the journal recorded when the stream was cancelled
	mid := func() {
		// wait until the journal holds every block but the stream's
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
			if j, err := readJournal(JournalPath(out)); err == nil {
				if journaled = j.kept(); journaled == j.Blocks-1 {
					break
				}
			}
		}
		cancel()
	}
	_, err := Stack(ctx, streamInputs(mid), out, opt)
	var ie *InterruptedError
	if !errors.As(err, &ie) {
		t.Fatalf("cancelled run: %v", err)
	}
	if ie.Done != ie.Blocks-1 || journaled != ie.Blocks-1 {
		t.Fatalf("interrupted in the stream: %d of %d blocks kept (the journal held %d before the cancel), want all but the stream's",
			ie.Done, ie.Blocks, journaled)
	}
	if _, err := Stack(context.Background(), streamInputs(func() {}), out, opt); !errors.Is(err, ErrPending) ||
		!strings.Contains(err.Error(), fmt.Sprintf("%d of %d blocks", ie.Blocks-1, ie.Blocks)) {
		t.Fatalf("rerun without resume: %v", err)
	}
	resumeAllButStream(t, streamInputs(func() {}), out, want, opt, ie.Blocks)
	emptyDir(t, dir)
}

// slowCount is a one-pass input whose row count takes until its context
// is done (or 20 s).
type slowCount struct{ countingStream }

func (c *slowCount) Rows(ctx context.Context) (int64, error) {
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(20 * time.Second):
		return c.rows, nil
	}
}

// TestCancelBeforeAnythingRecorded: a run cancelled before it recorded
// any block leaves nothing and returns the context's error, not an
// interruption that claims a journal — cancelled while a compressed
// input's rows are counted (the count stops at once and no output is
// reserved), before the run starts, or inside the only input, a stream;
// into a .npy and an .npz, a stack and one tensor.
func TestCancelBeforeAnythingRecorded(t *testing.T) {
	opt := StackOptions{Join: JoinConcat, Options: Options{BlockSize: 16 << 10, Workers: 1, CheckpointBytes: 1}}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, name := range []string{"o.npy", "o.npz"} {
		check := func(what string, err error, dir string) {
			t.Helper()
			if !errors.Is(err, context.Canceled) || errors.Is(err, ErrInterrupted) {
				t.Errorf("%s into %s: %v, want context.Canceled and nothing kept", what, name, err)
			}
			emptyDir(t, dir)
		}

		dir := t.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		slow := i16Tensor("slow.tfrecord.gz", 0, 64, 1024)
		b := make([]byte, 64*1024*2)
		slow.Data.ReadAt(b, 0)
		slow.Data, slow.Shape[0] = nil, 0
		slow.Stream = &slowCount{countingStream{bytes.NewReader(b), 64}}
		start := time.Now()
		_, err := Stack(ctx, []*tensor.Tensor{i16Tensor("a", 0, 64, 1024), slow}, filepath.Join(dir, name), opt)
		cancel()
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("counting went on %v after the cancel", d)
		}
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrInterrupted) {
			t.Errorf("cancelled while counting, into %s: %v", name, err)
		}
		emptyDir(t, dir)

		dir = t.TempDir()
		_, err = Stack(cancelled, []*tensor.Tensor{i16Tensor("a", 0, 64, 1024), i16Tensor("b", 0, 64, 1024)}, filepath.Join(dir, name), opt)
		check("a stack cancelled before it started", err, dir)

		dir = t.TempDir()
		_, err = Stack(context.Background(), streamInputs(func() {})[1:2], filepath.Join(dir, name), opt) // uncancelled: written
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(dir, name))
		ctx, cancel = context.WithCancel(context.Background())
		_, err = Stack(ctx, streamInputs(cancel)[1:2], filepath.Join(dir, name), opt)
		cancel()
		check("a stack of one stream cancelled inside it", err, dir)
	}
	dir := t.TempDir()
	_, err := Convert(cancelled, i16Tensor("a", 0, 64, 1024), filepath.Join(dir, "o.npy"), opt.Options)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrInterrupted) {
		t.Errorf("one tensor cancelled before it started: %v", err)
	}
	emptyDir(t, dir)
}

// TestStackToArchiveCancelInsideStream: the same for a stack into an
// .npz: cancelled half way through the one-pass input once the journal
// records every other block, the resume redoes only the stream and the
// archive is byte for byte an uninterrupted run's.
func TestStackToArchiveCancelInsideStream(t *testing.T) {
	dir := t.TempDir()
	opt := StackOptions{Join: JoinConcat, ModTime: time.Date(2024, 5, 6, 7, 8, 10, 0, time.UTC),
		Options: Options{BlockSize: 16 << 10, Workers: 3, CheckpointBytes: 1, DType: dtype.MustParse("<i4")}}
	want := filepath.Join(dir, "want.npz")
	if _, err := Stack(context.Background(), streamInputs(func() {}), want, opt); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.npz")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var journaled, blocks int64
	mid := func() {
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
			if j, err := readArchiveJournal(JournalPath(out)); err == nil {
				journaled, blocks = 0, 0
				for _, tt := range j.Tensors {
					journaled += tt.Done
					blocks += tt.Blocks
				}
				if journaled == blocks-1 {
					break
				}
			}
		}
		cancel()
	}
	_, err := Stack(ctx, streamInputs(mid), out, opt)
	var ie *InterruptedError
	if !errors.As(err, &ie) || ie.Done != ie.Blocks-1 || journaled != ie.Blocks-1 {
		t.Fatalf("cancelled in the stream: %v (journal held %d of %d blocks before the cancel), want all but the stream's kept", err, journaled, blocks)
	}
	resumeAllButStream(t, streamInputs(func() {}), out, want, opt, ie.Blocks)
	emptyDir(t, dir)
}

// resumeAllButStream resumes the interrupted Stack of ins into out and
// checks that all blocks but the stream's were kept (of blocks), that the
// checksums were verified and that out now equals want; it removes both.
func resumeAllButStream(t *testing.T, ins []*tensor.Tensor, out, want string, opt StackOptions, blocks int64) {
	t.Helper()
	again := opt
	again.Resume = true
	var written atomic.Int64 // blocks the resumed run writes: the stream's only
	testhook.BeforeBlock = func(i, n int64) { written.Add(1) }
	res, err := Stack(context.Background(), ins, out, again)
	testhook.BeforeBlock = nil
	if err != nil || res.Resumed != blocks-1 || !res.CRCVerify {
		t.Fatalf("resume: %v (resumed %d of %d, crc verified %v)", err, res.Resumed, res.Blocks, res.CRCVerify)
	}
	if written.Load() != 1 {
		t.Fatalf("the resumed run wrote %d blocks, want only the stream's", written.Load())
	}
	a, _ := os.ReadFile(out)
	b, _ := os.ReadFile(want)
	if !bytes.Equal(a, b) {
		t.Fatalf("resumed output (%d bytes) differs from an uninterrupted one (%d bytes)", len(a), len(b))
	}
	os.Remove(want)
	os.Remove(out)
}

// TestStackCrashAfterUnusablePartial: a resumed stack whose partial file
// turns out not to be this output's starts over and must drop the old
// journal at once: a crash before its first checkpoint used to leave
// that journal beside a new partial file, and the next --resume skipped
// blocks that were never written (found in review; the archive had the
// same gap).
func TestStackCrashAfterUnusablePartial(t *testing.T) {
	var ts []*tensor.Tensor
	for i := range 2 {
		tt, _ := f64Tensor(1 << 14)
		tt.File = fmt.Sprintf("in%d.bin", i)
		ts = append(ts, tt)
	}
	dir := t.TempDir()
	want := filepath.Join(dir, "want.npy")
	out := filepath.Join(dir, "o.npy")
	opt := StackOptions{Options: Options{BlockSize: 4096, Workers: 1, CheckpointBytes: 1}}
	if _, err := Stack(context.Background(), ts, want, opt); err != nil {
		t.Fatal(err)
	}
	ctx, cancel, progress := cancelAfter(40)
	defer cancel()
	o := opt
	o.Progress = progress
	var ie *InterruptedError
	if _, err := Stack(ctx, ts, out, o); !errors.As(err, &ie) || ie.Done == 0 {
		t.Fatalf("first run: %v", err)
	}
	partial := mmapnpy.PartialPath(out)
	st, err := os.Stat(partial)
	if err != nil {
		t.Fatal(err)
	}
	os.Truncate(partial, st.Size()-1) // a partial file that cannot be reused
	// The resumed run "crashes" before its first block: what is on disk
	// then is what a rerun finds.
	var journal, data []byte
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer func() { testhook.BeforeBlock = nil }()
	testhook.BeforeBlock = func(i, n int64) {
		if data == nil {
			journal, _ = os.ReadFile(JournalPath(out))
			data, _ = os.ReadFile(partial)
			cancel2()
		}
	}
	again := opt
	again.Resume = true
	Stack(ctx2, ts, out, again)
	testhook.BeforeBlock = nil
	if data == nil {
		t.Fatal("the resumed run wrote no block")
	}
	if journal != nil {
		t.Errorf("the old journal (%d bytes) is still beside the new partial file", len(journal))
		os.WriteFile(JournalPath(out), journal, 0o644)
	} else {
		os.Remove(JournalPath(out))
	}
	os.WriteFile(partial, data, 0o644)
	res, err := Stack(context.Background(), ts, out, again)
	if err != nil && !errors.Is(err, ErrResume) {
		t.Fatalf("rerun: %v", err)
	}
	if err != nil { // nothing to resume: a plain run
		if res, err = Stack(context.Background(), ts, out, opt); err != nil {
			t.Fatalf("plain rerun: %v", err)
		}
	}
	a, _ := os.ReadFile(out)
	b, _ := os.ReadFile(want)
	if !bytes.Equal(a, b) {
		t.Fatalf("output differs from an uninterrupted run (resumed %d blocks)", res.Resumed)
	}
}

// TestStackResumeRefusesChangedData: a stack of many inputs interrupted
// and resumed after one input's data changed at one edge (same size, no
// file identity to tell) is refused with ErrResume saying the data
// changed, its partial output and journal kept; with the data as it was
// it resumes to the uninterrupted output. The inputs' edges are sampled
// on several goroutines and hashed in order: swapping two inputs that
// differ is refused too.
func TestStackResumeRefusesChangedData(t *testing.T) {
	const n = 24
	mk := func(k int, flip int) *tensor.Tensor {
		tt, b := f64Tensor(1 << 10) // 8 KiB: two blocks of 4 KiB
		b[0] ^= byte(k)
		b[len(b)-1] ^= byte(flip)
		tt.Data = bytes.NewReader(b)
		tt.File = fmt.Sprintf("in%02d.bin", k)
		return tt
	}
	inputs := func(change func(ts []*tensor.Tensor)) []*tensor.Tensor {
		var ts []*tensor.Tensor
		for k := range n {
			ts = append(ts, mk(k, 0))
		}
		if change != nil {
			change(ts)
		}
		return ts
	}
	dir := t.TempDir()
	want := filepath.Join(dir, "want.npy")
	opt := StackOptions{Options: Options{BlockSize: 4096, Workers: 1, CheckpointBytes: 1}}
	if _, err := Stack(context.Background(), inputs(nil), want, opt); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "o.npy")
	resumed := opt
	resumed.Resume = true
	for _, c := range []struct {
		name   string
		change func(ts []*tensor.Tensor)
	}{
		{"last byte of one input", func(ts []*tensor.Tensor) { ts[17] = mk(17, 0x40) }},
		{"two inputs swapped", func(ts []*tensor.Tensor) { ts[3], ts[20] = ts[20], ts[3] }},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel, progress := cancelAfter(10)
			o := opt
			o.Progress = progress
			_, err := Stack(ctx, inputs(nil), out, o)
			cancel()
			var ie *InterruptedError
			if !errors.As(err, &ie) || ie.Done == 0 {
				t.Fatalf("err = %v, want an interruption with work kept", err)
			}
			_, err = Stack(context.Background(), inputs(c.change), out, resumed)
			if !errors.Is(err, ErrResume) || !strings.Contains(err.Error(), "data changed") {
				t.Fatalf("err = %v, want ErrResume saying the input's data changed", err)
			}
			for _, p := range []string{mmapnpy.PartialPath(out), JournalPath(out)} {
				if _, serr := os.Stat(p); serr != nil {
					t.Fatalf("refused resume: %v", serr)
				}
			}
			res, err := Stack(context.Background(), inputs(nil), out, resumed)
			if err != nil || res.Resumed == 0 {
				t.Fatalf("resume with the data as it was: %+v, %v", res, err)
			}
			sameFile(t, out, want)
			os.Remove(out)
		})
	}
}
