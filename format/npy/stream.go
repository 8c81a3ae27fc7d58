package npy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/format/npy/npyhdr"
	"github.com/bigconv/bigconv/tensor"
)

// OpenStream describes the .npy read from r in one pass (a pipe): it
// reads the header and returns a tensor whose Stream yields exactly the
// data bytes the header promises; a stream that ends sooner fails with
// ErrCorrupt. Fortran-order arrays of more than one axis cannot be
// gathered into C order in one pass and come back Unsupported, as do the
// arrays Open refuses.
func OpenStream(r io.Reader, name string) (*tensor.Tensor, error) {
	hdr, err := readStreamHeader(r)
	if err != nil {
		return nil, tensor.Errorf(err, name, "", 0, "read .npy header")
	}
	h, err := npyhdr.Read(bytes.NewReader(hdr), int64(len(hdr)))
	if err != nil {
		return nil, tensor.Errorf(err, name, "", 0, "read .npy header")
	}
	t := Describe(h, 0, name, "")
	t.Extra["read"] = "one pass"
	if t.Unsupported != "" {
		return t, nil
	}
	if h.Fortran && len(h.Shape) > 1 {
		t.Unsupported = "a Fortran-order array read from a pipe cannot be streamed into C order; give a file"
		return t, nil
	}
	n, err := h.DataLen()
	if err != nil {
		return nil, tensor.Errorf(tensor.ErrCorrupt, name, "", 0, "%v", err)
	}
	t.Stream = &format.ExactReader{R: r, N: n, File: name, Off: h.DataOffset, What: fmt.Sprintf("%s %v", h.Descr, h.Shape)}
	return t, nil
}

// readStreamHeader reads the preamble and header text of a .npy from r.
func readStreamHeader(r io.Reader) ([]byte, error) {
	pre := make([]byte, 12)
	if _, err := io.ReadFull(r, pre[:10]); err != nil {
		return nil, fmt.Errorf("stream ends inside the preamble: %w", tensor.ErrCorrupt)
	}
	if string(pre[:6]) != npyhdr.Magic {
		return nil, fmt.Errorf("no .npy magic: %w", tensor.ErrFormat)
	}
	start, hlen := 10, int64(binary.LittleEndian.Uint16(pre[8:10]))
	if pre[6] >= 2 {
		if _, err := io.ReadFull(r, pre[10:12]); err != nil {
			return nil, fmt.Errorf("stream ends inside the preamble: %w", tensor.ErrCorrupt)
		}
		start, hlen = 12, int64(binary.LittleEndian.Uint32(pre[8:12]))
	}
	if hlen > npyhdr.MaxHeaderLen {
		return nil, fmt.Errorf("header length %d exceeds the %d-byte cap: %w", hlen, npyhdr.MaxHeaderLen, tensor.ErrCorrupt)
	}
	buf := make([]byte, int64(start)+hlen)
	copy(buf, pre[:start])
	if _, err := io.ReadFull(r, buf[start:]); err != nil {
		return nil, fmt.Errorf("stream ends inside the %d-byte header: %w", hlen, tensor.ErrCorrupt)
	}
	return buf, nil
}
