// Package slicer cuts a tensor into fixed-size blocks of whole rows along
// the first axis and reads each block's bytes in C order. A row larger than
// the block size is split into pieces of whole elements. Blocks are
// computed, not stored, so a tensor of any size costs nothing to plan.
//
// Fortran-order tensors come out in C order: for each block the slicer
// gathers the strided runs of the stored column-major data (one run per
// column of the block), never reading the whole tensor.
//
//	s, err := slicer.New(t, slicer.Options{BlockSize: 8 << 20})
//	err = s.Each(ctx, func(b slicer.Block, data []byte) error {
//		// data: b.Elems elements of t.DType, rows b.Row0… in C order
//		return nil
//	})
//
// A Slicer is safe for concurrent use: ReadBlock may be called from many
// goroutines with their own buffers.
package slicer

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/tensor"
)

// DefaultBlockSize is the block size used when Options.BlockSize is 0.
const DefaultBlockSize = 4 << 20

// Options set how a tensor is cut.
type Options struct {
	// BlockSize caps the bytes of a block, counted at the larger of the
	// input and output item sizes (0 = DefaultBlockSize).
	BlockSize int64
	// OutItemSize is the item size after conversion (0 = input's).
	OutItemSize int
}

// Block is one piece of a tensor: Elems elements starting at element
// Elem0 in C order, which is Len bytes at byte Off of the C-order stream.
// A block covers whole rows [Row0, Row0+Rows) unless a single row is
// larger than the block size; then Rows is 1 and the block is part of it.
type Block struct {
	Index        int64
	Elem0, Elems int64
	Off, Len     int64
	Row0, Rows   int64
}

// Slicer plans and reads the blocks of one tensor.
type Slicer struct {
	t          *tensor.Tensor
	item       int64
	elems      int64
	rowElems   int64
	blockElems int64
	n          int64
}

// New plans the blocks of t.
func New(t *tensor.Tensor, opt Options) (*Slicer, error) {
	if t.Data == nil {
		return nil, fmt.Errorf("slicer: tensor %q has no random-access data", t.Name)
	}
	item := int64(t.DType.Size())
	if item <= 0 {
		return nil, fmt.Errorf("slicer: tensor %q: dtype %s has no item size", t.Name, t.DType)
	}
	elems, err := t.Shape.NumElements()
	if err != nil {
		return nil, fmt.Errorf("slicer: tensor %q: %w", t.Name, err)
	}
	bs := opt.BlockSize
	if bs <= 0 {
		bs = DefaultBlockSize
	}
	per := item
	if int64(opt.OutItemSize) > per {
		per = int64(opt.OutItemSize)
	}
	s := &Slicer{t: t, item: item, elems: elems, rowElems: t.Shape.RowElements()}
	if len(t.Shape) == 0 {
		s.rowElems = 1
	}
	maxElems := bs / per
	if maxElems < 1 {
		maxElems = 1
	}
	if s.rowElems == 0 {
		s.blockElems = 1
	} else if s.rowElems <= maxElems {
		s.blockElems = (maxElems / s.rowElems) * s.rowElems
	} else {
		// a row is larger than a block: split rows into equal pieces
		pieces := (s.rowElems + maxElems - 1) / maxElems
		s.blockElems = (s.rowElems + pieces - 1) / pieces
	}
	if elems > 0 {
		if s.rowElems > s.blockElems {
			perRow := (s.rowElems + s.blockElems - 1) / s.blockElems
			s.n = s.t.Shape.Rows() * perRow
		} else {
			s.n = (elems + s.blockElems - 1) / s.blockElems
		}
	}
	return s, nil
}

// Len is the number of blocks.
func (s *Slicer) Len() int64 { return s.n }

// MaxElems is the largest number of elements in any block.
func (s *Slicer) MaxElems() int64 { return min(s.blockElems, s.elems) }

// BlockElems is the number of elements of a whole block as planned from
// the block size, whatever the tensor's size: more than MaxElems for a
// tensor smaller than one block.
func (s *Slicer) BlockElems() int64 { return s.blockElems }

// Tensor is the tensor being sliced.
func (s *Slicer) Tensor() *tensor.Tensor { return s.t }

// Block returns block i (0 ≤ i < Len()).
func (s *Slicer) Block(i int64) Block {
	b := Block{Index: i}
	if s.rowElems > s.blockElems {
		perRow := (s.rowElems + s.blockElems - 1) / s.blockElems
		row, piece := i/perRow, i%perRow
		c0 := piece * s.blockElems
		b.Elem0 = row*s.rowElems + c0
		b.Elems = min(s.blockElems, s.rowElems-c0)
		b.Row0, b.Rows = row, 1
	} else {
		b.Elem0 = i * s.blockElems
		b.Elems = min(s.blockElems, s.elems-b.Elem0)
		if s.rowElems > 0 {
			b.Row0 = b.Elem0 / s.rowElems
			b.Rows = (b.Elems + s.rowElems - 1) / s.rowElems
		}
	}
	b.Off, b.Len = b.Elem0*s.item, b.Elems*s.item
	return b
}

// ReadBlock fills dst[:b.Len] with block b's bytes in C order and stored
// dtype. Errors name the tensor, file and byte offset.
func (s *Slicer) ReadBlock(b Block, dst []byte) error {
	if int64(len(dst)) < b.Len {
		return fmt.Errorf("slicer: buffer of %d bytes for a %d-byte block", len(dst), b.Len)
	}
	dst = dst[:b.Len]
	if s.t.Fortran && len(s.t.Shape) > 1 {
		return s.gather(b, dst)
	}
	return s.readAt(dst, b.Off)
}

func (s *Slicer) readAt(dst []byte, off int64) error {
	n, err := s.t.Data.ReadAt(dst, off)
	if n == len(dst) && (err == nil || err == io.EOF) {
		return nil // a full read may come with io.EOF, never with another error
	}
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return tensor.Errorf(tensor.ErrCorrupt, s.t.File, s.t.Name, s.t.Offset+off+int64(n),
			"data ends %d bytes early (truncated file?)", int64(len(dst)-n))
	}
	var te *tensor.Error
	if errors.As(err, &te) {
		return err
	}
	return tensor.Errorf(err, s.t.File, s.t.Name, s.t.Offset+off, "read %d bytes", len(dst))
}

// Each reads every block in order into one reused buffer and calls fn.
// fn must not keep data. It stops at the first error or when ctx is done.
func (s *Slicer) Each(ctx context.Context, fn func(b Block, data []byte) error) error {
	buf := make([]byte, s.MaxElems()*s.item)
	for i := int64(0); i < s.n; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		b := s.Block(i)
		if err := s.ReadBlock(b, buf); err != nil {
			return err
		}
		if err := fn(b, buf[:b.Len]); err != nil {
			return err
		}
	}
	return nil
}

// ElemShape is a helper for callers: the shape of block b as an array
// (rows × row shape for whole-row blocks, (elems,) otherwise).
func (s *Slicer) ElemShape(b Block) dtype.Shape {
	if len(s.t.Shape) == 0 {
		return dtype.Shape{}
	}
	if s.rowElems > s.blockElems {
		return dtype.Shape{b.Elems}
	}
	sh := s.t.Shape.Clone()
	sh[0] = b.Rows
	return sh
}
