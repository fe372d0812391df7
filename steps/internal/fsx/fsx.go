// Package fsx shows a signed URL without its credentials, for the step clients' logs and errors. (The
// clients write files atomically with runner/atomicfile, the one writer.)
package fsx

import (
	"net/url"
	"strings"
)

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
