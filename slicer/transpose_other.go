//go:build !amd64 || purego

package slicer

// haveTranspose is false where there is no transpose kernel.
var haveTranspose = false

// scatterVector does nothing where there is no transpose kernel: scatter
// works in Go alone.
func scatterVector(dst, tile []byte, rows, nt, item, rowBytes, stride int64) (int64, int64) {
	return 0, 0
}
