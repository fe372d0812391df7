package emulator

import (
	"net/http"
	"slices"
)

// Knobs for `runner doctor` tests. The others it needs exist already: AllowedIPs (500125), an AppID or
// SdkID the client does not send, an operator who is not an admin (500133 on /v1/corp/records), and
// Advance or Now (a server clock the client's timestamps miss).

// lacksRights reports an operator named in Options.NoRecordRights: the service answers 500133 when the
// operator lacks 录制管理 (recording management) rights (docs/tencent-meeting-api.md §5, error table).
func (s *Server) lacksRights(op string) bool { return slices.Contains(s.opts.NoRecordRights, op) }

// setDate sends the server clock in the Date header, as every HTTP server does (RFC 9110 §6.6.1), so that
// a client can measure its skew; net/http keeps a Date that the handler set.
func (s *Server) setDate(w http.ResponseWriter) {
	w.Header().Set("Date", s.now().UTC().Format(http.TimeFormat))
}
