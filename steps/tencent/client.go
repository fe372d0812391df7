package tencent

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultBaseURL is the production API.
const DefaultBaseURL = "https://api.meeting.qq.com"

// Config configures a Client. SecretID, SecretKey and EnterpriseID are required.
type Config struct {
	BaseURL      string // default DefaultBaseURL
	SecretID     string // X-TC-Key
	SecretKey    string // HMAC key; never sent
	EnterpriseID string // 企业 ID, sent as AppId
	SdkID        string // app id, sent as SdkId ("" for old accounts that have none)

	// HTTPClient defaults to a client with no overall timeout (Timeout bounds each request).
	HTTPClient *http.Client
	// Timeout bounds one request (default 30s).
	Timeout time.Duration

	// RequestsPerSecond bounds all requests of this client (default DefaultRequestsPerSecond).
	// CorpRecordsPerMinute bounds /v1/corp/records, documented at 10/min (default 10). Negative: unbounded.
	RequestsPerSecond    float64
	CorpRecordsPerMinute float64
	// NewLimiter makes the client's rate limiters (name, calls a minute; 0 means unbounded). The step gives
	// the engine's; nil leaves the client unbounded (tests against an emulator).
	NewLimiter func(name string, perMinute float64) Limiter
	// Shared is an extra limiter acquired around every request (the step's `limiter:`), may be nil.
	Shared Limiter

	// Logger, when set, overrides the run's logger that each call finds in its context (WithLogger).
	Logger *slog.Logger

	// STSToken, when set, returns the valid STS token ("" for none), sent as the STS-Token header on
	// data-sensitive calls (sts_request.go; 1095/127651). It is a credential: never logged.
	STSToken func() string
}

// DefaultRequestsPerSecond leaves a fifth of the app's documented 300 calls a minute (1095/105276) to
// other users of the same app (a doctor check, a second pipeline, the admin console's integrations).
const DefaultRequestsPerSecond = 4

// maxRetryAfter caps a server's Retry-After: a longer wait is the engine's business (a later attempt).
const maxRetryAfter = 5 * time.Minute

// Client calls the Tencent Meeting REST API with AK/SK signatures and keeps to client-side rate limits. It
// makes one request per call and does not retry: the engine retries an item's calls (the step's
// `retry:`), and the Lister retries the calls of a listing, where the engine has no item yet. It is safe
// for concurrent use.
type Client struct {
	base       *url.URL
	secretID   string
	secretKey  string
	enterprise string
	sdkID      string
	http       *http.Client
	timeout    time.Duration
	all        Limiter
	corp       Limiter
	account    Limiter // account-level listings: 100/min (190313, 1095/105276)
	shared     Limiter
	log        *slog.Logger
	sts        func() string

	// now and nonce are replaceable by tests (replay and clock-skew cases).
	now   func() time.Time
	nonce func() string
}

// NewClient checks cfg and returns a client.
func NewClient(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, settingErr("base_url", "tencent: base URL %q is not an http(s) URL", cfg.BaseURL)
	}
	if base.RawQuery != "" || base.Fragment != "" {
		return nil, settingErr("base_url", "tencent: base URL %q must not have a query", cfg.BaseURL)
	}
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"secret_id", cfg.SecretID}, {"secret_key", cfg.SecretKey}, {"enterprise_id", cfg.EnterpriseID},
	} {
		if strings.TrimSpace(f.v) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, settingErr(strings.Join(missing, ","), "tencent: missing %s", strings.Join(missing, ", "))
	}
	c := &Client{
		base: base, secretID: cfg.SecretID, secretKey: cfg.SecretKey, enterprise: cfg.EnterpriseID,
		sdkID: cfg.SdkID, http: cfg.HTTPClient, timeout: cfg.Timeout, shared: cfg.Shared, log: cfg.Logger,
		now: time.Now, nonce: newNonce, sts: cfg.STSToken,
	}
	if c.http == nil {
		c.http = &http.Client{}
	}
	if c.timeout <= 0 {
		c.timeout = 30 * time.Second
	}
	limiter := cfg.NewLimiter
	if limiter == nil {
		limiter = func(string, float64) Limiter { return noLimit{} }
	}
	rps := cfg.RequestsPerSecond
	if rps == 0 {
		rps = DefaultRequestsPerSecond
	}
	c.all = limiter("tencent", max(rps, 0)*60)
	cpm := cfg.CorpRecordsPerMinute
	if cpm == 0 {
		cpm = 10
	}
	c.corp = limiter("tencent-corp-records", max(cpm, 0))
	c.account = limiter("tencent-account", 100)
	if cfg.RequestsPerSecond < 0 {
		c.account = limiter("tencent-account", 0)
	}
	return c, nil
}

