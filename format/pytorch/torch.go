package pytorch

// What torch.save pickles, interpreted: the allow-list of globals, the
// rebuild functions applied to plain values, and the persistent ids that
// name storages.

import (
	"fmt"
	"strings"

	"github.com/bigconv/bigconv/dtype"
	"github.com/bigconv/bigconv/tensor"
)

// storageType is one of torch's storage classes.
type storageType struct {
	dt    dtype.DType // little-endian; the zero DType when bigconv has no such type
	esize int64
}

// storageTypes are torch.<T>Storage (the legacy names torch 1.x and 2.x
// write in persistent ids) by class name.
var storageTypes = map[string]storageType{
	"FloatStorage":         {dtype.Of(dtype.Float32), 4},
	"DoubleStorage":        {dtype.Of(dtype.Float64), 8},
	"HalfStorage":          {dtype.Of(dtype.Float16), 2},
	"BFloat16Storage":      {dtype.Of(dtype.BFloat16), 2},
	"LongStorage":          {dtype.Of(dtype.Int64), 8},
	"IntStorage":           {dtype.Of(dtype.Int32), 4},
	"ShortStorage":         {dtype.Of(dtype.Int16), 2},
	"CharStorage":          {dtype.Of(dtype.Int8), 1},
	"ByteStorage":          {dtype.Of(dtype.Uint8), 1},
	"BoolStorage":          {dtype.Of(dtype.Bool), 1},
	"ComplexFloatStorage":  {dtype.Of(dtype.Complex64), 8},
	"ComplexDoubleStorage": {dtype.Of(dtype.Complex128), 16},
	// torch 2.x: dtypes without a legacy class are saved as untyped bytes
	// with the dtype in _rebuild_tensor_v3.
	"UntypedStorage": {dtype.Of(dtype.Uint8), 1},
	// quantized storages: recognised, listed as not convertible
	"QInt8Storage":       {dtype.DType{}, 1},
	"QUInt8Storage":      {dtype.DType{}, 1},
	"QInt32Storage":      {dtype.DType{}, 4},
	"QUInt4x2Storage":    {dtype.DType{}, 1},
	"QUInt2x4Storage":    {dtype.DType{}, 1},
	"ComplexHalfStorage": {dtype.DType{}, 4},
}

// torchDTypes are the torch.<dtype> globals (_rebuild_tensor_v3's dtype
// argument) bigconv converts; other torch dtypes are known by name only.
var torchDTypes = map[string]dtype.DType{
	"float32": dtype.Of(dtype.Float32), "float": dtype.Of(dtype.Float32),
	"float64": dtype.Of(dtype.Float64), "double": dtype.Of(dtype.Float64),
	"float16": dtype.Of(dtype.Float16), "half": dtype.Of(dtype.Float16),
	"bfloat16": dtype.Of(dtype.BFloat16),
	"int64":    dtype.Of(dtype.Int64), "long": dtype.Of(dtype.Int64),
	"int32": dtype.Of(dtype.Int32), "int": dtype.Of(dtype.Int32),
	"int16": dtype.Of(dtype.Int16), "short": dtype.Of(dtype.Int16),
	"int8": dtype.Of(dtype.Int8), "uint8": dtype.Of(dtype.Uint8),
	"uint16": dtype.Of(dtype.Uint16), "uint32": dtype.Of(dtype.Uint32), "uint64": dtype.Of(dtype.Uint64),
	"bool":      dtype.Of(dtype.Bool),
	"complex64": dtype.Of(dtype.Complex64), "cfloat": dtype.Of(dtype.Complex64),
	"complex128": dtype.Of(dtype.Complex128), "cdouble": dtype.Of(dtype.Complex128),
	"float8_e5m2":     dtype.Of(dtype.Float8E5M2),
	"float8_e4m3fn":   dtype.Of(dtype.Float8E4M3FN),
	"float8_e4m3fnuz": dtype.Of(dtype.Float8E4M3FNUZ),
	"float8_e5m2fnuz": dtype.Of(dtype.Float8E5M2FNUZ),
	// known, not convertible
	"complex32": {}, "chalf": {}, "qint8": {}, "quint8": {}, "qint32": {}, "quint4x2": {}, "quint2x4": {},
	"float8_e8m0fnu": {},
}

