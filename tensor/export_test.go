package tensor

// SetNoSpans turns the Fortran view's span reads off (benchmarks).
func SetNoSpans(v bool) { noSpans = v }
