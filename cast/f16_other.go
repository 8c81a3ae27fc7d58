//go:build !amd64 || purego

package cast

// haveF16C is false: f32ToHalfSlice works in Go alone.
const haveF16C = false

// f32ToHalfBlock is f32ToHalfBlockGo where there is no assembly version.
func f32ToHalfBlock(d []uint16, s []float32) (special bool) {
	return f32ToHalfBlockGo(d, s)
}

// bf16ToHalfBlock is bf16ToHalfBlockGo where there is no assembly version.
func bf16ToHalfBlock(d []uint16, s []uint16) (special bool) {
	return bf16ToHalfBlockGo(d, s)
}
