package state

import (
	"io"
	"os"
	"path/filepath"

	"meetpipe/runner/disk"
)

// The pending list must be writable when the disk under state_dir is full, since it is what keeps the
// items the full disk deferred. Open keeps a file of reserved space (reserveFile) beside it; a write
// of the pending list or the uncovered windows that meets ENOSPC frees the reserve and tries once more.

const (
	reserveFile = "reserve"
	// reserveMin holds a pending list of a few thousand items, its backup and the uncovered windows.
	reserveMin = 1 << 20
)

// keepReserve makes sure the reserve exists and is at least reserveMin plus three times the pending
// list (the list, its backup, the temporary copy). Best effort: on a disk already full it stays short.
func (s *State) keepReserve() {
	want := int64(reserveMin)
	if fi, err := os.Stat(filepath.Join(s.dir, "pending.json")); err == nil {
		want += 3 * fi.Size()
	}
	path := filepath.Join(s.dir, reserveFile)
	if fi, err := os.Stat(path); err == nil && fi.Size() >= want {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o640)
	if err != nil {
		return
	}
	defer f.Close()
	// Zeros written, not a sparse file: only written blocks are really taken from the disk.
	buf := make([]byte, 64<<10)
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		return
	}
	fi, err := f.Stat()
	if err != nil {
		return
	}
	for n := fi.Size(); n < want; n += int64(len(buf)) {
		if _, err := f.Write(buf); err != nil {
			return
		}
	}
	f.Sync() //nolint:errcheck // best effort
}

// withReserve runs write; when it fails for a full disk, it frees the reserve and runs it once more.
func (s *State) withReserve(write func() error) error {
	err := write()
	if err == nil || !disk.IsFull(err) {
		return err
	}
	if rerr := os.Remove(filepath.Join(s.dir, reserveFile)); rerr != nil {
		return err
	}
	return write()
}
