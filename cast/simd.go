package cast

import (
	"fmt"

	"github.com/bigconv/bigconv/dtype"
)

// simdKernels holds the little-endian kernels written with vector
// instructions, by (from, to). Each architecture's files fill it from
// init with registerSIMD, and only with kernels the running CPU can
// execute (cpu.X86 feature tests). A registered kernel gives the same
// bytes and the same Stats as the Go kernel native would return without
// it: TestSIMDMatchesGo checks every one against the Go kernel on data
// chosen to take every path (random bits, in-range values, rare
// specials, all lengths up to a few vectors and unaligned starts).
//
// The purego build tag leaves the map empty.
var simdKernels = map[[2]dtype.Type]rawKernel{}

// noSIMD makes native ignore simdKernels: tests set it to get the Go
// kernel for comparison. It is read when a kernel is made (New), not
// while one runs.
var noSIMD bool

// registerSIMD adds k as the kernel for from → to. Registering a pair
// twice is a programming error.
func registerSIMD(from, to dtype.Type, k rawKernel) {
	key := [2]dtype.Type{from, to}
	if _, dup := simdKernels[key]; dup {
		panic(fmt.Sprintf("cast: two vector kernels for %s → %s", from, to))
	}
	simdKernels[key] = k
}

// simdKernel returns the vector kernel for from → to, or nil.
func simdKernel(from, to dtype.Type) rawKernel {
	if noSIMD {
		return nil
	}
	return simdKernels[[2]dtype.Type{from, to}]
}

// goNative is native without the vector kernels: the Go kernel for from
// → to, which vector kernels call for their tails and the chunks they do
// not do themselves (whatever the order in which the files' init
// functions register them).
func goNative(from, to dtype.Type) rawKernel {
	save := noSIMD
	noSIMD = true
	defer func() { noSIMD = save }()
	return native(from, to)
}
