package push

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meetpipe/steps/tencent/webhook"
)

const (
	testToken = "TOKEN0123456789abcdefghij"
	testAES   = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)

type rig struct {
	t     *testing.T
	dir   string
	inbox *Inbox
	m     *Metrics
	srv   *httptest.Server
	c     *webhook.Cipher
	woken int
}

func newRig(t *testing.T, maxBody int64) *rig {
	t.Helper()
	r := &rig{t: t, dir: t.TempDir()}
	var err error
	if r.inbox, err = OpenInbox(r.dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.inbox.Close() })
	if r.c, err = webhook.NewCipher(testAES); err != nil {
		t.Fatal(err)
	}
	r.m = NewMetrics(func() float64 { return float64(r.inbox.Len()) })
	rc := &Receiver{Token: testToken, Cipher: r.c, Inbox: r.inbox, Metrics: r.m, MaxBody: maxBody,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Accepted: func() { r.woken++ }}
	r.srv = httptest.NewServer(rc.Handler())
	t.Cleanup(r.srv.Close)
	return r
}

// post sends an event as Tencent does (sealed, signed); sign may spoil the signature.
func (r *rig) post(event string, spoil bool) (int, string) {
	r.t.Helper()
	data := r.c.Seal([]byte(event))
	ts, nonce := "1609313201465", "12345678"
	sig := webhook.Signature(testToken, ts, nonce, data)
	if spoil {
		sig = webhook.Signature("WRONGTOKEN0123456789abcde", ts, nonce, data)
	}
	body, _ := json.Marshal(map[string]string{"data": data})
	return r.send(body, ts, nonce, sig)
}

func (r *rig) send(body []byte, ts, nonce, sig string) (int, string) {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.srv.URL+Path, bytes.NewReader(body))
	req.Header.Set("timestamp", ts)
	req.Header.Set("nonce", nonce)
	req.Header.Set("signature", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (r *rig) stored() int {
	r.t.Helper()
	es, err := r.inbox.Pending()
	if err != nil {
		r.t.Fatal(err)
	}
	return len(es)
}

func completed(trace string, files ...string) string {
	var fs []string
	for _, f := range files {
		fs = append(fs, `{"record_file_id":"`+f+`"}`)
	}
	return `{"event":"recording.completed","trace_id":"` + trace + `","payload":[{"operate_time":1609313201465,` +
		`"recording_files":[` + strings.Join(fs, ",") + `],"meeting_info":{"meeting_id":"13339451618278424869",` +
		`"creator":{"userid":"tester-2"},"meeting_type":0,"start_time":1608522626,"end_time":1609415039}}]}`
}

func TestHandshake(t *testing.T) {
	r := newRig(t, 0)
	// The doc's computed vector (tencent-meeting-api.md §6): check_str "hello-check-str" sealed with the
	// test key, signed at ts 1757276766, nonce 838382. Its '+'-free base64 travels URL-encoded.
	check := "8O0t7kCuSE2OtdA41VdOuA=="
	for name, sig := range map[string]string{"good": "6298ea5706bc49a15057a5d009f781928d46dfeb", "bad": strings.Repeat("0", 40)} {
		req, _ := http.NewRequest(http.MethodGet, r.srv.URL+Path+"?check_str="+url.QueryEscape(check), nil)
		req.Header.Set("timestamp", "1757276766")
		req.Header.Set("nonce", "838382")
		req.Header.Set("signature", sig)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if name == "good" && (resp.StatusCode != 200 || string(b) != "hello-check-str") {
			t.Fatalf("handshake: HTTP %d %q, want 200 and the plaintext alone", resp.StatusCode, b)
		}
		if name == "bad" && resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("handshake with a bad signature: HTTP %d, want 401", resp.StatusCode)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("handshake took %s; Tencent waits 3 s (1095/51608)", d)
		}
	}
	// A '+' that a query parser turns into a space still verifies: a check_str sent unescaped.
	plain, sealed := webhook.NewSealedCheck(r.c)
	for !strings.Contains(sealed, "+") {
		plain, sealed = webhook.NewSealedCheck(r.c)
	}
	req, _ := http.NewRequest(http.MethodGet, r.srv.URL+Path+"?check_str="+sealed, nil)
	req.Header.Set("timestamp", "1")
	req.Header.Set("nonce", "2")
	req.Header.Set("signature", webhook.Signature(testToken, "1", "2", sealed))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != plain {
		t.Fatalf("unescaped '+': HTTP %d %q, want %q", resp.StatusCode, b, plain)
	}
}

