// Command bench measures bigconv convert against what a Python user runs
// today (a NumPy chunked loop, dask) and against the machine's limits (cat,
// cp), on generated inputs of a given size, and writes the results as a
// Markdown table (into docs/benchmarks.md), a PNG chart and JSON.
//
//	go run ./bench --size 1GiB --runs 3
//	go run ./bench --size 4GiB --cases f32-f32,i64-f32 --name benchmarks-4GiB
//
// Each case generates its input block by block, then runs every tool N
// times, alternating tools within each round, each run after cat has read
// what it reads into the page cache (when that fits in three quarters of
// memory), and removes the input before the next case. Python peers run on
// /usr/bin/python3 (Debian's, which has numpy and dask); a missing module is
// reported and that peer skipped — nothing is installed.
package main

import (
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bigconv/bigconv/dtype"
)

//go:embed peer.py
var peerPy []byte

const python = "/usr/bin/python3"

// peerBlock is the input bytes per row block in the NumPy loop and per dask
// chunk: a round figure a user would pick.
const peerBlock = 64 << 20

// npyHeaderLen is the header of bigconv's outputs here (a 2-D or 4-D
// little-endian shape pads to 128 bytes), counted in the limit's size.
const npyHeaderLen = 128

// limitTool is every case's limit: cp then fsync of an output-sized file.
const limitTool = "cp-out+fsync"

// tools, in the order of the first round (later rounds rotate it).
var allTools = []string{"bigconv", "bigconv parts=4", "numpy", "dask", "torch", "cat", "cp", "cp+fsync", "cp-out", "cp-out+fsync"}

// partsTool runs the same conversion as 4 parts (--part I/4) at once on
// this host, as 4 Slurm array tasks would on 4: its time against
// "bigconv" is the overhead of parts (2 cores: no speed-up expected), its
// peak RSS that of the largest part. Only run when --tools names it.
const partsTool = "bigconv parts=4"

// partsScript starts "$@" --part I/4 for I in 0..3 at once and waits for
// each; GNU time's %M is then the largest part's peak RSS. A --variant
// whose name begins with "parts" (e.g. parts-w1='--workers 1') runs its
// flags this way too.
const partsScript = `ps=; for i in 0 1 2 3; do "$@" --part $i/4 & ps="$ps $!"; done; s=0; for p in $ps; do wait $p || s=1; done; exit $s`

// variants are extra bigconv runs with more flags (--variant NAME=FLAGS),
// measured in the same rounds as tools named "bigconv NAME".
var variants = map[string][]string{}

// variantBin is the binary of a variant run with another build
// (--baseline), instead of the one built from this tree.
var variantBin = map[string]string{}

// onlyTools, when set by --tools, restricts the tools run.
var onlyTools map[string]bool

// caseDef is one prepared case: generated input files and how each tool
// converts them.
type caseDef struct {
	Name, Desc string
	Input      string   // the data file cp and cat read
	InBytes    int64    // tensor data bytes
	OutBytes   int64    // output data bytes
	Args       []string // bigconv convert arguments before OUTPUT
	Peer       map[string]any
	Files      []string // to remove afterwards
	OutSized   string   // output-sized scratch file for cp-out and the limit, cp-out+fsync
	OutDir     bool     // several tensors: OUTPUT is a directory, not a .npy
}

// outPath is where a tool writes the case's output in dir.
func (c *caseDef) outPath(dir string) string {
	if c.OutDir {
		return filepath.Join(dir, "out")
	}
	return filepath.Join(dir, "out.npy")
}

type caseSpec struct {
	name, desc string
	prep       func(dir string, size int64) (*caseDef, error)
}

