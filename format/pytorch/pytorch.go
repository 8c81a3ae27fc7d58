// Package pytorch reads files written by torch.save — the zip format
// (torch ≥ 1.6: .pt, .pth, Hugging Face pytorch_model.bin) and the legacy
// format before it — and Hugging Face sharded checkpoints
// (pytorch_model.bin.index.json), as bigconv inputs. The pickle inside is
// interpreted, never executed; tensors' data are described as sections of
// the file (or strided gathers over one), never loaded.
//
// Zip format (one top folder, PREFIX/, usually "archive" or the file's stem):
//
//	PREFIX/data.pkl    the pickled object (protocol 2 by default)
//	PREFIX/byteorder   optional: "little" or "big", the storages' byte order
//	PREFIX/data/KEY    one raw storage per KEY, stored (zip method 0)
//	PREFIX/version     format version
//
// Legacy format (torch < 1.6, or _use_new_zipfile_serialization=False):
//
//	pickle  magic number 0x1950a86a20f9469cfc6c
//	pickle  protocol version 1001
//	pickle  sys_info {little_endian, type_sizes}
//	pickle  the object
//	pickle  the storage keys, in the order their data follow
//	for each key: int64 little-endian element count, then the elements
//	              (little-endian)
//
// In both, a tensor is torch._utils._rebuild_tensor_v2(storage,
// storage_offset, size, stride, …) where storage is a persistent id
// ('storage', torch.<T>Storage, KEY, location, numel[, view]). The
// pickle machine (pickle.go) accepts only the globals of allowed (see
// torch.go: plain containers, the rebuild functions, storage classes,
// torch.Size and what torch's weights_only=True loader allows); any other
// global fails the whole file with tensor.ErrUnsupported naming it,
// before any tensor is described. Every allocation of the pickle machine
// and of naming the values it built is charged to MaxPickleMemory
// (budget.go): Open allocates at most that limit, 1 MiB more, and what
// archive/zip takes for the zip directory.
//
// Every tensor reachable in the object — a bare tensor (named ""), a
// state_dict, nested dicts, lists and tuples — is named by its path
// joined with "." ("model.encoder.weight", "layers.0"). A sub-object that
// holds no tensor (an epoch number, optimizer hyper-parameters) is listed
// once with Tensor.Unsupported "not a tensor: KIND REPR" (a short,
// Python-like repr) and Extra["kind"], so that inspect shows it and
// convert skips it. Sparse, quantized and meta tensors are listed likewise.
//
// A tensor whose view is contiguous is a section of the file (Contiguous);
// one whose strides are Fortran order (a transposed matrix) is a section
// with Fortran set, which the slicer reorders; any other view (a column,
// a permute, an expanded zero stride) reads through a strided gather that
// fetches runs, or windows covering many short runs, never the storage.
//
//	f, err := pytorch.Open(r, size, "model.pt")
//	for _, t := range f.Tensors {
//		fmt.Println(t.Describe())
//	}
//
// A File is immutable once opened; every tensor's Data is safe for
// concurrent ReadAt calls. Errors start with "pytorch: " and wrap
// tensor.ErrFormat, ErrCorrupt or ErrUnsupported with the file, tensor and
// byte offset.
package pytorch

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/tensor"
)

func init() {
	format.Register(format.Format{
		Name:  "pytorch",
		Exts:  []string{".pt", ".pth", ".bin.index.json", ".pt.index.json", ".pth.index.json"},
		Sniff: Sniff,
		Open: func(src format.Source, _ format.Options) (*format.Input, error) {
			if src.R == nil {
				return nil, fmt.Errorf("pytorch: %s: a torch.save file cannot be read from a stream: %w", src.Name, tensor.ErrUnsupported)
			}
			var f *File
			var err error
			if strings.HasSuffix(strings.ToLower(src.Name), ".index.json") {
				f, err = OpenIndex(src.R, src.Size, src.Name, src.Sibling)
			} else {
				f, err = Open(src.R, src.Size, src.Name)
			}
			if err != nil {
				return nil, err
			}
			// a state_dict or checkpoint converts to a directory even with
			// one tensor selected; a bare torch.save(tensor) to one file
			bare := len(f.Tensors) == 1 && f.Tensors[0].Name == ""
			return &format.Input{Format: "pytorch", Tensors: f.Tensors, Collection: !bare}, nil
		},
	})
}

// legacyMagic is torch's MAGIC_NUMBER as LONG1 bytes (little-endian).
var legacyMagic = []byte{0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19}

// legacyMagicText is the same number as a protocol 0/1 LONG.
const legacyMagicText = "L119547037146038801333356L\n"

