package mmapnpz

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/mmapnpy"
)

// everyDType: every dtype .npy can hold, both byte orders, 0-d, empty and
// odd names (np.savez's keys become member names as they are).
func everyDType() []Member {
	var ms []Member
	for i, ty := range dtype.Types() {
		if !ty.NumPy() {
			continue
		}
		dt := dtype.Of(ty)
		ms = append(ms, Member{Name: "t/" + dt.Descr(), DType: dt, Shape: dtype.Shape{int64(3 + i), 5}})
		if ty.Size() > 1 {
			be := dt
			be.BigEndian = true
			ms = append(ms, Member{Name: "be/" + be.Descr(), DType: be, Shape: dtype.Shape{7, int64(2 + i)}})
		}
	}
	return append(ms,
		Member{Name: "bytes", DType: dtype.BytesOf(5), Shape: dtype.Shape{4}},
		Member{Name: "scalar", DType: dtype.MustParse("<f8"), Shape: dtype.Shape{}},
		Member{Name: "empty", DType: dtype.MustParse("<i4"), Shape: dtype.Shape{0, 3}},
		Member{Name: "empty1", DType: dtype.MustParse("<i2"), Shape: dtype.Shape{0}},
		Member{Name: "", DType: dtype.MustParse("<u2"), Shape: dtype.Shape{3}},
		Member{Name: "a/b/c d", DType: dtype.MustParse("<f4"), Shape: dtype.Shape{2, 2, 2}},
		Member{Name: "тензор/λ", DType: dtype.MustParse("<f2"), Shape: dtype.Shape{9}},
		Member{Name: "emoji 🙂.weights", DType: dtype.MustParse("<i8"), Shape: dtype.Shape{1}},
		Member{Name: "big", DType: dtype.MustParse("<f4"), Shape: dtype.Shape{300, 1001}}, // blocks of many pages
		Member{Name: "arr_0", DType: dtype.MustParse("|u1"), Shape: dtype.Shape{1}},
	)
}

func TestArchiveNumPy(t *testing.T) {
	members := everyDType()
	out := filepath.Join(t.TempDir(), "x.npz")
	w, err := Create(out, members, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("output exists before Commit: %v", err)
	}
	writeAll(t, w, members, 4, 1)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(w.TempPath()); !os.IsNotExist(err) {
		t.Fatalf("partial file left: %v", err)
	}
	t.Log(judge(t, out, members, 1, nil))
	goRead(t, out, members, 1)
}

