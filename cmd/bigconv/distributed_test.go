package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/tfgen"
)

// embeddingCheckpoint writes /data/ckpt/model.ckpt-10000 with the tensor
// embedding/weights (plus another) under root, and the one-process output.
func embeddingCheckpoint(t *testing.T, root string) (prefix, want string) {
	t.Helper()
	dir := filepath.Join(root, "ckpt")
	os.MkdirAll(dir, 0o755)
	os.MkdirAll(filepath.Join(root, "out"), 0o755)
	fill := func(off int64, p []byte) {
		for i := range p {
			p[i] = byte((off + int64(i)) * 7 % 251)
		}
	}
	ts := []tfgen.BundleTensor{
		{Name: "embedding/weights", DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{3000, 96}, Fill: fill},
		{Name: "dense/bias", DType: dtype.Of(dtype.Float32), Shape: dtype.Shape{96}, Fill: fill},
	}
	if err := tfgen.WriteBundle(dir, "model.ckpt-10000", ts, tfgen.BundleOptions{}); err != nil {
		t.Fatal(err)
	}
	prefix = filepath.Join(dir, "model.ckpt-10000")
	want = filepath.Join(root, "want.npy")
	if code, _, stderr := bigconv(t, "convert", "--progress", "never", "--tensor", "embedding/weights", prefix, want); code != 0 {
		t.Fatal(stderr)
	}
	return prefix, want
}

// TestSlurmExample runs docs/examples/slurm-convert.sbatch as every task
// of its array would, with the array variables set by hand.
func TestSlurmExample(t *testing.T) {
	root := t.TempDir()
	prefix, want := embeddingCheckpoint(t, root)
	script, err := filepath.Abs("../../docs/examples/slurm-convert.sbatch")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	var count int
	for _, l := range strings.Split(string(b), "\n") {
		if lo, hi, ok := strings.Cut(strings.TrimPrefix(l, "#SBATCH --array="), "-"); ok && strings.HasPrefix(l, "#SBATCH --array=") {
			a, _ := strconv.Atoi(lo)
			z, _ := strconv.Atoi(hi)
			count = z - a + 1
		}
	}
	if count < 2 {
		t.Fatalf("no --array=A-B line in %s", script)
	}
	// bigconv is this test binary in child mode
	wrapper := filepath.Join(root, "bigconv")
	os.WriteFile(wrapper, []byte(fmt.Sprintf("#!/bin/sh\nexec %q -test.run='^$' -- \"$@\"\n", os.Args[0])), 0o755)
	out := filepath.Join(root, "out", "emb.npy")
	var wg sync.WaitGroup
	logs := make([]string, count)
	for i := range count {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command("bash", script)
			cmd.Env = append(os.Environ(), "BIGCONV_CHILD=1", "BIGCONV="+wrapper, "INPUT="+prefix, "OUTPUT="+out, "TENSOR=embedding/weights",
				fmt.Sprintf("SLURM_ARRAY_TASK_ID=%d", 100+i), "SLURM_ARRAY_TASK_MIN=100", fmt.Sprintf("SLURM_ARRAY_TASK_COUNT=%d", count))
			b, err := cmd.CombinedOutput()
			logs[i] = string(b)
			if err != nil {
				logs[i] = "FAILED: " + err.Error() + "\n" + logs[i]
			}
		}()
	}
	wg.Wait()
	for i, l := range logs {
		if strings.HasPrefix(l, "FAILED") || !strings.Contains(l, fmt.Sprintf("part %d/%d", i, count)) {
			t.Fatalf("task %d:\n%s", i, l)
		}
	}
	sameBytes(t, out, want)
	leftovers(t, filepath.Dir(out), "emb.npy")
}

type k8sJob struct {
	Kind string
	Spec struct {
		Completions          int    `yaml:"completions"`
		Parallelism          int    `yaml:"parallelism"`
		CompletionMode       string `yaml:"completionMode"`
		BackoffLimitPerIndex *int   `yaml:"backoffLimitPerIndex"`
		Template             struct {
			Spec struct {
				RestartPolicy string `yaml:"restartPolicy"`
				Containers    []struct {
					Command      []string
					VolumeMounts []struct {
						Name      string
						MountPath string `yaml:"mountPath"`
					} `yaml:"volumeMounts"`
				}
				Volumes []struct {
					Name                  string
					PersistentVolumeClaim *struct {
						ClaimName string `yaml:"claimName"`
					} `yaml:"persistentVolumeClaim"`
				}
			}
		}
	}
}

// TestK8sExample parses docs/examples/k8s-indexed-job.yaml and runs its
// command line locally for every index, the volume's mount path mapped
// to a temporary directory.
func TestK8sExample(t *testing.T) {
	b, err := os.ReadFile("../../docs/examples/k8s-indexed-job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var job k8sJob
	if err := yaml.Unmarshal(b, &job); err != nil {
		t.Fatal(err)
	}
	s := job.Spec
	if job.Kind != "Job" || s.CompletionMode != "Indexed" || s.BackoffLimitPerIndex == nil || s.Completions < 2 ||
		s.Template.Spec.RestartPolicy != "Never" || len(s.Template.Spec.Containers) != 1 || len(s.Template.Spec.Volumes) != 1 ||
		s.Template.Spec.Volumes[0].PersistentVolumeClaim == nil {
		t.Fatalf("manifest: %+v", job)
	}
	c := s.Template.Spec.Containers[0]
	i := slices.Index(c.Command, "--parts")
	if c.Command[0] != "bigconv" || i < 0 || c.Command[i+1] != strconv.Itoa(s.Completions) || !slices.Contains(c.Command, "auto") {
		t.Fatalf("command %q: want bigconv convert --part auto --parts %d", c.Command, s.Completions)
	}
	mount := c.VolumeMounts[0].MountPath
	root := t.TempDir()
	_, want := embeddingCheckpoint(t, root)
	var args []string
	for _, a := range c.Command[1:] {
		args = append(args, strings.Replace(a, mount, root, 1))
	}
	var wg sync.WaitGroup
	logs := make([]string, s.Completions)
	for idx := range s.Completions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := child([]string{fmt.Sprintf("JOB_COMPLETION_INDEX=%d", idx)}, args...).CombinedOutput()
			logs[idx] = string(b)
			if err != nil {
				logs[idx] = "FAILED: " + err.Error() + "\n" + logs[idx]
			}
		}()
	}
	wg.Wait()
	for idx, l := range logs {
		if strings.HasPrefix(l, "FAILED") || !strings.Contains(l, "Kubernetes Indexed Job") {
			t.Fatalf("index %d:\n%s", idx, l)
		}
	}
	out := strings.Replace(c.Command[len(c.Command)-1], mount, root, 1)
	sameBytes(t, out, want)
	leftovers(t, filepath.Dir(out), filepath.Base(out))
}
