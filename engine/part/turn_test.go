package part

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// turnIn starts Turn(ctx, out) in a goroutine and returns where its
// result arrives.
type turnResult struct {
	end    func()
	waited time.Duration
	err    error
}

func turnIn(ctx context.Context, out string) chan turnResult {
	c := make(chan turnResult, 1)
	go func() {
		end, waited, err := Turn(ctx, out)
		c <- turnResult{end, waited, err}
	}()
	return c
}

func noLockFiles(t *testing.T, dir string) {
	t.Helper()
	// an abandoned waiter gives its lock up a moment after Turn returned
	deadline := time.Now().Add(5 * time.Second)
	for {
		es, _ := os.ReadDir(dir)
		if len(es) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("left in the temp dir: %v", es[0].Name())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTurn: a second part of the same output waits for the first's turn
// to end; a part of another output does not; nothing is left behind.
func TestTurn(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "out.npy")

	end1, waited, err := Turn(ctx, out)
	if err != nil || waited > time.Second {
		t.Fatalf("first turn: waited %v, %v", waited, err)
	}
	second := turnIn(ctx, out)
	select {
	case r := <-second:
		t.Fatalf("second part of the same output got a turn while the first held it (waited %v, %v)", r.waited, r.err)
	case <-time.After(200 * time.Millisecond):
	}
	other, _, err := Turn(ctx, filepath.Join(filepath.Dir(out), "other.npy"))
	if err != nil {
		t.Fatal(err)
	}
	other()

	end1()
	var r turnResult
	select {
	case r = <-second:
	case <-time.After(10 * time.Second):
		t.Fatal("the second part did not get its turn when the first ended")
	}
	if r.err != nil || r.waited < 50*time.Millisecond { // it waited 200 ms less its start-up
		t.Fatalf("second turn: waited %v, %v", r.waited, r.err)
	}
	third := turnIn(ctx, out)
	select {
	case r3 := <-third:
		t.Fatalf("third part got a turn while the second held it (%v)", r3.err)
	case <-time.After(100 * time.Millisecond):
	}
	r.end()
	r3 := <-third
	if r3.err != nil {
		t.Fatal(r3.err)
	}
	r3.end()
	noLockFiles(t, tmp)
}

// TestTurnCancel: a part waiting for its turn returns when its context
// ends, and leaves the lock free for the next.
func TestTurnCancel(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	out := filepath.Join(t.TempDir(), "out.npy")
	end1, _, err := Turn(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	waiting := turnIn(ctx, out)
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case r := <-waiting:
		if !errors.Is(r.err, context.Canceled) || r.end != nil {
			t.Fatalf("cancelled wait: %v", r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled wait for a turn did not return")
	}
	end1()
	next := turnIn(context.Background(), out)
	select {
	case r := <-next:
		if r.err != nil {
			t.Fatal(r.err)
		}
		r.end()
	case <-time.After(10 * time.Second):
		t.Fatal("the turn stayed taken after the cancelled waiter left")
	}
	noLockFiles(t, tmp)
}

// TestTurnWaitsAtMost: a part whose turn does not come within
// MaxTurnWait (its holder is stopped) converts without one.
func TestTurnWaitsAtMost(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	defer func(d time.Duration) { MaxTurnWait = d }(MaxTurnWait)
	MaxTurnWait = 100 * time.Millisecond
	out := filepath.Join(t.TempDir(), "out.npy")
	end1, _, err := Turn(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-turnIn(context.Background(), out):
		if r.err != nil || r.end == nil || r.waited < 100*time.Millisecond {
			t.Fatalf("waited %v, %v", r.waited, r.err)
		}
		r.end()
	case <-time.After(10 * time.Second):
		t.Fatal("a part waited past MaxTurnWait")
	}
	end1()
	noLockFiles(t, tmp)
}

// TestTurnOtherUsersFile: a lock file of that name owned by someone
// else (root can make one) is not used.
func TestTurnOtherUsersFile(t *testing.T) {
	if os.Getuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("needs root to make a file another user owns; .ci/run runs as root (apt-get)")
		}
		t.Skip("needs root to make a file another user owns")
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	out := filepath.Join(t.TempDir(), "out.npy")
	// root's parts look for root's name; make it belong to uid 12345
	path := turnPath(out)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, 12345, 12345); err != nil {
		t.Fatal(err)
	}
	held, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := unix.Flock(int(held.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	end, waited, err := Turn(context.Background(), out)
	if err != nil || waited > time.Second {
		t.Fatalf("waited %v on another user's lock file, %v", waited, err)
	}
	end()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("another user's file was removed: %v", err)
	}
}

// TestTurnWithoutLockFile: where the lock file cannot be made, a part
// converts without waiting (turns are an optimisation).
func TestTurnWithoutLockFile(t *testing.T) {
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing"))
	out := filepath.Join(t.TempDir(), "out.npy")
	for range 2 {
		end, waited, err := Turn(context.Background(), out)
		if err != nil || waited > time.Second {
			t.Fatalf("waited %v, %v", waited, err)
		}
		defer end()
	}
}

// TestTurnPathByCPUs: parts pinned to different CPUs (Slurm tasks with
// their own cpusets) take no turns with each other; other outputs do not
// share a lock either.
func TestTurnPathByCPUs(t *testing.T) {
	if a, b := turnPath("x/out.npy"), turnPath("x/other.npy"); a == b {
		t.Fatal("two outputs share a turn lock")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		t.Fatal(err)
	}
	if all.Count() < 2 {
		if os.Getenv("CI") != "" {
			t.Fatal("this test needs 2 CPUs; CI's machines have them")
		}
		t.Skip("needs 2 CPUs")
	}
	defer unix.SchedSetaffinity(0, &all)
	paths := map[string]bool{turnPath("out.npy"): true}
	for cpu, n := 0, 0; n < 2; cpu++ {
		if !all.IsSet(cpu) {
			continue
		}
		n++
		var one unix.CPUSet
		one.Set(cpu)
		if err := unix.SchedSetaffinity(0, &one); err != nil {
			t.Fatal(err)
		}
		paths[turnPath("out.npy")] = true
	}
	if len(paths) != 3 {
		t.Fatalf("CPU sets all, {0}, {1} gave %d lock paths, want 3", len(paths))
	}
}
