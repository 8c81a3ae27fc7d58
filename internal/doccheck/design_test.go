// Package doccheck holds tests that keep docs/ in step with the code.
package doccheck

import (
	"os"
	"os/exec"
	"path"
	"regexp"
	"strings"
	"testing"
)

// TestDesignDiagramNamesEveryPackage checks that the package diagram at
// the top of docs/design.md names every package of the module, by its
// path or, inside a group such as "format/npy  npz  onnx", by its last
// element, so that a new package cannot leave the diagram behind.
func TestDesignDiagramNamesEveryPackage(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	doc, err := os.ReadFile("../../docs/design.md")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.SplitN(string(doc), "```", 3)
	if len(parts) < 3 {
		t.Fatal("docs/design.md: no diagram block")
	}
	diagram := parts[1]
	cmd := exec.Command("go", "list", "./...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const module = "github.com/bigconv/bigconv"
	n := 0
	for _, p := range strings.Fields(string(out)) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p, module), "/")
		if rel == "" {
			continue
		}
		n++
		word := regexp.MustCompile(`(^|[^\w/])` + regexp.QuoteMeta(path.Base(rel)) + `($|[^\w/])`)
		if !strings.Contains(diagram, rel) && !word.MatchString(diagram) {
			t.Errorf("docs/design.md's diagram does not name package %s", rel)
		}
	}
	if n < 10 {
		t.Fatalf("go list found %d packages", n)
	}
}
