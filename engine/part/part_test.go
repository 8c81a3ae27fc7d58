package part

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]Spec{"0/1": {0, 1}, "3/8": {3, 8}, " 7 / 16 ": {7, 16}} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "3", "8/8", "-1/4", "1/0", "a/b", "1/2/3", "0/2000000"} {
		if _, err := Parse(in); !errors.Is(err, ErrSpec) {
			t.Errorf("Parse(%q) = %v; want ErrSpec", in, err)
		}
	}
}

func TestFromEnv(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	cases := []struct {
		env   func(string) string
		parts int
		want  Spec
		how   string // substring of the explanation, or of the error
		fails bool
	}{
		{env("SLURM_ARRAY_TASK_ID", "5", "SLURM_ARRAY_TASK_MIN", "0", "SLURM_ARRAY_TASK_COUNT", "8"), 0, Spec{5, 8}, "Slurm job array", false},
		{env("SLURM_ARRAY_TASK_ID", "12", "SLURM_ARRAY_TASK_MIN", "10", "SLURM_ARRAY_TASK_COUNT", "4"), 4, Spec{2, 4}, "part 2/4", false},
		{env("SLURM_ARRAY_TASK_ID", "1", "SLURM_ARRAY_TASK_MIN", "0", "SLURM_ARRAY_TASK_COUNT", "4"), 3, Spec{}, "--parts 3", true},
		{env("SLURM_ARRAY_TASK_ID", "1", "SLURM_ARRAY_TASK_MIN", "0", "SLURM_ARRAY_TASK_COUNT", "4", "SLURM_ARRAY_TASK_STEP", "2"), 0, Spec{}, "STEP", true},
		{env("SLURM_ARRAY_TASK_ID", "x"), 0, Spec{}, "not a whole number", true},
		{env("SLURM_ARRAY_TASK_ID", "1"), 0, Spec{}, "SLURM_ARRAY_TASK_MIN", true},
		{env("JOB_COMPLETION_INDEX", "3"), 7, Spec{3, 7}, "Kubernetes Indexed Job", false},
		{env("JOB_COMPLETION_INDEX", "3"), 0, Spec{}, "--parts N", true},
		{env("JOB_COMPLETION_INDEX", "7"), 7, Spec{}, "index 7", true},
		{env(), 4, Spec{}, "found neither", true},
	}
	for i, c := range cases {
		got, how, err := FromEnv(c.env, c.parts)
		if c.fails {
			if !errors.Is(err, ErrSpec) || !strings.Contains(err.Error(), c.how) {
				t.Errorf("case %d: got %v, %v; want an error mentioning %q", i, got, err, c.how)
			}
			continue
		}
		if err != nil || got != c.want || !strings.Contains(how, c.how) {
			t.Errorf("case %d: got %v, %q, %v; want %v and %q", i, got, how, err, c.want, c.how)
		}
	}
}

// TestSplit checks, for many file sets and part counts, that the parts
// cover every byte once and in order, that every cut inside a file is on
// a page, and that parts are balanced to within a page per file boundary.
func TestSplit(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sets := [][]int64{
		{128}, {128 + 4096*1000}, {0}, {}, {1 << 40, 3, 1 << 33},
		{128 + 1000*1024*4, 128 + 7, 128 + 5<<20, 0, 80 + 1<<20},
	}
	for range 200 {
		var s []int64
		for range 1 + rng.IntN(12) {
			s = append(s, rng.Int64N(1<<uint(rng.IntN(36)+1)))
		}
		sets = append(sets, s)
	}
	for _, sizes := range sets {
		for _, n := range []int{1, 2, 3, 4, 7, 16, 1000} {
			t.Run(fmt.Sprintf("%v/%d", len(sizes), n), func(t *testing.T) { checkSplit(t, sizes, n) })
		}
	}
}

func checkSplit(t *testing.T, sizes []int64, n int) {
	parts := Split(sizes, n, Page)
	if len(parts) != n {
		t.Fatalf("%d parts, want %d", len(parts), n)
	}
	if again := Split(sizes, n, Page); fmt.Sprint(again) != fmt.Sprint(parts) {
		t.Fatal("Split is not deterministic")
	}
	var total int64
	for _, s := range sizes {
		total += s
	}
	file, off := 0, int64(0)
	for p, rs := range parts {
		var got int64
		for _, r := range rs {
			for file < len(sizes) && off == sizes[file] {
				file, off = file+1, 0
			}
			if r.File != file || r.Start != off || r.End <= r.Start || r.End > sizes[r.File] {
				t.Fatalf("part %d range %+v: want file %d from %d (sizes %v, parts %v)", p, r, file, off, sizes, parts)
			}
			for _, b := range []int64{r.Start, r.End} {
				if b != 0 && b != sizes[r.File] && b%Page != 0 {
					t.Fatalf("part %d range %+v: cut inside the file off a page", p, r)
				}
			}
			off = r.End
			got += r.Len()
		}
		want := total / int64(n)
		slack := int64(len(sizes)+1) * Page
		if got < want-slack || got > want+slack+1 {
			t.Errorf("part %d has %d bytes, want about %d (sizes %v)", p, got, want, sizes)
		}
	}
	for file < len(sizes) && off == sizes[file] {
		file, off = file+1, 0
	}
	if file != len(sizes) {
		t.Fatalf("bytes from file %d offset %d belong to no part (sizes %v)", file, off, sizes)
	}
}
