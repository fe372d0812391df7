package tencent

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meetpipe/steps/tencent/emulator"
)

func dayQuery(op string) RecordsQuery {
	return RecordsQuery{Operator: op, Start: base.Add(-time.Hour), End: base.Add(23 * time.Hour), Page: 1, PageSize: 20, RecordType: 1}
}

func TestClientRequestShape(t *testing.T) {
	s, c := newEnv(t, emulator.Options{SdkID: "sdk-1", RecordsForAdmins: true}, func(cfg *Config) { cfg.SdkID = "sdk-1" })
	p, err := c.Records(context.Background(), dayQuery("admin"))
	if err != nil {
		t.Fatal(err)
	}
	if p.TotalCount != 5 || len(p.Records) != 5 {
		t.Fatalf("got %d of %d records, want 5", len(p.Records), p.TotalCount)
	}
	reqs := s.Requests(emulator.EndpointRecords)
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.Method != "GET" || len(r.Body) != 0 {
		t.Errorf("%s with a %d-byte body, want GET with none", r.Method, len(r.Body))
	}
	for k, want := range map[string]string{"Content-Type": "application/json", "Appid": emulator.DefaultAppID,
		"Sdkid": "sdk-1", "X-Tc-Key": emulator.DefaultSecretID, "X-Tc-Registered": "1"} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if n, err := strconv.ParseUint(r.Header.Get("X-TC-Nonce"), 10, 64); err != nil || n == 0 {
		t.Errorf("nonce %q is not a positive integer", r.Header.Get("X-TC-Nonce"))
	}
	for _, want := range []string{"operator_id=admin", "operator_id_type=1", "page=1", "page_size=20", "query_record_type=1",
		"start_time=" + strconv.FormatInt(base.Add(-time.Hour).Unix(), 10)} {
		if !strings.Contains(r.URI, want) {
			t.Errorf("URI %s lacks %s", r.URI, want)
		}
	}
}