// TestCRCOutOfOrder: blocks written in parallel in a shuffled order,
// some written twice (the second time over a range that straddles
// earlier blocks), give the CRC-32 of the bytes in the file.
func TestCRCOutOfOrder(t *testing.T) {
	members := []Member{{Name: "a", DType: dtype.MustParse("<f4"), Shape: dtype.Shape{1000, 257}}}
	for seed := int64(1); seed <= 4; seed++ {
		out := filepath.Join(t.TempDir(), "x.npz")
		w, err := Create(out, members, Options{})
		if err != nil {
			t.Fatal(err)
		}
		writeAll(t, w, members, 4, seed)
		e := w.Entry(0)
		for _, r := range [][2]int64{{1000, 9000}, {0, 1}, {e.DataLen() - 3, 3}, {5000, 70000}} {
			buf := make([]byte, r[1])
			pattern(0, buf, r[0], false)
			if err := e.WriteAt(buf, r[0]); err != nil {
				t.Fatal(err)
			}
		}
		want := crc32.ChecksumIEEE(append(append([]byte{}, w.lay.members[0].hdr...), memberBytes(0, members[0])...))
		crcs, err := w.memberCRCs()
		if err != nil {
			t.Fatal(err)
		}
		if got := crcs[0]; got != want {
			t.Fatalf("seed %d: CRC %#x, want %#x", seed, got, want)
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		goRead(t, out, members, 1)
	}
}

// TestReadBack: ranges with no recorded CRC (written behind the
// Writer's back, as by an earlier process), longer than one read-back
// piece, between recorded blocks, are read back in parallel and joined.
func TestReadBack(t *testing.T) {
	defer func(p int64) { readPiece = p }(readPiece)
	readPiece = 4096
	members := []Member{
		{Name: "a", DType: dtype.MustParse("|u1"), Shape: dtype.Shape{3*readPiece + 13}},
		{Name: "b", DType: dtype.MustParse("|u1"), Shape: dtype.Shape{5}},
		{Name: "c", DType: dtype.MustParse("<f8"), Shape: dtype.Shape{readPiece / 8, 2}},
	}
	out := filepath.Join(t.TempDir(), "x.npz")
	w, err := Create(out, members, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range members {
		if _, err := w.f.WriteAt(memberBytes(i, m), w.lay.members[i].dataOff()); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range [][2]int64{{100, 1000}, {readPiece + 5, 77}, {2 * readPiece, readPiece}} {
		buf := make([]byte, r[1])
		pattern(0, buf, r[0], false)
		if err := w.Entry(0).WriteAt(buf, r[0]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	t.Log(judge(t, out, members, 1, nil))
	goRead(t, out, members, 1)
}

func TestCRCStateJoins(t *testing.T) {
	data := make([]byte, 1000)
	pattern(0, data, 0, false)
	rng := func(a, b int64) Range { return Range{Off: a, Len: b - a, CRC: crc32.ChecksumIEEE(data[a:b])} }
	var s crcState
	for _, r := range []Range{rng(100, 200), rng(300, 400), rng(200, 300), rng(0, 100), rng(500, 600), rng(450, 550)} {
		s.add(r)
	}
	got := s.snapshot()
	// [0,400) joined; [450,550) replaced the [500,600) it overlapped
	want := []Range{rng(0, 400), rng(450, 550)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ranges %v, want %v", got, want)
	}
}

func TestZip64ManyMembers(t *testing.T) {
	const n = 65600 // > 65535: zip64 end records
	members := make([]Member, n)
	for i := range members {
		members[i] = Member{Name: fmt.Sprintf("m%05d", i), DType: dtype.MustParse("<i2"), Shape: dtype.Shape{int64(i % 5)}}
	}
	out := filepath.Join(t.TempDir(), "many.npz")
	w, err := Create(out, members, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !w.lay.zip64 {
		t.Fatal("no zip64 end records for 65600 members")
	}
	for i := n - 1; i >= 0; i-- { // backwards; every 7th left unwritten: zeros read back at Commit
		if i%7 == 0 {
			continue
		}
		if err := w.Entry(i).WriteAt(memberBytes(i, members[i]), 0); err != nil {
			t.Fatal(err)
		}
	}
	zero := map[int]bool{}
	for i := 0; i < n; i += 7 {
		zero[i] = true
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	end := b[len(b)-endLen:]
	if binary.LittleEndian.Uint16(end[10:]) != 0xffff || binary.LittleEndian.Uint32(b[len(b)-endLen-loc64Len:]) != sigLoc64 {
		t.Fatal("end records are not zip64")
	}
	t.Log(judge(t, out, members, 997, zero))
	unzipTest(t, out)
}

func TestAbort(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "x.npz")
	members := everyDType()
	w, err := Create(out, members, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Create(out, members, Options{}); !errors.Is(err, mmapnpy.ErrBusy) {
		t.Fatalf("second writer of the same output: %v, want ErrBusy", err)
	}
	writeAll(t, w, members, 2, 3)
	w.Abort()
	w.Abort()
	if err := w.Commit(); err == nil {
		t.Fatal("Commit after Abort succeeded")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("Abort left %v", ents)
	}
}

func TestBadMembers(t *testing.T) {
	f4 := dtype.MustParse("<f4")
	for _, c := range []struct {
		name    string
		members []Member
	}{
		{"duplicate", []Member{{"a", f4, dtype.Shape{1}}, {"a", f4, dtype.Shape{2}}}},
		{"NUL", []Member{{"a\x00b", f4, dtype.Shape{1}}}},
		{"not UTF-8", []Member{{"a\xff", f4, dtype.Shape{1}}}},
		{"bfloat16", []Member{{"a", dtype.Of(dtype.BFloat16), dtype.Shape{1}}}},
		{"overflow", []Member{{"a", f4, dtype.Shape{1 << 40, 1 << 30}}}},
		{"long name", []Member{{string(make([]byte, 70000)), f4, dtype.Shape{1}}}},
	} {
		dir := t.TempDir()
		if _, err := Create(filepath.Join(dir, "x.npz"), c.members, Options{}); err == nil {
			t.Errorf("%s: Create succeeded", c.name)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("%s: left %v", c.name, ents)
		}
	}
}

// TestReleaseKeep: an interrupted run keeps its partial file; a run of
// the same layout with Keep reuses it, with its CRCs restored from a
// snapshot or read back; a different layout starts afresh.
func TestReleaseKeep(t *testing.T) {
	members := everyDType()
	for _, restore := range []bool{true, false} {
		t.Run(fmt.Sprintf("restore=%v", restore), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "x.npz")
			w, err := Create(out, members, Options{})
			if err != nil {
				t.Fatal(err)
			}
			half := len(members) / 2
			writeAll(t, w, members[:half], 3, 5)
			sums := w.Sums()
			if err := w.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := w.Release(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Fatalf("output after Release: %v", err)
			}
			// another layout does not reuse it
			other := append([]Member{}, members...)
			other[1].Shape = dtype.Shape{1, 1}
			w2, err := Create(out, other, Options{Keep: true})
			if err != nil {
				t.Fatal(err)
			}
			if w2.Reused() {
				t.Fatal("partial file of another layout reused")
			}
			w2.Release()
			// the partial now holds w2's layout: start again with it interrupted
			w, err = Create(out, members, Options{})
			if err != nil {
				t.Fatal(err)
			}
			writeAll(t, w, members[:half], 3, 6)
			sums = w.Sums()
			w.Sync()
			w.Release()

			w, err = Create(out, members, Options{Keep: true, ModTime: w.lay.modTimeForTest().AddDate(1, 0, 0)})
			if err != nil {
				t.Fatal(err)
			}
			if !w.Reused() {
				t.Fatal("partial file not reused")
			}
			if restore {
				if err := w.Restore(sums); err != nil {
					t.Fatal(err)
				}
				if got := w.Sums(); fmt.Sprint(got) != fmt.Sprint(sums) {
					t.Fatalf("restored %v, want %v", got, sums)
				}
			}
			// the rest, written by index into the full list
			for i := half; i < len(members); i++ {
				if err := w.Entry(i).WriteAt(memberBytes(i, members[i]), 0); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Commit(); err != nil {
				t.Fatal(err)
			}
			t.Log(judge(t, out, members, 1, nil))
			goRead(t, out, members, 1)
		})
	}
}

func TestRestoreChecks(t *testing.T) {
	members := []Member{{Name: "a", DType: dtype.MustParse("<f4"), Shape: dtype.Shape{10}}}
	out := filepath.Join(t.TempDir(), "x.npz")
	w, err := Create(out, members, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if err := w.Restore(Sums{}); err == nil {
		t.Fatal("Restore on a fresh file succeeded")
	}
	w.reused = true
	for _, s := range []Sums{
		{Members: []MemberSums{{Member: 1}}},
		{Members: []MemberSums{{Member: 0, Ranges: []Range{{Off: 30, Len: 11}}}}},
		{Members: []MemberSums{{Member: 0, Ranges: []Range{{Off: -1, Len: 1}}}}},
	} {
		if err := w.Restore(s); err == nil {
			t.Errorf("Restore(%v) succeeded", s)
		}
	}
}

// blockWriter is what the engine's workers need of an output: mmapnpy's
// Writer and an mmapnpz Entry both are one.
type blockWriter interface {
	Write(off, n int64, fill func(dst []byte) error) error
	WriteAt(p []byte, off int64) error
	CopyFrom(src *os.File, srcOff, off, n int64) error
}

var (
	_ blockWriter = (*mmapnpy.Writer)(nil)
	_ blockWriter = (*Entry)(nil)
)

// TestEmptyArchive: no members is an empty zip (np.savez(f) with no
// arrays writes one too), which np.load opens with no files.
func TestEmptyArchive(t *testing.T) {
	out := filepath.Join(t.TempDir(), "empty.npz")
	w, err := Create(out, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	t.Log(judge(t, out, nil, 1, nil))
	goRead(t, out, nil, 1)
}

// TestReplace: an existing output stays whole until Commit replaces it
// atomically; with Options.Replace it is removed before the reservation
// and Replaced reports its size.
func TestReplace(t *testing.T) {
	members := []Member{{Name: "a", DType: dtype.MustParse("<i4"), Shape: dtype.Shape{5}}}
	for _, replace := range []bool{false, true} {
		out := filepath.Join(t.TempDir(), "x.npz")
		if err := os.WriteFile(out, []byte("old output"), 0o644); err != nil {
			t.Fatal(err)
		}
		w, err := Create(out, members, Options{Replace: replace})
		if err != nil {
			t.Fatal(err)
		}
		_, statErr := os.Stat(out)
		if size, ok := w.Replaced(); ok != replace || (replace && size != 10) || replace == (statErr == nil) {
			t.Fatalf("replace=%v: Replaced() = %d, %v; old output there: %v", replace, size, ok, statErr == nil)
		}
		if err := w.Entry(0).WriteAt(memberBytes(0, members[0]), 0); err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		goRead(t, out, members, 1)
	}
}