// Sniff reports whether head starts a torch.save file: the legacy
// format's magic-number pickle, or a zip archive whose local headers
// within head reach a member named PREFIX/data.pkl before any member
// named *.npy. The npz reader claims a zip whose first member is *.npy;
// the two never both claim a file. A torch zip whose data.pkl lies past
// head (not what torch writes) is found by its extension, and Open checks
// the central directory either way.
func Sniff(head []byte) bool {
	h := head
	if len(h) >= 2 && h[0] == 0x80 && h[1] <= 5 {
		h = h[2:]
	}
	if len(h) >= 9 && h[0] == 0x95 { // FRAME (protocol 4+)
		h = h[9:]
	}
	if bytes.HasPrefix(h, legacyMagic) || bytes.HasPrefix(h, []byte(legacyMagicText)) {
		return true
	}
	for off := 0; off+30 <= len(head) && string(head[off:off+4]) == "PK\x03\x04"; {
		flags := binary.LittleEndian.Uint16(head[off+6:])
		csize := int(binary.LittleEndian.Uint32(head[off+18:]))
		n := int(binary.LittleEndian.Uint16(head[off+26:]))
		extra := int(binary.LittleEndian.Uint16(head[off+28:]))
		if off+30+n > len(head) {
			return false
		}
		name := string(head[off+30 : off+30+n])
		switch {
		case strings.HasSuffix(name, ".npy"):
			return false
		case isDataPkl(name):
			return true
		}
		if flags&8 != 0 {
			return false // sizes follow the data; cannot step over it
		}
		off += 30 + n + extra + csize
	}
	return false
}

// isDataPkl reports whether a member name is PREFIX/data.pkl.
func isDataPkl(name string) bool {
	dir, base := path.Split(name)
	return base == "data.pkl" && dir != "" && !strings.Contains(strings.TrimSuffix(dir, "/"), "/")
}

// File is an opened torch.save file (or sharded checkpoint).
type File struct {
	// Tensors (and listed non-tensor values) in the order of the pickled
	// object.
	Tensors []*tensor.Tensor
	// Format is "zip", "legacy" or "index".
	Format string
	// charged is what the pickle and the walk charged to MaxPickleMemory.
	charged int64
}

func errorf(sentinel error, file, name string, off int64, format string, args ...any) error {
	return fmt.Errorf("pytorch: %w", tensor.Errorf(sentinel, file, name, off, format, args...))
}

// Open reads the torch.save file r of the given size: its pickle, and
// where each storage lies. It reads no tensor data.
func Open(r io.ReaderAt, size int64, name string) (*File, error) {
	var head [32]byte
	n, _ := r.ReadAt(head[:min(int64(len(head)), size)], 0)
	switch {
	case n == 0:
		return nil, errorf(tensor.ErrFormat, name, "", 0, "empty file")
	case bytes.HasPrefix(head[:n], []byte("PK")):
		return openZip(r, size, name)
	case Sniff(head[:n]):
		return openLegacy(r, size, name)
	}
	return nil, errorf(tensor.ErrFormat, name, "", 0, "neither a zip archive nor a legacy torch.save file (starts with %q)", head[:min(n, 8)])
}

// checkPickleCRC: data.pkl is read to its end so that its zip CRC-32 is
// checked (torch's own reader does not check it). FuzzOpen turns it off
// so that mutated pickles reach the pickle machine.
var checkPickleCRC = true

