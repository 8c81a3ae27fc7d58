// Package cast holds the dtype conversion kernels of bigconv: functions
// that turn a block of elements of one dtype into the same elements in
// another, as NumPy's ndarray.astype(casting="unsafe") would, bit for bit
// (numpy 1.24 on x86-64) wherever NumPy's result is defined.
//
// A Kernel converts whole blocks, so that the engine can stream a tensor
// through it a few megabytes at a time:
//
//	k, err := cast.New(dtype.MustParse(">f8"), dtype.MustParse("<f4"))
//	if err != nil { ... }
//	var st cast.Stats
//	k(dst, src, &st) // len(dst) == len(src)/8*4; src may be clobbered
//	if st.Lost() { log.Printf("float64 → float32: %v", st) }
//
// # Semantics
//
//   - float → float rounds to nearest even; overflow gives ±inf; -0.0 and
//     subnormals are kept. NaN stays NaN with NumPy's bits: float16
//     conversions keep the payload (shifted) without quieting it, as NumPy's
//     npy_half functions do, while float32 ↔ float64 quiet it as the CPU
//     does. float64 → float16 rounds once (no double rounding via float32).
//   - int → float rounds to nearest even; int → float16 goes through
//     float32 as NumPy does (the result is the same as rounding directly).
//   - int → int wraps (two's complement).
//   - float → int truncates toward zero. NumPy leaves NaN, ±inf and values
//     out of the target's range undefined; our rule is: NaN → 0, anything
//     below the target's minimum (including -inf) → the minimum, anything
//     above its maximum (including +inf) → the maximum. A value is in
//     range when its truncation is, so -0.9 → uint8 is 0 and in range,
//     while -1.0 → uint8 is out of range (and becomes 0, the minimum).
//   - → bool: non-zero (including NaN) is true; a complex value is true
//     when either part is non-zero. From bool: any non-zero byte is 1.
//     bool → bool is a plain copy.
//   - complex → real keeps the real part; real → complex sets the
//     imaginary part to 0; complex → complex converts each part.
//   - bfloat16, float8_e4m3fn and float8_e5m2 are sources only. Each
//     widens exactly to float32 (and the float8 types to float16); other
//     targets go through float32 (bfloat16 → float16 rounds as float32 →
//     float16 does; → int follows the float rule). A float8_e4m3fn NaN
//     becomes the quiet NaN of its sign (as ml_dtypes does); float8_e5m2
//     is read as the upper byte of a float16, NaN payload included.
//   - Bytes (|S<n>) converts only to Bytes at least as wide, padded with
//     NUL bytes.
//
// Casts that dtype.IsSafe reports as lossy count what they met in a Stats:
// NaN and ±inf inputs, finite values the target cannot hold, and dropped
// non-zero imaginary parts.
//
// Kernels hold no state: one Kernel may be called from many goroutines at
// once, on different buffers.
package cast