// Tensor rebuild functions in torch._utils whose result bigconv does not
// convert (sparse, quantized, meta…): allowed, as torch's weights_only
// loader allows them, and listed as not convertible. Nothing is called.
var otherRebuilds = map[string]string{
	"_rebuild_sparse_tensor":            "a sparse tensor",
	"_rebuild_sparse_csr_tensor":        "a sparse CSR tensor",
	"_rebuild_sparse_compressed_tensor": "a sparse compressed tensor",
	"_rebuild_meta_tensor_no_storage":   "a meta tensor (it has no data)",
	"_rebuild_qtensor":                  "a quantized tensor",
	"_rebuild_nested_tensor":            "a nested tensor",
	"_rebuild_wrapper_subclass":         "a tensor subclass without storage",
	"_rebuild_device_tensor_from_numpy": "a tensor rebuilt from a NumPy array",
}

// rebuildArgs are the fewest and most arguments of the tensor rebuild
// functions.
var rebuildArgs = map[string][2]int{"_rebuild_tensor": {4, 4}, "_rebuild_tensor_v2": {6, 7}, "_rebuild_tensor_v3": {7, 8}}

// allowed reports whether module.name is on the allow-list: plain
// containers, the torch rebuild functions, storage classes and dtypes,
// torch.Size, and what torch's own weights_only=True loader accepts.
func allowed(module, name string) bool {
	switch module {
	case "collections":
		return name == "OrderedDict"
	case "torch._utils":
		_, other := otherRebuilds[name]
		return other || name == "_rebuild_tensor" || name == "_rebuild_tensor_v2" || name == "_rebuild_tensor_v3" ||
			name == "_rebuild_parameter" || name == "_rebuild_parameter_with_state"
	case "torch._tensor":
		return name == "_rebuild_from_type_v2"
	case "torch":
		_, st := storageTypes[name]
		_, dt := torchDTypes[name]
		return st || dt || name == "Size" || name == "Tensor" || name == "device"
	case "torch.storage":
		return name == "UntypedStorage" || name == "TypedStorage"
	case "torch.nn.parameter":
		return name == "Parameter"
	case "torch.serialization":
		return name == "_get_layout"
	case "_codecs":
		return name == "encode"
	case "builtins", "__builtin__":
		return name == "set" || name == "frozenset" || name == "bytearray"
	}
	return false
}

// storageRef is a storage named by a persistent id.
type storageRef struct {
	typeName string
	st       storageType
	key      string
	location string
	numel    int64
	// root and viewOff: a legacy storage view, numel elements of root
	// from its element viewOff
	root    *storageRef
	viewOff int64
	// Resolved after the pickle: where the storage's bytes are.
	off     int64 // file offset of element 0
	nbytes  int64 // bytes available
	bigEnd  bool
	located bool
	err     error  // why its bytes cannot be read (a missing member…)
	why     string // why it is not convertible (a compressed member…)
}

// tensorVal is a rebuilt tensor.
type tensorVal struct {
	st           *storageRef
	offset       int64
	size, stride []int64
	dt           dtype.DType
	dtName       string // the storage or dtype name, for inspect
	param        bool
	bad          string // why the size/stride/offset arguments are malformed
}

// opaque is an allowed value bigconv does not convert (a sparse tensor, a
// torch.dtype, a device) with what it is.
type opaque struct {
	kind string
	why  string
}

// unpickler holds the state of interpreting one torch pickle. What its
// callbacks allocate is charged to the machine's budget.
type unpickler struct {
	storages map[string]*storageRef
	legacy   bool
	b        *budget
}

func newUnpickler(legacy bool) *unpickler {
	return &unpickler{storages: map[string]*storageRef{}, legacy: legacy}
}

func (u *unpickler) attach(m *machine) {
	m.global = u.global
	m.call = u.call
	m.pid = u.persistent
	m.build = u.build
	u.b = m.b
}

func (u *unpickler) global(module, name string) (any, error) {
	if !allowed(module, name) {
		return nil, refuse(tensor.ErrUnsupported, "the pickle names the global %s.%s, which is not on bigconv's allow-list (torch rebuild functions, storage classes, OrderedDict, torch.Size…); nothing was imported or run", module, name)
	}
	if err := u.b.charge(sizeOf[pyGlobal]() + allocSize(int64(len(module)+1+len(name)))); err != nil {
		return nil, err
	}
	return &pyGlobal{module, name, module + "." + name}, nil
}

