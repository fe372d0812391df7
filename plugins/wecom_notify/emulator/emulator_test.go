package emulator

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

const key = "k-123456"

func post(t *testing.T, s *Server, k, body string) (status, errcode int) {
	t.Helper()
	resp, err := http.Post(s.URL()+"/cgi-bin/webhook/send?key="+k, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, 0
	}
	var ans struct {
		Errcode int    `json:"errcode"`
		Errmsg  string `json:"errmsg"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, ans.Errcode
}

func markdown(content string) string {
	b, _ := json.Marshal(map[string]any{"msgtype": "markdown", "markdown": map[string]string{"content": content}})
	return string(b)
}

func TestChecks(t *testing.T) {
	tests := []struct {
		name, key, body string
		want            int
	}{
		{"ok", key, markdown("# hi"), OK},
		{"exactly 4096 bytes", key, markdown(strings.Repeat("界", 1365) + "a"), OK},
		{"wrong key", "other", markdown("# hi"), ErrBadKey},
		{"no key", "", markdown("# hi"), ErrBadKey},
		{"text message", key, `{"msgtype":"text","text":{"content":"hi"}}`, ErrMsgType},
		{"empty content", key, markdown(""), ErrEmpty},
		{"no markdown", key, `{"msgtype":"markdown"}`, ErrEmpty},
		{"4097 bytes", key, markdown(strings.Repeat("界", 1365) + "ab"), ErrTooLong},
		{"not json", key, `msgtype=markdown`, ErrBadJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Options{Key: key})
			t.Cleanup(s.Close)
			if _, code := post(t, s, tt.key, tt.body); code != tt.want {
				t.Errorf("errcode = %d, want %d", code, tt.want)
			}
			if got, want := len(s.Messages()), map[bool]int{true: 1}[tt.want == OK]; got != want {
				t.Errorf("%d messages recorded, want %d", got, want)
			}
			if s.Requests() != 1 || s.Answers(tt.want) != 1 {
				t.Errorf("requests %d, answers %d", s.Requests(), s.Answers(tt.want))
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	s := New(Options{Key: key, PerMinute: 3, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	t.Cleanup(s.Close)
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	for i := range 3 {
		if _, code := post(t, s, key, markdown("m")); code != OK {
			t.Fatalf("message %d: errcode %d", i, code)
		}
		advance(10 * time.Second)
	}
	if _, code := post(t, s, key, markdown("m")); code != ErrTooFrequent {
		t.Fatalf("4th message in a minute: errcode %d", code)
	}
	advance(30 * time.Second) // the first message is now a minute old
	if _, code := post(t, s, key, markdown("m")); code != OK {
		t.Fatalf("after the window moved: errcode %d", code)
	}
	if len(s.Messages()) != 4 || s.Answers(ErrTooFrequent) != 1 {
		t.Errorf("messages %d, 45009 answers %d", len(s.Messages()), s.Answers(ErrTooFrequent))
	}
}

func TestFaults(t *testing.T) {
	s := New(Options{Key: key})
	t.Cleanup(s.Close)
	s.FailHTTP(1, http.StatusBadGateway)
	s.FailNext(2, ErrTooFrequent)
	if status, _ := post(t, s, key, markdown("m")); status != http.StatusBadGateway {
		t.Errorf("status %d, want 502", status)
	}
	for range 2 {
		if _, code := post(t, s, key, markdown("m")); code != ErrTooFrequent {
			t.Errorf("errcode %d, want 45009", code)
		}
	}
	// A malformed request is refused for what it is and does not use up a fault.
	s.FailNext(1, ErrSystemBusy)
	if _, code := post(t, s, "bad", markdown("m")); code != ErrBadKey {
		t.Errorf("errcode %d, want 93000", code)
	}
	if _, code := post(t, s, key, markdown("m")); code != ErrSystemBusy {
		t.Errorf("errcode %d, want -1", code)
	}
	if _, code := post(t, s, key, markdown("m")); code != OK {
		t.Errorf("errcode %d, want 0", code)
	}
	if s.Requests() != 6 || len(s.Messages()) != 1 {
		t.Errorf("requests %d, messages %d", s.Requests(), len(s.Messages()))
	}
}

func TestRunCLI(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- RunCLI(ctx, []string{"--key", key}, pw); pw.Close() }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "wecom emulator listening on ")
	if !ok {
		t.Fatalf("first line %q", line)
	}
	resp, err := http.Post(url+"/cgi-bin/webhook/send?key="+key, "application/json", strings.NewReader(markdown("hi")))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"errcode":0`) {
		t.Errorf("answer %s", b)
	}
	go io.Copy(io.Discard, pr)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := RunCLI(context.Background(), nil, io.Discard); err == nil {
		t.Error("RunCLI without --key succeeded")
	}
}
