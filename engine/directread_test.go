package engine

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/tensor"
)

// TestReadDirect: in a run written past the page cache, blocks of an
// input file that are not in the cache are read past it (O_DIRECT) —
// casts and copies, verified or not — and give the same output, counts
// and checksum verdict as reads through the cache; runs through the page
// cache read through it. The input starts at byte 100 of its file, so
// the direct reads are widened to aligned pages and cut back.
func TestReadDirect(t *testing.T) {
	dir := t.TempDir()
	ft, verified, data, f := verifiedF64File(t, dir, 1<<20) // 8 MiB
	direct := readsDirect(f)
	if !direct {
		t.Logf("%s: no direct reads here (O_DIRECT or cachestat missing); checking the cached path gives the same", dir)
	}
	for _, c := range []struct {
		name  string
		t     *tensor.Tensor
		to    string
		write WriteMode
		drop  bool // drop the input from the cache instead of assuming every block uncached
		none  bool // no direct reads expected
	}{
		{"cast", ft, "<f4", WriteDirect, false, false},
		{"widening cast", ft, "<c16", WriteDirect, false, false},
		{"copy", ft, "", WriteDirect, false, false},
		{"verified copy", verified, "", WriteDirect, false, false},
		{"verified cast", verified, "<f2", WriteDirect, false, false},
		{"dropped input", ft, "<f4", WriteDirect, true, false},
		{"cast through the cache", ft, "<f4", WritePwrite, false, true},
		{"copy into mapped windows", ft, "", WriteMapped, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			opt := Options{BlockSize: 1 << 20, Workers: 3, Write: c.write}
			if c.to != "" {
				opt.DType = dtype.MustParse(c.to)
			}
			want := filepath.Join(dir, "want.npy")
			defer os.Remove(want)
			wres := convertCached(t, c.t, want, opt)
			out := filepath.Join(dir, "o.npy")
			defer os.Remove(out)
			if c.drop {
				dropCache(t, f)
			} else {
				assumeUncached = true
				defer func() { assumeUncached = false }()
			}
			res, err := Convert(context.Background(), c.t, out, opt)
			if err != nil {
				t.Fatal(err)
			}
			sameFile(t, out, want)
			if res.Stats != wres.Stats || res.CRCVerify != wres.CRCVerify {
				t.Fatalf("read direct: stats %+v, verified %v; through the cache: %+v, %v", res.Stats, res.CRCVerify, wres.Stats, wres.CRCVerify)
			}
			switch {
			case !direct || c.none:
				if res.DirectReadBytes != 0 {
					t.Fatalf("%d bytes read past the page cache, want none", res.DirectReadBytes)
				}
			case c.drop && res.DirectReadBytes == 0:
				t.Fatal("input dropped from the page cache: no block read past it")
			case !c.drop && res.DirectReadBytes != res.InBytes:
				t.Fatalf("every block uncached: %d of %d input bytes read past the page cache", res.DirectReadBytes, res.InBytes)
			}
		})
	}
	t.Run("damaged", func(t *testing.T) {
		assumeUncached = true
		defer func() { assumeUncached = false }()
		failsClean(t, damaged(verified), filepath.Join(dir, "d.npy"), Options{BlockSize: 1 << 20, Write: WriteDirect}, tensor.ErrChecksum, "", "", 0)
	})
	t.Run("truncated", func(t *testing.T) {
		// The tensor claims 64 KiB more than the file holds: the direct
		// read of the last block comes back short, and the read through
		// the cache names the file, the tensor and where the data ends.
		assumeUncached = true
		defer func() { assumeUncached = false }()
		for _, to := range []string{"<f4", ""} { // a cast, a copy
			opt := Options{BlockSize: 1 << 20, Write: WriteDirect}
			if to != "" {
				opt.DType = dtype.MustParse(to)
			}
			failsClean(t, truncatedAt(ft, f, len(data)), filepath.Join(dir, "t.npy"), opt, tensor.ErrCorrupt, ft.File, "x", 100+int64(len(data)))
		}
	})
}

// TestReadDirectRefused: a file system that refuses O_DIRECT reads
// (EINVAL: it wants another alignment, or none) turns direct reads off
// for the rest of the run after the first refusal of each worker at
// most; every block is then read through the page cache, with the
// output of a run that never tried.
func TestReadDirectRefused(t *testing.T) {
	dir := t.TempDir()
	ft, _, _, f := verifiedF64File(t, dir, 1<<20) // 8 MiB: eight blocks
	direct := readsDirect(f)
	for _, to := range []string{"<f4", ""} { // a cast, a copy
		t.Run("to="+to, func(t *testing.T) {
			const workers = 2
			opt := Options{BlockSize: 1 << 20, Workers: workers, Write: WriteDirect}
			if to != "" {
				opt.DType = dtype.MustParse(to)
			}
			want := filepath.Join(dir, "want.npy")
			defer os.Remove(want)
			wres := convertCached(t, ft, want, opt)
			var calls atomic.Int64
			directReadAt = func(*os.File, []byte, int64) (int, error) {
				calls.Add(1)
				return 0, &os.PathError{Op: "read", Path: ft.File, Err: unix.EINVAL}
			}
			defer func() { directReadAt = (*os.File).ReadAt }()
			assumeUncached = true
			defer func() { assumeUncached = false }()
			out := filepath.Join(dir, "o.npy")
			defer os.Remove(out)
			res, err := Convert(context.Background(), ft, out, opt)
			if err != nil {
				t.Fatal(err)
			}
			sameFile(t, out, want)
			if res.Stats != wres.Stats || res.DirectReadBytes != 0 {
				t.Fatalf("stats %+v, %d bytes read past the page cache; want %+v and none", res.Stats, res.DirectReadBytes, wres.Stats)
			}
			n := calls.Load()
			switch {
			case !direct && n != 0:
				t.Fatalf("no direct reads here, yet %d tried", n)
			case !direct:
				t.Logf("%s: no direct reads here (O_DIRECT missing); checked the cached path only", dir)
			case n < 1 || n > workers:
				t.Fatalf("%d direct reads tried after a refusal, want 1 to %d (one per worker at most) of %d blocks", n, workers, res.Blocks)
			}
		})
	}
}