func (u *unpickler) call(fn any, args pyTuple) (any, error) {
	g, ok := fn.(*pyGlobal)
	if !ok {
		return nil, refuse(tensor.ErrUnsupported, "the pickle calls a %s, not an allowed global", kind(fn))
	}
	bad := func(format string, a ...any) error {
		return refuse(tensor.ErrCorrupt, "%s(%s): %s", g, repr(args, 80), fmt.Sprintf(format, a...))
	}
	switch g.full {
	case "collections.OrderedDict":
		if err := u.b.charge(sizeOf[pyDict]()); err != nil {
			return nil, err
		}
		d := &pyDict{ordered: true}
		if len(args) == 0 {
			return d, nil
		}
		if len(args) != 1 {
			return nil, bad("want at most one argument")
		}
		var pairs []any
		switch a := args[0].(type) {
		case *pyList:
			pairs = a.items
		case pyTuple:
			pairs = a
		default:
			return nil, bad("want a list of pairs")
		}
		for _, p := range pairs {
			kv, ok := p.(pyTuple)
			if !ok || len(kv) != 2 {
				return nil, bad("want a list of pairs")
			}
			if err := d.set(u.b, kv[0], kv[1]); err != nil {
				return nil, err
			}
		}
		return d, nil
	case "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3":
		want := rebuildArgs[g.name]
		if len(args) < want[0] || len(args) > want[1] {
			return nil, bad("%d arguments, want %d to %d", len(args), want[0], want[1])
		}
		return u.rebuild(g, args)
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state", "torch.nn.parameter.Parameter":
		if len(args) < 1 {
			return nil, bad("no tensor argument")
		}
		switch t := args[0].(type) {
		case *tensorVal:
			if err := u.b.charge(sizeOf[tensorVal]()); err != nil {
				return nil, err
			}
			c := *t
			c.param = true
			return &c, nil
		case *opaque:
			return t, nil
		}
		return nil, bad("the data is a %s, not a tensor", kind(args[0]))
	case "torch._tensor._rebuild_from_type_v2":
		// (func, new_type, args, state): a Tensor or Parameter with Python
		// attributes; func rebuilds the tensor, the state is dropped.
		if len(args) != 4 {
			return nil, bad("%d arguments, want 4", len(args))
		}
		ty, ok := args[1].(*pyGlobal)
		if !ok || !(ty.String() == "torch.Tensor" || ty.String() == "torch.nn.parameter.Parameter") {
			return nil, bad("type %s is not torch.Tensor or torch.nn.Parameter", describeCallee(args[1]))
		}
		inner, ok := args[2].(pyTuple)
		if !ok {
			return nil, bad("arguments are a %s, not a tuple", kind(args[2]))
		}
		v, err := u.call(args[0], inner)
		if err != nil {
			return nil, err
		}
		if t, ok := v.(*tensorVal); ok && ty.name == "Parameter" {
			if err := u.b.charge(sizeOf[tensorVal]()); err != nil {
				return nil, err
			}
			c := *t
			c.param = true
			return &c, nil
		}
		return v, nil
	case "torch.Size":
		if len(args) == 0 {
			return pyTuple{}, nil
		}
		if t, ok := args[0].(pyTuple); ok && len(args) == 1 {
			return t, nil
		}
		if l, ok := args[0].(*pyList); ok && len(args) == 1 {
			return pyTuple(l.items), nil
		}
		return nil, bad("want one tuple")
	case "torch.serialization._get_layout", "torch.device":
		if err := u.b.charge(sizeOf[opaque]() + reprCost + 64); err != nil {
			return nil, err
		}
		if g.name == "device" {
			return &opaque{kind: "torch.device", why: "device " + repr(args, 40)}, nil
		}
		return &opaque{kind: "torch.layout", why: "a tensor layout " + repr(args, 40)}, nil
	case "_codecs.encode":
		// protocol 2 pickles bytes as _codecs.encode(str, 'latin1')
		if len(args) != 2 {
			return nil, bad("want two arguments")
		}
		s, ok1 := args[0].(string)
		enc, ok2 := args[1].(string)
		if !ok1 || !ok2 || (enc != "latin1" && enc != "latin-1") {
			return nil, refuse(tensor.ErrUnsupported, "_codecs.encode(%s): bigconv decodes only (str, 'latin1')", repr(args, 60))
		}
		if err := u.b.charge(allocSize(int64(len(s)))); err != nil {
			return nil, err
		}
		b := make(pyBytes, 0, len(s))
		for _, r := range s {
			if r > 0xff {
				return nil, bad("a character above U+00FF cannot be latin1")
			}
			b = append(b, byte(r))
		}
		return b, nil
	case "builtins.set", "__builtin__.set", "builtins.frozenset", "__builtin__.frozenset":
		if err := u.b.charge(sizeOf[pySet]()); err != nil {
			return nil, err
		}
		s := &pySet{frozen: strings.HasSuffix(g.name, "frozenset")}
		if len(args) == 1 {
			switch a := args[0].(type) {
			case *pyList:
				s.items = a.items
			case pyTuple:
				s.items = a
			default:
				return nil, bad("want a list")
			}
		}
		return s, nil
	case "builtins.bytearray", "__builtin__.bytearray":
		if len(args) == 0 {
			return pyBytes{}, nil
		}
		if b, ok := args[0].(pyBytes); ok {
			return b, nil
		}
		return nil, refuse(tensor.ErrUnsupported, "bytearray(%s)", repr(args, 60))
	}
	if what, ok := otherRebuilds[g.name]; ok && g.module == "torch._utils" {
		if err := u.b.charge(sizeOf[opaque]() + allocSize(int64(len(what)+len(g.full)+20))); err != nil {
			return nil, err
		}
		return &opaque{kind: "tensor", why: what + " (" + g.String() + ") is not converted"}, nil
	}
	return nil, refuse(tensor.ErrUnsupported, "the pickle calls %s, which bigconv does not interpret", g)
}

