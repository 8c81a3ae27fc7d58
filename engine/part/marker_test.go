package part

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMarkers(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "o.npy")
	st, ms, err := Status(out, "id1", 3)
	if err != nil || st.Complete() || len(ms) != 0 || len(st.Missing) != 3 {
		t.Fatalf("empty: %+v %v %v", st, ms, err)
	}
	for _, i := range []int{2, 0} {
		if err := WriteMarker(out, Marker{Identity: "id1", Index: i, Count: 3, Bytes: int64(i), Extra: json.RawMessage(`{"crc":1}`)}); err != nil {
			t.Fatal(err)
		}
	}
	st, ms, err = Status(out, "id1", 3)
	if err != nil || st.Complete() || len(ms) != 2 || ms[0].Index != 0 || ms[1].Index != 2 || len(st.Missing) != 1 || st.Missing[0] != 1 {
		t.Fatalf("two done: %+v %+v %v", st, ms, err)
	}
	var extra struct{ CRC int }
	if json.Unmarshal(ms[1].Extra, &extra) != nil || extra.CRC != 1 || ms[1].Bytes != 2 || ms[1].PID != os.Getpid() {
		t.Fatalf("marker read back as %+v", ms[1])
	}
	if err := WriteMarker(out, Marker{Identity: "id1", Index: 1, Count: 3}); err != nil {
		t.Fatal(err)
	}
	if st, _, err = Status(out, "id1", 3); err != nil || !st.Complete() {
		t.Fatalf("all done: %+v %v", st, err)
	}
	// another identity or count is refused, naming the difference
	if _, _, err := Status(out, "id2", 3); !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), `"id1" there, "id2" here`) {
		t.Fatalf("identity: %v", err)
	}
	if _, _, err := Status(out, "id1", 4); !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "run with 3 parts, this run has 4") {
		t.Fatalf("count: %v", err)
	}
	// markers of another output in the same directory are not read
	if err := WriteMarker(filepath.Join(dir, "o.npy2"), Marker{Identity: "x", Index: 0, Count: 9}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Status(out, "id1", 3); err != nil {
		t.Fatalf("other output's marker read: %v", err)
	}
	// a marker whose contents do not match its name is refused
	bad := MarkerPath(out, Spec{1, 3})
	b, _ := os.ReadFile(MarkerPath(out, Spec{0, 3}))
	os.WriteFile(bad, b, 0o644)
	if _, err := ReadMarkers(out); err == nil || !strings.Contains(err.Error(), "says part 0/3") {
		t.Fatalf("renamed marker: %v", err)
	}
	if err := Clean(out); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || !strings.HasPrefix(ents[0].Name(), ".o.npy2") {
		t.Fatalf("Clean left %v", ents)
	}
}

func TestLock(t *testing.T) {
	out := filepath.Join(t.TempDir(), "o.npy")
	unlock, err := Lock(out, Spec{1, 4})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(out, Spec{1, 4}); !errors.Is(err, ErrTaken) {
		t.Fatalf("second lock of one part: %v", err)
	}
	other, err := Lock(out, Spec{2, 4})
	if err != nil {
		t.Fatalf("lock of another part: %v", err)
	}
	other()
	unlock()
	again, err := Lock(out, Spec{1, 4})
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	again()
}

func TestLook(t *testing.T) {
	out := filepath.Join(t.TempDir(), "o.npy")
	if rep, err := Look(out); err != nil || rep.Count != 0 {
		t.Fatalf("nothing: %+v %v", rep, err)
	}
	if err := WriteMarker(out, Marker{Identity: "x", Index: 0, Count: 3}); err != nil {
		t.Fatal(err)
	}
	unlock, err := Lock(out, Spec{2, 3})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Look(out)
	if err != nil || rep.Count != 3 || len(rep.Done) != 1 || fmt.Sprint(rep.Running) != "[2]" || fmt.Sprint(rep.Missing) != "[1]" {
		t.Fatalf("one done, one running: %+v %v", rep, err)
	}
	unlock()
	rep, _ = Look(out)
	if fmt.Sprint(rep.Missing) != "[1 2]" || len(rep.Running) != 0 {
		t.Fatalf("after unlock: %+v", rep)
	}
}

func TestDiffFields(t *testing.T) {
	got := diffFields("input=ab to=<f4 shape=[3 4] parts=4", "input=ab to=<f2 shape=[3 4] parts=4 verify=true")
	if got != "to <f4 there, <f2 here; verify (none) there, true here" {
		t.Fatal(got)
	}
}