func TestPostStoresBeforeAck(t *testing.T) {
	r := newRig(t, 0)
	code, body := r.post(completed("trace-1", "f1"), false)
	if code != 200 || body != Ack {
		t.Fatalf("POST: HTTP %d %q, want 200 %q", code, body, Ack)
	}
	if r.stored() != 1 || r.woken != 1 {
		t.Fatalf("stored %d, woken %d; want the event on disk and the worker woken", r.stored(), r.woken)
	}
	// On disk and replayed by a fresh inbox (as after a restart).
	r.inbox.Close()
	again, err := OpenInbox(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	es, _ := again.Pending()
	if len(es) != 1 || !strings.Contains(string(es[0].Event), "trace-1") {
		t.Fatalf("after reopen: %d entries", len(es))
	}
	// And a second owner is refused while one holds it.
	if _, err := OpenInbox(r.dir); err == nil {
		t.Fatal("a second inbox owner was allowed")
	}
}

func TestBadSignatureChangesNothing(t *testing.T) {
	r := newRig(t, 0)
	code, _ := r.post(completed("trace-1", "f1"), true)
	if code != http.StatusUnauthorized {
		t.Fatalf("bad signature: HTTP %d, want 401", code)
	}
	des, _ := os.ReadDir(filepath.Join(r.dir, Dir, "inbox"))
	if len(des) != 0 || r.woken != 0 {
		t.Fatalf("a refused event left %d files and woke the worker %d times", len(des), r.woken)
	}
	if _, err := os.Stat(filepath.Join(r.dir, Dir, "seen.json")); err == nil {
		t.Fatal("a refused event was remembered for dedupe")
	}
	// The same event, properly signed afterwards, is accepted (nothing was marked seen).
	if code, _ := r.post(completed("trace-1", "f1"), false); code != 200 || r.stored() != 1 {
		t.Fatalf("good retry: HTTP %d, %d stored", code, r.stored())
	}
}

func TestOversizeBodyRefused(t *testing.T) {
	r := newRig(t, 4096)
	big := map[string]string{"data": strings.Repeat("A", 8192)}
	body, _ := json.Marshal(big)
	code, _ := r.send(body, "1", "2", webhook.Signature(testToken, "1", "2", big["data"]))
	if code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversize body: HTTP %d, want 413", code)
	}
	if r.stored() != 0 {
		t.Fatal("an oversize body was stored")
	}
}

func TestDuplicates(t *testing.T) {
	r := newRig(t, 0)
	for i, c := range []struct {
		event string
		dup   bool
	}{
		{completed("trace-1", "f1", "f2"), false},
		{completed("trace-1", "f1", "f2"), true},  // Tencent's retry: same trace_id
		{completed("trace-2", "f2", "f1"), true},  // another event for the same files
		{completed("trace-3", "f2", "f3"), false}, // a new file
		{strings.Replace(completed("trace-4", "f1"), "recording.completed", "smart.transcripts", 1), false},
	} {
		code, body := r.post(c.event, false)
		if code != 200 || body != Ack {
			t.Fatalf("event %d: HTTP %d %q (a duplicate is acknowledged too)", i, code, body)
		}
	}
	if n := r.stored(); n != 3 {
		t.Fatalf("stored %d events, want 3", n)
	}
	res, _ := http.Get(r.srv.URL + "/metrics")
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{`meetpipe_push_events_duplicate_total{event="recording.completed"} 2`,
		`meetpipe_push_events_received_total{event="recording.completed"} 2`, "meetpipe_push_queue_depth 3"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Dedupe keys survive a restart.
	r.inbox.Close()
	again, err := OpenInbox(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	ev, _ := webhook.Parse([]byte(completed("trace-1", "f9")))
	if dup, err := again.Accept(ev, []byte(completed("trace-1", "f9")), time.Now()); err != nil || !dup {
		t.Fatalf("after restart, a seen trace_id: dup=%v err=%v", dup, err)
	}
}
