package format

import (
	"io"

	"github.com/bigconv/bigconv/tensor"
)

// ExactReader is a tensor's Stream over a one-pass input whose length
// the header or the user's shape fixes: it yields the next N bytes of R
// and fails with an ErrCorrupt error naming File if R ends before them;
// with Strict, also if R holds more. Off is where the bytes start in the
// stream and What what they were promised for, for messages.
type ExactReader struct {
	R      io.Reader
	N      int64
	File   string
	Off    int64
	What   string
	Strict bool
	read   int64
}

func (e *ExactReader) Read(p []byte) (int, error) {
	if e.read >= e.N {
		if e.Strict {
			var one [1]byte
			if k, _ := io.ReadFull(e.R, one[:]); k > 0 {
				return 0, tensor.Errorf(tensor.ErrCorrupt, e.File, "", e.Off+e.N, "the stream holds more than the %d bytes promised (%s)", e.N, e.What)
			}
		}
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), e.N-e.read)]
	n, err := e.R.Read(p)
	e.read += int64(n)
	if err == io.EOF {
		if e.read < e.N {
			return n, tensor.Errorf(tensor.ErrCorrupt, e.File, "", e.Off+e.read,
				"truncated: the stream ends after %d of the %d data bytes promised (%s)", e.read, e.N, e.What)
		}
		err = nil
	}
	return n, err
}
