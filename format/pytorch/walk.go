package pytorch

import (
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/tensor"
)

// Limits of the walk over the unpickled object.
const (
	// MaxDepth is the deepest nesting of containers named.
	MaxDepth = 200
	// maxVisits caps the values visited: shared sub-objects are walked
	// once per path, and a pickle of lists of lists that share children
	// would otherwise name 2^depth paths.
	maxVisits = 4 << 20
	// maxRank is NumPy's NPY_MAXDIMS.
	maxRank = 64
)

// MaxEntries caps the tensors and values one file may name (a state_dict
// of a large model names a few thousand; with optimizer state, a few
// times that).
var MaxEntries = 1 << 18

// walker names every value reachable from the root.
type walker struct {
	file   string
	r      io.ReaderAt
	visits int
	onPath map[any]bool
	hasT   map[any]bool // memo: container holds a tensor
	out    []*tensor.Tensor
	names  map[string]bool
	locate func(*storageRef) // resolves a storage's bytes
}

// walk emits one tensor.Tensor per tensor, and one per maximal sub-object
// that holds no tensor (listed, Unsupported set).
func (w *walker) walk(v any, name string, depth int) error {
	w.visits++
	if w.visits > maxVisits {
		return fmt.Errorf("pytorch: %w", tensor.Errorf(tensor.ErrUnsupported, w.file, clip(name), -1, "the pickled object has more than %d values to name", maxVisits))
	}
	if depth > MaxDepth {
		return fmt.Errorf("pytorch: %w", tensor.Errorf(tensor.ErrUnsupported, w.file, clip(name), -1, "containers nested deeper than %d", MaxDepth))
	}
	if t, ok := v.(*tensorVal); ok {
		return w.tensor(t, name)
	}
	if !w.holdsTensor(v, 0) {
		return w.value(v, name)
	}
	switch v.(type) {
	case *pyList, *pyDict, *pySet: // tuples are immutable: a cycle passes through one of these
		if w.onPath[v] {
			return fmt.Errorf("pytorch: %w", tensor.Errorf(tensor.ErrUnsupported, w.file, name, -1, "the %s contains itself", kind(v)))
		}
		w.onPath[v] = true
		defer delete(w.onPath, v)
	}
	switch c := v.(type) {
	case *pyDict:
		for i, k := range c.keys {
			if err := w.walk(c.vals[i], join(name, keyName(k)), depth+1); err != nil {
				return err
			}
		}
	case *pyList:
		for i, x := range c.items {
			if err := w.walk(x, join(name, strconv.Itoa(i)), depth+1); err != nil {
				return err
			}
		}
	case pyTuple:
		for i, x := range c {
			if err := w.walk(x, join(name, strconv.Itoa(i)), depth+1); err != nil {
				return err
			}
		}
	case *pySet:
		for i, x := range c.items {
			if err := w.walk(x, join(name, strconv.Itoa(i)), depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// holdsTensor reports whether v is or contains a tensor (memoized for
// containers that are pointers; cycles and depth stop the search).
func (w *walker) holdsTensor(v any, depth int) bool {
	if depth > MaxDepth+1 {
		return true // let walk report the depth
	}
	var items []any
	switch c := v.(type) {
	case *tensorVal:
		return true
	case *opaque:
		return c.kind == "tensor"
	case pyTuple:
		items = c
	case *pyList:
		if h, ok := w.hasT[c]; ok {
			return h
		}
		w.hasT[c] = true // a cycle: assume so, walk reports it
		items = c.items
	case *pyDict:
		if h, ok := w.hasT[c]; ok {
			return h
		}
		w.hasT[c] = true
		items = c.vals
	case *pySet:
		items = c.items
	default:
		return false
	}
	h := false
	for _, x := range items {
		w.visits++
		if w.visits > maxVisits || w.holdsTensor(x, depth+1) {
			h = true
			break
		}
	}
	switch c := v.(type) {
	case *pyList:
		w.hasT[c] = h
	case *pyDict:
		w.hasT[c] = h
	}
	return h
}

func join(prefix, s string) string {
	if prefix == "" {
		return s
	}
	return prefix + "." + s
}

func keyName(k any) string {
	switch k := k.(type) {
	case string:
		return k
	case int64:
		return strconv.FormatInt(k, 10)
	}
	return repr(k, 60)
}

func (w *walker) add(t *tensor.Tensor) error {
	if len(w.out) >= MaxEntries {
		return fmt.Errorf("pytorch: %w", tensor.Errorf(tensor.ErrUnsupported, w.file, t.Name, -1, "the pickled object names more than %d tensors and values (MaxEntries)", MaxEntries))
	}
	if w.names[t.Name] {
		return fmt.Errorf("pytorch: %w", tensor.Errorf(tensor.ErrUnsupported, w.file, t.Name, -1, "two values are named %q (a key with a dot in it?)", t.Name))
	}
	w.names[t.Name] = true
	w.out = append(w.out, t)
	return nil
}

// value lists a non-tensor value.
func (w *walker) value(v any, name string) error {
	t := &tensor.Tensor{Name: name, File: w.file, Offset: -1, Shape: dtype.Shape{}}
	if o, ok := v.(*opaque); ok {
		t.Unsupported = o.why
		t.Extra = map[string]string{"kind": o.kind}
	} else {
		t.Unsupported = "not a tensor: " + kind(v) + " " + repr(v, 80)
		t.Extra = map[string]string{"kind": kind(v)}
	}
	return w.add(t)
}

// tensor checks a rebuilt tensor against its storage and describes it.
func (w *walker) tensor(tv *tensorVal, name string) error {
	st := tv.st
	w.locate(st)
	corrupt := func(off int64, format string, args ...any) error {
		return fmt.Errorf("pytorch: %w", tensor.Errorf(tensor.ErrCorrupt, w.file, name, off, format, args...))
	}
	if st.err != nil {
		return fmt.Errorf("pytorch: %w", tensor.Errorf(st.err, w.file, name, st.off, "storage %q: %s", st.key, st.why))
	}
	if tv.bad != "" {
		return corrupt(st.off, "storage %q: malformed tensor: %s", st.key, tv.bad)
	}
	t := &tensor.Tensor{Name: name, DType: tv.dt, Shape: dtype.Shape(tv.size), File: w.file,
		Extra: map[string]string{"storage": st.key, "storage_type": tv.dtName}}
	if tv.offset != 0 {
		t.Extra["storage_offset"] = strconv.FormatInt(tv.offset, 10)
	}
	if tv.param {
		t.Extra["parameter"] = "true"
	}
	if st.bigEnd {
		t.DType.BigEndian = t.DType.Type.Size() > 1
	}
	if len(tv.size) > maxRank {
		return corrupt(st.off, "%d dimensions, more than NumPy's %d", len(tv.size), maxRank)
	}
	elems, err := dtype.Shape(tv.size).NumElements()
	if err != nil {
		return corrupt(st.off, "size %v: %v", tv.size, err)
	}
	esize := st.st.esize
	if tv.dt.Type.Valid() {
		esize = int64(tv.dt.Size())
	}
	// the last element's index in the storage: offset + Σ (n_k - 1)·stride_k
	last := tv.offset
	if elems > 0 {
		for k, n := range tv.size {
			if tv.stride[k] > 0 && n-1 > (math.MaxInt64-last)/tv.stride[k] {
				return corrupt(st.off, "size %v and stride %v overflow int64", tv.size, tv.stride)
			}
			last += (n - 1) * tv.stride[k]
		}
	}
	avail := st.nbytes / esize
	if elems > 0 && last >= avail || tv.offset > avail {
		return corrupt(st.off, "the view (offset %d, size %v, stride %v) reaches element %d of storage %q, which holds %d %s elements (%d bytes)",
			tv.offset, tv.size, tv.stride, last, st.key, avail, tv.dtName, st.nbytes)
	}
	base := st.off + tv.offset*esize
	t.Offset = base
	switch {
	case st.why != "":
		t.Unsupported = st.why
	case !tv.dt.Type.Valid():
		t.Unsupported = fmt.Sprintf("%s has no NumPy or bigconv dtype", tv.dtName)
	}
	if t.Unsupported != "" {
		return w.add(t)
	}
	l := reduce(tv.size, tv.stride)
	switch {
	case elems == 0:
		t.Data = io.NewSectionReader(w.r, base, 0)
		t.Contiguous = true
	case l.contiguous():
		t.Data = io.NewSectionReader(w.r, base, elems*esize)
		t.Contiguous = true
	case fortran(tv.size, tv.stride):
		t.Data = io.NewSectionReader(w.r, base, elems*esize)
		t.Fortran = true
	default:
		t.Data = newGather(w.r, base, st.nbytes-tv.offset*esize, esize, l, elems)
		t.Extra["layout"] = fmt.Sprintf("strided %v", tv.stride)
	}
	return w.add(t)
}
