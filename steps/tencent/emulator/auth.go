package emulator

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// apiError is an error answer: HTTP 400 for request errors, 500 for service errors, with error_info.
type apiError struct {
	status  int
	code    int64
	newCode int64
	msg     string
}

func badRequest(code int64, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: code, msg: fmt.Sprintf(format, args...)}
}

func (s *Server) writeError(w *statusWriter, e *apiError) {
	w.code = e.code
	info := map[string]any{"error_code": e.code, "message": e.msg}
	if e.newCode != 0 {
		info["new_error_code"] = e.newCode
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	json.NewEncoder(w).Encode(map[string]any{"error_info": info}) //nolint:errcheck // client gone
}

func (s *Server) writeJSON(w *statusWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	json.NewEncoder(w).Encode(v) //nolint:errcheck // client gone
}

// signature is the service's X-TC-Signature (§1.3), written here independently of the client's so that a
// mistake in one is not mirrored by the other.
func signature(key, method, secretID, nonce, ts, uri string, body []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	fmt.Fprintf(m, "%s\nX-TC-Key=%s&X-TC-Nonce=%s&X-TC-Timestamp=%s\n%s\n", method, secretID, nonce, ts, uri)
	m.Write(body)
	return base64.StdEncoding.EncodeToString([]byte(hex.EncodeToString(m.Sum(nil))))
}

// authenticate checks an API request's AK/SK headers (names are case-insensitive: net/http canonicalizes
// them, as the official SDK's Header.Set does) and signature over the raw body received, then the replay
// window, AppId, SdkId and IP whitelist.
func (s *Server) authenticate(r *http.Request, body []byte) *apiError {
	h := r.Header
	key, ts, nonce, sig := h.Get("X-TC-Key"), h.Get("X-TC-Timestamp"), h.Get("X-TC-Nonce"), h.Get("X-TC-Signature")
	for _, f := range []struct{ name, v string }{
		{"X-TC-Key", key}, {"X-TC-Timestamp", ts}, {"X-TC-Nonce", nonce}, {"X-TC-Signature", sig},
	} {
		if f.v == "" {
			return badRequest(190004, "missing header %s", f.name)
		}
	}
	if key != s.opts.SecretID {
		// An unrecognised secret is 190303 / 200190303 under AK/SK (1095/43704; tencent-meeting-api.md correction 5).
		return &apiError{status: http.StatusBadRequest, code: 190303, newCode: 200190303, msg: "secret not recognised: unknown X-TC-Key"}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return badRequest(190004, "X-TC-Timestamp must be Unix seconds")
	}
	if n, err := strconv.ParseUint(nonce, 10, 64); err != nil || n == 0 {
		return badRequest(190004, "X-TC-Nonce must be a positive integer")
	}
	now := s.now()
	if d := now.Sub(time.Unix(sec, 0)); d > s.opts.MaxSkew || d < -s.opts.MaxSkew {
		// More than 5 minutes off is 190300 (1095/43704; tencent-meeting-api.md correction 5).
		return badRequest(190300, "signature expired: X-TC-Timestamp is %s away from server time", d.Round(time.Second))
	}
	want := signature(s.opts.SecretKey, r.Method, key, nonce, ts, r.RequestURI, body)
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return badRequest(200003, "signature verification failed")
	}
	if s.replayed(nonce+"|"+ts, now) {
		return badRequest(190301, "request replayed: X-TC-Nonce and X-TC-Timestamp already used")
	}
	if h.Get("AppId") != s.opts.AppID {
		return badRequest(190004, "AppId 无效")
	}
	if s.opts.SdkID != "" && h.Get("SdkId") != s.opts.SdkID {
		return badRequest(190004, "SdkId 无效")
	}
	if s.opts.SdkID == "" && h.Get("SdkId") != "" {
		// An app with no SdkId must not send one (correction 5: 190303, "do not send SdkId when none was
		// assigned"). An empty header is tolerated: the official Go SDK sends SdkId "" by default.
		return &apiError{status: http.StatusBadRequest, code: 190303, newCode: 200190303, msg: "SdkId sent for an app that has none"}
	}
	if len(s.opts.AllowedIPs) > 0 {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		if !slices.Contains(s.opts.AllowedIPs, host) {
			return badRequest(500125, "IP %s is not in the app's whitelist", host)
		}
	}
	return nil
}

// replayed records a nonce+timestamp and reports whether it was seen within the skew window.
func (s *Server) replayed(k string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.nonces[k]; ok && now.Sub(t) <= s.opts.MaxSkew {
		return true
	}
	if len(s.nonces) > 4096 {
		for n, t := range s.nonces {
			if now.Sub(t) > s.opts.MaxSkew {
				delete(s.nonces, n)
			}
		}
	}
	s.nonces[k] = now
	return false
}
