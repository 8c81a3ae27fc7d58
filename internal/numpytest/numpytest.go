// Package numpytest runs the real NumPy from tests. NumPy is our judge of
// output: tests hand it scripts and compare its answers with ours.
//
// Python resolves to /usr/bin/python3 (Debian's python3-numpy), not the
// python3 first on PATH. A test that needs NumPy fails when it is missing
// and CI=true is set, and skips otherwise (a developer's laptop).
package numpytest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// Python is the interpreter that sees Debian's python3-numpy.
const Python = "/usr/bin/python3"

// InCI reports whether the tests run in CI (CI=true), where nothing that
// CI installs may be skipped.
func InCI() bool { return os.Getenv("CI") != "" && os.Getenv("CI") != "false" }

// Require fails the test in CI, or skips it elsewhere, when NumPy cannot
// be imported by Python.
func Require(t testing.TB) {
	t.Helper()
	out, err := exec.Command(Python, "-c", "import numpy; print(numpy.__version__)").CombinedOutput()
	if err == nil {
		return
	}
	msg := "numpy is not importable by " + Python + " (apt-get install python3-numpy): " + string(bytes.TrimSpace(out))
	if InCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// RequireONNX is Require for Debian's python3-onnx (onnx and its
// numpy_helper, the judge of the ONNX reader): it fails in CI, skips
// elsewhere, when `import onnx` fails.
func RequireONNX(t testing.TB) {
	t.Helper()
	Require(t)
	out, err := exec.Command(Python, "-c", "import onnx, onnx.numpy_helper; print(onnx.__version__)").CombinedOutput()
	if err == nil {
		return
	}
	msg := "onnx is not importable by " + Python + " (apt-get install python3-onnx): " + string(bytes.TrimSpace(out))
	if InCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// RequireTorch fails the test in CI, or skips it elsewhere, when torch
// (Debian's python3-torch) cannot be imported by Python.
func RequireTorch(t testing.TB) {
	t.Helper()
	Require(t)
	out, err := exec.Command(Python, "-c", "import torch; print(torch.__version__)").CombinedOutput()
	if err == nil {
		return
	}
	msg := "torch is not importable by " + Python + " (apt-get install python3-torch): " + string(bytes.TrimSpace(out))
	if InCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Run runs a Python script with NumPy and returns its standard output. The
// script's arguments follow it; a non-zero exit fails the test.
func Run(t testing.TB, script string, args ...string) []byte {
	t.Helper()
	Require(t)
	cmd := exec.Command(Python, append([]string{"-c", script}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python failed: %v\n%s", err, stderr.String())
	}
	return out
}

// SharedDir returns ../shared/testdata/real relative to the repository
// root. When it does not exist the test fails in CI and skips elsewhere.
func SharedDir(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	dir := filepath.Join(root, "..", "shared", "testdata", "real")
	if _, err := os.Stat(dir); err != nil {
		if InCI() {
			t.Fatalf("shared test data missing in CI: %v", err)
		}
		t.Skipf("shared test data not present: %v", err)
	}
	return dir
}
