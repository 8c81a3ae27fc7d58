package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// measure is one timed run of one tool.
type measure struct {
	Wall    float64 // seconds, start to exit (whole process)
	Inner   float64 // seconds the Python peer reports after imports (0 if none)
	MaxRSS  int64   // KiB, wait4 ru_maxrss (largest process of the tree)
	MaxAnon int64   // KiB, largest RssAnon seen by sampling /proc every 20 ms
}

// sampleEvery is the /proc/PID/status sampling period.
const sampleEvery = 20 * time.Millisecond

// timeBin reports a child's peak RSS (GNU time's %M, from wait4 of the
// child it forked). Taking ru_maxrss from our own wait4 would not do: Go
// starts children with vfork, and exec records the parent's (this
// harness's) RSS high-water mark as the child's starting maxrss.
const timeBin = "/usr/bin/time"

// runCmd runs argv to completion under /usr/bin/time, timing it and
// sampling the private memory of the process tree under time. With keep,
// stdout is returned (the Python peers print their inner time there);
// otherwise it goes to /dev/null.
func runCmd(argv []string, keep bool) (measure, []byte, error) {
	var m measure
	rssFile, err := os.CreateTemp("", "bench-rss-")
	if err != nil {
		return m, nil, err
	}
	rssFile.Close()
	defer os.Remove(rssFile.Name())
	cmd := exec.Command(timeBin, append([]string{"-f", "%M", "-o", rssFile.Name(), "--"}, argv...)...)
	var out, errb bytes.Buffer
	cmd.Stderr = &errb
	if keep {
		cmd.Stdout = &out
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return m, nil, err
	}
	done := make(chan struct{})
	anon := make(chan int64, 1)
	go func() {
		var peak int64
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		for {
			if v := treeAnon(cmd.Process.Pid); v > peak {
				peak = v
			}
			select {
			case <-done:
				anon <- peak
				return
			case <-t.C:
			}
		}
	}()
	err = cmd.Wait()
	m.Wall = time.Since(start).Seconds()
	close(done)
	m.MaxAnon = <-anon
	if b, rerr := os.ReadFile(rssFile.Name()); rerr == nil {
		f := strings.Fields(string(b))
		if len(f) > 0 {
			m.MaxRSS, _ = strconv.ParseInt(f[len(f)-1], 10, 64)
		}
	}
	if err != nil {
		return m, out.Bytes(), &cmdError{argv: argv, err: err, stderr: lastLine(errb.String())}
	}
	return m, out.Bytes(), nil
}

// cmdError is a command that failed: its argv, how it ended and the last
// line it wrote to stderr.
type cmdError struct {
	argv   []string
	err    error
	stderr string
}

func (e *cmdError) Error() string {
	return fmt.Sprintf("%s: %v: %s", strings.Join(e.argv, " "), e.err, e.stderr)
}

func (e *cmdError) Unwrap() error { return e.err }

// peerFailure describes how a run measured as m failed with err: its
// exit status, or the signal that killed it (GNU time exits 128+N for a
// child killed by signal N; 9 is what the kernel's out-of-memory killer
// sends), how long it ran, and the last line of its stderr.
func peerFailure(m measure, err error) string {
	how := "failed"
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		switch code := ee.ExitCode(); {
		case code == 128+9:
			how = "killed by signal 9 (out of memory?)"
		case code > 128:
			how = fmt.Sprintf("killed by signal %d", code-128)
		default:
			how = fmt.Sprintf("exit status %d", code)
		}
	}
	s := fmt.Sprintf("%s after %.1f s", how, m.Wall)
	var ce *cmdError
	if errors.As(err, &ce) && ce.stderr != "" && !strings.HasPrefix(ce.stderr, "Command terminated by signal") {
		s += ": " + ce.stderr
	}
	return s
}

// treeAnon sums RssAnon (KiB) over the descendants of pid (not pid itself,
// which is /usr/bin/time).
func treeAnon(pid int) int64 {
	var sum int64
	for _, c := range children(pid) {
		sum += rssAnon(fmt.Sprintf("/proc/%d/status", c)) + treeAnon(c)
	}
	return sum
}

// children lists the child processes of pid (all its threads' children).
func children(pid int) []int {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var kids []int
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				kids = append(kids, n)
			}
		}
	}
	return kids
}

// rssAnon reads RssAnon (KiB) from a /proc/PID/status file; 0 if gone.
func rssAnon(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "RssAnon:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
