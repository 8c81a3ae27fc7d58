// Package atomicfile replaces small files (journals, manifests) so that a
// crash leaves either the old contents or the new, never a mix.
package atomicfile

import (
	"fmt"
	"os"

	"github.com/bigconv/bigconv/internal/testhook"
)

// Write writes data to path+".tmp", fsyncs it and renames it over path.
// The directory is not fsynced: callers that need the new name durable
// sync the directory themselves.
func Write(path string, data []byte) error { return write(path, data, true) }

// WriteNoSync is Write without the fsync: readers still see the old
// contents or the new, but after a power cut the new may be lost (or,
// on some file systems, empty). For scratch outputs (--no-sync).
func WriteNoSync(path string, data []byte) error { return write(path, data, false) }

func write(path string, data []byte, sync bool) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil && sync {
		if err = f.Sync(); err == nil {
			testhook.Fsynced(path)
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
