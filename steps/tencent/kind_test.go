package tencent

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// behaviour is what an engine asks an error (runner/step.Classify), declared here as any engine would.
type behaviour interface {
	Permanent() bool
	Deferred() bool
	RetryAfter() time.Duration
	Environmental() bool
}

// The client's errors say how they behave, through any wrapping: a refusal every call meets (a rejected
// signature, a spent daily quota) is environmental and waits for a later run; a rate limit asks for a wait.
func TestErrorsSayHowTheyBehave(t *testing.T) {
	cause := errors.New("tencent GET /v1/addresses: HTTP 503")
	signature := &APIError{Method: "GET", Path: "/v1/records", Status: 400, Code: CodeBadSignature}
	quota := &APIError{Method: "GET", Path: "/v1/records", Status: 400, Code: CodeDailyQuota}
	for _, tt := range []struct {
		name                     string
		err                      error
		permanent, deferred, env bool
		after                    time.Duration
	}{
		{"permanent", permanent(cause), true, false, false, 0},
		{"deferred", mark(cause, kindDeferred, 0), false, true, false, 0},
		{"transient", transient(cause), false, false, false, 0},
		{"rate limited", mark(cause, kindTransient, time.Minute), false, false, false, time.Minute},
		{"wrapped", fmt.Errorf("addresses of recording r: %w", permanent(cause)), true, false, false, 0},
		{"bad signature", fmt.Errorf("list: %w", permanent(signature)), false, true, true, 0},
		{"daily quota", mark(quota, kindDeferred, 0), false, true, true, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b behaviour
			if !errors.As(tt.err, &b) {
				t.Fatalf("%v does not say how it behaves", tt.err)
			}
			if b.Permanent() != tt.permanent || b.Deferred() != tt.deferred || b.Environmental() != tt.env || b.RetryAfter() != tt.after {
				t.Errorf("permanent %v deferred %v environmental %v after %s; want %v %v %v %s",
					b.Permanent(), b.Deferred(), b.Environmental(), b.RetryAfter(), tt.permanent, tt.deferred, tt.env, tt.after)
			}
		})
	}
	// Unmarked errors, a cancelled call among them, say nothing: the engine retries them.
	var b behaviour
	if errors.As(fmt.Errorf("tencent GET /v1/records: %w", context.Canceled), &b) {
		t.Error("a cancelled call claims a behaviour")
	}
}
