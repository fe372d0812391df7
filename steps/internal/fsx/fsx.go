// Package fsx holds the small helpers the step clients share: writing a file atomically (through the one
// writer, runner/atomicfile) and showing a signed URL without its credentials.
package fsx

import (
	"net/url"
	"strings"

	"meetpipe/runner/atomicfile"
)

// WriteFileAtomic writes b to path atomically and durably: the one writer, atomicfile.Write.
func WriteFileAtomic(path string, b []byte) error { return atomicfile.Write(path, b) }

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
