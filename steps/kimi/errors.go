package kimi

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ErrorKind is what a caller should do about an API error. An engine asks an APIError how it behaves
// instead (Permanent, Deferred, RetryAfter, Environmental), which these kinds decide.
type ErrorKind int

const (
	// ErrOther is an error the client cannot place; callers treat it as transient.
	ErrOther ErrorKind = iota
	// ErrAuth is a rejected key (401) or a key not allowed to call the API (403 permission_denied_error):
	// retrying cannot help, and no other call with that key will succeed either.
	ErrAuth
	// ErrQuota is an exhausted balance or daily token budget: no call will succeed until someone pays or
	// the day turns, so the work should wait for a later run.
	ErrQuota
	// ErrRateLimit is a per-minute or concurrency limit; Wait says how long the server asked to wait.
	ErrRateLimit
	// ErrOverloaded is the server shedding load; back off and retry.
	ErrOverloaded
	// ErrTooLarge is an upload over the server's size limit: 413, or vLLM's 400 "Maximum file size exceeded".
	ErrTooLarge
	// ErrTooLong is a prompt over the model's context ("Input token length too long").
	ErrTooLong
	// ErrContentFilter is a request the provider refused as high risk.
	ErrContentFilter
	// ErrNotFound is an unknown model or path (404).
	ErrNotFound
	// ErrBadRequest is any other 4xx: the request itself is wrong.
	ErrBadRequest
	// ErrServer is a 5xx.
	ErrServer
	// ErrUnavailable is a model the key may not use: 400 "… not available for your organization" (a key
	// moved to another organisation). Every call meets it (shared docs kimi-asr-api.md, corrections item 7).
	ErrUnavailable
)

func (k ErrorKind) String() string {
	return [...]string{"other", "auth", "quota", "rate_limit", "overloaded", "too_large", "too_long",
		"content_filter", "not_found", "bad_request", "server", "unavailable"}[k]
}

// APIError is a non-2xx answer from Moonshot or a transcription server, decoded from whichever error body
// shape the server uses: {"error":{"type","message"}}, {"error":"…"} (whisper.cpp), or a top-level
// {"message","type"} (older vLLM).
type APIError struct {
	Op      string // what was being done, e.g. "chat completion" or "transcribe chunk_001.flac"
	Status  int
	Type    string
	Code    string
	Param   string
	Message string
	// Wait is how long the server asked to wait: the Retry-After header, else "try again after N seconds"
	// in the message, else the next minute boundary for a per-minute token limit. Zero when not said.
	Wait time.Duration
}

