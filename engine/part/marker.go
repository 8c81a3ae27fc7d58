package part

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Marker errors.
var (
	// ErrMismatch: another part of the same output was started with a
	// different input, flags or part count.
	ErrMismatch = errors.New("part: parts disagree")
	// ErrTaken: another process is running the same part right now.
	ErrTaken = errors.New("part: part is running elsewhere")
)

const markerVersion = 1

// Marker records that one part of an output is durably written. It sits
// beside the partial output as ".OUTPUT.bigconv-part-I-of-N", replaced
// atomically, and is removed when the output is committed.
type Marker struct {
	Version int    `json:"version"`
	Output  string `json:"output"`
	// Identity is the conversion's identity (input files, flags, part
	// count) as the caller computes it: parts refuse to mix when it
	// differs.
	Identity string `json:"identity"`
	Index    int    `json:"index"`
	Count    int    `json:"count"`
	// Bytes is how much of the output this part wrote.
	Bytes int64 `json:"bytes"`
	// Extra carries what the committer needs from each part (cast loss
	// counts, checksums of the ranges written), opaque to this package.
	Extra json.RawMessage `json:"extra,omitempty"`
	Host  string          `json:"host"`
	PID   int             `json:"pid"`
	Done  time.Time       `json:"done"`
}

const markerInfix = ".bigconv-part-"

// MarkerPath is where part sp of out records itself done.
func MarkerPath(out string, sp Spec) string {
	return filepath.Join(filepath.Dir(out), fmt.Sprintf(".%s%s%d-of-%d", filepath.Base(out), markerInfix, sp.Index, sp.Count))
}

// lockPath is the lock a running part holds (see Lock).
func lockPath(out string, sp Spec) string { return MarkerPath(out, sp) + ".lock" }

// maxMarker caps the size of a marker read back.
const maxMarker = 4 << 20

// WriteMarker records part m.Index of m.Count done, durably.
func WriteMarker(out string, m Marker) error {
	m.Version = markerVersion
	m.Output = filepath.Base(out)
	m.Host, _ = os.Hostname()
	m.PID = os.Getpid()
	m.Done = time.Now().UTC().Truncate(time.Second)
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	path := MarkerPath(out, Spec{m.Index, m.Count})
	// a per-process temporary name: two processes of one part (a retry
	// racing a straggler) never write into each other's file.
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	if err := writeSync(tmp, append(b, '\n')); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("part: marker %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("part: marker %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

func writeSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("part: fsync %s: %w", dir, err)
	}
	return nil
}

// ReadMarkers returns every part marker of out, in index order, whatever
// its count (so that a mix of counts is seen and refused).
func ReadMarkers(out string) ([]Marker, error) {
	dir := filepath.Dir(out)
	prefix := "." + filepath.Base(out) + markerInfix
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("part: %w", err)
	}
	var ms []Marker
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || strings.HasSuffix(name, ".tmp") || strings.HasSuffix(name, ".lock") || strings.HasSuffix(name, ".journal") {
			continue
		}
		m, err := readMarker(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue // removed since listed: the output was just committed
		}
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b Marker) int { return a.Index - b.Index })
	return ms, nil
}

