package cast

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/bigconv/bigconv/dtype"
)

func threadCPU() time.Duration {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}

func TestZZCPU(t *testing.T) {
	if os.Getenv("CPUBENCH") == "" {
		t.Skip()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pairs := [][2]dtype.Type{
		{dtype.Uint8, dtype.Uint8},
		{dtype.Float32, dtype.Float64}, {dtype.Int64, dtype.Float32}, {dtype.BFloat16, dtype.Float32},
		{dtype.Float32, dtype.Float16}, {dtype.Float16, dtype.Float32}, {dtype.Float64, dtype.Float32},
		{dtype.Float64, dtype.Float16}, {dtype.Bool, dtype.Float32}, {dtype.Uint8, dtype.Float16},
		{dtype.Float8E5M2, dtype.Float32}, {dtype.Float8E4M3FN, dtype.Float32}, {dtype.Float16, dtype.Int32},
		{dtype.Float32, dtype.Uint8}, {dtype.Float64, dtype.Int32}, {dtype.Int32, dtype.Int8}, {dtype.BFloat16, dtype.Float16},
		{dtype.Float32, dtype.Complex64}, {dtype.Complex128, dtype.Float64},
	}
	for _, p := range pairs {
		src := benchSource(p[0])
		k, _ := New(dtype.Of(p[0]), dtype.Of(p[1]))
		dst := make([]byte, len(src)/p[0].Size()*p[1].Size())
		var st Stats
		best := time.Hour
		for r := 0; r < 5; r++ {
			c0 := threadCPU()
			for i := 0; i < 20; i++ {
				if p[0] == p[1] {
					copy(dst, src)
				} else {
					k(dst, src, &st)
				}
			}
			if d := (threadCPU() - c0) / 20; d < best {
				best = d
			}
		}
		fmt.Printf("%-14s → %-10s %8.0f MB/s (cpu)\n", p[0], p[1], float64(len(src))/best.Seconds()/1e6)
	}
}