func TestClientFreshNoncePerAttempt(t *testing.T) {
	s, c := newEnv(t, emulator.Options{})
	s.FailNext(emulator.EndpointRecords, 2, emulator.Fault{Kind: emulator.FaultGateway})
	for i := range 3 {
		_, err := c.Records(context.Background(), dayQuery("admin"))
		if (err == nil) != (i == 2) {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	seen := map[string]bool{}
	for _, r := range s.Requests(emulator.EndpointRecords) {
		n := r.Header.Get("X-TC-Nonce")
		if seen[n] {
			t.Errorf("nonce %s reused across attempts", n)
		}
		seen[n] = true
	}
	if len(seen) != 3 {
		t.Errorf("%d attempts, want 3", len(seen))
	}
}

// Every transient fault is one request marked transient by the client, and the listing's retry of that
// request recovers: the listing has no item for the engine to retry.
func TestClientRetriesTransientFaults(t *testing.T) {
	tests := []struct {
		name  string
		fault emulator.Fault
		n     int
	}{
		{"gateway 5xx pages", emulator.Fault{Kind: emulator.FaultGateway}, 3},
		{"rate limited (9061/190310)", emulator.Fault{Kind: emulator.FaultRateLimit}, 3},
		{"connection reset", emulator.Fault{Kind: emulator.FaultReset}, 3},
		{"truncated JSON with HTTP 200", emulator.Fault{Kind: emulator.FaultGarbage}, 2},
		{"hung server, per-attempt timeout", emulator.Fault{Kind: emulator.FaultHang}, 1},
		{"HTTP 500 service error with an unknown code", emulator.ErrorFault(500, 123456, "internal error"), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := newEnv(t, emulator.Options{}, func(cfg *Config) { cfg.Timeout = 300 * time.Millisecond })
			s.FailNext(emulator.EndpointRecords, 1, tt.fault)
			if _, err := c.Records(context.Background(), dayQuery("admin")); err == nil || s.Count(emulator.EndpointRecords) != 1 {
				t.Fatalf("got %v after %d requests, want one failed request", err, s.Count(emulator.EndpointRecords))
			} else if kind, _ := kindOf(err); kind != kindTransient {
				t.Fatalf("classified %s, want transient: %v", kind, err)
			}
			s.FailNext(emulator.EndpointRecords, tt.n, tt.fault)
			out := newSink()
			l := newLister(t, c, ListerConfig{Mode: ModePerTeacher, Teachers: []string{"teacher_wang"}, Retries: tt.n})
			if err := l.List(context.Background(), day, out); err != nil {
				t.Fatalf("not retried: %v", err)
			}
			if len(out.order) == 0 || s.Count(emulator.EndpointRecords) != 1+tt.n+1 {
				t.Errorf("%d recordings after %d listing requests, want some after %d", len(out.order), s.Count(emulator.EndpointRecords)-1, tt.n+1)
			}
		})
	}
}

// Transient faults that persist are marked for the engine: transient, or retry-after for rate limits.
func TestClientGivesUpOnPersistentFaults(t *testing.T) {
	tests := []struct {
		name   string
		fault  emulator.Fault
		after  time.Duration
		status int
		text   string
	}{
		{"gateway", emulator.Fault{Kind: emulator.FaultGateway}, 0, 0, "stgw"},
		{"rate limit", emulator.Fault{Kind: emulator.FaultRateLimit}, time.Minute, 400, "rate limited"},
		{"reset", emulator.Fault{Kind: emulator.FaultReset}, 0, -1, "/v1/records: "},
		{"hang", emulator.Fault{Kind: emulator.FaultHang}, 0, -1, "timed out"},
		{"garbage", emulator.Fault{Kind: emulator.FaultGarbage}, 0, 200, "undecodable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := newEnv(t, emulator.Options{}, func(cfg *Config) { cfg.Timeout = 200 * time.Millisecond })
			s.FailNext(emulator.EndpointRecords, 10, tt.fault)
			l := newLister(t, c, ListerConfig{Mode: ModePerTeacher, Teachers: []string{"teacher_wang"}, Retries: 2})
			err := l.List(context.Background(), day, newSink())
			if err == nil {
				t.Fatal("succeeded")
			}
			kind, after := kindOf(err)
			if kind != kindTransient || after != tt.after {
				t.Errorf("classified %s after %s, want transient after %s: %v", kind, after, tt.after, err)
			}
			if got := s.Count(emulator.EndpointRecords); got != 3 {
				t.Errorf("%d attempts, want 3 (retries 2)", got)
			}
			var ae *APIError
			switch {
			case tt.status == -1 && errors.As(err, &ae):
				t.Errorf("a network failure became an APIError: %v", err)
			case tt.status == 0 && (!errors.As(err, &ae) || ae.Status < 500 || ae.Snippet == ""):
				t.Errorf("want an APIError with a 5xx status and a body snippet: %v", err)
			case tt.status > 0 && (!errors.As(err, &ae) || (ae.Status != tt.status && !(ae.HasCode(CodePerMinuteLimit) && ae.Status == 500)) || ae.Trace == ""):
				// 190310 comes with HTTP 500 (1095/53805); 9061 with 400.
				t.Errorf("want an APIError with HTTP %d and a trace: %v", tt.status, err)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not mention %q", err, tt.text)
			}
		})
	}
}

