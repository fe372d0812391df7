package tencent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meetpipe/steps/tencent/emulator"
)

// hostile starts a server answering every request with answer(path, query) and counts requests.
func hostile(t *testing.T, answer func(r *http.Request) (int, http.Header, string)) (*Client, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		st, h, body := answer(r)
		for k, v := range h {
			w.Header()[k] = v
		}
		w.WriteHeader(st)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	c, err := NewClient(Config{BaseURL: srv.URL, SecretID: "id", SecretKey: "key", EnterpriseID: "corp",
		RequestsPerSecond: -1, CorpRecordsPerMinute: -1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return c, &n
}

func TestSdkIDHeaderOmittedWhenEmpty(t *testing.T) {
	var sent []string
	c, _ := hostile(t, func(r *http.Request) (int, http.Header, string) {
		sent = append(sent, fmt.Sprint(r.Header.Values("SdkId")))
		return 200, nil, `{"total_page":1,"record_meetings":[]}`
	})
	if _, err := c.Records(context.Background(), dayQuery("op")); err != nil {
		t.Fatal(err)
	}
	if sent[0] != "[]" {
		t.Errorf("SdkId sent as %s; an app without one must not send the header (190303)", sent[0])
	}
}

func TestDocumentedCodes(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		kind   kind
		text   string
	}{
		{"clock skew", 400, `{"error_info":{"error_code":190300,"message":"timestamp expired"}}`, kindPermanent, "clock"},
		{"unknown secret", 400, `{"error_info":{"error_code":190303,"new_error_code":200190303,"message":"x"}}`, kindPermanent, "AppId"},
		{"unknown secret, new code only", 400, `{"error_info":{"new_error_code":200190303,"message":"x"}}`, kindPermanent, "sdk_id"},
		{"daily quota", 400, `{"error_info":{"error_code":190311,"message":"quota"}}`, kindDeferred, "next run"},
		{"per-interface limit", 400, `{"error_info":{"error_code":190313,"message":"limit"}}`, kindTransient, "rate limited"},
		{"per-minute limit with HTTP 500", 500, `{"error_info":{"error_code":190310,"message":"limit"}}`, kindTransient, "rate limited"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, n := hostile(t, func(*http.Request) (int, http.Header, string) { return tt.status, nil, tt.body })
			_, err := c.Records(context.Background(), dayQuery("op"))
			kind, after := kindOf(err)
			if err == nil || kind != tt.kind || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("got %s %v, want %s mentioning %q", kind, err, tt.kind, tt.text)
			}
			// The client makes one request: the engine (or a listing's own retry) decides on another.
			if n.Load() != 1 {
				t.Errorf("%d attempts, want 1", n.Load())
			}
			if tt.kind == kindTransient && after < time.Minute {
				t.Errorf("rate limit: engine asked to wait %s; want a minute", after)
			}
			// A listing retries a rate-limited page (retries 3: 4 attempts), then asks for the minute.
			n.Store(0)
			l, lerr := NewLister(c, ListerConfig{Operator: "op", Retries: 3, Backoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, Logger: quiet})
			if lerr != nil {
				t.Fatal(lerr)
			}
			err = l.List(context.Background(), day, newSink())
			kind, after = kindOf(err)
			if err == nil || kind != tt.kind {
				t.Fatalf("listing: got %s %v, want %s", kind, err, tt.kind)
			}
			if tt.kind == kindTransient && (after < time.Minute || n.Load() != 4) {
				t.Errorf("listing under a rate limit: %d attempts, engine asked to wait %s; want 4 attempts then a minute", n.Load(), after)
			}
			if tt.kind != kindTransient && n.Load() != 1 {
				t.Errorf("listing: %d attempts, want 1", n.Load())
			}
		})
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	var times []time.Time
	c, _ := hostile(t, func(*http.Request) (int, http.Header, string) {
		times = append(times, time.Now())
		if len(times) == 1 {
			return 429, http.Header{"Retry-After": {"1"}}, "slow down"
		}
		return 200, nil, `{"total_page":1,"record_meetings":[]}`
	})
	// The client's answer asks the engine for the minute of a rate limit, or the server's longer wait.
	_, err := c.Records(context.Background(), dayQuery("op"))
	if kind, after := kindOf(err); kind != kindTransient || after != time.Minute {
		t.Fatalf("429 classified %s after %s, want transient after a minute: %v", kind, after, err)
	}
	times = nil
	// A listing retries the page itself, after the server's Retry-After.
	l, err := NewLister(c, ListerConfig{Operator: "op", Backoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.List(context.Background(), day, newSink()); err != nil {
		t.Fatal(err)
	}
	// The backoff alone is 2ms at most; the server asked for a second.
	if len(times) != 2 || times[1].Sub(times[0]) < 900*time.Millisecond {
		t.Errorf("retried after %v, want at least the 1s Retry-After", times[len(times)-1].Sub(times[0]))
	}
	if d := retryAfter(time.Now().Add(30*time.Second).UTC().Format(http.TimeFormat), time.Now()); d < 28*time.Second || d > 30*time.Second {
		t.Errorf("HTTP-date Retry-After read as %s", d)
	}
	if retryAfter("99999", time.Now()) != maxRetryAfter || retryAfter("soon", time.Now()) != 0 {
		t.Error("Retry-After not capped or garbage not ignored")
	}
}

func TestHostilePagingIsBounded(t *testing.T) {
	t.Run("total_page 1000000 repeating one page", func(t *testing.T) {
		page := `{"total_count":20000000,"total_page":1000000,"record_meetings":[` + strings.Repeat(`{"meeting_record_id":"r1","state":1},`, 19) + `{"meeting_record_id":"r1","state":1}]}`
		c, n := hostile(t, func(*http.Request) (int, http.Header, string) { return 200, nil, page })
		l, err := NewLister(c, ListerConfig{Operator: "admin", Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.List(context.Background(), day, newSink()); err != nil {
			t.Fatal(err)
		}
		if n.Load() > 3 {
			t.Errorf("%d requests for a listing whose pages bring nothing new", n.Load())
		}
	})
	t.Run("participants cursor that does not advance", func(t *testing.T) {
		c, n := hostile(t, func(*http.Request) (int, http.Header, string) {
			return 200, nil, `{"has_remaining":true,"next_pos":0,"participants":[{"userid":"a","uuid":"u","user_role":0}]}`
		})
		_, err := c.Participants(context.Background(), ParticipantsQuery{MeetingID: "m"})
		if n.Load() != 2 || err == nil {
			t.Errorf("%d requests, err %v: want the repeated page to end it with an error", n.Load(), err)
		}
	})
	t.Run("participants cursor racing ahead", func(t *testing.T) {
		c, n := hostile(t, func(r *http.Request) (int, http.Header, string) {
			if r.URL.Query().Get("pos") != "0" && r.URL.Query().Get("pos") != "1" {
				return 200, nil, `{"has_remaining":false,"participants":[]}`
			}
			return 200, nil, `{"has_remaining":true,"next_pos":999999999,"participants":[{"userid":"a","uuid":"u","join_time":"1` + r.URL.Query().Get("pos") + `"}]}`
		})
		if _, err := c.Participants(context.Background(), ParticipantsQuery{MeetingID: "m"}); err != nil {
			t.Fatal(err)
		}
		if n.Load() != 3 {
			t.Errorf("%d requests: the cursor must move by the rows seen (0, 1, 2)", n.Load())
		}
	})
	t.Run("empty page with has_remaining", func(t *testing.T) {
		c, n := hostile(t, func(*http.Request) (int, http.Header, string) {
			return 200, nil, `{"has_remaining":true,"next_pos":5,"participants":[]}`
		})
		_, err := c.Participants(context.Background(), ParticipantsQuery{MeetingID: "m"})
		if err == nil || n.Load() != 1 {
			t.Errorf("%d requests, err %v: want one request and an error", n.Load(), err)
		}
	})
}

// A rejoin-heavy cursor stays bounded by rows seen: next_pos never exceeds pos + rows.
func TestParticipantsCursorBoundedByRows(t *testing.T) {
	var calls int
	c, _ := hostile(t, func(r *http.Request) (int, http.Header, string) {
		calls++
		if calls > 3 {
			return 200, nil, `{"has_remaining":false,"participants":[]}`
		}
		// Distinct rows (rejoins), but next_pos stuck at 0: the cursor moves by the rows seen.
		return 200, nil, fmt.Sprintf(`{"has_remaining":true,"next_pos":0,"participants":[{"userid":"a","uuid":"u","join_time":%d},{"userid":"b","uuid":"v","join_time":%d}]}`, 1000+calls, 2000+calls)
	})
	rows, err := c.Participants(context.Background(), ParticipantsQuery{MeetingID: "m"})
	if err != nil || len(rows) != 6 || calls != 4 {
		t.Errorf("%d rows after %d calls (%v)", len(rows), calls, err)
	}
}

// SIGTERM while a recording's participants are read keeps it in the pending list.
func TestInterruptedEnrichmentStaysPending(t *testing.T) {
	s, c := newEnv(t, emulator.Options{})
	s.FailNext(emulator.EndpointParticipants, 1, emulator.Fault{Kind: emulator.FaultHang})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	out := newSink()
	l := newLister(t, c, ListerConfig{})
	err := l.List(ctx, day, out)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want the listing cancelled", err)
	}
	if _, ok := out.notReady["1964787070499246080"]; !ok {
		t.Errorf("the recording being enriched is not pending: %v", out.notReady)
	}
}

// The listing's retry warnings reach the run's logger at WARN with structured attributes, and its
// debug lines at DEBUG: no logger is captured before the CLI configures slog.
func TestClientLogsThroughTheRunLogger(t *testing.T) {
	s := emulator.New(emulator.Options{Fixture: coachingFixture()})
	t.Cleanup(s.Close)
	c, err := NewClient(Config{BaseURL: s.URL(), SecretID: emulator.DefaultSecretID, SecretKey: emulator.DefaultSecretKey,
		EnterpriseID: emulator.DefaultAppID, RequestsPerSecond: -1, CorpRecordsPerMinute: -1})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s.FailNext(emulator.EndpointRecords, 1, emulator.Fault{Kind: emulator.FaultGateway})
	l, err := NewLister(c, ListerConfig{Mode: ModePerTeacher, Teachers: []string{"teacher_wang"}, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.List(WithLogger(context.Background(), log), day, newSink()); err != nil {
		t.Fatal(err)
	}
	var warn, debug bool
	for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		switch {
		case rec["level"] == "WARN" && rec["msg"] == "tencent request failed, retrying" && rec["path"] == "/v1/records" && rec["attempt"] == 1.0:
			warn = true
		case rec["level"] == "DEBUG" && rec["msg"] == "tencent request":
			debug = true
		}
	}
	if !warn || !debug {
		t.Errorf("log lacks a structured WARN retry line or a DEBUG request line:\n%s", buf.String())
	}
}
