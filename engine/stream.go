package engine

import (
	"context"
	"errors"
	"io"

	"github.com/bigconv/bigconv/cast"
	"github.com/bigconv/bigconv/mmapnpy"
	"github.com/bigconv/bigconv/tensor"
)

// runStream converts a one-pass tensor (GZIP TFRecord, stdin) whose first
// axis is unknown: rows are read in blocks, converted into a growing
// output, and the header's first axis is patched at the end.
func (p *Plan) runStream(ctx context.Context, out string, opt Options) (Result, error) {
	t := p.Tensor
	if len(t.Shape) == 0 {
		return Result{}, tensor.Errorf(tensor.ErrUnsupported, t.File, t.Name, -1, "a one-pass stream needs a first axis to count rows along (this tensor is a scalar)")
	}
	rowShape := t.Shape[1:]
	rowElems, err := rowShape.NumElements()
	if err != nil {
		return Result{}, tensor.Errorf(tensor.ErrCorrupt, t.File, t.Name, -1, "%v", err)
	}
	if rowElems == 0 {
		// Rows of no bytes: the stream cannot say how many there are,
		// and reading it would never make progress.
		return Result{}, tensor.Errorf(tensor.ErrUnsupported, t.File, t.Name, -1,
			"rows of shape %v hold no elements, so a one-pass stream cannot count them; convert from a seekable file", rowShape)
	}
	inItem, outItem := int64(p.From.Size()), int64(p.To.Size())
	bs := opt.BlockSize
	if bs <= 0 {
		bs = DefaultBlockSize(1)
	}
	per := max(inItem, outItem)
	rowsPerBlock := max(bs/(per*max(rowElems, 1)), 1)
	w, err := mmapnpy.CreateStream(out, p.To, rowShape, mmapnpy.Options{FlushWindows: opt.FlushWindows, Replace: opt.Replace, NoSync: opt.NoSync})
	if err != nil {
		return Result{}, err
	}
	res := Result{From: p.From, To: p.To}
	buf := make([]byte, rowsPerBlock*rowElems*inItem)
	var obuf []byte
	if opt.Write != WriteMapped {
		obuf = make([]byte, rowsPerBlock*rowElems*outItem)
	}
	var rows, inBytes int64
	var st cast.Stats
	for {
		if err := ctx.Err(); err != nil {
			w.Abort()
			return res, err
		}
		n, rerr := io.ReadFull(t.Stream, buf)
		if n > 0 {
			if int64(n)%(rowElems*inItem) != 0 {
				w.Abort()
				return res, tensor.Errorf(tensor.ErrCorrupt, t.File, t.Name, inBytes+int64(n), "stream ends inside a row")
			}
			r := int64(n) / (rowElems * inItem)
			off, m := rows*rowElems*outItem, r*rowElems*outItem
			var err error
			if opt.Write == WriteMapped {
				err = w.Write(off, m, func(dst []byte) error {
					p.kernel(dst, buf[:n], &st)
					return nil
				})
			} else {
				p.kernel(obuf[:m], buf[:n], &st)
				err = w.WriteAt(obuf[:m], off)
			}
			if err != nil {
				w.Abort()
				return res, err
			}
			rows += r
			inBytes += int64(n)
			res.Blocks++
			if opt.Progress != nil {
				opt.Progress(inBytes, -1)
			}
		}
		if rerr == io.EOF || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			w.Abort()
			return res, rerr
		}
	}
	if err := w.SetRows(rows); err != nil {
		w.Abort()
		return res, err
	}
	if err := w.Commit(); err != nil {
		return res, err
	}
	res.Shape = w.Shape()
	res.InBytes, res.OutBytes, res.Stats = inBytes, rows*rowElems*outItem, st
	return res, nil
}