func readMarker(path string) (Marker, error) {
	var m Marker
	f, err := os.Open(path)
	if err != nil {
		return m, fmt.Errorf("part: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxMarker+1))
	if err != nil {
		return m, fmt.Errorf("part: read %s: %w", path, err)
	}
	if len(b) > maxMarker {
		return m, fmt.Errorf("part: marker %s is larger than %d bytes", path, maxMarker)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("part: marker %s is unreadable: %v", path, err)
	}
	if m.Version != markerVersion {
		return m, fmt.Errorf("part: marker %s has version %d, this bigconv writes %d", path, m.Version, markerVersion)
	}
	sp := Spec{m.Index, m.Count}
	if sp.check() != nil || path != MarkerPath(filepath.Join(filepath.Dir(path), m.Output), sp) {
		return m, fmt.Errorf("part: marker %s says part %d/%d", path, m.Index, m.Count)
	}
	return m, nil
}

// State is what the markers of an output say about its parts.
type State struct {
	Count   int
	Done    []int // indices with a marker
	Missing []int // indices without one (running, failed or not started)
}

// Complete reports whether every part is done.
func (s State) Complete() bool { return s.Count > 0 && len(s.Missing) == 0 }

// Status reads the markers of out for a conversion with this identity
// and count. A marker of another identity or count is ErrMismatch,
// naming the part that wrote it and what differs.
func Status(out, identity string, count int) (State, []Marker, error) {
	ms, err := ReadMarkers(out)
	if err != nil {
		return State{}, nil, err
	}
	st := State{Count: count}
	have := make(map[int]bool, len(ms))
	for _, m := range ms {
		switch {
		case m.Count != count:
			return st, ms, fmt.Errorf("%w: part %d/%d (host %s, pid %d) of %s was run with %d parts, this run has %d: rerun every part with the same count, or remove the leftovers with --restart",
				ErrMismatch, m.Index, m.Count, m.Host, m.PID, out, m.Count, count)
		case m.Identity != identity:
			return st, ms, fmt.Errorf("%w: part %d/%d (host %s, pid %d) of %s was run with other input or flags: %s; rerun it with the same command, or remove the leftovers with 'bigconv status --clean'",
				ErrMismatch, m.Index, m.Count, m.Host, m.PID, out, diffFields(m.Identity, identity))
		}
		have[m.Index] = true
	}
	for i := range count {
		if have[i] {
			st.Done = append(st.Done, i)
		} else {
			st.Missing = append(st.Missing, i)
		}
	}
	return st, ms, nil
}

// diffFields lists the "key=value" fields of two identities that differ,
// as "key: theirs ≠ ours".
func diffFields(theirs, ours string) string {
	if !strings.Contains(theirs, "=") || !strings.Contains(ours, "=") {
		return fmt.Sprintf("%q there, %q here", theirs, ours)
	}
	parse := func(s string) ([]string, map[string]string) {
		var keys []string
		m := map[string]string{}
		for _, f := range strings.Fields(s) {
			k, v, _ := strings.Cut(f, "=")
			if _, ok := m[k]; !ok {
				keys = append(keys, k)
			}
			m[k] = v
		}
		return keys, m
	}
	tk, tm := parse(theirs)
	ok, om := parse(ours)
	var diffs []string
	for _, k := range append(tk, ok...) {
		tv, tin := tm[k]
		ov, oin := om[k]
		if tv == ov && tin == oin || slices.Contains(diffs, k) {
			continue
		}
		diffs = append(diffs, k)
	}
	for i, k := range diffs {
		diffs[i] = fmt.Sprintf("%s %s there, %s here", k, orNone(tm, k), orNone(om, k))
	}
	if len(diffs) == 0 {
		return fmt.Sprintf("%q there, %q here", theirs, ours)
	}
	return strings.Join(diffs, "; ")
}

func orNone(m map[string]string, k string) string {
	if v, ok := m[k]; ok {
		return v
	}
	return "(none)"
}

// Lock takes part sp of out for this process: a second process running
// the same part at once gets ErrTaken. The lock is an flock on a small
// file beside the output (flock reaches NFS servers as a POSIX lock on
// Linux); unlock releases it. The file stays until Clean: removing a
// lock file that another process has open lets two processes hold
// "the" lock on two inodes.
func Lock(out string, sp Spec) (unlock func(), err error) {
	path := lockPath(out, sp)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("part: lock %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: part %s of %s is being run by another process (lock %s)", ErrTaken, sp, out, path)
		}
		return nil, fmt.Errorf("part: lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// LockCommit takes the commit of out for this process: of two parts
// that finish at once and both find every part done, the second gets
// ErrTaken and leaves the commit to the first.
func LockCommit(out string) (unlock func(), err error) {
	path := commitLockPath(out)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("part: lock %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: the commit of %s is being done by another part", ErrTaken, out)
		}
		return nil, fmt.Errorf("part: lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

func commitLockPath(out string) string {
	return filepath.Join(filepath.Dir(out), "."+filepath.Base(out)+markerInfix+"commit.lock")
}

// RemoveCommitLock removes the commit lock file of out: for a part that
// took the lock after another part had committed and cleaned up, and so
// made the file again.
func RemoveCommitLock(out string) error {
	if err := os.Remove(commitLockPath(out)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("part: %w", err)
	}
	return nil
}

// Clean removes every marker (and stale lock and temporary file) of out:
// after a commit, or to start over.
func Clean(out string) error {
	dir := filepath.Dir(out)
	prefix := "." + filepath.Base(out) + markerInfix
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("part: %w", err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("part: %w", err)
			}
		}
	}
	return nil
}

// Report is what can be seen of an output's parts without knowing the
// conversion: used by `bigconv status`.
type Report struct {
	Count   int      // from the markers and locks (0: no part seen)
	Done    []Marker // parts recorded done
	Running []int    // parts whose lock a process holds now
	Missing []int    // neither done nor running
}

// Look reads the markers and locks of out. Parts of several counts at
// once are reported as an error.
func Look(out string) (Report, error) {
	var rep Report
	ms, err := ReadMarkers(out)
	if err != nil {
		return rep, err
	}
	rep.Done = ms
	for _, m := range ms {
		if rep.Count != 0 && m.Count != rep.Count {
			return rep, fmt.Errorf("%w: markers of %s say %d and %d parts", ErrMismatch, out, rep.Count, m.Count)
		}
		rep.Count = m.Count
	}
	dir := filepath.Dir(out)
	prefix := "." + filepath.Base(out) + markerInfix
	ents, err := os.ReadDir(dir)
	if err != nil {
		return rep, fmt.Errorf("part: %w", err)
	}
	running := map[int]bool{}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, ".lock") {
			continue
		}
		var sp Spec
		if _, err := fmt.Sscanf(strings.TrimSuffix(strings.TrimPrefix(name, prefix), ".lock"), "%d-of-%d", &sp.Index, &sp.Count); err != nil || sp.check() != nil {
			continue
		}
		if rep.Count == 0 {
			rep.Count = sp.Count
		}
		if sp.Count == rep.Count && held(filepath.Join(dir, name)) {
			running[sp.Index] = true
		}
	}
	done := map[int]bool{}
	for _, m := range ms {
		done[m.Index] = true
	}
	for i := range rep.Count {
		switch {
		case done[i]:
		case running[i]:
			rep.Running = append(rep.Running, i)
		default:
			rep.Missing = append(rep.Missing, i)
		}
	}
	return rep, nil
}

// held reports whether a process holds the lock file at path.
func held(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return errors.Is(err, unix.EWOULDBLOCK)
	}
	unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return false
}
