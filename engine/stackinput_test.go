package engine

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/format/npy/npyhdr"
)

// TestInputsIdentity: the identity of many inputs, read on several
// goroutines, is that of the inputs one after another, in their order:
// it changes when two inputs swap or one input's header changes, and is
// the same again for the same files.
func TestInputsIdentity(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for i := range 40 {
		hdr, err := npyhdr.Encode(dtype.MustParse("<f4"), dtype.Shape{int64(1 + i%3), 4}, false)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, fmt.Sprintf("x%02d.npy", i))
		if err := os.WriteFile(p, append(hdr, make([]byte, 16*(1+i%3))...), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	open := func(paths []string) []*format.Input {
		var ins []*format.Input
		for _, p := range paths {
			in, err := format.OpenPath(p, format.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { in.Close() })
			ins = append(ins, in)
		}
		return ins
	}
	oneByOne := func(ins []*format.Input) string {
		var parts []string
		for _, in := range ins {
			parts = append(parts, in.Identity())
		}
		return strings.Join(parts, "; ")
	}
	ins := open(paths)
	got := InputsIdentity(ins)
	sum := sha256.Sum256([]byte(oneByOne(ins)))
	if want := fmt.Sprintf("40 inputs, sha256 of their names, sizes, times and headers %x", sum[:12]); got != want {
		t.Fatalf("identity of 40 inputs:\n%s\nwant\n%s", got, want)
	}
	for range 5 {
		if again := InputsIdentity(open(paths)); again != got {
			t.Fatalf("the same files again: %s, was %s", again, got)
		}
	}
	if few := InputsIdentity(ins[:3]); few != oneByOne(ins[:3]) || !strings.Contains(few, "x02.npy size=") {
		t.Fatalf("identity of 3 inputs: %q, want each input's in order", few)
	}
	swapped := append([]string(nil), paths...)
	swapped[7], swapped[30] = swapped[30], swapped[7]
	if InputsIdentity(open(swapped)) == got {
		t.Fatal("two inputs swapped: same identity")
	}
	// the same size and shape, another header byte (a padding space made a newline's neighbour)
	b, err := os.ReadFile(paths[21])
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(paths[21])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-16*(1+21%3)-2] = '\t'
	if err := os.WriteFile(paths[21], b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(paths[21], info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
	if InputsIdentity(open(paths)) == got {
		t.Fatal("one input's header changed (same size and time): same identity")
	}
}
