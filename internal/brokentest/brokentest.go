// Package brokentest holds what the broken-input tables of the format
// packages share: a reader that returns io.EOF with its last bytes, a
// reader of a whole tensor as the engine reads it, and writers of
// hand-made protobuf fields (including ones no encoder would produce),
// and the allocation check every reader's table runs.
// It is imported by tests only.
package brokentest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/bigconv/bigconv/tensor"
)

// EOFAtEnd is an io.ReaderAt that returns io.EOF with a read that
// reaches the end of its data, as the io.ReaderAt contract allows.
type EOFAtEnd []byte

func (r EOFAtEnd) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= int64(len(r)) {
		return 0, io.EOF
	}
	n := copy(p, r[off:])
	if off+int64(n) == int64(len(r)) {
		return n, io.EOF
	}
	return n, nil
}

// ReadData reads a tensor's whole Data in chunks as the engine's slicer
// does (a short read is an error; a full one may come with io.EOF), or
// its whole Stream. It returns the bytes read.
func ReadData(tt *tensor.Tensor, chunk int64) (int64, error) {
	if tt.Stream != nil {
		return io.Copy(io.Discard, tt.Stream)
	}
	n, err := tt.NumBytes()
	if err != nil {
		return 0, err
	}
	buf := make([]byte, chunk)
	for off := int64(0); off < n; off += chunk {
		p := buf[:min(chunk, n-off)]
		k, err := tt.Data.ReadAt(p, off)
		if k == len(p) && (err == nil || err == io.EOF) {
			continue
		}
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return off + int64(k), fmt.Errorf("ReadAt(%d bytes at %d): %d bytes: %w", len(p), off, k, err)
	}
	return n, nil
}

// VarintField is a varint field.
func VarintField(num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
}

// BytesField is a length-delimited field.
func BytesField(num protowire.Number, b []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), b)
}

// LenOnly is a length-delimited field's tag and length, without the bytes.
func LenOnly(num protowire.Number, n uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.BytesType), n)
}

// ShapeOf is a TensorShapeProto with these dimension sizes as raw varints
// (so that "negative" sizes can be written).
func ShapeOf(dims ...uint64) []byte {
	var b []byte
	for _, d := range dims {
		b = append(b, BytesField(2, VarintField(1, d))...)
	}
	return b
}

// Cat joins byte slices.
func Cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// Allocation runs f, which must fail with tensor.ErrCorrupt, and fails
// the test if f allocated more than limit bytes: a length read from the
// input must be checked against the input before it sizes a buffer.
func Allocation(t testing.TB, what string, limit uint64, f func() error) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err := f()
	runtime.ReadMemStats(&after)
	if !errors.Is(err, tensor.ErrCorrupt) {
		t.Fatalf("%s: %v", what, err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > limit {
		t.Errorf("%s: allocated %d bytes", what, got)
	}
}
