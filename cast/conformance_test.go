package cast

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/numpytest"
)

// numpyTypes are the 14 NumPy types, in the order the scripts use.
var numpyTypes = []dtype.Type{
	dtype.Bool, dtype.Int8, dtype.Int16, dtype.Int32, dtype.Int64,
	dtype.Uint8, dtype.Uint16, dtype.Uint32, dtype.Uint64,
	dtype.Float16, dtype.Float32, dtype.Float64, dtype.Complex64, dtype.Complex128,
}

// conformanceScript writes, into the directory argv[1], for each NumPy
// type T: src_T.bin (raw little-endian inputs), real64_T.bin (for float
// and complex T: the (real part's) value as float64, exact) and, for each
// target U, out_T_U.bin = src.astype(U).
const conformanceScript = `
import sys, os, warnings
import numpy as np
warnings.simplefilter('ignore')
np.seterr(all='ignore')
out = sys.argv[1]
rng = np.random.default_rng(20240611)
N = 2000
names = ['bool','int8','int16','int32','int64','uint8','uint16','uint32','uint64',
         'float16','float32','float64','complex64','complex128']
ints = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]

edges = [0, 1, -1, 2, -2, 100, 127, 128, 129, -127, -128, -129, 255, 256, -255, -256,
         2047, 2048, 2049, 4097, 32767, 32768, -32768, -32769, 65504, 65519, 65520, 65535, 65536,
         2**24, 2**24 + 1, 2**31 - 1, 2**31, -2**31, -2**31 - 1, 2**32 - 1, 2**32,
         2**53 + 1, 2**63 - 1, -2**63, 2**63, 2**64 - 1, 2**62 + 2**39 + 1, 2**63 + 2**39 + 1,
         2**64 - 2**39 - 1, 2**31 - 64, 2**31 - 65, -2**63 + 2**39 + 1]
for t in ints:
    ii = np.iinfo(t)
    edges += [int(ii.min), int(ii.max), int(ii.min) + 1, int(ii.max) - 1]

def int_array(t):
    ii = np.iinfo(t)
    e = np.array([v for v in edges if ii.min <= v <= ii.max], dtype=t)
    size = np.dtype(t).itemsize
    bits = np.frombuffer(rng.bytes(N * size), dtype=t)
    small = rng.integers(max(int(ii.min), -70000), min(int(ii.max), 70000), N, endpoint=True).astype(t)
    return np.concatenate([e, bits, small])

specials = [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 0.9, -0.9, 1.5, 2.5,
            -2.5, -1.5, 127.5, 127.9, 128.0, -128.5, -128.9, -129.0, 255.0, 255.5, 255.9, 256.0,
            -255.5, 32767.5, 32768.0, -32768.9, -32769.0, 65535.5, 65535.9, 65536.0,
            2.0**31 - 1, 2.0**31 - 0.5, 2.0**31, 2.0**31 - 128, 2.0**31 - 64, -2.0**31, -2.0**31 - 0.5,
            -2.0**31 - 1, -2.0**31 - 128, -2.0**31 - 256, 2.0**32 - 1, 2.0**32 - 0.5, 2.0**32,
            2.0**32 - 256, 2.0**63, 2.0**63 - 1024, 2.0**63 - 2**39, -2.0**63, -2.0**63 - 2048,
            -2.0**63 - 2**40, 2.0**64, 2.0**64 - 2048, 2.0**64 - 2**40, 2.0**65, -2.0**64,
            65504.0, 65519.99, 65520.0, 65536.0, -65520.0, 1e300, -1e300, 1e38, -1e38,
            3.4028234663852886e38, 3.4028235677973366e38, 3.4028236e38, np.finfo(np.float64).max,
            -np.finfo(np.float64).max, 2.0**-24, 2.0**-25, 2.0**-25 * 1.0001, 3 * 2.0**-26,
            2.0**-14, 2.0**-14 - 2.0**-25, 2.0**-15, 2.0**-126, 2.0**-149, 2.0**-150, 1.4e-45 * 0.75,
            5e-324, -5e-324, 2.2250738585072014e-308, 2.2250738585072009e-308,
            1 + 2.0**-11, 1 + 3 * 2.0**-11, 1 + 2.0**-11 + 2.0**-40, 1 + 2.0**-24, 1 + 3 * 2.0**-24,
            1 + 2.0**-24 + 2.0**-50, 2049.0, 4097.0, 1e-5, 1e-8, 1e-40, 1e-46, 1e-310, 0.1, 1.0/3]

nan_bits = {
    np.float16: [0x7c01, 0x7d00, 0x7e00, 0x7fff, 0xfc01, 0xfe00, 0xffff, 0x7e01],
    np.float32: [0x7f800001, 0x7fa00000, 0x7fc00000, 0xffc00001, 0x7f802000, 0x7fbfffff,
                 0x7fffffff, 0xff800001, 0x7fc02000, 0x7f801fff],
    np.float64: [0x7ff0000000000001, 0x7ff4000000000000, 0x7ff8000000000000, 0xfff8000000000001,
                 0x7ff0040000000000, 0x7ff0000020000000, 0x7fffffffffffffff, 0xfff0000000000001,
                 0x7ff8000020000000, 0x7ff000001fffffff],
}
utype = {np.float16: np.uint16, np.float32: np.uint32, np.float64: np.uint64}

def float_array(t):
    a = [np.array(specials, dtype=np.float64).astype(t)]
    a.append(np.array(nan_bits[t], dtype=utype[t]).view(t))
    size = np.dtype(t).itemsize
    a.append(np.frombuffer(rng.bytes(N * size), dtype=t))
    mags = rng.choice([1.0, -1.0], N) * 2.0 ** rng.uniform(-160, 140, N) * rng.uniform(1, 2, N)
    a.append(mags.astype(t))
    a.append((rng.uniform(-300, 300, N // 2)).astype(t))
    a.append((rng.integers(-2**40, 2**40, N // 2) * 1.0).astype(t))
    # subnormals of every float type, and values near int boundaries
    for ft in (np.float16, np.float32, np.float64):
        tiny = np.finfo(ft).tiny
        a.append((np.arange(1, 9, dtype=np.float64) * np.float64(np.finfo(ft).smallest_subnormal)).astype(t))
        a.append(np.array([tiny, -tiny, tiny / 2, np.finfo(ft).max, -np.finfo(ft).max], dtype=np.float64).astype(t))
    for b in (2.0**7, 2.0**8, 2.0**15, 2.0**16, 2.0**31, 2.0**32, 2.0**63, 2.0**64):
        for s in (1, -1):
            v = np.array([s * b], dtype=t)[0]
            a.append(np.array([np.nextafter(v, t(0)), v, np.nextafter(v, t(s * np.inf)),
                               np.nextafter(-v, t(0)) if s > 0 else v - 1], dtype=t))
    return np.concatenate(a)

def complex_array(t, ft):
    re = float_array(ft)
    im = np.where(rng.random(len(re)) < 0.5, ft(0), rng.permutation(re))
    im[:len(specials)] = 0
    c = np.empty(len(re), dtype=t)
    c.real, c.imag = re, im
    extra = np.array([complex(np.nan, 0), complex(0, np.nan), complex(np.inf, 1), complex(1, -np.inf),
                      complex(0, 0), complex(-0.0, -0.0), complex(0, 1), complex(1e300, 1e300),
                      complex(3.4e38, -3.4e38), complex(0, -0.0)], dtype=t)
    return np.concatenate([c, extra])

arrays = {
    'bool': rng.integers(0, 2, N).astype(np.bool_),
    'float16': float_array(np.float16),
    'float32': float_array(np.float32),
    'float64': float_array(np.float64),
    'complex64': complex_array(np.complex64, np.float32),
    'complex128': complex_array(np.complex128, np.float64),
}
for t in ints:
    arrays[np.dtype(t).name] = int_array(t)

for name in names:
    a = arrays[name]
    assert a.dtype == np.dtype(name), (name, a.dtype)
    a.tofile(os.path.join(out, 'src_%s.bin' % name))
    if a.dtype.kind in 'fc':
        a.real.astype(np.float64).tofile(os.path.join(out, 'real64_%s.bin' % name))
    for to in names:
        a.astype(to).tofile(os.path.join(out, 'out_%s_%s.bin' % (name, to)))
`

