package tfbundle

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/format"
	"github.com/bigconv/bigconv/format/tfbundle/internal/table"
	"github.com/bigconv/bigconv/internal/crc32c"
	"github.com/bigconv/bigconv/internal/tfproto"
	"github.com/bigconv/bigconv/tensor"
)

// maxShards caps the header's shard count (shard names have five digits).
const maxShards = 99999

func init() {
	format.Register(format.Format{
		Name: "tfbundle",
		Exts: []string{".index"},
		Open: func(src format.Source, _ format.Options) (*format.Input, error) {
			if src.R == nil {
				return nil, fmt.Errorf("tfbundle: %s: a tensor bundle cannot be read from a stream: %w", src.Name, tensor.ErrUnsupported)
			}
			b, err := Open(src.R, src.Size, src.Name, src.Sibling)
			if err != nil {
				return nil, err
			}
			return &format.Input{Format: "tfbundle", Tensors: b.Tensors(), Collection: true}, nil
		},
		Resolve: resolve,
	})
}

// Bundle is an opened tensor bundle: its index is read and checked, its
// data shards are opened, and its tensors are described. A Bundle and the
// Data of its tensors are safe for concurrent use.
type Bundle struct {
	name      string
	numShards int
	bigEndian bool
	tensors   []*tensor.Tensor
	errs      map[string]error // why a tensor is Unsupported, by name
}

// errorf builds a located error; every error of this package starts with
// "tfbundle: " and wraps one of the tensor sentinels.
func errorf(sentinel error, file, name string, off int64, format string, args ...any) error {
	return fmt.Errorf("tfbundle: %w", tensor.Errorf(sentinel, file, name, off, format, args...))
}

// wrap prefixes err (from the table reader) with "tfbundle: ".
func wrap(err error) error { return fmt.Errorf("tfbundle: %w", err) }

type shardFile struct {
	r    io.ReaderAt
	size int64
	file string // path for messages
}

// Open reads the bundle whose .index file is index (size bytes). name is
// the index path as the user gave it, used in messages and to name the
// data shards: PREFIX.data-%05d-of-%05d where PREFIX is name's base
// without ".index". sibling opens such a shard by base file name; the
// caller closes what it opens, after it is done with the Bundle. Only
// shards that entries refer to are opened.
//
// Open reads the index and, for string tensors, their data (to size the
// fixed-width records and verify their checksums); it reads no numeric
// tensor data. A legacy V1 checkpoint (one table holding the tensors
// themselves) is refused with an ErrUnsupported error.
func Open(index io.ReaderAt, size int64, name string, sibling func(name string) (io.ReaderAt, int64, error)) (*Bundle, error) {
	t, err := table.Open(index, size, name)
	if err != nil {
		return nil, wrap(err)
	}
	b := &Bundle{name: name}
	var (
		seenHeader bool
		order      []string
		entries    = map[string]*entry{}
		broken     = map[string]error{}
	)
	err = t.Walk(func(key, value []byte, at int64) error {
		if !seenHeader {
			if len(key) != 0 {
				return errorf(tensor.ErrCorrupt, name, "", -1, "first key is %q, not the header key \"\"", key)
			}
			seenHeader = true
			h, err := parseHeader(value)
			if errors.As(err, new(errV1)) {
				return errorf(tensor.ErrUnsupported, name, "", -1,
					"a legacy V1 checkpoint (SavedTensorSlices table), not a V2 tensor bundle; re-save it with TensorFlow's V2 saver")
			}
			if err != nil {
				return errorf(tensor.ErrCorrupt, name, "", at, "BundleHeaderProto: %v", err)
			}
			if h.numShards < 0 || h.numShards > maxShards {
				return errorf(tensor.ErrCorrupt, name, "", at, "header says %d shards", h.numShards)
			}
			if h.minConsumer > 1 {
				return errorf(tensor.ErrUnsupported, name, "", -1, "bundle needs a reader of version %d or newer (we read version 1)", h.minConsumer)
			}
			for _, c := range h.bad {
				if c == 1 {
					return errorf(tensor.ErrUnsupported, name, "", -1, "bundle disallows readers of version 1")
				}
			}
			b.numShards, b.bigEndian = int(h.numShards), h.bigEndian
			return nil
		}
		k := string(key)
		if key[0] != 0 { // slice entries (OrderedCode keys start with 0) are hidden
			order = append(order, k)
		}
		e, err := parseEntry(value)
		if err != nil {
			// As TensorFlow (BundleReader::GetBundleEntryProto parses an
			// entry when it is looked up), a broken entry fails its own
			// tensor only; a broken slice entry, its variable.
			broken[k] = errorf(tensor.ErrCorrupt, name, printable(k), at, "BundleEntryProto: %v", err)
			return nil
		}
		e.at = at
		entries[k] = e
		return nil
	})
	if err != nil {
		if errors.As(err, new(*tensor.Error)) && !isOurs(err) {
			return nil, wrap(err)
		}
		return nil, err
	}
	if !seenHeader {
		return nil, errorf(tensor.ErrCorrupt, name, "", -1, "empty index: no header entry")
	}

	o := &opener{b: b, sibling: sibling, shards: map[int64]*shardFile{}, missing: map[int64]error{},
		entries: entries, prefix: filepath.Base(Prefix(name)), dir: filepath.Dir(name)}
	b.errs = map[string]error{}
	for _, k := range order {
		err := broken[k]
		var t *tensor.Tensor
		if err == nil {
			t, err = o.tensor(k, entries[k])
		}
		if err != nil {
			t = o.unusable(k, entries[k], err)
		}
		if dt := t.Extra["tf_dtype"]; !t.DType.Type.Valid() && dt != "" {
			// TensorFlow's name for what has no DType (a string tensor
			// whose shard is missing, resource, variant), for inspect
			t.Extra[tensor.ExtraDescr] = "tf:" + dt
		}
		b.tensors = append(b.tensors, t)
	}
	return b, nil
}

