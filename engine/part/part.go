// Package part splits one conversion into N parts that N processes run
// with the same command line — Slurm array tasks or Kubernetes Indexed
// Job pods on a shared file system — with no coordinator.
//
// The split is a pure function of the output files' sizes and N, so every
// process computes the same one. Boundaries inside a file fall on page
// boundaries (Page bytes), so no two processes ever write the same page:
// NFS clients write whole pages, and two hosts writing different bytes of
// one page would each overwrite the other's.
//
//	spec, _ := part.Parse("3/8")
//	ranges := part.Split([]int64{hdr + data}, spec.Count, part.Page)[spec.Index]
package part

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Page is the granularity of part boundaries in an output file.
const Page = 4096

// ErrSpec: a part index or count that cannot be used.
var ErrSpec = errors.New("part: bad part")

// Spec is part Index (0-based) of Count.
type Spec struct {
	Index, Count int
}

func (s Spec) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// MaxCount caps the number of parts.
const MaxCount = 1 << 20

func (s Spec) check() error {
	if s.Count < 1 || s.Count > MaxCount {
		return fmt.Errorf("%w: count %d (want 1 to %d)", ErrSpec, s.Count, MaxCount)
	}
	if s.Index < 0 || s.Index >= s.Count {
		return fmt.Errorf("%w: index %d is not in 0..%d", ErrSpec, s.Index, s.Count-1)
	}
	return nil
}

// Parse reads "I/N".
func Parse(s string) (Spec, error) {
	i, n, ok := strings.Cut(s, "/")
	if !ok {
		return Spec{}, fmt.Errorf("%w: %q: want INDEX/COUNT, e.g. 0/4", ErrSpec, s)
	}
	var sp Spec
	var err1, err2 error
	sp.Index, err1 = strconv.Atoi(strings.TrimSpace(i))
	sp.Count, err2 = strconv.Atoi(strings.TrimSpace(n))
	if err1 != nil || err2 != nil {
		return Spec{}, fmt.Errorf("%w: %q: want INDEX/COUNT, e.g. 0/4", ErrSpec, s)
	}
	return sp, sp.check()
}

// FromEnv reads the part from a scheduler's environment: a Slurm job
// array (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_MIN,
// SLURM_ARRAY_TASK_COUNT: index = ID − MIN, count = COUNT) or a
// Kubernetes Indexed Job (JOB_COMPLETION_INDEX, with the count given as
// parts since Kubernetes does not export it). parts > 0 must agree with
// Slurm's count. It returns the spec and a sentence saying which
// variables it used.
func FromEnv(getenv func(string) string, parts int) (Spec, string, error) {
	if id := getenv("SLURM_ARRAY_TASK_ID"); id != "" {
		n, err := envInt(getenv, "SLURM_ARRAY_TASK_ID")
		if err != nil {
			return Spec{}, "", err
		}
		lo, err := envInt(getenv, "SLURM_ARRAY_TASK_MIN")
		if err != nil {
			return Spec{}, "", err
		}
		cnt, err := envInt(getenv, "SLURM_ARRAY_TASK_COUNT")
		if err != nil {
			return Spec{}, "", err
		}
		if parts > 0 && parts != cnt {
			return Spec{}, "", fmt.Errorf("%w: --parts %d but SLURM_ARRAY_TASK_COUNT=%d", ErrSpec, parts, cnt)
		}
		if step := getenv("SLURM_ARRAY_TASK_STEP"); step != "" && step != "1" {
			return Spec{}, "", fmt.Errorf("%w: SLURM_ARRAY_TASK_STEP=%s: use an array of consecutive indices (--array=0-%d)", ErrSpec, step, cnt-1)
		}
		sp := Spec{Index: n - lo, Count: cnt}
		how := fmt.Sprintf("Slurm job array: SLURM_ARRAY_TASK_ID=%d, SLURM_ARRAY_TASK_MIN=%d, SLURM_ARRAY_TASK_COUNT=%d → part %s", n, lo, cnt, sp)
		return sp, how, sp.check()
	}
	if getenv("JOB_COMPLETION_INDEX") != "" {
		n, err := envInt(getenv, "JOB_COMPLETION_INDEX")
		if err != nil {
			return Spec{}, "", err
		}
		if parts <= 0 {
			return Spec{}, "", fmt.Errorf("%w: JOB_COMPLETION_INDEX=%d is set but not the count: add --parts N (the Job's completions)", ErrSpec, n)
		}
		sp := Spec{Index: n, Count: parts}
		how := fmt.Sprintf("Kubernetes Indexed Job: JOB_COMPLETION_INDEX=%d with --parts %d → part %s", n, parts, sp)
		return sp, how, sp.check()
	}
	return Spec{}, "", fmt.Errorf("%w: --part auto found neither SLURM_ARRAY_TASK_ID (Slurm job array) nor JOB_COMPLETION_INDEX (Kubernetes Indexed Job)", ErrSpec)
}

func envInt(getenv func(string) string, name string) (int, error) {
	v := getenv(name)
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("%w: %s=%q is not a whole number", ErrSpec, name, v)
	}
	return n, nil
}

// Range is the bytes [Start, End) of output file File (an index into the
// sizes given to Split), offsets from the start of the file.
type Range struct {
	File       int
	Start, End int64
}

// Len is the range's length in bytes.
func (r Range) Len() int64 { return r.End - r.Start }

// Split cuts files of the given sizes, laid end to end, into n parts of
// nearly equal bytes. Cuts inside a file are rounded to a multiple of
// page from the file's start; a part may be empty (more parts than
// pages). Every byte of every file belongs to exactly one part; a
// file's ranges are in order and parts are in order along the files.
func Split(sizes []int64, n int, page int64) [][]Range {
	parts := make([][]Range, n)
	var total int64
	for _, s := range sizes {
		total += s
	}
	// cut k (1 ≤ k < n) at global offset ⌊k·total/n⌋, rounded to a page
	// within its file; computed without overflow for totals up to 2^63.
	cut := func(k int) (file int, off int64) {
		g := mulDiv(total, int64(k), int64(n))
		for i, s := range sizes {
			if g < s || i == len(sizes)-1 {
				off = min((g+page/2)/page*page, s)
				return i, off
			}
			g -= s
		}
		return 0, 0
	}
	file, off := 0, int64(0)
	for k := 1; k <= n; k++ {
		endFile, endOff := len(sizes)-1, int64(0)
		if len(sizes) > 0 {
			endOff = sizes[len(sizes)-1]
		}
		if k < n {
			endFile, endOff = cut(k)
		}
		// the cut never moves backwards: rounding can only meet the
		// previous cut, making this part empty.
		if endFile < file || (endFile == file && endOff < off) {
			endFile, endOff = file, off
		}
		for ; file < endFile; file, off = file+1, 0 {
			if off < sizes[file] {
				parts[k-1] = append(parts[k-1], Range{File: file, Start: off, End: sizes[file]})
			}
		}
		if endOff > off {
			parts[k-1] = append(parts[k-1], Range{File: file, Start: off, End: endOff})
		}
		off = endOff
	}
	return parts
}

// mulDiv is ⌊a·b/c⌋ for 0 ≤ b ≤ c, without overflow.
func mulDiv(a, b, c int64) int64 {
	q, r := a/c, a%c
	return q*b + r*b/c
}
