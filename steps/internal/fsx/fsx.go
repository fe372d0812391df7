// Package fsx holds the small helpers the step clients share: writing a file atomically and showing a
// signed URL without its credentials. The engine (runner/) keeps its own state writer, since it may not
// import steps/.
package fsx

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// WriteFileAtomic writes b to path through a synced temporary file in the same directory and a rename, so
// that a reader sees the old content or the new, never a torn file. Missing directories are made.
func WriteFileAtomic(path string, b []byte) error {
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
	return nil
}

// RedactURL returns u without its query and user info: signed download addresses are credentials, so
// logs and errors show only where they point.
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		if i := strings.IndexAny(u, "?#"); i >= 0 {
			return u[:i] + "?…"
		}
		return u
	}
	q := p.RawQuery != ""
	p.RawQuery, p.Fragment, p.User = "", "", nil
	s := p.String()
	if q {
		s += "?…"
	}
	return s
}