// unusable describes a tensor that o.tensor could not place, as far as
// its entry allows. A numeric tensor whose data shard is missing keeps
// its dtype and shape and gets Data that fails with the missing shard's
// error when read (inspect lists it, marked missing_shard; convert fails
// on it). Any other failure, or a string tensor (whose width is read from
// its data), makes the tensor Unsupported with the reason, and Err
// returns the error; the bundle's other tensors are not affected.
func (o *opener) unusable(key string, e *entry, err error) *tensor.Tensor {
	t := &tensor.Tensor{Name: key, File: o.b.name, Shape: dtype.Shape{}, Extra: map[string]string{}}
	if e != nil {
		t.Shape, t.Offset = e.shape, e.offset
		t.Extra["tf_dtype"] = e.dtype.String()
		if dt, err := e.dtype.Numeric(); err == nil {
			dt.BigEndian = o.b.bigEndian
			t.DType = dt
		}
	}
	var m *missingShard
	if errors.As(err, &m) {
		t.Extra["missing_shard"] = m.file
		if t.DType.Type.Valid() {
			t.Data = failing{err}
			t.File = m.file
			return t
		}
	}
	t.Unsupported = err.Error()
	o.b.errs[key] = err
	return t
}

// failing is the Data of a tensor whose shard is missing.
type failing struct{ err error }

func (f failing) ReadAt([]byte, int64) (int, error) { return 0, f.err }

// missingShard is the error of a data shard that could not be opened.
type missingShard struct {
	file  string
	cause error // from the sibling opener
	err   error // located at the tensor
}

func (m *missingShard) Error() string { return m.err.Error() }
func (m *missingShard) Unwrap() error { return m.err }

// Err is the error that made the tensor named name Unsupported (a broken
// entry, a size or range its shard contradicts, a string tensor whose
// data is missing or damaged), or nil. The error wraps the tensor
// sentinels as Open's errors do.
func (b *Bundle) Err(name string) error { return b.errs[name] }

// isOurs reports whether err already carries the "tfbundle: " prefix.
func isOurs(err error) bool {
	s := err.Error()
	return len(s) >= 10 && s[:10] == "tfbundle: "
}

// printable quotes keys that are not plain text (slice keys).
func printable(k string) string {
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] >= 0x7f {
			return strconv.Quote(k)
		}
	}
	return k
}

// Tensors lists the bundle's tensors sorted by name. Slices of a
// partitioned variable are not listed: the variable is, once, whole.
// The Data of each tensor is safe for concurrent ReadAt calls.
func (b *Bundle) Tensors() []*tensor.Tensor { return b.tensors }

// NumShards is the number of data shards the header declares.
func (b *Bundle) NumShards() int { return b.numShards }

// BigEndian reports whether the bundle was written big-endian.
func (b *Bundle) BigEndian() bool { return b.bigEndian }

