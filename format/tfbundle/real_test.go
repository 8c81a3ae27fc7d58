package tfbundle

import (
	"bufio"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/numpytest"
	"github.com/bigconv/bigconv/tensor"
)

// manifest returns the paths (relative to dir) of MANIFEST.tsv rows of
// the given format.
func manifest(t *testing.T, dir, format string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) > 4 && cols[4] == format && !seen[cols[0]] {
			seen[cols[0]] = true
			out = append(out, cols[0])
		}
	}
	if len(out) == 0 {
		t.Fatalf("no %s rows in MANIFEST.tsv", format)
	}
	return out
}

// scalar decodes a one-element numeric tensor as float64.
func scalar(t *testing.T, tt *tensor.Tensor) float64 {
	t.Helper()
	b, _, err := readAll(t, tt, 1<<16)
	if err != nil {
		t.Fatalf("%s: %v", tt.Name, err)
	}
	var o binary.ByteOrder = binary.LittleEndian
	if tt.DType.BigEndian {
		o = binary.BigEndian
	}
	switch tt.DType.Type {
	case dtype.Float32:
		return float64(math.Float32frombits(o.Uint32(b)))
	case dtype.Float64:
		return math.Float64frombits(o.Uint64(b))
	case dtype.Int32:
		return float64(int32(o.Uint32(b)))
	case dtype.Int64:
		return float64(int64(o.Uint64(b)))
	}
	t.Fatalf("%s: no scalar decoding for %v", tt.Name, tt.DType)
	return 0
}

// realWant lists what MANIFEST.tsv states about some bundles, keyed by a
// path fragment.
var realWant = []struct {
	path    string
	count   int // number of listed tensors (0: not checked)
	shards  int
	values  map[string]float64
	shapes  map[string]dtype.Shape
	strings map[string]int // string tensor → width (its byte length)
}{
	{path: "saved_model_half_plus_two_2_versions/00000123/", count: 3, shards: 1,
		values: map[string]float64{"a": 0.5, "b": 2, "c": 3}},
	{path: "saved_model_half_plus_two_cpu/", count: 5,
		values: map[string]float64{"a": 0.5, "a2": 0.5, "b": 2, "c": 3, "c2": 3}},
	{path: "saved_model_half_plus_two_mkl/", values: map[string]float64{"a": 0.5, "b": 2, "c": 3}},
	{path: "saved_model_half_plus_three/", values: map[string]float64{"a": 0.5, "b": 3, "c": 3}},
	{path: "saved_model_counter/", count: 1, values: map[string]float64{"counter": 0}},
	{path: "saved_model_half_plus_two_tf2_cpu/", count: 4,
		values:  map[string]float64{"a/.ATTRIBUTES/VARIABLE_VALUE": 0.5, "b/.ATTRIBUTES/VARIABLE_VALUE": 2, "c/.ATTRIBUTES/VARIABLE_VALUE": 3},
		strings: map[string]int{"_CHECKPOINTABLE_OBJECT_GRAPH": 613}},
	{path: "tf_text_regression/", count: 1, strings: map[string]int{"_CHECKPOINTABLE_OBJECT_GRAPH": 921}},
	{path: "rust/examples/regression_savedmodel/", values: map[string]float64{
		"b/.ATTRIBUTES/VARIABLE_VALUE": 0, "optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE": 0,
		"optimizer/learning_rate/.ATTRIBUTES/VARIABLE_VALUE": 0.5}},
	{path: "keras_multiple_inputs_saved_model/", count: 22, strings: map[string]int{"_CHECKPOINTABLE_OBJECT_GRAPH": 4510}},
	{path: "keras_signle_input_saved_model/", count: 28, strings: map[string]int{"_CHECKPOINTABLE_OBJECT_GRAPH": 4647}},
	{path: "int64_multiply/", count: 3,
		values:  map[string]float64{"v1/.ATTRIBUTES/VARIABLE_VALUE": 3, "v2/.ATTRIBUTES/VARIABLE_VALUE": 2},
		strings: map[string]int{"_CHECKPOINTABLE_OBJECT_GRAPH": 158}},
	{path: "uint8_multiply/", values: map[string]float64{"v1/.ATTRIBUTES/VARIABLE_VALUE": 3, "v2/.ATTRIBUTES/VARIABLE_VALUE": 2}},
	{path: "model_multi_output/", values: map[string]float64{"v/.ATTRIBUTES/VARIABLE_VALUE": 3, "two/.ATTRIBUTES/VARIABLE_VALUE": 2}},
	{path: "model.ckpt-10000.index", count: 51, shards: 2,
		values: map[string]float64{"global_step": 10000},
		shapes: map[string]dtype.Shape{"dnn/hiddenlayer_0/kernel": {3, 100}, "dnn/hiddenlayer_1/kernel": {100, 70},
			"dnn/logits/kernel": {34, 1}, "linear/linear_model/company_xf/weights": {1010, 1}}},
	{path: "1551926310/variables/", count: 21, shards: 2, values: map[string]float64{"global_step": 10000}},
	{path: "model.ckpt-1000.index", count: 60},
	{path: "trainer/keras/Format-Serving/", strings: map[string]int{"_CHECKPOINTABLE_OBJECT_GRAPH": 5083},
		values: map[string]float64{"optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE": 99}},
}

