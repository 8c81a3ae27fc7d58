package main

import (
	"archive/zip"
	"bytes"
	"io"
	"path/filepath"
	"testing"
)

// TestWritePTAligned: as torch's writer does, writePT starts every
// member's data at a multiple of 64 bytes, with an "FB" extra field of
// 'Z' padding, and the members read back.
func TestWritePTAligned(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.pt")
	pat := bytes.Repeat([]byte{1, 2, 3}, 1000)
	if err := writePT(path, 3, 5, pat); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		off, err := f.DataOffset()
		if err != nil {
			t.Fatal(err)
		}
		if off%ptAlign != 0 || f.Method != zip.Store || !bytes.HasPrefix(f.Extra, []byte("FB")) {
			t.Errorf("%s: data at %d, method %d, extra %q", f.Name, off, f.Method, f.Extra)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc) // checks the CRC-32
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		if f.Name == "archive/data/0" && !bytes.Equal(b, pat[:3*5*2]) {
			t.Errorf("storage: % x", b)
		}
	}
	if len(names) != 3 || names[0] != "archive/data.pkl" || names[1] != "archive/data/0" || names[2] != "archive/version" {
		t.Fatalf("members %q", names)
	}
}
