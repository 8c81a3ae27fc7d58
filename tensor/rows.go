package tensor

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"strconv"
	"strings"
	"sync"

	"github.com/bigconv/bigconv/dtype"
)

// RowRange is a slice START:STOP of a tensor's first axis with Python's
// rules (step 1): a bound may be omitted (nil), a negative one counts
// from the end, and bounds past either end are clamped, so a range never
// fails for being out of bounds; STOP ≤ START selects no rows.
type RowRange struct {
	Start, Stop *int64
}

// ParseRows reads "START:STOP" as Python writes a slice: "2:10", "-5:",
// ":-1", ":". A step ("::2") is refused.
func ParseRows(s string) (RowRange, error) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return RowRange{}, fmt.Errorf("rows %q: want START:STOP (either may be empty, negatives count from the end)", s)
	}
	if strings.Contains(b, ":") {
		return RowRange{}, fmt.Errorf("rows %q: only step 1 is supported", s)
	}
	var r RowRange
	for _, p := range []struct {
		text string
		dst  **int64
	}{{a, &r.Start}, {b, &r.Stop}} {
		t := strings.TrimSpace(p.text)
		if t == "" {
			continue
		}
		v, err := strconv.ParseInt(t, 10, 64)
		if err != nil {
			return RowRange{}, fmt.Errorf("rows %q: %q is not an integer", s, t)
		}
		*p.dst = &v
	}
	return r, nil
}

// String is the range as Python writes it ("2:10", "-5:", ":").
func (r RowRange) String() string {
	f := func(p *int64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatInt(*p, 10)
	}
	return f(r.Start) + ":" + f(r.Stop)
}

// Resolve is the range over n rows as [start, stop) with 0 ≤ start ≤
// stop ≤ n: Python's slice(start, stop).indices(n) for step 1, with
// stop raised to start when the slice is empty.
func (r RowRange) Resolve(n int64) (start, stop int64) {
	bound := func(p *int64, def int64) int64 {
		if p == nil {
			return def
		}
		v := *p
		if v < 0 {
			v += n
			if v < 0 {
				v = 0
			}
		}
		return min(v, n)
	}
	start, stop = bound(r.Start, 0), bound(r.Stop, n)
	return start, max(start, stop)
}

// Rows returns a view of rows r of t's first axis, as NumPy's t[r]: the
// same tensor with Shape[0] the rows selected and Data reading only
// theirs. Nothing is read or copied.
//
//   - C order (and 1-D): Data is a section of t's Data (of its file when
//     t's is a section, so a plain copy can still use copy_file_range).
//   - Fortran order: Data holds the view's own elements in Fortran order
//     (column by column, each column the selected rows), so that the
//     slicer gathers it as any Fortran tensor; each column's run is one
//     range of t's Data, and runs close together are fetched with one
//     read.
//   - One-pass Stream: rows before the range are read and dropped, the
//     range is passed on, and the rest is read to the end without being
//     passed on, so that the source's end checks (a zip or GZIP CRC, its
//     length) still run. A stream whose length is unknown (Shape[0] = 0)
//     takes non-negative bounds only.
//
// A checksum of the whole tensor (CRC32C) cannot be checked on part of
// it and is dropped from the view. A scalar has no rows: an error.
// Extra["rows"] records the range for inspect.
func Rows(t *Tensor, r RowRange) (*Tensor, error) {
	if len(t.Shape) == 0 {
		return nil, Errorf(ErrUnsupported, t.File, t.Name, -1, "rows %s: a scalar (0-d tensor) has no rows", r)
	}
	v := *t
	v.Shape = t.Shape.Clone()
	v.Extra = maps.Clone(t.Extra)
	if v.Extra == nil {
		v.Extra = map[string]string{}
	}
	v.CRC32C = nil
	unknown := t.Stream != nil && t.Data == nil && t.Shape[0] == 0
	if unknown {
		if (r.Start != nil && *r.Start < 0) || (r.Stop != nil && *r.Stop < 0) {
			return nil, Errorf(ErrUnsupported, t.File, t.Name, -1,
				"rows %s: this input is read once, in order, and its row count is not known until the end, so bounds cannot count from the end", r)
		}
	}
	n := t.Shape[0]
	if unknown {
		n = 1<<63 - 1
	}
	start, stop := r.Resolve(n)
	v.Extra["rows"] = fmt.Sprintf("%d:%d of %d", start, stop, t.Shape[0])
	if !unknown {
		v.Shape[0] = stop - start
	}
	item := int64(t.DType.Size())
	rowBytes, err := v.Shape[1:].NumBytes(int(item))
	if err != nil {
		return nil, Errorf(ErrCorrupt, t.File, t.Name, -1, "%v", err)
	}
	switch {
	case t.Stream != nil && t.Data == nil:
		rs := &rowStream{src: t.Stream, unbounded: unknown && r.Stop == nil}
		var err1, err2 error
		rs.skip, err1 = dtype.MulCheck(start, rowBytes)
		if !rs.unbounded {
			rs.take, err2 = dtype.MulCheck(stop-start, rowBytes)
		}
		if err := errors.Join(err1, err2); err != nil {
			return nil, Errorf(ErrUnsupported, t.File, t.Name, -1, "rows %s: %v", r, err)
		}
		v.Stream = rs
		if unknown {
			v.Extra["rows"] = r.String()
		}
	case t.Data == nil: // Unsupported: the shape is all there is to show
	case t.Fortran && len(t.Shape) > 1:
		v.Data = &fortranRows{r: t.Data, colBytes: (stop - start) * item, stride: t.Shape[0] * item,
			base: start * item, total: (stop - start) * rowBytes}
		v.Offset = t.Offset + start*item
		v.Contiguous = false
	default:
		off, size := start*rowBytes, (stop-start)*rowBytes
		v.Offset = t.Offset + off
		if sr, ok := t.Data.(*io.SectionReader); ok {
			if outer, o, _ := sr.Outer(); outer != nil {
				v.Data = io.NewSectionReader(outer, o+off, size)
				break
			}
		}
		v.Data = io.NewSectionReader(t.Data, off, size)
	}
	return &v, nil
}