func TestRealBundles(t *testing.T) {
	dir := numpytest.SharedDir(t)
	checked := map[string]bool{}
	for _, rel := range manifest(t, dir, "tf-bundle-index") {
		t.Run(rel, func(t *testing.T) {
			b := mustOpen(t, filepath.Join(dir, rel))
			ts := b.Tensors()
			for i := 1; i < len(ts); i++ {
				if ts[i-1].Name >= ts[i].Name {
					t.Errorf("tensors not sorted: %q before %q", ts[i-1].Name, ts[i].Name)
				}
			}
			numeric := 0
			for _, tt := range ts {
				if tt.Unsupported != "" {
					continue
				}
				got, crc, err := readAll(t, tt, 4096)
				if err != nil {
					t.Fatalf("%s: %v", tt.Name, err)
				}
				if tt.DType.Type == dtype.Bytes {
					continue
				}
				numeric++
				if tt.CRC32C == nil || !tt.Contiguous {
					t.Fatalf("%s: numeric tensor without CRC32C or not contiguous", tt.Name)
				}
				if crc != *tt.CRC32C {
					t.Errorf("%s: crc32c %08x, index says %08x", tt.Name, crc, *tt.CRC32C)
				}
				_ = got
			}
			if numeric == 0 && !strings.Contains(rel, "tf_text_regression") {
				t.Errorf("no numeric tensors")
			}
			m := byName(b)
			for _, w := range realWant {
				if !strings.Contains(rel, w.path) {
					continue
				}
				checked[w.path] = true
				if w.count > 0 && len(ts) != w.count {
					t.Errorf("%d tensors, want %d", len(ts), w.count)
				}
				if w.shards > 0 && b.NumShards() != w.shards {
					t.Errorf("%d shards, want %d", b.NumShards(), w.shards)
				}
				for name, v := range w.values {
					tt := m[name]
					if tt == nil {
						t.Errorf("no tensor %q", name)
						continue
					}
					if got := scalar(t, tt); got != v {
						t.Errorf("%s = %v, want %v", name, got, v)
					}
				}
				for name, sh := range w.shapes {
					if tt := m[name]; tt == nil || !tt.Shape.Equal(sh) {
						t.Errorf("%s: want shape %v, got %+v", name, sh, tt)
					}
				}
				for name, width := range w.strings {
					tt := m[name]
					if tt == nil || tt.DType != dtype.BytesOf(width) || len(tt.Shape) != 0 {
						t.Errorf("%s: want scalar |S%d, got %+v", name, width, tt)
						continue
					}
					got, _, err := readAll(t, tt, 100)
					if err != nil || len(got) != width {
						t.Errorf("%s: read %d bytes, %v", name, len(got), err)
					}
				}
			}
			if strings.Contains(rel, "model.ckpt-10000") {
				gs := m["global_step"]
				if gs.DType != dtype.Of(dtype.Int64) || gs.Extra["shard"] != "0" {
					t.Errorf("global_step: %v shard %s", gs.DType, gs.Extra["shard"])
				}
				if k := m["dnn/hiddenlayer_0/kernel"]; k.Extra["shard"] != "1" || !strings.HasSuffix(k.File, "model.ckpt-10000.data-00001-of-00002") {
					t.Errorf("kernel in shard %s file %s", k.Extra["shard"], k.File)
				}
			}
		})
	}
	for _, w := range realWant {
		if !checked[w.path] {
			t.Errorf("no MANIFEST row matched %q", w.path)
		}
	}
}

func TestRealV1Refused(t *testing.T) {
	dir := numpytest.SharedDir(t)
	for _, rel := range manifest(t, dir, "tf-v1-checkpoint") {
		t.Run(rel, func(t *testing.T) {
			path := filepath.Join(dir, rel)
			_, err := openPath(t, path)
			if !errors.Is(err, tensor.ErrUnsupported) || !strings.Contains(err.Error(), "V1") ||
				!strings.HasPrefix(err.Error(), "tfbundle: ") {
				t.Errorf("Open: %v, want a V1 ErrUnsupported error", err)
			}
			_, err = IndexPath(path, func(string) bool { return false }, func(p string) bool { return p == path })
			if !errors.Is(err, tensor.ErrFormat) {
				t.Errorf("IndexPath: %v, want ErrFormat", err)
			}
		})
	}
}

