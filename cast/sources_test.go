package cast

import (
	"bytes"
	"testing"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/internal/numpytest"
)

// sourcesScript decodes every bfloat16, float8_e4m3fn, float8_e5m2,
// float8_e4m3fnuz and float8_e5m2fnuz bit pattern from the formats' definitions (sign, exponent, mantissa;
// ml_dtypes is not needed) and writes, into argv[1]: src_X.bin (the
// patterns), dec_X.bin (the float32 decoding), real64_X.bin (as float64)
// and out_X_U.bin = decoded.astype(U) for each NumPy type U, since every
// other target goes through float32.
const sourcesScript = `
import sys, os, math, warnings
import numpy as np
warnings.simplefilter('ignore')
np.seterr(all='ignore')
out = sys.argv[1]
names = ['bool','int8','int16','int32','int64','uint8','uint16','uint32','uint64',
         'float16','float32','float64','complex64','complex128']

def decode(p, ebits, mbits, bias, nan, inf):
    # returns the value as a Python float, or None for NaN
    s = -1.0 if p >> (ebits + mbits) else 1.0
    e = (p >> mbits) & ((1 << ebits) - 1)
    m = p & ((1 << mbits) - 1)
    if nan(e, m):
        return None
    if inf(e, m):
        return s * math.inf
    if e == 0:
        return s * math.ldexp(m, 1 - bias - mbits)
    return s * math.ldexp((1 << mbits) + m, e - bias - mbits)

def f32bits(v):
    return int(np.array([v], dtype=np.float32).view(np.uint32)[0])

kinds = {
    # bfloat16: IEEE-like 1/8/7, NaN keeps its bits (the upper half of a float32)
    'bfloat16': (16, lambda p: decode(p, 8, 7, 127, lambda e, m: e == 255 and m != 0, lambda e, m: e == 255 and m == 0),
                 lambda p: p << 16),
    # float8_e4m3fn: 1/4/3, bias 7, no inf, only S.1111.111 is NaN -> quiet NaN of that sign
    'float8_e4m3fn': (8, lambda p: decode(p, 4, 3, 7, lambda e, m: e == 15 and m == 7, lambda e, m: False),
                      lambda p: (p >> 7) << 31 | 0x7fc00000),
    # float8_e5m2: 1/5/2, bias 15, IEEE-like; a NaN is read as the float16 p<<8
    'float8_e5m2': (8, lambda p: decode(p, 5, 2, 15, lambda e, m: e == 31 and m != 0, lambda e, m: e == 31 and m == 0),
                    lambda p: int(np.array([p << 8], dtype=np.uint16).view(np.float16).astype(np.float32).view(np.uint32)[0])),
    # float8_e4m3fnuz / float8_e5m2fnuz (ONNX float8 spec): bias 8 / 16, no inf, no -0,
    # 0x80 the only NaN -> 0x7fc00000 (onnx's reference decoder gives np.nan)
    'float8_e4m3fnuz': (8, lambda p: None if p == 0x80 else decode(p, 4, 3, 8, lambda e, m: False, lambda e, m: False),
                        lambda p: 0x7fc00000),
    'float8_e5m2fnuz': (8, lambda p: None if p == 0x80 else decode(p, 5, 2, 16, lambda e, m: False, lambda e, m: False),
                        lambda p: 0x7fc00000),
}
for name, (bits, dec, nanbits) in kinds.items():
    pats = np.arange(1 << bits, dtype=np.uint16 if bits == 16 else np.uint8)
    words = []
    for p in range(1 << bits):
        v = dec(p)
        words.append(nanbits(p) if v is None else f32bits(v))
    d = np.array(words, dtype=np.uint32).view(np.float32)
    pats.tofile(os.path.join(out, 'src_%s.bin' % name))
    d.tofile(os.path.join(out, 'dec_%s.bin' % name))
    d.astype(np.float64).tofile(os.path.join(out, 'real64_%s.bin' % name))
    for to in names:
        d.astype(to).tofile(os.path.join(out, 'out_%s_%s.bin' % (name, to)))
`

// TestSourceOnlyTypes checks every bfloat16 and float8 bit pattern: the
// exact widening to float32 against an independent decoder, and every
// other NumPy target against NumPy's conversion of that float32.
func TestSourceOnlyTypes(t *testing.T) {
	dir := t.TempDir()
	numpytest.Run(t, sourcesScript, dir)
	for _, from := range []dtype.Type{dtype.BFloat16, dtype.Float8E4M3FN, dtype.Float8E5M2, dtype.Float8E4M3FNUZ, dtype.Float8E5M2FNUZ} {
		src := fixture(t, dir, "src_"+from.String()+".bin")
		if want := 1 << (8 * from.Size()); len(src)/from.Size() != want {
			t.Fatalf("%s: %d patterns, want %d", from, len(src)/from.Size(), want)
		}
		t.Run("from="+from.String()+"/decode", func(t *testing.T) {
			k, err := New(dtype.Of(from), dtype.Of(dtype.Float32))
			if err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(src)/from.Size()*4)
			k(got, bytes.Clone(src), nil)
			if bad := diff(got, fixture(t, dir, "dec_"+from.String()+".bin"), src, from.Size(), 4); bad != "" {
				t.Error(bad)
			}
		})
		for _, to := range numpyTypes {
			t.Run("from="+from.String()+"/to="+to.String(), func(t *testing.T) {
				want, st, check := expectation(t, dir, from.String(), from, to)
				checkPair(t, from, to, src, want, st, check)
			})
		}
	}
}

// TestNewErrors checks that New refuses bfloat16 and float8 as
// targets, and the other pairs it cannot do.
func TestNewErrors(t *testing.T) {
	for _, tc := range []struct{ from, to dtype.DType }{
		{dtype.Of(dtype.Float32), dtype.Of(dtype.BFloat16)},
		{dtype.Of(dtype.Float32), dtype.Of(dtype.Float8E4M3FN)},
		{dtype.Of(dtype.BFloat16), dtype.Of(dtype.Float8E5M2)},
		{dtype.Of(dtype.BFloat16), dtype.Of(dtype.BFloat16)},
		{dtype.Of(dtype.Float32), dtype.BytesOf(4)},
		{dtype.BytesOf(4), dtype.Of(dtype.Uint8)},
		{dtype.BytesOf(4), dtype.BytesOf(3)},
		{dtype.Of(dtype.Invalid), dtype.Of(dtype.Float32)},
		{dtype.Of(dtype.Float32), dtype.Of(dtype.Invalid)},
	} {
		t.Run("from="+tc.from.String()+"/to="+tc.to.String(), func(t *testing.T) {
			k, err := New(tc.from, tc.to)
			if err == nil || k != nil {
				t.Fatalf("New = %v, %v; want an error", k != nil, err)
			}
			if msg := err.Error(); len(msg) < 6 || msg[:6] != "cast: " {
				t.Errorf("error %q does not start with \"cast: \"", msg)
			}
			t.Log(err)
		})
	}
}