var cases = []caseSpec{
	{"f32-f32", "raw <f4 [N,1024] → float32 (same dtype: a copy)", rawCase("f4", "<f4", 4, "float32", "<f4", "astype")},
	{"i64-f32", "raw <i8 [N,1024] → float32", rawCase("i8", "<i8", 8, "float32", "<f4", "astype")},
	{"bf16-f32", "raw bfloat16 [N,1024] → float32 (widening)", rawCase("bf16", "bfloat16", 2, "float32", "<f4", "bf16")},
	{"f32-f16", "raw <f4 [N,1024] → float16", rawCase("f4", "<f4", 4, "float16", "<f2", "astype")},
	{"f32-f16-mask", "raw <f4 [N,1024] → float16, every row's last quarter -1e9 (attention mask: overflows to -inf)", rawCase("f4mask", "<f4", 4, "float16", "<f2", "astype")},
	{"video-f16", ".npy <f4 [frames,56,56,64] → float16", npyCase("video")},
	{"be-f32", ".npy >f4 [N,1024] → <f4 (byte swap)", npyCase("be")},
	{"fortran-c", ".npy <f4 [N,1024] Fortran order → C order", npyCase("fortran")},
	{"tf-f32", "TF checkpoint float32 variable [N,1024] → .npy", tfCase},
	{"tfrecord-f32", "TFRecord of serialized float32 frames [56,56,64] → .npy [N,56,56,64]", tfrecordCase},
	{"onnx-f32", "ONNX model, 8 float32 initializers [N/8,1024] in raw_data → a directory of .npy", onnxCase},
	{"pt-f16", "torch.save .pt float16 [N,1024] → float32 .npy", ptCase},
}

// ptCase is a torch.save file (zip format) of one float16 tensor [N,1024],
// converted to float32. Its peer ("torch") is what a user writes today
// without bigconv: torch.load, .float().numpy(), np.save (torch 1.13 has
// no torch.load(mmap=True)), then an fsync as bigconv's commit does.
func ptCase(dir string, size int64) (*caseDef, error) {
	rows := size / 2048
	if rows < 1 {
		return nil, fmt.Errorf("--size %d is below one row of 1024 float16", size)
	}
	in := filepath.Join(dir, "in.pt")
	if err := writePT(in, rows, 1024, pattern("f2")); err != nil {
		return nil, err
	}
	n := rows * 1024 * 2
	return &caseDef{Input: in, InBytes: n, OutBytes: 2 * n, Args: []string{"--dtype", "float32", in},
		Peer:  map[string]any{"in": in, "kind": "pt"},
		Files: []string{in}}, nil
}

func rawCase(pat, inDType string, item int64, outDType, peerOut, op string) func(string, int64) (*caseDef, error) {
	return func(dir string, size int64) (*caseDef, error) {
		rows := size / (1024 * item)
		if rows < 1 {
			return nil, fmt.Errorf("--size %d is below one row of 1024 elements", size)
		}
		in := filepath.Join(dir, "in.bin")
		n := rows * 1024 * item
		if err := writeFile(in, nil, pattern(pat), n); err != nil {
			return nil, err
		}
		peerIn := inDType
		if op == "bf16" {
			peerIn = "<u2"
		}
		outItem := int64(dtype.MustParse(outDType).Size())
		return &caseDef{Input: in, InBytes: n, OutBytes: rows * 1024 * outItem,
			Args: []string{"--in-dtype", inDType, "--shape", "-1,1024", "--dtype", outDType, in},
			Peer: map[string]any{"in": in, "kind": "raw", "in_dtype": peerIn, "shape": []int64{rows, 1024},
				"out_dtype": peerOut, "op": op, "block_bytes": peerBlock},
			Files: []string{in}}, nil
	}
}