func (e *APIError) Error() string {
	var b strings.Builder
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "HTTP %d", e.Status)
	if e.Type != "" {
		b.WriteString(" ")
		b.WriteString(e.Type)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Kind classifies the error. Moonshot sends three different things as 429, told apart only by the type.
func (e *APIError) Kind() ErrorKind {
	t, msg := strings.ToLower(e.Type), strings.ToLower(e.Message)
	switch {
	case strings.Contains(t, "quota") || e.Code == "insufficient_quota":
		return ErrQuota
	case e.Status == http.StatusForbidden && balanceRE.MatchString(msg):
		// "403 Forbidden (insufficient balance) … top up" (Moonshot help centre, api-error-codes; shared docs
		// kimi-asr-api.md corrections item 7): no key is wrong, the account has to be paid.
		return ErrQuota
	case e.Status == http.StatusBadRequest && orgRE.MatchString(msg):
		return ErrUnavailable
	case e.Status == http.StatusUnauthorized, e.Status == http.StatusForbidden:
		// 403 permission_denied_error: "The API you are accessing is not open" (platform.kimi.ai
		// docs/api/errors, 403 rows); a 403 about the balance says quota and is caught above.
		return ErrAuth
	case e.Status == http.StatusRequestEntityTooLarge,
		// vLLM raises VLLMValidationError("Maximum file size exceeded", parameter="audio_filesize_mb"), a
		// 400 (vllm-project/vllm:vllm/entrypoints/openai/speech_to_text.py; corrections item 5).
		e.Status == http.StatusBadRequest && (strings.Contains(msg, "maximum file size exceeded") || e.Param == "audio_filesize_mb"):
		return ErrTooLarge
	case t == "content_filter":
		return ErrContentFilter
	case e.Status == http.StatusTooManyRequests:
		switch {
		case t == "engine_overloaded_error":
			return ErrOverloaded
		case strings.Contains(msg, "tpd rate limit"):
			// A daily token budget: waiting minutes cannot help.
			return ErrQuota
		}
		return ErrRateLimit
	case e.Status == http.StatusBadRequest &&
		(strings.Contains(msg, "token length too long") || strings.Contains(msg, "exceeded model token limit")):
		return ErrTooLong
	case e.Status == http.StatusNotFound:
		return ErrNotFound
	case e.Status >= 500:
		return ErrServer
	case e.Status >= 400:
		return ErrBadRequest
	}
	return ErrOther
}

// Environmental reports a refusal every call meets, whatever the recording: a rejected key, an exhausted
// balance or quota, a model retired or not open to the key's organisation (corrections item 7). Such an
// error is also Deferred: the work waits for the run after the fix or the top-up.
func (e *APIError) Environmental() bool {
	switch e.Kind() {
	case ErrAuth, ErrQuota, ErrNotFound, ErrUnavailable:
		return true
	}
	return false
}

// Deferred reports an error that leaves the work for a later run (see Environmental).
func (e *APIError) Deferred() bool { return e.Environmental() }

// Permanent reports a request trying again cannot fix: too large, too long, refused by the content filter,
// or otherwise wrong.
func (e *APIError) Permanent() bool {
	switch e.Kind() {
	case ErrTooLarge, ErrTooLong, ErrContentFilter, ErrBadRequest:
		return true
	}
	return false
}

// RetryAfter is the server's wait before another attempt of a rate limit, an overload or a 5xx (0: none
// said, or not an error to retry).
func (e *APIError) RetryAfter() time.Duration {
	switch e.Kind() {
	case ErrRateLimit, ErrOverloaded, ErrServer:
		return e.Wait
	}
	return 0
}

// MaxErrorBody bounds how much of an error body is read and quoted.
const maxErrorBody = 64 << 10

var (
	afterSecondsRE = regexp.MustCompile(`(?i)after\s+(\d+(?:\.\d+)?)\s*s`)
	tpmRE          = regexp.MustCompile(`(?i)\bTPM rate limit`)
	// balanceRE: the words of a refusal for money, not for the key ("insufficient balance", "check your
	// account balance", "top up", an account "not active"/"suspended").
	balanceRE = regexp.MustCompile(`(?i)balance|top[ -]?up|not active|suspended|arrears|余额`)
	// orgRE: a model not open to the key's organisation (corrections item 7; the exact text is reported by
	// users, not documented).
	orgRE = regexp.MustCompile(`(?i)not available (for|to) your organi[sz]ation`)
)

// parseAPIError decodes an error response. body may be any of the shapes servers use, or not JSON at all.
func parseAPIError(op string, status int, h http.Header, body []byte, now time.Time) *APIError {
	e := &APIError{Op: op, Status: status}
	var env struct {
		Error   json.RawMessage `json:"error"`
		Message json.RawMessage `json:"message"`
		Detail  json.RawMessage `json:"detail"`
		Type    string          `json:"type"`
		Code    json.RawMessage `json:"code"`
		Param   json.RawMessage `json:"param"`
	}
	if json.Unmarshal(body, &env) == nil {
		switch {
		case len(env.Error) > 0 && env.Error[0] == '{':
			var inner struct {
				Type    string          `json:"type"`
				Message json.RawMessage `json:"message"`
				Code    json.RawMessage `json:"code"`
				Param   json.RawMessage `json:"param"`
			}
			_ = json.Unmarshal(env.Error, &inner)
			e.Type, e.Message = inner.Type, scalarText(inner.Message)
			e.Code, e.Param = scalarText(inner.Code), scalarText(inner.Param)
		case len(env.Error) > 0:
			e.Message = scalarText(env.Error)
		default:
			e.Type, e.Message = env.Type, scalarText(env.Message)
			if e.Message == "" {
				e.Message = scalarText(env.Detail)
			}
			e.Code, e.Param = scalarText(env.Code), scalarText(env.Param)
		}
	}
	if e.Message == "" && e.Type == "" {
		e.Message = oneLine(string(body), 300)
	}
	e.Wait = waitOf(h, e.Message, now)
	return e
}

// scalarText renders a JSON string, number or object as short text; null and absent give "".
func scalarText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return oneLine(s, 500)
	}
	return oneLine(string(raw), 500)
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		s = string(r[:max]) + "…"
	}
	return s
}

// waitOf finds the wait a server asked for. Moonshot documents no Retry-After header; the wait is in the
// message ("please try again after 1 seconds"), and a per-minute token limit lifts at the next minute.
func waitOf(h http.Header, msg string, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
			return time.Duration(s * float64(time.Second))
		}
		if t, err := http.ParseTime(v); err == nil {
			if d := t.Sub(now); d > 0 {
				return d
			}
			return 0
		}
	}
	if m := afterSecondsRE.FindStringSubmatch(msg); m != nil {
		if s, err := strconv.ParseFloat(m[1], 64); err == nil && !math.IsInf(s, 0) {
			return time.Duration(s * float64(time.Second))
		}
	}
	if tpmRE.MatchString(msg) {
		next := now.Truncate(time.Minute).Add(time.Minute)
		return next.Sub(now) + time.Second
	}
	return 0
}