// rebuild applies _rebuild_tensor{,_v2,_v3}(storage, storage_offset,
// size, stride, …). Malformed arguments are kept in bad, reported when
// the tensor is named.
func (u *unpickler) rebuild(g *pyGlobal, args pyTuple) (any, error) {
	st, ok := args[0].(*storageRef)
	if !ok {
		return nil, refuse(tensor.ErrCorrupt, "%s: the storage argument is a %s, not a persistent storage id", g, kind(args[0]))
	}
	// the tensor, its size and stride (at most maxRank each), and
	// messages if they are malformed (below)
	n := max(seqLen(args[2]), seqLen(args[3]))
	if err := u.b.charge(sizeOf[tensorVal]() + 2*allocSize(8*int64(min(n, maxRank)))); err != nil {
		return nil, err
	}
	t := &tensorVal{st: st, dt: st.st.dt, dtName: st.typeName}
	var bad []string
	if o, ok := args[1].(int64); ok && o >= 0 {
		t.offset = o
	} else {
		bad = append(bad, "storage_offset "+repr(args[1], 40))
	}
	if n > maxRank {
		bad = append(bad, fmt.Sprintf("%d dimensions, more than NumPy's %d", n, maxRank))
	} else {
		var err1, err2 string
		t.size, err1 = ints(args[2])
		t.stride, err2 = ints(args[3])
		if err1 != "" {
			bad = append(bad, "size "+err1)
		}
		if err2 != "" {
			bad = append(bad, "stride "+err2)
		}
		if err1 == "" && err2 == "" && len(t.size) != len(t.stride) {
			bad = append(bad, fmt.Sprintf("size %v and stride %v differ in length", t.size, t.stride))
		}
	}
	if g.name == "_rebuild_tensor_v3" {
		dg, ok := args[6].(*pyGlobal)
		if !ok || dg.module != "torch" {
			return nil, refuse(tensor.ErrCorrupt, "%s: dtype argument is a %s, not a torch dtype", g, kind(args[6]))
		}
		dt, known := torchDTypes[dg.name]
		if !known {
			return nil, refuse(tensor.ErrCorrupt, "%s: dtype argument %s is not a torch dtype", g, dg)
		}
		if err := u.b.charge(allocSize(int64(len(dg.full)))); err != nil {
			return nil, err
		}
		t.dt, t.dtName = dt, "torch."+dg.name
		if st.st.esize != 1 && dt.Type.Valid() && int64(dt.Size()) != st.st.esize {
			bad = append(bad, fmt.Sprintf("dtype %s on a %s", dg, st.typeName))
		}
	}
	if len(bad) > 0 {
		if err := u.b.charge(int64(len(bad)+1) * (reprCost + 256)); err != nil {
			return nil, err
		}
		t.bad = strings.Join(bad, "; ")
	}
	return t, nil
}