// npyCase writes a .npy input of kind "be" (>f4 [N,1024] → <f4), "fortran"
// (<f4 [N,1024] in Fortran order → C order) or "video" (<f4
// [frames,56,56,64] → float16).
func npyCase(kind string) func(string, int64) (*caseDef, error) {
	fortran, video := kind == "fortran", kind == "video"
	return func(dir string, size int64) (*caseDef, error) {
		in := filepath.Join(dir, "in.npy")
		dt := dtype.MustParse("<f4")
		pat := "f4"
		shape := dtype.Shape{size / 4096, 1024}
		outDType, outItem := "<f4", int64(4)
		if video {
			shape = dtype.Shape{size / (56 * 56 * 64 * 4), 56, 56, 64}
			outDType, outItem = "<f2", 2
		} else if kind == "be" {
			dt, pat = dtype.MustParse(">f4"), ">f4"
		}
		if shape[0] < 1 {
			return nil, fmt.Errorf("--size %d is below one row", size)
		}
		if err := writeNPY(in, dt, shape, fortran, pattern(pat)); err != nil {
			return nil, err
		}
		n, _ := shape.NumBytes(4)
		elems := n / 4
		args := []string{in}
		if video {
			args = []string{"--dtype", "float16", in}
		}
		return &caseDef{Input: in, InBytes: n, OutBytes: elems * outItem, Args: args,
			Peer:  map[string]any{"in": in, "kind": "npy", "out_dtype": outDType, "op": "astype", "block_bytes": peerBlock},
			Files: []string{in}}, nil
	}
}

func tfCase(dir string, size int64) (*caseDef, error) {
	shape := dtype.Shape{size / 4096, 1024}
	if shape[0] < 1 {
		return nil, fmt.Errorf("--size %d is below one row", size)
	}
	prefix, data, err := writeBundle(dir, shape, pattern("f4"))
	if err != nil {
		return nil, err
	}
	n, _ := shape.NumBytes(4)
	return &caseDef{Input: data, InBytes: n, OutBytes: n, Args: []string{prefix},
		Files: []string{data, prefix + ".index"}}, nil
}

// tfrecordCase is a TFRecord file of video frames, each record one
// tf.io.serialize_tensor of a float32 [56,56,64] frame, stacked by
// bigconv along a new first axis. Like tfCase it has no Python peer
// here (reading it in Python takes TensorFlow); cat and cp of the file
// are its limits.
func tfrecordCase(dir string, size int64) (*caseDef, error) {
	frame := dtype.Shape{56, 56, 64}
	fb, _ := frame.NumBytes(4)
	frames := size / fb
	if frames < 1 {
		return nil, fmt.Errorf("--size %d is below one frame of %d bytes", size, fb)
	}
	in := filepath.Join(dir, "frames.tfrecord")
	if err := writeRecords(in, dtype.Of(dtype.Float32), frame, frames, pattern("f4")); err != nil {
		return nil, err
	}
	return &caseDef{Input: in, InBytes: frames * fb, OutBytes: frames * fb, Args: []string{in},
		Files: []string{in}}, nil
}

// errTooLarge: a case cannot be made at the size asked for. A run of
// every case skips it, saying so; a run that names it fails.
var errTooLarge = errors.New("case cannot be this large")

// onnxCase is an ONNX model whose graph holds 8 float32 initializers in
// raw_data, converted into a directory of .npy files. Its peer is what a
// user runs today (peer.py kind "onnx"): onnx.load, then
// numpy_helper.to_array and np.save of each initializer. A model is one
// protobuf message, which onnx.load refuses past 2 GiB: sizes above
// 1.5 GiB are refused here.
func onnxCase(dir string, size int64) (*caseDef, error) {
	if size > 3<<29 {
		return nil, fmt.Errorf("%w: --size %d: an inline ONNX model is limited to 2 GiB by protobuf (onnx.load refuses more); use ≤ 1.5GiB", errTooLarge, size)
	}
	const k = 8
	shape := dtype.Shape{size / (k * 4096), 1024}
	if shape[0] < 1 {
		return nil, fmt.Errorf("--size %d is below 8 rows", size)
	}
	in := filepath.Join(dir, "model.onnx")
	if err := writeONNX(in, k, shape, pattern("f4")); err != nil {
		return nil, err
	}
	n, _ := shape.NumBytes(4)
	return &caseDef{Input: in, InBytes: k * n, OutBytes: k * n, Args: []string{in},
		Peer:  map[string]any{"in": in, "kind": "onnx"},
		Files: []string{in}, OutDir: true}, nil
}

