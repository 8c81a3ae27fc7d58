package mmapnpz

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format/npz"
)

// FuzzCreate lays out archives from fuzzed member lists (names split
// from a string at '|', dtypes and shapes from bytes), writes each
// member's pattern and commits; archive/zip must read the same names,
// sizes and CRCs (it checks them reading each member whole) and our npz
// reader the same arrays. Lists Create refuses must leave no file.
func FuzzCreate(f *testing.F) {
	f.Add("a|b/c|тензор", []byte{11, 2, 3, 4, 1, 0, 5, 9, 2, 7})
	f.Add("", []byte{1})
	f.Add("x|x", []byte{3, 1, 4})
	f.Add("a.npy|/abs|../up|", []byte{12, 0, 14, 3, 2, 1, 18, 5})
	types := dtype.Types()
	f.Fuzz(func(t *testing.T, names string, spec []byte) {
		if len(names) > 2000 || len(spec) > 64 {
			return
		}
		var members []Member
		for i, name := range strings.Split(names, "|") {
			if 2*i+1 >= len(spec) {
				break
			}
			b := spec[2*i]
			dt := dtype.Of(types[int(b&31)%len(types)])
			if dt.Type == dtype.Bytes {
				dt = dtype.BytesOf(int(b>>5) + 1)
			}
			dt.BigEndian = b&32 != 0 && dt.Type.Size() > 1
			shape := dtype.Shape{}
			for d := spec[2*i+1]; d != 0 && len(shape) < 3; d >>= 3 {
				shape = append(shape, int64(d&7))
			}
			members = append(members, Member{Name: name, DType: dt, Shape: shape})
		}
		dir := t.TempDir()
		out := filepath.Join(dir, "f.npz")
		w, err := Create(out, members, Options{ModTime: time.Date(2020, 1, 2, 3, 4, 6, 0, time.UTC)})
		if err != nil {
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Fatalf("refused (%v) but left %v", err, ents)
			}
			return
		}
		for i, m := range members {
			if err := w.Entry(i).WriteAt(memberBytes(i, m), 0); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		zr, err := zip.OpenReader(out)
		if err != nil && err != zip.ErrInsecurePath {
			t.Fatal(err)
		}
		defer zr.Close()
		if len(zr.File) != len(members) {
			t.Fatalf("%d members read, %d written", len(zr.File), len(members))
		}
		for i, zf := range zr.File {
			m := &w.lay.members[i]
			if zf.Name != m.Name+".npy" || int64(zf.UncompressedSize64) != m.size() || zf.Modified.Year() != 2020 {
				t.Fatalf("member %d: %q %d %v, want %q %d", i, zf.Name, zf.UncompressedSize64, zf.Modified, m.Name+".npy", m.size())
			}
			rc, err := zf.Open()
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if _, err := buf.ReadFrom(rc); err != nil {
				t.Fatalf("member %q: %v", zf.Name, err) // a CRC mismatch shows here
			}
			rc.Close()
			if !bytes.Equal(buf.Bytes()[len(m.hdr):], memberBytes(i, members[i])) {
				t.Fatalf("member %q: data differ", zf.Name)
			}
		}
		fh, _ := os.Open(out)
		defer fh.Close()
		st, _ := fh.Stat()
		a, err := npz.Open(fh, st.Size(), out)
		if err != nil {
			// our reader refuses members it cannot describe, e.g. "dir/" + ".npy"
			// names are fine; two names equal after trimming ".npy" are not
			t.Logf("npz reader: %v", err)
			return
		}
		for i, tt := range a.Tensors {
			if tt.Unsupported == "" && (!tt.Shape.Equal(members[i].Shape) || !tt.DType.Equal(members[i].DType)) {
				t.Fatalf("npz reader: %s, want %v %v", tt.Describe(), members[i].DType, members[i].Shape)
			}
		}
	})
}