// seqLen is the length of a tuple or list (0 for anything else).
func seqLen(v any) int {
	switch v := v.(type) {
	case pyTuple:
		return len(v)
	case *pyList:
		return len(v.items)
	}
	return 0
}

// ints reads a tuple (or list) of non-negative ints.
func ints(v any) ([]int64, string) {
	var items []any
	switch v := v.(type) {
	case pyTuple:
		items = v
	case *pyList:
		items = v.items
	default:
		return nil, "is a " + kind(v) + ", not a tuple"
	}
	out := make([]int64, len(items))
	for i, x := range items {
		n, ok := x.(int64)
		if !ok || n < 0 {
			return nil, repr(v, 60) + " holds " + repr(x, 20) + ", not a non-negative int"
		}
		out[i] = n
	}
	return out, ""
}

// persistent resolves ('storage', storage_type, key, location, numel[,
// view_metadata]).
func (u *unpickler) persistent(id any) (any, error) {
	t, ok := id.(pyTuple)
	if !ok || len(t) == 0 {
		return nil, refuse(tensor.ErrCorrupt, "persistent id %s is not a tuple", repr(id, 60))
	}
	if s, _ := t[0].(string); s != "storage" {
		return nil, refuse(tensor.ErrUnsupported, "persistent id %s is not a storage (a saved module's source?)", repr(id, 60))
	}
	want := 5
	if u.legacy {
		want = 6
	}
	if len(t) != want {
		return nil, refuse(tensor.ErrCorrupt, "storage id %s has %d fields, want %d", repr(id, 80), len(t), want)
	}
	g, ok := t[1].(*pyGlobal)
	if !ok {
		return nil, refuse(tensor.ErrCorrupt, "storage id %s: the type is a %s, not a storage class", repr(id, 80), kind(t[1]))
	}
	st, known := storageTypes[g.name]
	if !known || !(g.module == "torch" || g.module == "torch.storage") {
		return nil, refuse(tensor.ErrCorrupt, "storage id %s: %s is not a torch storage class", repr(id, 80), g)
	}
	key, ok1 := t[2].(string)
	loc, ok2 := t[3].(string)
	numel, ok3 := t[4].(int64)
	if !ok1 || !ok2 || !ok3 || numel < 0 {
		return nil, refuse(tensor.ErrCorrupt, "storage id %s: want (str key, str location, int numel ≥ 0)", repr(id, 80))
	}
	ref := u.storages[key]
	if ref == nil {
		cost := sizeOf[storageRef]() + mapEntry
		if len(u.storages) == 0 {
			cost += mapFirst
		}
		if err := u.b.charge(cost); err != nil {
			return nil, err
		}
		ref = &storageRef{typeName: g.name, st: st, key: key, location: loc, numel: numel}
		u.storages[key] = ref
	} else if ref.typeName != g.name || ref.numel != numel {
		return nil, refuse(tensor.ErrCorrupt, "storage %q is named as %s of %d elements and as %s of %d", key, ref.typeName, ref.numel, g.name, numel)
	}
	if u.legacy && t[5] != (pyNone{}) {
		// (view_key, offset, view_size): a view of the root storage key
		vm, ok := t[5].(pyTuple)
		if !ok || len(vm) != 3 {
			return nil, refuse(tensor.ErrCorrupt, "storage id %s: view metadata is not a 3-tuple", repr(id, 80))
		}
		off, ok1 := vm[1].(int64)
		n, ok2 := vm[2].(int64)
		if !ok1 || !ok2 || off < 0 || n < 0 || off > numel || n > numel-off {
			return nil, refuse(tensor.ErrCorrupt, "storage id %s: view [%v, +%v) is outside the %d-element storage", repr(id, 80), vm[1], vm[2], numel)
		}
		if err := u.b.charge(sizeOf[storageRef]()); err != nil {
			return nil, err
		}
		return &storageRef{typeName: ref.typeName, st: ref.st, key: ref.key, location: ref.location, numel: n,
			root: ref, viewOff: off}, nil
	}
	return ref, nil
}

func (u *unpickler) build(obj, state any) (any, error) {
	switch o := obj.(type) {
	case *pyDict:
		// an OrderedDict's attributes (a state_dict's _metadata): dropped
		return o, nil
	case *tensorVal, *opaque:
		return o, nil
	}
	return nil, refuse(tensor.ErrUnsupported, "BUILD on a %s (setting state on an object bigconv does not interpret)", kind(obj))
}
