package atomicfile

import "golang.org/x/sys/unix"

// Exchange swaps the names of two existing paths (files or directories)
// in one step, so that neither name is ever missing (renameat2
// RENAME_EXCHANGE). It fails where the file system cannot do that;
// callers then fall back to two renames.
func Exchange(a, b string) error {
	return unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
}
