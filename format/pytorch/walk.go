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

// walker names every value reachable from the root, charging what it
// allocates (names, maps, the Tensors) to the file's budget.
type walker struct {
	file   string
	base   int64 // the pickle's offset in the file, for memory errors
	b      *budget
	r      io.ReaderAt
	visits int
	onPath map[any]bool
	hasT   map[any]bool // memo: container holds a tensor
	out    []*tensor.Tensor
	names  map[string]bool
	locate func(*storageRef) error // resolves a storage's bytes; fails when the budget is spent
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
	h, err := w.holdsTensor(v, 0)
	if err != nil {
		return w.fail(err, name)
	}
	if !h {
		return w.value(v, name)
	}
	switch v.(type) {
	case *pyList, *pyDict, *pySet: // tuples are immutable: a cycle passes through one of these
		if w.onPath[v] {
			return fmt.Errorf("pytorch: %w", tensor.Errorf(tensor.ErrUnsupported, w.file, clip(name), -1, "the %s contains itself", kind(v)))
		}
		if err := w.b.charge(mapEntry); err != nil {
			return w.fail(err, name)
		}
		w.onPath[v] = true
		defer delete(w.onPath, v)
	}
	var keys, items []any
	switch c := v.(type) {
	case *pyDict:
		keys, items = c.keys, c.vals
	case *pyList:
		items = c.items
	case pyTuple:
		items = c
	case *pySet:
		items = c.items
	}
	for i, x := range items {
		child, err := w.child(name, keys, i)
		if err != nil {
			return err
		}
		if err := w.walk(x, child, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// child names the child i of name: keys[i] of a dict, or index i of a
// sequence (keys nil); the name is charged.
func (w *walker) child(name string, keys []any, i int) (string, error) {
	var s string
	cost := int64(0)
	if keys == nil {
		s, cost = strconv.Itoa(i), 16
	} else if k, ok := keys[i].(string); ok {
		s = k
	} else {
		s, cost = keyName(keys[i]), reprCost
	}
	if name != "" {
		cost += allocSize(int64(len(name) + 1 + len(s)))
	}
	if err := w.b.charge(cost); err != nil {
		return "", w.fail(err, name)
	}
	return join(name, s), nil
}

// holdsTensor reports whether v is or contains a tensor (memoized for
// containers that are pointers; cycles and depth stop the search). Its
// error is the budget's refusal.
func (w *walker) holdsTensor(v any, depth int) (bool, error) {
	if depth > MaxDepth+1 {
		return true, nil // let walk report the depth
	}
	var items []any
	switch c := v.(type) {
	case *tensorVal:
		return true, nil
	case *opaque:
		return c.kind == "tensor", nil
	case pyTuple:
		items = c
	case *pyList, *pyDict:
		if h, ok := w.hasT[c]; ok {
			return h, nil
		}
		if err := w.b.charge(mapEntry); err != nil {
			return false, err
		}
		w.hasT[c] = true // a cycle: assume so, walk reports it
		if l, ok := c.(*pyList); ok {
			items = l.items
		} else {
			items = c.(*pyDict).vals
		}
	case *pySet:
		items = c.items
	default:
		return false, nil
	}
	h := false
	for _, x := range items {
		w.visits++
		if w.visits > maxVisits {
			h = true
			break
		}
		hx, err := w.holdsTensor(x, depth+1)
		if err != nil {
			return false, err
		}
		if hx {
			h = true
			break
		}
	}
	switch v.(type) {
	case *pyList, *pyDict:
		w.hasT[v] = h
	}
	return h, nil
}

// fail places the budget's refusal at the value name.
func (w *walker) fail(err error, name string) error {
	if re, ok := asRefusal(err); ok {
		return fmt.Errorf("pytorch: %w", tensor.Errorf(re.sentinel, w.file, clip(name), w.base, "%s", re.msg))
	}
	return err
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
		return fmt.Errorf("pytorch: %w", tensor.Errorf(tensor.ErrUnsupported, w.file, clip(t.Name), -1, "the pickled object names more than %d tensors and values (MaxEntries)", MaxEntries))
	}
	if w.names[t.Name] {
		return fmt.Errorf("pytorch: %w", tensor.Errorf(tensor.ErrUnsupported, w.file, clip(t.Name), -1, "two values are named %q (a key with a dot in it?)", clip(t.Name)))
	}
	if err := w.b.charge(mapEntry); err != nil {
		return w.fail(err, t.Name)
	}
	out, err := grow(w.b, w.out, 1)
	if err != nil {
		return w.fail(err, t.Name)
	}
	w.names[t.Name] = true
	w.out = append(out, t)
	return nil
}

// value lists a non-tensor value.
func (w *walker) value(v any, name string) error {
	// the Tensor, its Extra, and its Unsupported (a repr)
	if err := w.b.charge(sizeOf[tensor.Tensor]() + extraCost + reprCost + 256); err != nil {
		return w.fail(err, name)
	}
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
	if err := w.locate(st); err != nil {
		return w.fail(err, name)
	}
	charge := func(n int64) error {
		if err := w.b.charge(n); err != nil {
			return w.fail(err, name)
		}
		return nil
	}
	corrupt := func(off int64, format string, args ...any) error {
		return fmt.Errorf("pytorch: %w", tensor.Errorf(tensor.ErrCorrupt, w.file, clip(name), off, format, args...))
	}
	if st.err != nil {
		return fmt.Errorf("pytorch: %w", tensor.Errorf(st.err, w.file, clip(name), st.off, "storage %q: %s", clip(st.key), st.why))
	}
	if tv.bad != "" {
		return corrupt(st.off, "storage %q: malformed tensor: %s", clip(st.key), tv.bad)
	}
	// the Tensor, its Extra, the storage_offset and the dtype message
	if err := charge(sizeOf[tensor.Tensor]() + extraCost + 32 + allocSize(int64(len(tv.dtName))+48)); err != nil {
		return err
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
			tv.offset, tv.size, tv.stride, last, clip(st.key), avail, tv.dtName, st.nbytes)
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
	// reduce's layout, grown by appends, and a section reader
	r := int64(len(tv.size))
	if err := charge(4*allocSize(8*r) + sizeOf[io.SectionReader]()); err != nil {
		return err
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
		// a gather instead: its output strides and the "strided" note
		if err := charge(sizeOf[gather]() + allocSize(8*r) + 2*allocSize(21*r+16) + 32); err != nil {
			return err
		}
		t.Data = newGather(w.r, base, st.nbytes-tv.offset*esize, esize, l, elems)
		t.Extra["layout"] = fmt.Sprintf("strided %v", tv.stride)
	}
	return w.add(t)
}
