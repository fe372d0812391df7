// Package atomicfile writes a file so that a reader sees the old content or the new, never a torn file, and
// so that the new content is on disk when Write returns. It is the one atomic write of the engine, the host
// and the step clients; a leaf, it imports nothing of meetpipe.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write writes b to path through a synced temporary file in the same directory (mode 0600), a rename and a
// sync of the directory. Missing directories are made (0750).
func Write(path string, b []byte) error { return WriteMode(path, b, 0o600) }

// WriteMode is Write with the file's mode (a report others read is 0644; state stays 0600).
func WriteMode(path string, b []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil && perm != 0o600 {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
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
	return SyncDir(dir)
}

// SyncDir makes a rename or removal in dir durable. Where directories cannot be opened for syncing
// (Windows), the rename itself is what is durable, and SyncDir does nothing.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !ignorableSyncErr(err) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