// TestRealCorruptShard flips one byte of a data shard in a copy of the
// sharded tfx checkpoint: the tensor holding it fails its CRC.
func TestRealCorruptShard(t *testing.T) {
	dir := numpytest.SharedDir(t)
	src := filepath.Join(dir, "tensorflow+tfx/tfx/components/pusher/testdata/model_export/serving_model_dir")
	tmp := t.TempDir()
	for _, f := range []string{"model.ckpt-10000.index", "model.ckpt-10000.data-00000-of-00002", "model.ckpt-10000.data-00001-of-00002"} {
		copyFile(t, filepath.Join(src, f), filepath.Join(tmp, f))
	}
	b := mustOpen(t, filepath.Join(tmp, "model.ckpt-10000.index"))
	victim := byName(b)["dnn/hiddenlayer_1/kernel"]
	shard := filepath.Join(tmp, "model.ckpt-10000.data-00001-of-00002")
	data, err := os.ReadFile(shard)
	if err != nil {
		t.Fatal(err)
	}
	data[victim.Offset+1234] ^= 0x10
	if err := os.WriteFile(shard, data, 0o644); err != nil {
		t.Fatal(err)
	}
	b = mustOpen(t, filepath.Join(tmp, "model.ckpt-10000.index"))
	bad := 0
	for _, tt := range b.Tensors() {
		_, crc, err := readAll(t, tt, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if crc != *tt.CRC32C {
			bad++
			if tt.Name != victim.Name {
				t.Errorf("crc mismatch in %s, want only in %s", tt.Name, victim.Name)
			}
		}
	}
	if bad != 1 {
		t.Errorf("%d tensors fail their crc, want 1", bad)
	}
}

// TestRealCorruptString flips a byte of the object graph string: reading
// it returns ErrChecksum.
func TestRealCorruptString(t *testing.T) {
	dir := numpytest.SharedDir(t)
	src := filepath.Join(dir, "tensorflow+serving/tensorflow_serving/servables/tensorflow/testdata/saved_model_half_plus_two_tf2_cpu/00000123/variables")
	tmp := t.TempDir()
	copyFile(t, filepath.Join(src, "variables.index"), filepath.Join(tmp, "variables.index"))
	data, err := os.ReadFile(filepath.Join(src, "variables.data-00000-of-00001"))
	if err != nil {
		t.Fatal(err)
	}
	for _, pos := range []int{12, 14, 16, 17, 300, 630} { // length varint, length crc, string bytes
		t.Run("", func(t *testing.T) {
			d := append([]byte(nil), data...)
			d[pos] ^= 0x01
			if err := os.WriteFile(filepath.Join(tmp, "variables.data-00000-of-00001"), d, 0o644); err != nil {
				t.Fatal(err)
			}
			b := mustOpen(t, filepath.Join(tmp, "variables.index"))
			g := byName(b)["_CHECKPOINTABLE_OBJECT_GRAPH"]
			_, err := g.Data.ReadAt(make([]byte, 1), 0)
			if !errors.Is(err, tensor.ErrChecksum) && !errors.Is(err, tensor.ErrCorrupt) {
				t.Errorf("byte %d flipped: ReadAt error %v, want ErrChecksum/ErrCorrupt", pos, err)
			}
		})
	}
}

// TestRealCorruptIndex flips every byte of two real index files (one with
// snappy blocks): Open fails with a sentinel error, never panics.
func TestRealCorruptIndex(t *testing.T) {
	dir := numpytest.SharedDir(t)
	for _, rel := range []string{
		"tensorflow+serving/tensorflow_serving/servables/tensorflow/testdata/saved_model_half_plus_two_cpu/00000123/variables",
		"tensorflow+serving/tensorflow_serving/servables/tensorflow/testdata/saved_model_half_plus_two_tf2_cpu/00000123/variables",
	} {
		src := filepath.Join(dir, rel)
		tmp := t.TempDir()
		copyFile(t, filepath.Join(src, "variables.data-00000-of-00001"), filepath.Join(tmp, "variables.data-00000-of-00001"))
		idx, err := os.ReadFile(filepath.Join(src, "variables.index"))
		if err != nil {
			t.Fatal(err)
		}
		for pos := range idx {
			for _, bit := range []byte{0x01, 0x80} {
				d := append([]byte(nil), idx...)
				d[pos] ^= bit
				path := filepath.Join(tmp, "variables.index")
				if err := os.WriteFile(path, d, 0o644); err != nil {
					t.Fatal(err)
				}
				_, err := openPath(t, path)
				inBlocks := pos < len(idx)-48
				switch {
				case err == nil && inBlocks:
					t.Errorf("%s: byte %d ^%#x: Open succeeded", rel, pos, bit)
				case err != nil && !isSentinel(err):
					t.Errorf("%s: byte %d: %v wraps no sentinel", rel, pos, err)
				case err != nil && inBlocks && !errors.Is(err, tensor.ErrChecksum) && !errors.Is(err, tensor.ErrCorrupt):
					t.Errorf("%s: byte %d: %v, want ErrChecksum or ErrCorrupt", rel, pos, err)
				case err != nil && !strings.HasPrefix(err.Error(), "tfbundle: "):
					t.Errorf("error %q lacks the tfbundle: prefix", err)
				}
			}
		}
	}
}