// fixture reads one file the scripts wrote.
func fixture(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// reverseParts returns a copy of b with the bytes of each part-byte unit
// reversed: the big-endian form of little-endian data. It is written
// independently of Swap.
func reverseParts(b []byte, part int) []byte {
	r := make([]byte, len(b))
	for i := 0; i < len(b); i += part {
		for j := 0; j < part; j++ {
			r[i+j] = b[i+part-1-j]
		}
	}
	return r
}

func testPartSize(t dtype.Type) int {
	if t.Kind() == dtype.KindComplex {
		return t.Size() / 2
	}
	return t.Size()
}

// ruleValue applies the package's float → int rule to a value NumPy
// leaves undefined: ok is false when v truncates into the range of to,
// where NumPy's answer stands.
func ruleValue(v float64, to dtype.Type) (bits uint64, ok bool, what string) {
	n := to.Size() * 8
	signed := to.Kind() == dtype.KindInt
	lo, hi := 0.0, math.Ldexp(1, n) // truncation must be in [lo, hi)
	minV, maxV := uint64(0), uint64(math.MaxUint64)>>(64-n)
	if signed {
		lo, hi = -math.Ldexp(1, n-1), math.Ldexp(1, n-1)
		minV, maxV = uint64(1)<<(n-1)|^(uint64(math.MaxUint64)>>(64-n)), maxV>>1
	}
	tr := math.Trunc(v)
	switch {
	case math.IsNaN(v):
		return 0, true, "nan"
	case tr < lo:
		if math.IsInf(v, 0) {
			return minV, true, "inf"
		}
		return minV, true, "oor"
	case tr >= hi:
		if math.IsInf(v, 0) {
			return maxV, true, "inf"
		}
		return maxV, true, "oor"
	}
	return 0, false, ""
}

// putUint writes the low size bytes of v little-endian.
func putUint(b []byte, v uint64) {
	var tmp [8]byte
	binary.LittleEndian.PutUint64(tmp[:], v)
	copy(b, tmp[:len(b)])
}

// expectation is NumPy's output for one pair with our rule applied where
// NumPy's answer is undefined, plus the Stats that the rule implies.
func expectation(t *testing.T, dir, fromName string, from, to dtype.Type) (want []byte, st Stats, checkStats bool) {
	want = fixture(t, dir, "out_"+fromName+"_"+to.String()+".bin")
	fk, tk := from.Kind(), to.Kind()
	if !((fk == dtype.KindFloat || fk == dtype.KindComplex) && (tk == dtype.KindInt || tk == dtype.KindUint)) {
		return want, st, false
	}
	real64 := fixture(t, dir, "real64_"+fromName+".bin")
	ts := to.Size()
	want = bytes.Clone(want)
	for i := range len(real64) / 8 {
		v := math.Float64frombits(binary.LittleEndian.Uint64(real64[8*i:]))
		bits, ok, what := ruleValue(v, to)
		if !ok {
			continue
		}
		putUint(want[i*ts:(i+1)*ts], bits)
		switch what {
		case "nan":
			st.NaN++
		case "inf":
			st.Inf++
		default:
			st.OutOfRange++
		}
	}
	return want, st, fk == dtype.KindFloat
}

// checkPair runs the kernel for every byte-order combination and
// compares with want (little-endian).
func checkPair(t *testing.T, from, to dtype.Type, src, want []byte, wantStats Stats, checkStats bool) {
	t.Helper()
	fs, ts := from.Size(), to.Size()
	n := len(src) / fs
	if len(want) != n*ts {
		t.Fatalf("fixture sizes disagree: %d source bytes, %d expected bytes", len(src), len(want))
	}
	for _, order := range []struct{ inBE, outBE bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		if (order.inBE && fs == 1) || (order.outBE && ts == 1) {
			continue
		}
		fd, td := dtype.DType{Type: from, BigEndian: order.inBE}, dtype.DType{Type: to, BigEndian: order.outBE}
		k, err := New(fd, td)
		if err != nil {
			t.Fatalf("New(%s, %s): %v", fd, td, err)
		}
		in := bytes.Clone(src)
		if order.inBE {
			in = reverseParts(in, testPartSize(from))
		}
		exp := want
		if order.outBE {
			exp = reverseParts(want, testPartSize(to))
		}
		got := make([]byte, n*ts)
		var st Stats
		k(got, bytes.Clone(in), &st)
		if bad := diff(got, exp, src, fs, ts); bad != "" {
			t.Errorf("%s → %s: %s", fd, td, bad)
			continue
		}
		if checkStats && st != wantStats {
			t.Errorf("%s → %s: stats %+v, want %+v", fd, td, st, wantStats)
		}
		// One element per call takes the kernels' scalar paths (loop
		// tails, the careful path of checked loops), which a whole
		// block may not.
		one := make([]byte, n*ts)
		var st1 Stats
		for i := range n {
			k(one[i*ts:(i+1)*ts], bytes.Clone(in[i*fs:(i+1)*fs]), &st1)
		}
		if bad := diff(one, exp, src, fs, ts); bad != "" {
			t.Errorf("%s → %s, one element per call: %s", fd, td, bad)
			continue
		}
		if checkStats && st1 != wantStats {
			t.Errorf("%s → %s, one element per call: stats %+v, want %+v", fd, td, st1, wantStats)
		}
	}
}

// diff describes the first few elements where got and want differ.
func diff(got, want, src []byte, fs, ts int) string {
	var b strings.Builder
	bad := 0
	for i := 0; i*ts < len(want); i++ {
		g, w := got[i*ts:(i+1)*ts], want[i*ts:(i+1)*ts]
		if bytes.Equal(g, w) {
			continue
		}
		if bad < 5 {
			fmt.Fprintf(&b, "\n\t[%d] src % x: got % x, want % x", i, src[i*fs:(i+1)*fs], g, w)
		}
		bad++
	}
	if bad == 0 {
		return ""
	}
	return fmt.Sprintf("%d of %d elements differ:%s", bad, len(want)/ts, b.String())
}

// TestNumPyConformance compares every pair of the 14 NumPy types, in
// every byte order, with NumPy's astype (float → int: with our rule where
// NumPy is undefined).
func TestNumPyConformance(t *testing.T) {
	dir := t.TempDir()
	numpytest.Run(t, conformanceScript, dir)
	for _, from := range numpyTypes {
		src := fixture(t, dir, "src_"+from.String()+".bin")
		for _, to := range numpyTypes {
			t.Run("from="+from.String()+"/to="+to.String(), func(t *testing.T) {
				want, st, checkStats := expectation(t, dir, from.String(), from, to)
				checkPair(t, from, to, src, want, st, checkStats)
			})
		}
	}
}