// openZip reads the zip format.
func openZip(r io.ReaderAt, size int64, name string) (*File, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, errorf(tensor.ErrCorrupt, name, "", -1, "read zip directory: %v", err)
	}
	members := map[string]*zip.File{}
	var pkl *zip.File
	npy := 0
	for _, f := range zr.File {
		members[f.Name] = f
		if isDataPkl(f.Name) {
			if pkl != nil {
				return nil, errorf(tensor.ErrCorrupt, name, "", -1, "the archive holds two pickles, %q and %q", pkl.Name, f.Name)
			}
			pkl = f
		}
		if strings.HasSuffix(f.Name, ".npy") {
			npy++
		}
	}
	if pkl == nil {
		hint := ""
		if npy > 0 {
			hint = " (it holds .npy members: an .npz? use --format npz)"
		}
		return nil, errorf(tensor.ErrFormat, name, "", -1, "a zip archive without a PREFIX/data.pkl member, so not a torch.save file%s", hint)
	}
	prefix := strings.TrimSuffix(pkl.Name, "data.pkl")
	base := int64(-1)
	if off, err := pkl.DataOffset(); err == nil && pkl.Method == zip.Store {
		base = off
	}
	if pkl.UncompressedSize64 > uint64(size)*64 && pkl.Method != zip.Store || pkl.UncompressedSize64 > 1<<40 {
		return nil, errorf(tensor.ErrCorrupt, name, "", base, "%s claims %d bytes", pkl.Name, pkl.UncompressedSize64)
	}
	rc, err := pkl.Open()
	if err != nil {
		return nil, errorf(tensor.ErrCorrupt, name, "", base, "open %s: %v", pkl.Name, err)
	}
	defer rc.Close()
	b := newBudget()
	m := newMachine(rc, int64(pkl.UncompressedSize64), base, name, pkl.Name, b)
	u := newUnpickler(false)
	u.attach(m)
	root, err := m.run()
	if err != nil {
		return nil, err
	}
	if checkPickleCRC {
		// read to the member's end, where archive/zip checks its CRC-32
		if _, err := io.Copy(io.Discard, m.r); err != nil {
			sentinel := tensor.ErrCorrupt
			if errors.Is(err, zip.ErrChecksum) {
				sentinel = tensor.ErrChecksum
			}
			return nil, errorf(sentinel, name, "", base, "%s: %v", pkl.Name, err)
		}
	}
	bigEnd := false
	if bo := members[prefix+"byteorder"]; bo != nil {
		b, err := readSmall(bo, 16)
		if err != nil {
			return nil, errorf(tensor.ErrCorrupt, name, "", -1, "%s: %v", bo.Name, err)
		}
		switch string(b) {
		case "little":
		case "big":
			bigEnd = true
		default:
			return nil, errorf(tensor.ErrCorrupt, name, "", -1, "%s says %q, want little or big", bo.Name, clip(string(b)))
		}
	}
	locate := func(st *storageRef) error {
		if st.located {
			return nil
		}
		st.located = true
		// the member's name and its local header
		if err := b.charge(allocSize(int64(len(prefix)+len(st.key))+5) + 64); err != nil {
			return err
		}
		mn := prefix + "data/" + st.key
		// why explains, in one message, why the bytes cannot be read
		// (err) or converted (err nil)
		why := func(err error, format string, args ...any) error {
			if err := b.charge(msgCost); err != nil {
				return err
			}
			st.err, st.why = err, fmt.Sprintf(format, args...)
			return nil
		}
		st.off = -1
		f := members[mn]
		if f == nil {
			return why(tensor.ErrCorrupt, "the archive holds no member %q", clip(mn))
		}
		off, err := f.DataOffset()
		if err != nil {
			return why(tensor.ErrCorrupt, "member %q: local header: %v", clip(mn), err)
		}
		st.off, st.bigEnd = off, bigEnd
		if f.Method != zip.Store {
			st.nbytes = int64(min(f.UncompressedSize64, 1<<62))
			return why(nil, "member %q is compressed (zip method %d); torch stores storages uncompressed: unzip and zip -0 the archive", clip(mn), f.Method)
		}
		if f.CompressedSize64 != f.UncompressedSize64 {
			return why(tensor.ErrCorrupt, "stored member %q has a compressed size of %d and an uncompressed size of %d", clip(mn), f.CompressedSize64, f.UncompressedSize64)
		}
		if f.CompressedSize64 > uint64(size) || off > size-int64(f.CompressedSize64) {
			return why(tensor.ErrCorrupt, "truncated: member %q of %d bytes runs past the end of the %d-byte file", clip(mn), f.CompressedSize64, size)
		}
		st.nbytes = int64(f.CompressedSize64)
		if need := st.numel * st.st.esize; st.numel > (1<<62)/16 || need > st.nbytes {
			return why(tensor.ErrCorrupt, "truncated: member %q holds %d bytes, but the pickle declares %d %s elements (%d bytes)", clip(mn), st.nbytes, st.numel, st.typeName, need)
		}
		st.nbytes = st.numel * st.st.esize
		if st.st.dt.Type.Valid() == false && st.typeName != "UntypedStorage" {
			return why(nil, "torch.%s (quantized or complex32) has no NumPy or bigconv dtype", st.typeName)
		}
		return nil
	}
	return walkRoot(root, r, name, "zip", base, b, locate)
}

// readSmall reads a small member whole.
func readSmall(f *zip.File, limit int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("%d bytes, more than %d", f.UncompressedSize64, limit)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, limit))
}

// walkRoot names the values reachable from root; base is the pickle's
// offset in the file, for messages.
func walkRoot(root any, r io.ReaderAt, name, kind string, base int64, b *budget, locate func(*storageRef) error) (*File, error) {
	if err := b.charge(sizeOf[walker]() + 3*mapFirst); err != nil {
		return nil, errorf(tensor.ErrUnsupported, name, "", base, "%v", err)
	}
	w := &walker{file: name, base: base, b: b, r: r, onPath: map[any]bool{}, hasT: map[any]bool{}, names: map[string]bool{}}
	w.locate = func(st *storageRef) error {
		if st.root != nil { // a legacy view
			if err := locate(st.root); err != nil {
				return err
			}
			st.err, st.why, st.bigEnd = st.root.err, st.root.why, st.root.bigEnd
			st.off = st.root.off + st.viewOff*st.st.esize
			st.nbytes = st.numel * st.st.esize
			return nil
		}
		return locate(st)
	}
	if err := w.walk(root, "", 0); err != nil {
		return nil, err
	}
	return &File{Tensors: w.out, Format: kind, charged: b.used}, nil
}

