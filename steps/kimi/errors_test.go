package kimi

import (
	"net/http"
	"testing"
	"time"
)

func TestParseAPIError(t *testing.T) {
	now := time.Date(2026, 5, 1, 10, 0, 45, 0, time.UTC)
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		kind   ErrorKind
		msg    string
		wait   time.Duration
	}{
		{"rate limit wait in message", 429, nil,
			`{"error":{"type":"rate_limit_reached_error","message":"Your account org-test<ak-test> request reached max request: 3, please try again after 1 seconds"}}`,
			ErrRateLimit, "Your account org-test<ak-test> request reached max request: 3, please try again after 1 seconds", time.Second},
		{"retry-after header wins", 429, http.Header{"Retry-After": {"7"}},
			`{"error":{"type":"rate_limit_reached_error","message":"… please try again after 1 seconds"}}`,
			ErrRateLimit, "… please try again after 1 seconds", 7 * time.Second},
		{"TPM waits for the next minute", 429, nil,
			`{"error":{"type":"rate_limit_reached_error","message":"Your account x<y> request reached TPM rate limit, current:600000, limit:500000"}}`,
			ErrRateLimit, "Your account x<y> request reached TPM rate limit, current:600000, limit:500000", 16 * time.Second},
		{"TPD is a quota", 429, nil,
			`{"error":{"type":"rate_limit_reached_error","message":"Your account x<y> request reached TPD rate limit,current:2000000, limit:1500000"}}`,
			ErrQuota, "Your account x<y> request reached TPD rate limit,current:2000000, limit:1500000", 0},
		{"overloaded", 429, nil,
			`{"error":{"type":"engine_overloaded_error","message":"The engine is currently overloaded, please try again later"}}`,
			ErrOverloaded, "The engine is currently overloaded, please try again later", 0},
		{"quota", 429, nil,
			`{"error":{"type":"exceeded_current_quota_error","message":"You exceeded your current token quota: 0, please check your account balance"}}`,
			ErrQuota, "You exceeded your current token quota: 0, please check your account balance", 0},
		{"inactive account is a quota", 403, nil,
			`{"error":{"type":"exceeded_current_quota_error","message":"Your account x<y> is not active"}}`,
			ErrQuota, "Your account x<y> is not active", 0},
		{"openai insufficient_quota", 429, nil,
			`{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`,
			ErrQuota, "You exceeded your current quota", 0},
		{"auth", 401, nil, `{"error":{"type":"invalid_authentication_error","message":"Invalid Authentication"}}`,
			ErrAuth, "Invalid Authentication", 0},
		{"permission denied is a key problem", 403, nil, `{"error":{"type":"permission_denied_error","message":"The API you are accessing is not open"}}`,
			ErrAuth, "The API you are accessing is not open", 0},
		{"403 insufficient balance is a quota, not the key", 403, nil,
			`{"error":{"type":"permission_denied_error","message":"Insufficient balance, please top up your account"}}`,
			ErrQuota, "Insufficient balance, please top up your account", 0},
		{"a model not open to the organisation", 400, nil,
			`{"error":{"type":"invalid_request_error","message":"Invalid request: the model kimi-k3 is not available for your organization"}}`,
			ErrUnavailable, "Invalid request: the model kimi-k3 is not available for your organization", 0},
		{"whisper.cpp string error", 400, nil, `{"error":"no 'file' field in the request"}`,
			ErrBadRequest, "no 'file' field in the request", 0},
		{"old vLLM top-level error", 400, nil, `{"object":"error","message":"Currently only support response_format ` + "`text`" + ` or ` + "`json`" + `","type":"BadRequestError","param":null,"code":400}`,
			ErrBadRequest, "Currently only support response_format `text` or `json`", 0},
		{"413 html", 413, nil, "<html><body>413 Request Entity Too Large</body></html>",
			ErrTooLarge, "<html><body>413 Request Entity Too Large</body></html>", 0},
		{"too long", 400, nil, `{"error":{"type":"invalid_request_error","message":"Input token length too long"}}`,
			ErrTooLong, "Input token length too long", 0},
		{"content filter", 400, nil, `{"error":{"type":"content_filter","message":"The request was rejected because it was considered high risk"}}`,
			ErrContentFilter, "The request was rejected because it was considered high risk", 0},
		{"unknown model", 404, nil, `{"error":{"type":"resource_not_found_error","message":"Not found the model or Permission denied"}}`,
			ErrNotFound, "Not found the model or Permission denied", 0},
		{"server", 500, nil, `{"error":{"type":"unexpected_output","message":"invalid state transition"}}`,
			ErrServer, "invalid state transition", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			e := parseAPIError("op", tt.status, h, []byte(tt.body), now)
			if e.Kind() != tt.kind {
				t.Errorf("kind %v, want %v", e.Kind(), tt.kind)
			}
			if e.Message != tt.msg {
				t.Errorf("message %q, want %q", e.Message, tt.msg)
			}
			if e.Wait != tt.wait {
				t.Errorf("wait %v, want %v", e.Wait, tt.wait)
			}
		})
	}
}

func TestEndpoint(t *testing.T) {
	for base, want := range map[string]string{
		"https://api.moonshot.cn/v1":     "https://api.moonshot.cn/v1/chat/completions",
		"https://api.moonshot.cn/v1/":    "https://api.moonshot.cn/v1/chat/completions",
		"http://127.0.0.1:8080":          "http://127.0.0.1:8080/v1/chat/completions",
		"https://api.groq.com/openai/v1": "https://api.groq.com/openai/v1/chat/completions",
	} {
		got, err := endpoint(base, "chat/completions")
		if err != nil || got != want {
			t.Errorf("endpoint(%q) = %q, %v; want %q", base, got, err, want)
		}
	}
	if _, err := endpoint("api.moonshot.cn", "x"); err == nil {
		t.Error("a base URL without scheme was accepted")
	}
}