// fortranRows reads the Fortran-order elements of rows [start, start+k)
// of a Fortran-order array with s0 rows: column c of the view is the k
// elements at byte base + c·stride of the whole array's data.
type fortranRows struct {
	r        io.ReaderAt
	colBytes int64 // k·item: one column of the view
	stride   int64 // s0·item: one column of the array
	base     int64 // start·item
	total    int64 // the view's bytes
}

// spanMax caps the bytes one read of several columns' runs may fetch.
const spanMax = 1 << 20

// noSpans turns span reads off (benchmarks compare).
var noSpans = false

var spans = sync.Pool{New: func() any { b := make([]byte, spanMax); return &b }}

func (f *fortranRows) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("tensor: negative offset")
	}
	done := 0
	gap := f.stride - f.colBytes
	for len(p) > 0 {
		if off >= f.total {
			return done, io.EOF
		}
		want := min(int64(len(p)), f.total-off)
		col, within := off/f.colBytes, off%f.colBytes
		src := f.base + col*f.stride + within
		run := min(f.colBytes-within, want)
		if run == want || gap > max(f.colBytes, 4<<10) || run >= spanMax || noSpans {
			// one run; or runs far apart (each its own read)
			k, err := f.r.ReadAt(p[:run], src)
			done += k
			if int64(k) < run {
				return done, shortRead(err)
			}
			p, off = p[run:], off+run
			continue
		}
		// Runs close together: read the span holding as many as fit in
		// spanMax at once, and copy them out.
		taken, end := int64(0), src
		for taken < want {
			c, w := (off+taken)/f.colBytes, (off+taken)%f.colBytes
			o := f.base + c*f.stride + w
			n := min(f.colBytes-w, want-taken)
			if o+n-src > spanMax {
				break
			}
			taken, end = taken+n, o+n
		}
		bp := spans.Get().(*[]byte)
		buf := (*bp)[:end-src]
		k, err := f.r.ReadAt(buf, src)
		if int64(k) < end-src {
			spans.Put(bp)
			return done, shortRead(err)
		}
		for t := int64(0); t < taken; {
			c, w := (off+t)/f.colBytes, (off+t)%f.colBytes
			o := f.base + c*f.stride + w
			n := min(f.colBytes-w, taken-t)
			copy(p[t:t+n], buf[o-src:o-src+n])
			t += n
		}
		spans.Put(bp)
		done += int(taken)
		p, off = p[taken:], off+taken
	}
	return done, nil
}

func shortRead(err error) error {
	if err == nil || err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// rowStream passes on bytes [skip, skip+take) of src (all after skip when
// unbounded) and reads src to its end.
type rowStream struct {
	src       io.Reader
	skip      int64
	take      int64
	unbounded bool
	drained   bool
}

func (s *rowStream) Read(p []byte) (int, error) {
	if s.skip > 0 {
		if _, err := io.CopyN(io.Discard, s.src, s.skip); err != nil {
			if err == io.EOF {
				s.skip = 0
				return 0, io.EOF // fewer rows than the range starts at: no rows
			}
			return 0, err
		}
		s.skip = 0
	}
	if s.unbounded {
		return s.src.Read(p)
	}
	if s.take > 0 {
		if int64(len(p)) > s.take {
			p = p[:s.take]
		}
		n, err := s.src.Read(p)
		s.take -= int64(n)
		return n, err
	}
	if !s.drained {
		s.drained = true
		if _, err := io.Copy(io.Discard, s.src); err != nil {
			return 0, err
		}
	}
	return 0, io.EOF
}
