// Package npz reads NumPy .npz archives (np.savez, np.savez_compressed)
// as bigconv inputs: a zip file whose members NAME.npy are .npy files,
// one tensor each, named NAME as np.load names them.
//
// The zip directory is read by the standard library's archive/zip (Zip64
// included). Each member's .npy header is parsed by npyhdr, as the npy
// reader does; its data is never loaded by Open:
//
//   - A stored member (np.savez, zip method 0) is a plain .npy at a fixed
//     offset of the archive: npy.OpenAt describes it and its Data is a
//     section of the archive, so it streams like a .npy file (Fortran
//     order and big-endian included). The zip CRC-32 of stored members is
//     not checked: it covers the member's header too, and the engine
//     verifies CRC-32C only.
//
//   - A deflated member (np.savez_compressed, method 8) cannot be read at
//     random offsets. One whose data is at most SmallMember bytes gets a
//     Data that inflates the member again for each read (cheap at that
//     size, holds no buffer, and works for scalars and Fortran order). A
//     larger one in C order (or 1-D) is given as a one-pass Stream of
//     rows, which the engine converts in order; a larger one in Fortran
//     order is listed as Unsupported (it would have to be transposed out
//     of core from a stream) with the command that decompresses it. The
//     zip CRC-32 of deflated members is checked when the data has been
//     read to the end.
//
//   - Object arrays (pickles), unicode and the other dtypes npy refuses are
//     listed with Unsupported set, as npy lists them; so are members that
//     are not .npy files, encrypted members and other compression methods.
//
//     a, err := npz.Open(r, size, "weights.npz")
//     for _, t := range a.Tensors {
//     fmt.Println(t.Describe())
//     }
//
// An Archive is immutable once opened; Data is safe for concurrent ReadAt
// calls; a Stream may be read once. Errors start with "npz: " and wrap
// tensor.ErrFormat, ErrCorrupt, ErrChecksum or ErrUnsupported with the
// file, tensor (member) and byte offset.
package npz

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/format/npy"
	"github.com/bigconv/bigconv/format/npy/npyhdr"
	"github.com/bigconv/bigconv/tensor"
)

// SmallMember is the largest data of a deflated member read through Data
// (inflated again for each read) rather than as a Stream.
const SmallMember = 1 << 20

func init() {
	format.Register(format.Format{
		Name:  "npz",
		Exts:  []string{".npz"},
		Sniff: Sniff,
		Open: func(src format.Source, _ format.Options) (*format.Input, error) {
			if src.R == nil {
				return nil, fmt.Errorf("npz: %s: an .npz archive cannot be read from a stream: %w", src.Name, tensor.ErrUnsupported)
			}
			a, err := Open(src.R, src.Size, src.Name)
			if err != nil {
				return nil, err
			}
			return &format.Input{Format: "npz", Tensors: a.Tensors, Collection: true}, nil
		},
	})
}

// Sniff reports whether head is the start of a zip file whose first
// member is named *.npy (what np.savez writes). Other zip files (PyTorch
// .pt, Keras) are left to other readers.
func Sniff(head []byte) bool {
	if len(head) < 30 || string(head[:4]) != "PK\x03\x04" {
		return false
	}
	n := int(head[26]) | int(head[27])<<8
	return 30+n <= len(head) && strings.HasSuffix(string(head[30:30+n]), ".npy")
}

// Archive is an opened .npz file.
type Archive struct {
	// Tensors in the order of the zip directory.
	Tensors []*tensor.Tensor
}

func errorf(sentinel error, file, name string, off int64, format string, args ...any) error {
	return fmt.Errorf("npz: %w", tensor.Errorf(sentinel, file, name, off, format, args...))
}

// Open reads the zip directory of the .npz file r of the given size and
// the .npy header of each member.
func Open(r io.ReaderAt, size int64, name string) (*Archive, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		var head [4]byte
		n, _ := r.ReadAt(head[:], 0)
		sentinel := tensor.ErrFormat
		if n > 0 && (strings.HasPrefix("PK\x03\x04", string(head[:n])) || strings.HasPrefix("PK\x05\x06", string(head[:n]))) {
			sentinel = tensor.ErrCorrupt // a zip, damaged
		}
		return nil, errorf(sentinel, name, "", -1, "read zip directory: %v", err)
	}
	if torchArchive(zr) {
		return nil, errorf(tensor.ErrFormat, name, "", -1, "a torch.save archive (PREFIX/data.pkl, no .npy members), not an .npz: use --format pytorch")
	}
	a := &Archive{}
	seen := map[string]bool{}
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/") && f.UncompressedSize64 == 0 {
			continue // a directory entry
		}
		key := strings.TrimSuffix(f.Name, ".npy")
		if seen[key] {
			return nil, errorf(tensor.ErrCorrupt, name, key, -1, "the archive holds two members named %q", f.Name)
		}
		seen[key] = true
		t, err := member(r, size, name, key, f)
		if err != nil {
			return nil, err
		}
		if t.Extra == nil {
			t.Extra = map[string]string{}
		}
		t.Extra["member"] = f.Name
		a.Tensors = append(a.Tensors, t)
	}
	return a, nil
}