// Permanent errors, produced by the emulator's real checks where it has them, are not retried and name
// their likely cause.
func TestClientPermanentErrors(t *testing.T) {
	tests := []struct {
		name   string
		opts   emulator.Options
		cfg    func(*Config)
		client func(*Client)
		call   func(*Client) error
		code   int64
		status int
		kind   kind
		cause  string
	}{
		{name: "bad signature", cfg: func(cfg *Config) { cfg.SecretKey = "wrong" }, code: 200003, status: 400, kind: kindPermanent, cause: "secret_key"},
		{name: "clock off", client: func(c *Client) { c.now = func() time.Time { return time.Now().Add(-10 * time.Minute) } },
			code: 190300, status: 400, kind: kindPermanent, cause: "clock"},
		{name: "IP not whitelisted", opts: emulator.Options{AllowedIPs: []string{"192.0.2.1"}}, code: 500125, status: 400, kind: kindPermanent, cause: "whitelist"},
		{name: "operator lacks permission", call: func(c *Client) error {
			_, err := c.CorpRecords(context.Background(), dayQuery("teacher_li"))
			return err
		},
			code: 500133, status: 400, kind: kindPermanent, cause: "permission"},
		{name: "unknown operator", call: func(c *Client) error { _, err := c.Records(context.Background(), dayQuery("ghost")); return err },
			code: 190001, status: 400, kind: kindPermanent, cause: "not a registered user"},
		{name: "wrong enterprise id", cfg: func(cfg *Config) { cfg.EnterpriseID = "42" }, code: 190004, status: 400, kind: kindPermanent, cause: "enterprise_id"},
		{name: "meeting does not exist (HTTP 500)", call: func(c *Client) error {
			_, err := c.Participants(context.Background(), ParticipantsQuery{MeetingID: "404", Operator: "admin"})
			return err
		}, code: 9003, status: 500, kind: kindPermanent, cause: "does not exist"},
		{name: "recording deleted (new_error_code)", call: func(c *Client) error {
			_, err := c.Addresses(context.Background(), "gone", "admin")
			return err
		}, code: 4051, status: 400, kind: kindPermanent, cause: "deleted"},
		{name: "window over 31 days", call: func(c *Client) error {
			q := dayQuery("admin")
			q.End = q.Start.Add(MaxWindow + time.Second)
			_, err := c.Records(context.Background(), q)
			return err
		}, kind: kindPermanent, cause: "31 days"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := newEnv(t, tt.opts, func(cfg *Config) {
				if tt.cfg != nil {
					tt.cfg(cfg)
				}
			})
			if tt.client != nil {
				tt.client(c)
			}
			call := tt.call
			if call == nil {
				call = func(c *Client) error { _, err := c.Records(context.Background(), dayQuery("admin")); return err }
			}
			err := call(c)
			if err == nil {
				t.Fatal("succeeded")
			}
			if kind, _ := kindOf(err); kind != tt.kind {
				t.Errorf("classified %s, want %s: %v", kind, tt.kind, err)
			}
			if !strings.Contains(err.Error(), tt.cause) {
				t.Errorf("error %q does not name the cause %q", err, tt.cause)
			}
			if strings.Contains(err.Error(), emulator.DefaultSecretKey) {
				t.Errorf("error leaks the secret key: %v", err)
			}
			if tt.code == 0 {
				return
			}
			var ae *APIError
			if !errors.As(err, &ae) || !ae.HasCode(tt.code) || ae.Status != tt.status || ae.Trace == "" || ae.Message == "" {
				t.Fatalf("want an APIError with code %d, HTTP %d, a trace and a message: %#v", tt.code, tt.status, ae)
			}
			total := 0
			for _, ep := range []string{emulator.EndpointRecords, emulator.EndpointCorpRecords, emulator.EndpointAddresses, emulator.EndpointParticipants} {
				total += s.Count(ep)
			}
			if total != 1 {
				t.Errorf("%d requests, want 1: permanent errors are not retried", total)
			}
		})
	}
}

func TestClientQuotaIsDeferred(t *testing.T) {
	s, c := newEnv(t, emulator.Options{})
	s.FailNext(emulator.EndpointRecords, 1, emulator.ErrorFault(400, CodeQuotaExhausted, "quota exhausted"))
	_, err := c.Records(context.Background(), dayQuery("admin"))
	if kind, _ := kindOf(err); kind != kindDeferred {
		t.Fatalf("classified %s, want deferred: %v", kind, err)
	}
}

