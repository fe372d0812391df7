// Package disk says how much room a path has and whether an error means there is none: for the engine,
// which keeps room for its state, and for steps that fill a disk.
package disk

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"
)

// Free is the space available to this user on the file system holding path.
func Free(path string) (uint64, bool) {
	for {
		if free, err := freeBytes(path); err == nil {
			return free, true
		} else if !errors.Is(err, fs.ErrNotExist) {
			return 0, false
		}
		parent := filepath.Dir(path)
		if parent == path {
			return 0, false
		}
		path = parent
	}
}

// Human writes n in binary units: 1.5 GiB.
func Human(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// IsFull reports whether err is a full disk (ENOSPC) or a quota exceeded (EDQUOT).
func IsFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, errDQUOT)
}