// torchArchive reports whether the archive is what torch.save writes: a
// PREFIX/data.pkl member and no .npy member. Sniffing tells the two apart
// by their first member; this check keeps a torch file named .npz, or
// forced with --format npz, from being listed as an .npz of non-arrays.
func torchArchive(zr *zip.Reader) bool {
	pkl := false
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, ".npy") {
			return false
		}
		dir, base, ok := strings.Cut(f.Name, "/")
		pkl = pkl || ok && dir != "" && base == "data.pkl"
	}
	return pkl
}

// member describes one member of the archive.
func member(r io.ReaderAt, size int64, file, key string, f *zip.File) (*tensor.Tensor, error) {
	listed := func(off int64, why string, args ...any) *tensor.Tensor {
		return &tensor.Tensor{Name: key, File: file, Offset: off, Unsupported: fmt.Sprintf(why, args...)}
	}
	if !strings.HasSuffix(f.Name, ".npy") {
		return listed(-1, "member %q is not a .npy file (np.load returns its bytes)", f.Name), nil
	}
	if f.Flags&1 != 0 {
		return listed(-1, "member %q is encrypted", f.Name), nil
	}
	off, err := f.DataOffset()
	if err != nil {
		return nil, errorf(tensor.ErrCorrupt, file, key, -1, "member %q: local header: %v", f.Name, err)
	}
	csize, usize := f.CompressedSize64, f.UncompressedSize64
	if off < 0 || csize > uint64(size) || off > size-int64(csize) {
		return nil, errorf(tensor.ErrCorrupt, file, key, off,
			"truncated: member %q of %d bytes runs past the end of the %d-byte file", f.Name, csize, size)
	}
	switch f.Method {
	case zip.Store:
		if csize != usize {
			return nil, errorf(tensor.ErrCorrupt, file, key, off,
				"stored member %q has a compressed size of %d but an uncompressed size of %d", f.Name, csize, usize)
		}
		t, err := npy.OpenAt(r, off, int64(csize), file, key)
		if err != nil {
			return nil, fmt.Errorf("npz: %w", err)
		}
		return t, nil
	case zip.Deflate:
		return deflated(file, key, off, f)
	}
	return listed(off, "member %q uses zip compression method %d; bigconv reads stored (np.savez) and deflated (np.savez_compressed) members", f.Name, f.Method), nil
}

// deflated describes a deflated member from its .npy header, inflated.
func deflated(file, key string, off int64, f *zip.File) (*tensor.Tensor, error) {
	usize := f.UncompressedSize64
	if usize > 1<<62 {
		return nil, errorf(tensor.ErrCorrupt, file, key, off, "member %q claims %d uncompressed bytes", f.Name, usize)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, errorf(tensor.ErrCorrupt, file, key, off, "member %q: %v", f.Name, err)
	}
	defer rc.Close()
	pr := &prefixReader{r: rc}
	h, err := npyhdr.Read(pr, int64(usize))
	if err != nil {
		if pr.err != nil && pr.err != io.EOF { // the inflater failed, not the header
			return nil, inflateError(file, key, off, f.Name, pr.err)
		}
		return nil, fmt.Errorf("npz: %w", tensor.Errorf(err, file, key, off, "member %q: read .npy header", f.Name))
	}
	t := npy.Describe(h, 0, file, key)
	t.Offset = off // the deflated data starts here; nothing is at h.DataOffset
	t.Extra["compression"] = "deflate"
	if t.Unsupported != "" {
		return t, nil
	}
	n, err := h.DataLen()
	if err != nil {
		return nil, errorf(tensor.ErrCorrupt, file, key, off, "%v", err)
	}
	if avail := int64(usize) - h.DataOffset; avail < n {
		return nil, errorf(tensor.ErrCorrupt, file, key, off,
			"truncated: member %q: the header promises %d data bytes (%s %v) but the member has %d after the header", f.Name, n, h.Descr, h.Shape, avail)
	}
	in := &inflater{f: f, file: file, key: key, off: off, skip: h.DataOffset, n: n}
	switch {
	case n <= SmallMember:
		t.Data = in
	case len(h.Shape) >= 1 && (!h.Fortran || len(h.Shape) == 1):
		t.Stream = &stream{in: in}
		t.Extra["read"] = "one pass"
	default:
		t.Unsupported = fmt.Sprintf("compressed npz member %q (%d bytes, Fortran order) cannot be streamed into C order: "+
			"decompress it first (unzip -p %s %s > %s) and convert the .npy, or save with np.savez", f.Name, n, file, f.Name, f.Name)
	}
	return t, nil
}