// logger is the configured logger, else the run's (the engine puts it in every step's context), so
// that levels and attributes reach the handler the CLI configured.
func (c *Client) logger(ctx context.Context) *slog.Logger {
	if c.log != nil {
		return c.log
	}
	return loggerFrom(ctx)
}

// Close releases idle connections.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

// newNonce returns a random positive integer, as the service wants.
func newNonce() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("tencent: no randomness: " + err.Error())
	}
	return strconv.FormatUint(binary.BigEndian.Uint64(b[:])>>2+1, 10)
}

// Get performs a signed GET of path (which starts with /v1/) with query q and hands the body of a 2xx
// answer to decode. It makes one request, and one more at once only when the service took the first for
// a replay (190301): a fresh nonce and timestamp is the whole remedy. The returned error is an *Error
// whose Kind says whether another attempt can help, and wraps an *APIError when the service answered.
func (c *Client) Get(ctx context.Context, path string, q url.Values, decode func(body []byte) error) error {
	return c.get(ctx, path, q, nil, decode)
}

// get is Get with extra headers, which are sent but not signed (STS-Token is not part of the AK/SK
// signature: tencent-meeting-api.md §10 2.5).
func (c *Client) get(ctx context.Context, path string, q url.Values, extra http.Header, decode func(body []byte) error) error {
	u := *c.base
	raw := c.base.EscapedPath() + path // path is already escaped
	unesc, err := url.PathUnescape(raw)
	if err != nil {
		return permanent(fmt.Errorf("tencent GET %s: %w", path, err))
	}
	u.Path, u.RawPath, u.RawQuery = unesc, raw, q.Encode()
	limiters := []Limiter{c.all}
	switch path {
	case "/v1/corp/records":
		limiters = append(limiters, c.corp)
	case "/v1/corp/meetings":
		limiters = append(limiters, c.account)
	}
	for resigned := false; ; resigned = true {
		body, trace, err := c.once(ctx, http.MethodGet, &u, path, limiters, nil, extra)
		if err == nil {
			if err = decode(body); err == nil {
				return nil
			}
			err = &APIError{Method: http.MethodGet, Path: path, Status: http.StatusOK, Trace: trace,
				Snippet: "undecodable answer: " + err.Error()}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("tencent GET %s: %w", path, ctx.Err())
		}
		var te *Error
		if errors.As(err, &te) {
			return err // already marked
		}
		disp := dispRetry
		var ae *APIError
		if errors.As(err, &ae) {
			disp = classify(ae)
		}
		if disp == dispFresh && !resigned {
			c.logger(ctx).LogAttrs(ctx, slog.LevelWarn, "tencent request taken for a replay; signing it again",
				slog.String("path", path), slog.String("error", err.Error()))
			continue
		}
		if disp == dispRateLimit {
			// Every caller of these limiters waits too: the service is refusing the whole app.
			hold := rateHold
			if ae != nil && ae.RetryAfter > hold {
				hold = ae.RetryAfter
			}
			for _, l := range limiters {
				l.Hold(hold)
			}
			if c.shared != nil {
				c.shared.Hold(hold)
			}
		}
		return finalize(err, disp)
	}
}

// rateHold is how long a rate-limited answer holds every request of the client (at least; a server's
// Retry-After holds longer).
const rateHold = time.Second