// readsDirect reports whether blocks of f not in the page cache are read
// past it here (O_DIRECT and cachestat work).
func readsDirect(f *os.File) bool {
	d := openInDirect(f, 0)
	defer d.close()
	return d != nil
}

// convertCached converts tt to out with direct reads turned off, the
// reference the direct reads must match.
func convertCached(t *testing.T, tt *tensor.Tensor, out string, opt Options) Result {
	t.Helper()
	readDirectOff = true
	defer func() { readDirectOff = false }()
	res, err := Convert(context.Background(), tt, out, opt)
	if err != nil {
		t.Fatal(err)
	}
	if res.DirectReadBytes != 0 {
		t.Fatalf("direct reads off: %d bytes read past the page cache", res.DirectReadBytes)
	}
	return res
}

// TestStackReadDirect: a stack (here a concatenation) written past the
// page cache reads the blocks of its input files that are not cached past it too — casts,
// copies and verified inputs, several files at once — and gives the
// output and counts of reads through the cache; a damaged or truncated
// input fails as it does there, naming its file, with no output left.
func TestStackReadDirect(t *testing.T) {
	dir := t.TempDir()
	var plain, verified []*tensor.Tensor
	var files []*os.File
	var data [][]byte
	for i := range 3 {
		sub := filepath.Join(dir, string(rune('a'+i)))
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		ft, v, d, f := verifiedF64File(t, sub, 3<<17) // 3 MiB each: three blocks
		plain, verified, files, data = append(plain, ft), append(verified, v), append(files, f), append(data, d)
	}
	direct := readsDirect(files[0])
	// a concatenation: the truncated input below claims more rows
	stack := func(ts []*tensor.Tensor, out string, opt Options) (Result, error) {
		return Stack(context.Background(), ts, out, StackOptions{Options: opt, Join: JoinConcat})
	}
	for _, c := range []struct {
		name string
		ts   []*tensor.Tensor
		to   string
	}{
		{"cast", plain, "<f4"},
		{"copy", plain, ""},
		{"verified copy", verified, ""},
		{"verified cast", verified, "<f2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			opt := Options{BlockSize: 1 << 20, Workers: 3, Write: WriteDirect}
			if c.to != "" {
				opt.DType = dtype.MustParse(c.to)
			}
			want := filepath.Join(dir, "want.npy")
			defer os.Remove(want)
			readDirectOff = true
			wres, err := stack(c.ts, want, opt)
			readDirectOff = false
			if err != nil || wres.DirectReadBytes != 0 {
				t.Fatalf("through the cache: %v, %d bytes read past it", err, wres.DirectReadBytes)
			}
			out := filepath.Join(dir, "o.npy")
			defer os.Remove(out)
			assumeUncached = true
			defer func() { assumeUncached = false }()
			res, err := stack(c.ts, out, opt)
			if err != nil {
				t.Fatal(err)
			}
			sameFile(t, out, want)
			if res.Stats != wres.Stats || res.CRCVerify != wres.CRCVerify {
				t.Fatalf("read direct: stats %+v, verified %v; through the cache: %+v, %v", res.Stats, res.CRCVerify, wres.Stats, wres.CRCVerify)
			}
			if want := map[bool]int64{true: res.InBytes}[direct]; res.DirectReadBytes != want {
				t.Fatalf("every block uncached: %d of %d input bytes read past the page cache, want %d", res.DirectReadBytes, res.InBytes, want)
			}
		})
	}
	failsClean := func(t *testing.T, ts []*tensor.Tensor, opt Options, want error, file string, off int64) {
		t.Helper()
		assumeUncached = true
		defer func() { assumeUncached = false }()
		out := filepath.Join(dir, "bad.npy")
		_, err := stack(ts, out, opt)
		checkFailedClean(t, err, out, want, file, "", off)
	}
	t.Run("damaged", func(t *testing.T) {
		ts := slices.Clone(verified)
		ts[1] = damaged(ts[1])
		failsClean(t, ts, Options{BlockSize: 1 << 20, Write: WriteDirect}, tensor.ErrChecksum, ts[1].File, 100)
	})
	t.Run("truncated", func(t *testing.T) {
		for _, to := range []string{"<f4", ""} { // a cast, a copy
			opt := Options{BlockSize: 1 << 20, Write: WriteDirect}
			if to != "" {
				opt.DType = dtype.MustParse(to)
			}
			ts := slices.Clone(plain)
			ts[2] = truncatedAt(plain[2], files[2], len(data[2]))
			failsClean(t, ts, opt, tensor.ErrCorrupt, ts[2].File, 100+int64(len(data[2])))
		}
	})
}
