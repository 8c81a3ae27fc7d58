package pytorch

import (
	"errors"
	"unsafe"

	"github.com/bigconv/bigconv/tensor"
)

// Memory accounting for one file's pickles and the walk over what they
// build. The pickle machine, the torch callbacks and the walker charge
// every allocation they make to one budget, before making it (a few
// allocations of bounded size are charged just after), at the size Go's
// allocator gives it: slices grow by doubling through grow, and each new
// backing array is charged whole; map entries, interface boxes and
// strings are charged too. What is charged is thus the bytes allocated in
// total (runtime.MemStats.TotalAlloc), not only those live at the end.
//
// The constants below are upper bounds measured with Go 1.26 (TestBudget
// checks them against runtime.ReadMemStats).
const (
	// mapFirst is a map with its first entry (the map and one group of
	// eight slots); mapEntry each further entry, with the tables left
	// behind by growth (measured: at most 122 bytes for 24-byte slots).
	mapFirst = 256
	mapEntry = 128
	// extraCost is a Tensor.Extra map of up to four entries (352 bytes).
	extraCost = 384
	// reprCost bounds what repr allocates for one value: its output is
	// cut at 80 bytes and each part clipped to 60, quoted (TestReprCost
	// measures at most 2 KiB).
	reprCost = 3072
	// machineCost is a pickle machine and its 64 KiB bufio.Reader.
	machineCost = 64<<10 + 1024
	// msgCost bounds formatting one message whose parts are clipped
	// (fmt's buffer growth and the string).
	msgCost = 4096
)

// budget counts the bytes allocated for one file against its limit.
type budget struct {
	used, max int64
}

func newBudget() *budget { return &budget{max: MaxPickleMemory} }

// charge accounts n more bytes, failing when they pass the limit.
func (b *budget) charge(n int64) error {
	if n < 0 || n > b.max-b.used {
		return b.exceeded()
	}
	b.used += n
	return nil
}

// exceeded spends the budget and returns the refusal (a *refusal; the
// caller adds where).
func (b *budget) exceeded() error {
	b.used = b.max + 1
	return refuse(tensor.ErrUnsupported, "the pickle needs more than %d bytes of memory to read (MaxPickleMemory)", b.max)
}

// allocSize is at least what Go's allocator takes for an object of n
// bytes: up to 16 bytes, 16; small objects are rounded up to a size class
// (at most 19% more above 128 bytes); large ones take whole 8 KiB pages.
func allocSize(n int64) int64 {
	switch {
	case n <= 0:
		return 0
	case n <= 16:
		return 16
	case n <= 128:
		return (n + 15) &^ 15
	case n <= 32<<10:
		return n + n/4
	}
	return n + 8<<10
}

// sizeOf is allocSize of a T.
func sizeOf[T any]() int64 {
	var v T
	return allocSize(int64(unsafe.Sizeof(v)))
}

// grow makes room for n more elements in s: when s is full it charges and
// makes a new backing array of twice the capacity (or what is needed), so
// a slice built element by element costs at most twice its final size,
// all of it charged. Go's append grows by 1.25 past 256 elements, which
// would leave up to five times the final size behind.
func grow[T any](b *budget, s []T, n int) ([]T, error) {
	if n <= cap(s)-len(s) {
		return s, nil
	}
	var v T
	size := int64(unsafe.Sizeof(v))
	if n < 0 || int64(n) > (b.max-b.used)/size {
		return s, b.exceeded()
	}
	c := max(2*cap(s), len(s)+n, 4)
	if err := b.charge(allocSize(int64(c) * size)); err != nil {
		return s, err
	}
	t := make([]T, len(s), c)
	copy(t, s)
	return t, nil
}

// boxSize is what storing v in an interface allocated: nothing for
// pointers, bools, None and empty strings; the value for numbers; the
// header for strings, bytes and tuples.
func boxSize(v any) int64 {
	switch v := v.(type) {
	case int64:
		if uint64(v) < 256 {
			return 0 // Go keeps boxes of 0–255
		}
		return 16 // 8, or half a 16-byte tiny block
	case float64:
		return 16
	case string:
		if v == "" {
			return 0
		}
		return 16
	case pyBytes, pyTuple:
		return 32 // 24 rounded up
	}
	return 0
}

// asRefusal unwraps a budget refusal (or any refusal).
func asRefusal(err error) (*refusal, bool) {
	var re *refusal
	ok := errors.As(err, &re)
	return re, ok
}