// finalize marks an error with the kind its disposition gives.
func finalize(err error, disp disposition) error {
	var ae *APIError
	errors.As(err, &ae)
	switch disp {
	case dispPermanent, dispFresh:
		return permanent(err)
	case dispDeferred:
		return mark(err, kindDeferred, 0)
	case dispRateLimit:
		// The documented limits are per minute: the next attempt waits at least that.
		wait := rateLimitWait
		if ae != nil && ae.RetryAfter > wait {
			wait = ae.RetryAfter
		}
		return mark(err, kindTransient, wait)
	}
	if ae != nil && ae.RetryAfter > 0 {
		return mark(err, kindTransient, ae.RetryAfter)
	}
	return transient(err)
}

// maxBody bounds what one answer may hold; listings are pages of 20 and participants pages of 100.
const maxBody = 32 << 20

// once performs one signed attempt, with a fresh nonce and timestamp, and returns a 2xx body with the
// answer's trace id.
func (c *Client) once(ctx context.Context, method string, u *url.URL, path string, limiters []Limiter, reqBody []byte,
	extra http.Header) ([]byte, string, error) {
	for _, l := range limiters {
		release, err := l.Acquire(ctx)
		if err != nil {
			return nil, "", err
		}
		release() // rate-only limiters: nothing held
	}
	if c.shared != nil {
		release, err := c.shared.Acquire(ctx)
		if err != nil {
			return nil, "", err
		}
		defer release()
	}
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rb io.Reader
	if reqBody != nil {
		rb = bytes.NewReader(reqBody)
	}
	req, err := http.NewRequestWithContext(actx, method, u.String(), rb)
	if err != nil {
		return nil, "", permanent(fmt.Errorf("tencent %s %s: %w", method, path, err))
	}
	ts := strconv.FormatInt(c.now().Unix(), 10)
	nonce := c.nonce()
	// The URI signed must be the URI sent: both come from req.URL.
	sig := Signature(c.secretKey, method, c.secretID, nonce, ts, req.URL.RequestURI(), reqBody)
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("X-TC-Key", c.secretID)
	h.Set("X-TC-Timestamp", ts)
	h.Set("X-TC-Nonce", nonce)
	h.Set("X-TC-Signature", sig)
	h.Set("AppId", c.enterprise)
	if c.sdkID != "" {
		// An app with no SdkId must not send the header: an empty one is answered 190303
		// (tencent-meeting-api.md, correction 5).
		h.Set("SdkId", c.sdkID)
	}
	h.Set("X-TC-Registered", "1")
	h.Set("User-Agent", "meetpipe")
	c.setSTS(h, path)
	for k, vs := range extra {
		h[k] = vs
	}

	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("tencent %s %s: %w", method, path, netCause(err, actx))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	trace := resp.Header.Get("X-TC-Trace")
	if err != nil {
		return nil, trace, fmt.Errorf("tencent %s %s: HTTP %d, reading body: %w [trace %s]", method, path, resp.StatusCode, netCause(err, actx), trace)
	}
	c.logger(ctx).LogAttrs(ctx, slog.LevelDebug, "tencent request", slog.String("path", path),
		slog.Int("status", resp.StatusCode), slog.String("trace", trace), slog.Duration("took", time.Since(start)))
	info := decodeErrorInfo(body)
	if resp.StatusCode/100 == 2 && info == nil {
		return body, trace, nil
	}
	ae := &APIError{Method: method, Path: path, Status: resp.StatusCode, Trace: trace,
		RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	if info != nil {
		ae.Code, ae.NewCode, ae.Message = int64(info.ErrorCode), int64(info.NewErrorCode), string(info.Message)
	} else {
		ae.Snippet = snippet(body)
	}
	return nil, trace, ae
}

// netCause strips the URL (with its query) that *url.Error carries, and names a per-attempt timeout.
func netCause(err error, actx context.Context) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(actx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("timed out: %w", err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("timed out: %w", err)
	}
	return err
}

func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if r := []rune(s); len(r) > 120 {
		s = string(r[:120]) + "…"
	}
	return s
}

// retryAfter reads a Retry-After header (delay-seconds or an HTTP date, RFC 9110 §10.2.3), capped at
// maxRetryAfter; 0 when absent or unreadable.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		d = time.Duration(min(n, int64(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}