// openLegacy reads the legacy format: five pickles, then the storages.
func openLegacy(r io.ReaderAt, size int64, name string) (*File, error) {
	pos := int64(0)
	b := newBudget()
	next := func(what string, u *unpickler) (any, error) {
		m := newMachine(io.NewSectionReader(r, pos, size-pos), size-pos, pos, name, what, b)
		if u == nil {
			u = newUnpickler(true)
		}
		u.attach(m)
		v, err := m.run()
		pos += m.pos
		return v, err
	}
	magic, err := next("magic number pickle", nil)
	if err != nil {
		return nil, err
	}
	if z, ok := magic.(interface{ String() string }); !ok || z.String() != "119547037146038801333356" {
		return nil, errorf(tensor.ErrFormat, name, "", 0, "the first pickle is %s, not torch's magic number", repr(magic, 40))
	}
	proto, err := next("protocol version pickle", nil)
	if err != nil {
		return nil, err
	}
	if proto != int64(1001) {
		return nil, errorf(tensor.ErrUnsupported, name, "", pos, "legacy protocol version %s (bigconv reads 1001)", repr(proto, 40))
	}
	if _, err := next("sys_info pickle", nil); err != nil {
		return nil, err
	}
	u := newUnpickler(true)
	rootAt := pos
	root, err := next("object pickle", u)
	if err != nil {
		return nil, err
	}
	keysAt := pos
	keysV, err := next("storage keys pickle", nil)
	if err != nil {
		return nil, err
	}
	kl, ok := keysV.(*pyList)
	if !ok {
		return nil, errorf(tensor.ErrCorrupt, name, "", keysAt, "the storage keys pickle is a %s, not a list", kind(keysV))
	}
	// Lay the storages out in the keys' order (each is named once: what
	// this allocates is charged once per storage).
	for _, k := range kl.items {
		if err := b.charge(256); err != nil {
			return nil, errorf(tensor.ErrUnsupported, name, "", keysAt, "%v", err)
		}
		key, ok := k.(string)
		if !ok {
			return nil, errorf(tensor.ErrCorrupt, name, "", keysAt, "storage key %s is not a str", repr(k, 40))
		}
		st := u.storages[key]
		if st == nil {
			return nil, errorf(tensor.ErrCorrupt, name, "", pos, "storage %q follows the pickle but no tensor names it, so its element size is unknown", clip(key))
		}
		if st.located {
			return nil, errorf(tensor.ErrCorrupt, name, "", pos, "storage %q is listed twice", clip(key))
		}
		st.located = true
		var cnt [8]byte
		if pos > size-8 {
			return nil, errorf(tensor.ErrCorrupt, name, "", pos, "truncated: storage %q's element count runs past the end of the %d-byte file", clip(key), size)
		}
		if _, err := r.ReadAt(cnt[:], pos); err != nil {
			return nil, errorf(tensor.ErrCorrupt, name, "", pos, "read storage %q's element count: %v", clip(key), err)
		}
		numel := int64(binary.LittleEndian.Uint64(cnt[:]))
		if numel != st.numel {
			return nil, errorf(tensor.ErrCorrupt, name, "", pos, "storage %q has %d elements in the file but %d in the pickle", clip(key), numel, st.numel)
		}
		pos += 8
		nb := numel * st.st.esize
		if numel < 0 || numel > (1<<62)/16 || nb > size-pos {
			return nil, errorf(tensor.ErrCorrupt, name, "", pos, "truncated: storage %q of %d %s elements runs past the end of the %d-byte file", clip(key), numel, st.typeName, size)
		}
		st.off, st.nbytes = pos, nb
		if !st.st.dt.Type.Valid() && st.typeName != "UntypedStorage" {
			st.why = fmt.Sprintf("torch.%s (quantized or complex32) has no NumPy or bigconv dtype", st.typeName)
		}
		pos += nb
	}
	locate := func(st *storageRef) error {
		if !st.located {
			st.located = true
			st.err, st.why = tensor.ErrCorrupt, "the storage keys pickle does not list it, so its data is not in the file"
			st.off = -1
		}
		return nil
	}
	return walkRoot(root, r, name, "legacy", rootAt, b, locate)
}