type opener struct {
	b       *Bundle
	sibling func(string) (io.ReaderAt, int64, error)
	shards  map[int64]*shardFile
	missing map[int64]error // shards that could not be opened
	entries map[string]*entry
	prefix  string
	dir     string
}

// shard opens (once) the data shard id, which key's entry (at in the
// index) names.
func (o *opener) shard(id int64, key string, at int64) (*shardFile, error) {
	if id < 0 || id >= int64(o.b.numShards) {
		return nil, errorf(tensor.ErrCorrupt, o.b.name, key, at, "shard %d of a %d-shard bundle", id, o.b.numShards)
	}
	if s, ok := o.shards[id]; ok {
		return s, nil
	}
	if err, ok := o.missing[id]; ok {
		m := err.(*missingShard)
		return nil, &missingShard{file: m.file, cause: m.cause, err: errorf(m.cause, m.file, key, -1, "opening data shard")}
	}
	base := DataFile(o.prefix, int(id), o.b.numShards)
	file := base
	if o.dir != "" && o.dir != "." {
		file = filepath.Join(o.dir, base)
	}
	if o.sibling == nil {
		return nil, errorf(tensor.ErrUnsupported, o.b.name, key, -1, "cannot open data shard %s: input has no directory", base)
	}
	r, size, err := o.sibling(base)
	if err != nil {
		// As TensorFlow (BundleReader::GetValue opens a shard when a
		// tensor in it is first read), a missing shard fails only reads.
		m := &missingShard{file: file, cause: err, err: errorf(err, file, key, -1, "opening data shard")}
		o.missing[id] = m
		return nil, m
	}
	if size < 0 {
		return nil, errorf(tensor.ErrCorrupt, file, key, -1, "negative shard size %d", size)
	}
	s := &shardFile{r: r, size: size, file: file}
	o.shards[id] = s
	return s, nil
}

// place checks an entry's data range against its shard.
func (o *opener) place(key string, e *entry) (*shardFile, error) {
	s, err := o.shard(e.shard, key, e.at)
	if err != nil {
		return nil, err
	}
	if e.offset < 0 || e.size < 0 || e.offset > s.size || e.size > s.size-e.offset {
		return nil, errorf(tensor.ErrCorrupt, s.file, key, e.offset,
			"data range of %d bytes runs past the end of the %d-byte shard", e.size, s.size)
	}
	return s, nil
}

func (o *opener) tensor(key string, e *entry) (*tensor.Tensor, error) {
	t := &tensor.Tensor{
		Name:  key,
		Shape: e.shape,
		File:  o.b.name,
		Extra: map[string]string{"tf_dtype": e.dtype.String()},
	}
	// An entry without a shape is a scalar, as TensorShape(entry.shape())
	// makes it in TensorFlow (a writer that omits empty messages writes
	// no shape for scalars).
	base := e.dtype
	if base > 100 {
		base -= 100
	}
	switch {
	case base == tfproto.DTResource || base == tfproto.DTVariant:
		t.Unsupported = fmt.Sprintf("TensorFlow %v tensors hold runtime objects, not array data", base)
		return t, nil
	case base == tfproto.DTString:
		if len(e.slices) > 0 {
			t.Unsupported = "partitioned string variables are not supported"
			return t, nil
		}
		return o.strings(key, e, t)
	}
	dt, err := e.dtype.Numeric()
	if err != nil {
		t.Unsupported = fmt.Sprintf("TensorFlow dtype %v has no bigconv element type", e.dtype)
		return t, nil
	}
	dt.BigEndian = o.b.bigEndian
	t.DType = dt
	if len(e.slices) > 0 {
		return o.partitioned(key, e, t)
	}
	// the entry contradicting itself is the index's fault, found
	// without the shard
	want, err := e.shape.NumBytes(dt.Size())
	if err != nil || want != e.size {
		return nil, errorf(tensor.ErrCorrupt, o.b.name, key, e.at,
			"BundleEntryProto: entry size %d is not %v × %d bytes", e.size, e.shape, dt.Size())
	}
	s, err := o.place(key, e)
	if err != nil {
		return nil, err
	}
	crc := crc32c.Unmask(e.crc)
	t.Data = io.NewSectionReader(s.r, e.offset, e.size)
	t.Contiguous = true
	t.File = s.file
	t.Offset = e.offset
	t.CRC32C = &crc
	t.Extra["shard"] = strconv.FormatInt(e.shard, 10)
	t.Extra["crc32c"] = fmt.Sprintf("%08x", crc)
	return t, nil
}
