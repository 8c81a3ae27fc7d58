//go:build !linux

package atomicfile

import "errors"

// Exchange is not available here: callers fall back to two renames.
func Exchange(a, b string) error { return errors.New("atomicfile: no atomic exchange on this system") }