// Result is one tool on one case.
type Result struct {
	Case      string    `json:"case"`
	Desc      string    `json:"desc"`
	Tool      string    `json:"tool"`
	InBytes   int64     `json:"in_bytes"`
	OutBytes  int64     `json:"out_bytes"`
	Walls     []float64 `json:"wall_s"`
	Inners    []float64 `json:"inner_s,omitempty"`
	Median    float64   `json:"median_s"`
	Min       float64   `json:"min_s"`
	Max       float64   `json:"max_s"`
	InGiBps   float64   `json:"in_gib_per_s"`
	VsBigconv float64   `json:"time_vs_bigconv"`
	PeakRSS   float64   `json:"peak_rss_mib"`
	PeakAnon  float64   `json:"peak_rss_anon_mib"`
	// Failed says how a peer's run failed (then it has no times): at
	// 8 GiB torch.load was killed for want of memory.
	Failed string `json:"failed,omitempty"`
}

// Report is the JSON written next to the chart.
type Report struct {
	Date     string            `json:"date"`
	Command  string            `json:"command"`
	Size     int64             `json:"size_bytes"`
	Runs     int               `json:"runs"`
	Machine  map[string]string `json:"machine"`
	Versions map[string]string `json:"versions"`
	Skipped  []string          `json:"skipped,omitempty"`
	Results  []Result          `json:"results"`
}

