//go:build !amd64 || purego

package cast

// swapVector does nothing where there is no vector byte swap: swapTo
// works in Go alone.
func swapVector(dst, src []byte, size int) int { return 0 }