func TestClientReplay(t *testing.T) {
	t.Run("fresh nonce on retry recovers", func(t *testing.T) {
		s, c := newEnv(t, emulator.Options{})
		fixed := time.Now()
		c.now = func() time.Time { return fixed }
		var n atomic.Int64
		c.nonce = func() string {
			if n.Add(1) <= 2 {
				return "9001" // the first two attempts share a nonce: the second is a replay
			}
			return newNonce()
		}
		for range 2 {
			if _, err := c.Records(context.Background(), dayQuery("admin")); err != nil {
				t.Fatal(err)
			}
		}
		reqs := s.Requests(emulator.EndpointRecords)
		if len(reqs) != 3 || reqs[1].Code != CodeReplay {
			t.Fatalf("%d requests, second answered %d; want 3 with a 190301 in the middle", len(reqs), reqs[1].Code)
		}
	})
	t.Run("a broken nonce source is permanent", func(t *testing.T) {
		s, c := newEnv(t, emulator.Options{})
		fixed := time.Now()
		c.now = func() time.Time { return fixed }
		c.nonce = func() string { return "9002" }
		if _, err := c.Records(context.Background(), dayQuery("admin")); err != nil {
			t.Fatal(err)
		}
		_, err := c.Records(context.Background(), dayQuery("admin"))
		if kind, _ := kindOf(err); kind != kindPermanent || !strings.Contains(err.Error(), "reused") {
			t.Fatalf("classified %s, want permanent naming the reuse: %v", kind, err)
		}
		// The request and its one fresh signing: a replay is not retried beyond that.
		if got := s.Errors(emulator.EndpointRecords); got != 2 {
			t.Errorf("%d rejected attempts, want 2", got)
		}
	})
}

func TestClientAcquiresSharedLimiter(t *testing.T) {
	shared := newSlot()
	s, c := newEnv(t, emulator.Options{}, func(cfg *Config) { cfg.Shared = shared })
	release, err := shared.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Records(ctx, dayQuery("admin")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v while the shared limiter was held, want the deadline", err)
	}
	if s.Count(emulator.EndpointRecords) != 0 {
		t.Fatal("a request went out while the shared limiter was held")
	}
	release()
	if _, err := c.Records(context.Background(), dayQuery("admin")); err != nil {
		t.Fatal(err)
	}
}

func TestClientCanceled(t *testing.T) {
	s, c := newEnv(t, emulator.Options{})
	s.FailNext(emulator.EndpointRecords, 1, emulator.Fault{Kind: emulator.FaultHang})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for s.Count(emulator.EndpointRecords) == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := c.Records(ctx, dayQuery("admin"))
	if !errors.Is(err, context.Canceled) || ctx.Err() == nil {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if s.Count(emulator.EndpointRecords) != 1 {
		t.Errorf("retried after cancel: %d requests", s.Count(emulator.EndpointRecords))
	}
}

func TestNewClientChecksConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no secrets", Config{EnterpriseID: "1"}, "secret_id, secret_key"},
		{"bad URL", Config{BaseURL: "ftp://x", SecretID: "a", SecretKey: "b", EnterpriseID: "c"}, "not an http"},
		{"query in URL", Config{BaseURL: "http://x/?a=1", SecretID: "a", SecretKey: "b", EnterpriseID: "c"}, "query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewClient(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

// The base URL may carry a path prefix (a proxy); it is part of the URI sent and signed.
func TestClientBaseURLWithPrefix(t *testing.T) {
	s, c := newEnv(t, emulator.Options{}, func(cfg *Config) { cfg.BaseURL += "/prefix/" })
	_, err := c.Records(context.Background(), dayQuery("admin"))
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Fatalf("got %v, want the emulator's 404 for an unknown path", err)
	}
	if reqs := s.Requests(""); len(reqs) != 1 || !strings.HasPrefix(reqs[0].URI, "/prefix/v1/records?") {
		t.Fatalf("requests %+v, want one to /prefix/v1/records", reqs)
	}
}