func main() {
	sizeFlag := flag.String("size", "1GiB", "input size per case, e.g. 256MiB, 1GiB, 4GiB")
	runs := flag.Int("runs", 3, "runs per tool (medians are reported)")
	caseList := flag.String("cases", "", "comma-separated cases (default all): "+caseNames())
	outDir := flag.String("out", "docs", "directory for NAME.png and NAME.json (empty: none)")
	name := flag.String("name", "benchmarks", "base name of the chart and JSON, and the key of the doc section")
	doc := flag.String("doc", "docs/benchmarks.md", "Markdown file whose <!-- bench:NAME --> section is replaced (empty: none)")
	workDir := flag.String("workdir", "", "where inputs and outputs go (default: a new temp dir, removed at the end)")
	keep := flag.Bool("keep", false, "keep the generated inputs and the built binary")
	redraw := flag.Bool("redraw", false, "only redraw --out/NAME.png and the --doc section from the recorded --out/NAME.json")
	genOnly := flag.Bool("gen-only", false, "only generate the inputs into --workdir and print the bigconv commands (for profiling)")
	flag.Func("variant", "extra bigconv run NAME=FLAGS measured alongside, e.g. pwrite='--write pwrite' (repeatable)", func(v string) error {
		name, args, ok := strings.Cut(v, "=")
		if !ok || name == "" {
			return errors.New("want NAME=FLAGS")
		}
		tool := "bigconv " + name
		variants[tool] = strings.Fields(args)
		allTools = slices.Insert(allTools, 1, tool)
		return nil
	})
	flag.Func("baseline", "another bigconv binary (e.g. a build of the previous commit) measured alongside as \"bigconv base\"", func(v string) error {
		if _, err := os.Stat(v); err != nil {
			return err
		}
		variants["bigconv base"], variantBin["bigconv base"] = []string{}, v
		allTools = slices.Insert(allTools, 1, "bigconv base")
		return nil
	})
	flag.Func("tools", "comma-separated tools to run (default all): "+strings.Join(allTools, ","), func(v string) error {
		onlyTools = map[string]bool{"bigconv": true}
		for _, t := range strings.Split(v, ",") {
			onlyTools[strings.TrimSpace(t)] = true
		}
		return nil
	})
	flag.Parse()
	size, err := parseSize(*sizeFlag)
	if err != nil || *runs < 1 {
		fmt.Fprintln(os.Stderr, "bench: --size:", err, "or --runs < 1")
		os.Exit(2)
	}
	switch {
	case *redraw:
		err = redrawChart(*outDir, *name, *doc)
	case *genOnly:
		err = genInputs(size, *caseList, *workDir)
	default:
		err = run(size, *sizeFlag, *runs, *caseList, *outDir, *name, *doc, *workDir, *keep)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// redrawChart draws dir/name.png and doc's section again from
// dir/name.json (a recorded run), e.g. after a change to the chart's
// layout or the tables; doc "" leaves the Markdown alone.
func redrawChart(dir, name, doc string) error {
	b, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if err != nil {
		return err
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("%s.json: %v", name, err)
	}
	if err := chart(&rep, filepath.Join(dir, name+".png")); err != nil {
		return err
	}
	if doc == "" {
		return nil
	}
	return replaceSection(doc, name, section(&rep, formatSize(rep.Size)))
}

// formatSize writes n as --size would be given: 1GiB, 256MiB, or bytes.
func formatSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprint(n)
}

func caseNames() string {
	var s []string
	for _, c := range cases {
		s = append(s, c.name)
	}
	return strings.Join(s, ",")
}

// selectCases parses --cases.
func selectCases(list string) ([]caseSpec, error) {
	if list == "" {
		return cases, nil
	}
	var sel []caseSpec
	for _, n := range strings.Split(list, ",") {
		i := slices.IndexFunc(cases, func(c caseSpec) bool { return c.name == strings.TrimSpace(n) })
		if i < 0 {
			return nil, fmt.Errorf("unknown case %q (have %s)", n, caseNames())
		}
		sel = append(sel, cases[i])
	}
	return sel, nil
}

// genInputs writes each case's input into its own subdirectory of dir and
// prints the bigconv command converting it.
func genInputs(size int64, caseList, dir string) error {
	sel, err := selectCases(caseList)
	if err != nil {
		return err
	}
	if dir == "" {
		return errors.New("--gen-only needs --workdir")
	}
	for _, cs := range sel {
		d := filepath.Join(dir, cs.name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		c, err := cs.prep(d, size)
		if err != nil {
			return fmt.Errorf("%s: %v", cs.name, err)
		}
		fmt.Printf("%s\tbigconv convert --progress never %s %s\n", cs.name, strings.Join(c.Args, " "), c.outPath(d))
	}
	return nil
}

func run(size int64, sizeText string, runs int, caseList, outDir, name, doc, workDir string, keep bool) error {
	sel, err := selectCases(caseList)
	if err != nil {
		return err
	}
	if workDir == "" {
		d, err := os.MkdirTemp("", "bigconv-bench-")
		if err != nil {
			return err
		}
		workDir = d
		if !keep {
			defer os.RemoveAll(d)
		}
	} else if err := os.MkdirAll(workDir, 0o755); err != nil {
		return err
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	bin := filepath.Join(workDir, "bigconv")
	fmt.Fprintf(os.Stderr, "bench: building %s\n", bin)
	build := exec.Command("go", "build", "-o", bin, "./cmd/bigconv")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/bigconv: %v", err)
	}
	peerPath := filepath.Join(workDir, "peer.py")
	if err := os.WriteFile(peerPath, peerPy, 0o644); err != nil {
		return err
	}

	rep := Report{Date: time.Now().UTC().Format(time.RFC3339), Size: size, Runs: runs,
		Command: "go run ./bench " + strings.Join(os.Args[1:], " "),
		Machine: machineInfo(), Versions: map[string]string{"go": runtime.Version(), "bigconv": gitRev(root)}}
	skip := map[string]bool{}
	for _, p := range []struct{ tool, mod, pkg string }{{"numpy", "numpy", "python3-numpy"}, {"dask", "dask.array", "python3-dask"}, {"torch", "torch", "python3-torch"}} {
		out, err := exec.Command(python, "-c", "import "+p.mod+" as m, numpy; print(getattr(m, '__version__', '') or __import__('dask').__version__)").Output()
		if err != nil {
			msg := fmt.Sprintf("%s peer skipped: %s cannot import %s (apt-get install %s)", p.tool, python, p.mod, p.pkg)
			if p.tool == "dask" {
				msg = fmt.Sprintf("%s peer skipped: %s cannot import %s and numpy (apt-get install python3-numpy python3-dask)", p.tool, python, p.mod)
			}
			fmt.Fprintln(os.Stderr, "bench:", msg)
			rep.Skipped = append(rep.Skipped, msg)
			skip[p.tool] = true
			continue
		}
		rep.Versions[p.tool] = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command(python, "-c", "import onnx; print(onnx.__version__)").Output(); err != nil {
		msg := fmt.Sprintf("numpy peer of onnx-f32 skipped: %s cannot import onnx (apt-get install python3-onnx)", python)
		fmt.Fprintln(os.Stderr, "bench:", msg)
		rep.Skipped = append(rep.Skipped, msg)
		skip["onnx"] = true
	} else {
		rep.Versions["onnx"] = strings.TrimSpace(string(out))
	}

	for _, cs := range sel {
		fmt.Fprintf(os.Stderr, "bench: %s: generating %s input\n", cs.name, sizeText)
		c, err := cs.prep(workDir, size)
		if errors.Is(err, errTooLarge) && caseList == "" {
			msg := fmt.Sprintf("%s skipped: %v", cs.name, err)
			fmt.Fprintln(os.Stderr, "bench:", msg)
			rep.Skipped = append(rep.Skipped, msg)
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %v", cs.name, err)
		}
		c.Name, c.Desc = cs.name, cs.desc
		res, err := runCase(c, bin, peerPath, workDir, runs, skip)
		for _, f := range c.Files {
			if !keep {
				os.Remove(f)
			}
		}
		if c.OutSized != "" {
			os.Remove(c.OutSized)
		}
		if err != nil {
			return fmt.Errorf("%s: %v", cs.name, err)
		}
		rep.Results = append(rep.Results, res...)
		fmt.Print(table(res))
		if err := writeRecord(&rep, outDir, name); err != nil { // what is measured so far
			return err
		}
	}

	md := section(&rep, sizeText)
	fmt.Println()
	fmt.Print(md)
	if outDir != "" {
		if err := chart(&rep, filepath.Join(outDir, name+".png")); err != nil {
			return err
		}
	}
	if doc != "" {
		if err := replaceSection(doc, name, md); err != nil {
			return err
		}
	}
	return nil
}

// caseTools are the tools case c runs: those asked for, less the peers
// it has none for (skip: peers whose modules are missing) and, when its
// input is many files (a stack), the tools that read "the input" (cat,
// cp, cp+fsync would time one of its files; cp-out and the limit stand).
func caseTools(c *caseDef, skip map[string]bool) []string {
	var tools []string
	for _, t := range allTools {
		switch {
		case onlyTools != nil && !onlyTools[t] && variants[t] == nil,
			t == partsTool && (onlyTools == nil || !onlyTools[t]):
			continue
		case skip[t], (t == "numpy" || t == "dask") && (c.Peer == nil || c.Peer["kind"] == "pt"),
			t == "torch" && (c.Peer == nil || c.Peer["kind"] != "pt"),
			c.Peer["kind"] == "onnx" && (t == "dask" || (t == "numpy" && skip["onnx"])),
			c.Peer["kind"] == "stack" && (t == "cat" || t == "cp" || t == "cp+fsync"):
			continue
		}
		tools = append(tools, t)
	}
	return tools
}

// runCase runs each tool runs times, alternating, each run after its
// inputs were read into the page cache (warm).
func runCase(c *caseDef, bin, peerPath, dir string, runs int, skip map[string]bool) ([]Result, error) {
	tools := caseTools(c, skip)
	// Every case's limit is cp-out+fsync: a durable copy of a file the
	// size of bigconv's output (its data and a .npy header), whatever the
	// input — casts write more or fewer bytes than they read, and the
	// inputs carry framing (TFRecord, checkpoint) the output does not.
	// It is made only when a cp-out tool runs: at 32 GiB a copy's input,
	// output and an output-sized file would not fit this machine's disk
	// (--tools without cp-out, with cp+fsync as the copy's limit).
	if slices.ContainsFunc(tools, func(t string) bool { return strings.HasPrefix(t, "cp-out") }) {
		c.OutSized = filepath.Join(dir, "outsized.bin")
		if err := sizeOut(c.OutSized, c.OutBytes+npyHeaderLen); err != nil {
			return nil, err
		}
	}
	mem := memTotal()
	syscall.Sync()
	out := c.outPath(dir)
	ms := map[string][]measure{}
	failed := map[string]string{}
	for r := range runs {
		// A new random order each round (seeded: the same for every
		// invocation). Rotating one fixed order would give each tool the
		// same predecessor every round, and on these VMs a run is slowed
		// by what the run before it freed (first touch of returned memory).
		order := rand.New(rand.NewPCG(uint64(r), uint64(len(tools)))).Perm(len(tools))
		for _, i := range order {
			tool := tools[i]
			if failed[tool] != "" {
				continue // a peer that failed is not run again
			}
			os.RemoveAll(out) // a file, or a directory of .npy files
			if err := warm(tool, c, mem); err != nil {
				return nil, err
			}
			m, err := runTool(tool, c, bin, peerPath, out)
			switch {
			case err != nil && isPeer(tool):
				// A peer that cannot do the case (the kernel killed it
				// for want of memory) is a result, not the end of the run.
				failed[tool] = peerFailure(m, err)
				fmt.Fprintf(os.Stderr, "bench: %s %-13s run %d: %s\n", c.Name, tool, r+1, err)
			case err != nil:
				return nil, err
			default:
				if strings.HasPrefix(tool, "bigconv") || isPeer(tool) {
					if sz, err := fileSize(out); err != nil || sz < c.OutBytes {
						return nil, fmt.Errorf("%s wrote %d bytes, want ≥ %d (%v)", tool, sz, c.OutBytes, err)
					}
				}
				fmt.Fprintf(os.Stderr, "bench: %s %-13s run %d: %6.2f s  rss %5d MiB  anon %5d MiB\n",
					c.Name, tool, r+1, m.Wall, m.MaxRSS>>10, m.MaxAnon>>10)
			}
			ms[tool] = append(ms[tool], m)
			os.RemoveAll(out)
			syscall.Sync() // untimed: no writeback left over for the next tool
		}
	}
	var res []Result
	for _, tool := range tools {
		r := Result{Case: c.Name, Desc: c.Desc, Tool: tool, InBytes: c.InBytes, OutBytes: c.OutBytes, Failed: failed[tool]}
		if r.Failed != "" {
			for _, m := range ms[tool] {
				r.PeakRSS = max(r.PeakRSS, float64(m.MaxRSS)/1024)
				r.PeakAnon = max(r.PeakAnon, float64(m.MaxAnon)/1024)
			}
			res = append(res, r)
			continue
		}
		for _, m := range ms[tool] {
			r.Walls = append(r.Walls, m.Wall)
			if m.Inner > 0 {
				r.Inners = append(r.Inners, m.Inner)
			}
			r.PeakRSS = max(r.PeakRSS, float64(m.MaxRSS)/1024)
			r.PeakAnon = max(r.PeakAnon, float64(m.MaxAnon)/1024)
		}
		r.Median, r.Min, r.Max = stats(r.Walls)
		// GiB/s of the case's input size, so rows compare; for cp-out this is
		// the input-equivalent rate of copying an output-sized file.
		r.InGiBps = float64(c.InBytes) / (1 << 30) / r.Median
		res = append(res, r)
	}
	for i := range res {
		if res[i].Failed == "" {
			res[i].VsBigconv = res[i].Median / res[0].Median
		}
	}
	return res, nil
}

// runTool runs one tool once, writing out (cp, bigconv, peers) or not (cat).
func runTool(tool string, c *caseDef, bin, peerPath, out string) (measure, error) {
	if extra, ok := variants[tool]; ok {
		if b := variantBin[tool]; b != "" {
			bin = b
		}
		argv := append(append([]string{bin, "convert", "--progress", "never"}, c.Args...), extra...)
		if strings.HasPrefix(tool, "bigconv parts") { // a variant of the 4 parts
			argv = append([]string{"bash", "-c", partsScript, "parts"}, argv...)
		}
		m, _, err := runCmd(append(argv, out), false)
		return m, err
	}
	switch tool {
	case "bigconv":
		argv := append([]string{bin, "convert", "--progress", "never"}, c.Args...)
		m, _, err := runCmd(append(argv, out), false)
		return m, err
	case partsTool:
		// one shell starts the 4 parts and waits for each; GNU time's %M
		// is then the largest part's peak RSS
		argv := append([]string{"bash", "-c", partsScript, "parts", bin, "convert", "--progress", "never"}, c.Args...)
		m, _, err := runCmd(append(argv, out), false)
		return m, err
	case "numpy", "dask", "torch":
		spec := map[string]any{"out": out}
		for k, v := range c.Peer {
			spec[k] = v
		}
		j, _ := json.Marshal(spec)
		m, stdout, err := runCmd([]string{python, peerPath, tool, string(j)}, true)
		if err == nil {
			m.Inner, _ = strconv.ParseFloat(strings.TrimSpace(string(stdout)), 64)
		}
		return m, err
	case "cat":
		m, _, err := runCmd([]string{"cat", c.Input}, false) // cat INPUT > /dev/null
		return m, err
	case "cp", "cp+fsync", "cp-out", "cp-out+fsync":
		src := c.Input
		if strings.HasPrefix(tool, "cp-out") {
			src = c.OutSized
		}
		m, _, err := runCmd([]string{"cp", "--reflink=never", src, out}, false)
		if err != nil || !strings.HasSuffix(tool, "+fsync") {
			return m, err
		}
		s, _, err := runCmd([]string{"sync", out}, false) // fsync(out), as bigconv's Commit and NumPy's flush
		m.Wall += s.Wall
		m.MaxRSS, m.MaxAnon = max(m.MaxRSS, s.MaxRSS), max(m.MaxAnon, s.MaxAnon)
		return m, err
	}
	return measure{}, fmt.Errorf("unknown tool %q", tool)
}

func stats(v []float64) (med, lo, hi float64) {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		med = s[n/2]
	} else {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return med, s[0], s[n-1]
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", errors.New("run from inside the bigconv module (go env GOMOD is empty)")
	}
	return filepath.Dir(gomod), nil
}

func gitRev(root string) string {
	out, err := exec.Command("git", "-C", root, "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func machineInfo() map[string]string {
	m := map[string]string{"nproc": strconv.Itoa(runtime.NumCPU()), "goarch": runtime.GOARCH}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m["kernel"] = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				m["mem_total"] = strings.TrimSpace(v)
			}
		}
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// parseSize reads 256MiB, 1GiB, 4G, 1048576.
func parseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}} {
		if strings.HasSuffix(t, u.suf) {
			t, mult = strings.TrimSuffix(t, u.suf), u.m
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size like 1GiB", s)
	}
	return n * mult, nil
}

// writeRecord writes rep as outDir/name.json (nothing without outDir).
// It is written after every case, so that a run that stops keeps what
// it measured.
func writeRecord(rep *Report, outDir, name string) error {
	if outDir == "" {
		return nil
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	j, _ := json.MarshalIndent(rep, "", "  ")
	return os.WriteFile(filepath.Join(outDir, name+".json"), append(j, '\n'), 0o644)
}

// isPeer reports whether tool is one of the Python peers.
func isPeer(tool string) bool {
	return tool == "numpy" || tool == "dask" || tool == "torch"
}
