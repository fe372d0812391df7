// Package emulator provides local stand-ins for the remote services of the kimi steps, for tests, demos and
// benchmarks: an OpenAI-compatible transcription server (ASRServer) that can behave like each server of
// the compatibility table, and a Moonshot chat server (MoonshotServer) with JSON-mode answers chosen by
// fixture rules, the entry tier's limits, the three kinds of 429 and other faults. Both look like
// httptest servers: New…(opts), URL(), Close(), fault knobs and counters.
package emulator

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Fault is a misbehaviour a server can be told to show on a call.
type Fault string

const (
	// FaultServerError answers 500 (Moonshot) or 503 (ASR).
	FaultServerError Fault = "server_error"
	// FaultReset closes the connection without an answer (TCP reset).
	FaultReset Fault = "reset"
	// FaultRateLimit answers 429 rate_limit_reached_error "… please try again after N seconds".
	FaultRateLimit Fault = "rate_limit"
	// FaultOverloaded answers 429 engine_overloaded_error.
	FaultOverloaded Fault = "overloaded"
	// FaultQuota answers 429 exceeded_current_quota_error.
	FaultQuota Fault = "quota"
	// FaultContentFilter answers 400 content_filter (Moonshot).
	FaultContentFilter Fault = "content_filter"
	// FaultInvalidJSON answers 200 with prose instead of the JSON object (Moonshot).
	FaultInvalidJSON Fault = "invalid_json"
	// FaultLength answers 200 with the JSON cut off and finish_reason "length" (Moonshot).
	FaultLength Fault = "length"
	// FaultBadPhase answers 200 with a phase that is not among the ones asked for (Moonshot).
	FaultBadPhase Fault = "bad_phase"
	// FaultHuge answers 200 with 2 MB of prose instead of the JSON object (Moonshot).
	FaultHuge Fault = "huge"
	// FaultHTML answers 200 with a proxy's HTML error page (ASR).
	FaultHTML Fault = "html"
	// FaultModelGone answers 404 resource_not_found_error "Not found the model or Permission denied", as
	// for a retired model (platform.kimi.ai docs/api/errors, 404 row).
	FaultModelGone Fault = "model_gone"
	// FaultOtherOrg answers 400 "… not available for your organization" (a key moved to another
	// organisation; shared docs kimi-asr-api.md corrections item 7, community-reported text).
	FaultOtherOrg Fault = "other_org"
	// FaultBalance answers 403 for an insufficient balance (Moonshot help centre, api-error-codes:
	// "403 Forbidden (insufficient balance)"; the body's wording is community-reported).
	FaultBalance Fault = "balance"
)

// ParseFaults reads a comma-separated list of fault names.
func ParseFaults(s string) ([]Fault, error) {
	var out []Fault
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		switch f := Fault(p); f {
		case FaultServerError, FaultReset, FaultRateLimit, FaultOverloaded, FaultQuota, FaultContentFilter,
			FaultInvalidJSON, FaultLength, FaultBadPhase, FaultHuge, FaultHTML, FaultModelGone, FaultOtherOrg, FaultBalance:
			out = append(out, f)
		default:
			return nil, fmt.Errorf("unknown fault %q", p)
		}
	}
	return out, nil
}

// faults hands out the fault of each call: queued ones first (tests ask for them), else a random one at
// the configured rate.
type faults struct {
	mu     sync.Mutex
	queue  []Fault
	always Fault // every call, until cleared
	rate   float64
	kinds  []Fault
	rng    *rand.Rand
}

func newFaults(rate float64, kinds []Fault, seed uint64) *faults {
	return &faults{rate: rate, kinds: kinds, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (f *faults) inject(fs ...Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queue = append(f.queue, fs...)
}

// refuseAll makes every call answer x until refuseAll("").
func (f *faults) refuseAll(x Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.always = x
}

func (f *faults) next() Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.always != "" {
		return f.always
	}
	if len(f.queue) > 0 {
		x := f.queue[0]
		f.queue = f.queue[1:]
		return x
	}
	if f.rate > 0 && len(f.kinds) > 0 && f.rng.Float64() < f.rate {
		return f.kinds[f.rng.IntN(len(f.kinds))]
	}
	return ""
}

// listener is the HTTP plumbing both servers share.
type listener struct {
	ln  net.Listener
	srv *http.Server
	url string
}

func listen(addr string, h http.Handler) (*listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	l := &listener{ln: ln, srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second},
		url: "http://" + ln.Addr().String()}
	go func() {
		if err := l.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener was closed under us; nothing to report to
		}
	}()
	return l, nil
}

func (l *listener) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := l.srv.Shutdown(ctx); err != nil {
		_ = l.srv.Close()
	}
}

// resetConn drops the connection with a TCP reset, as a crashing proxy would.
func resetConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// sleep waits d or until the request is cancelled.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// bearer reports whether the request carries the key. An empty key accepts any request.
func bearer(r *http.Request, key string) (ok, present bool) {
	h := r.Header.Get("Authorization")
	if key == "" {
		return true, h != ""
	}
	tok, found := strings.CutPrefix(h, "Bearer ")
	return found && tok == key, h != ""
}

func seconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}