func inflateError(file, key string, off int64, member string, err error) error {
	if errors.Is(err, zip.ErrChecksum) {
		return errorf(tensor.ErrChecksum, file, key, off, "member %q: zip CRC-32 does not match its data", member)
	}
	return errorf(tensor.ErrCorrupt, file, key, off, "member %q: inflate: %v", member, err)
}

// prefixReader is an io.ReaderAt over the start of a one-pass reader: it
// reads (and keeps) as much as the furthest ReadAt asks for. npyhdr.Read
// asks for the preamble, then the header it caps, so what it keeps is
// bounded by npyhdr.MaxHeaderLen.
type prefixReader struct {
	r   io.Reader
	buf []byte
	err error // the first error of r, io.EOF included
}

func (p *prefixReader) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	for int64(len(p.buf)) < off+int64(len(b)) && p.err == nil {
		var chunk [4096]byte
		k, err := p.r.Read(chunk[:min(int64(len(chunk)), off+int64(len(b))-int64(len(p.buf)))])
		p.buf = append(p.buf, chunk[:k]...)
		p.err = err
	}
	if off >= int64(len(p.buf)) {
		return 0, cmpEOF(p.err)
	}
	k := copy(b, p.buf[off:])
	if k < len(b) {
		return k, cmpEOF(p.err)
	}
	return k, nil
}

func cmpEOF(err error) error {
	if err == nil {
		return io.EOF
	}
	return err
}

// inflater reads the data of a deflated member: bytes [skip, skip+n) of
// the inflated member. Each ReadAt inflates the member from its start, so
// it suits small members only; reads that reach the end of the data read
// on to the member's end so that archive/zip checks its CRC-32.
type inflater struct {
	f         *zip.File
	file, key string
	off       int64 // of the member's compressed data, for messages
	skip, n   int64
}

func (in *inflater) open() (io.ReadCloser, error) {
	rc, err := in.f.Open()
	if err != nil {
		return nil, in.fail(err, 0)
	}
	if _, err := io.CopyN(io.Discard, rc, in.skip); err != nil {
		rc.Close()
		return nil, in.fail(err, 0)
	}
	return rc, nil
}

// fail turns an error met after reading at data bytes into a located one.
func (in *inflater) fail(err error, at int64) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errorf(tensor.ErrCorrupt, in.file, in.key, in.off,
			"truncated: member %q ends after %d of its %d data bytes", in.f.Name, at, in.n)
	}
	return inflateError(in.file, in.key, in.off, in.f.Name, err)
}

func (in *inflater) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("npz: negative offset")
	}
	if off >= in.n {
		return 0, io.EOF
	}
	rc, err := in.open()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	if _, err := io.CopyN(io.Discard, rc, off); err != nil {
		return 0, in.fail(err, 0)
	}
	want := min(int64(len(p)), in.n-off)
	k, err := io.ReadFull(rc, p[:want])
	if err != nil {
		return k, in.fail(err, off+int64(k))
	}
	if off+want == in.n {
		if _, err := io.Copy(io.Discard, rc); err != nil { // the CRC is checked at the member's end
			return k, in.fail(err, in.n)
		}
	}
	if int64(k) < int64(len(p)) {
		return k, io.EOF
	}
	return k, nil
}

// stream yields a deflated member's data once, in order: exactly n bytes,
// then it reads the member to its end so that the CRC-32 is checked.
type stream struct {
	in   *inflater
	rc   io.ReadCloser
	done int64
	err  error
}

func (s *stream) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.rc == nil {
		if s.rc, s.err = s.in.open(); s.err != nil {
			return 0, s.err
		}
	}
	if s.done == s.in.n {
		_, err := io.Copy(io.Discard, s.rc)
		s.rc.Close()
		if err != nil {
			s.err = s.in.fail(err, s.done)
			return 0, s.err
		}
		s.err = io.EOF
		return 0, io.EOF
	}
	k, err := s.rc.Read(p[:min(int64(len(p)), s.in.n-s.done)])
	s.done += int64(k)
	if err != nil && (err != io.EOF || s.done < s.in.n) {
		s.rc.Close()
		s.err = s.in.fail(err, s.done)
		return k, s.err
	}
	return k, nil
}
