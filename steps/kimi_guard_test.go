package steps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"meetpipe/runner/step"
	"meetpipe/steps/kimi"
)

func testGuard(lim *step.Limiter, timeout time.Duration) *kimiGuard {
	return &kimiGuard{lim: lim, timeout: timeout, words: kimiWords{
		auth:     func(err error) error { return fmt.Errorf("rejected key (%w); check TEST_KEY", err) },
		quota:    func(err error) error { return fmt.Errorf("quota gone: %w", err) },
		tooLarge: func(err error) error { return fmt.Errorf("too large for the server (%w)", err) },
	}}
}

// TestKimiGuardKinds: every kind of server answer becomes the engine's kind once, in one place for both
// Kimi steps; a rejected key and an exhausted quota stop the run's later calls without a request.
func TestKimiGuardKinds(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		kind   step.Kind
		after  time.Duration
		env    bool
		stops  bool
		saying string
	}{
		{"401", &kimi.APIError{Status: 401, Type: "invalid_authentication_error"}, step.KindDeferred, 0, true, true, "check TEST_KEY"},
		{"403 permission", &kimi.APIError{Status: 403, Type: "permission_denied_error"}, step.KindDeferred, 0, true, true, "check TEST_KEY"},
		{"quota", &kimi.APIError{Status: 429, Type: "exceeded_current_quota_error"}, step.KindDeferred, 0, true, true, "quota gone"},
		{"daily tokens", &kimi.APIError{Status: 429, Type: "rate_limit_reached_error", Message: "TPD rate limit reached"}, step.KindDeferred, 0, true, true, "quota gone"},
		{"403 balance", &kimi.APIError{Status: 403, Message: "insufficient balance"}, step.KindDeferred, 0, true, true, "quota gone"},
		{"404 model gone", &kimi.APIError{Status: 404, Type: "resource_not_found_error", Message: "Not found the model or Permission denied"}, step.KindDeferred, 0, true, true, "Not found the model"},
		{"400 other organisation", &kimi.APIError{Status: 400, Message: "the model is not available for your organization"}, step.KindDeferred, 0, true, true, "organization"},
		{"rate with wait", &kimi.APIError{Status: 429, Type: "rate_limit_reached_error", Wait: 2 * time.Second}, step.KindTransient, 2 * time.Second, false, false, "HTTP 429"},
		{"overloaded", &kimi.APIError{Status: 429, Type: "engine_overloaded_error"}, step.KindTransient, 0, false, false, "HTTP 429"},
		{"5xx", &kimi.APIError{Status: 502}, step.KindTransient, 0, false, false, "HTTP 502"},
		{"413", &kimi.APIError{Status: 413}, step.KindPermanent, 0, false, false, "too large for the server"},
		{"400", &kimi.APIError{Status: 400, Message: "bad field"}, step.KindPermanent, 0, false, false, "bad field"},
		{"too long", &kimi.APIError{Status: 400, Message: "Input token length too long"}, step.KindPermanent, 0, false, false, "too long"},
		{"content filter", &kimi.APIError{Status: 400, Type: "content_filter"}, step.KindPermanent, 0, false, false, "content_filter"},
	}
	for _, tt := range tests {
		// In a bubble: the wait of a 429 holds the next call for its seconds of fake time.
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				g := testGuard(step.Unlimited(), 0)
				ctx := step.WithRunScope(context.Background())
				err := g.Fail(ctx, fmt.Errorf("chat completion: %w", tt.err))
				if k, after := step.Classify(err); k != tt.kind || after != tt.after || step.IsEnvironmental(err) != tt.env {
					t.Errorf("%v: kind %v after %v environmental %v", err, k, after, step.IsEnvironmental(err))
				}
				var ae *kimi.APIError
				if !errors.As(err, &ae) || !strings.Contains(err.Error(), tt.saying) {
					t.Errorf("%v: the server's error is lost or the message lacks %q", err, tt.saying)
				}
				called := false
				later := g.Call(ctx, func(context.Context) error { called = true; return nil })
				if stopped := g.Stopped(ctx) != nil; stopped != tt.stops || called == tt.stops || tt.stops && later != g.Stopped(ctx) {
					t.Errorf("stopped %v, later call made %v with %v", stopped, called, later)
				}
				if again := g.Fail(ctx, later); tt.stops && (again != later || strings.Count(again.Error(), tt.saying) != 1) {
					t.Errorf("the stop wrapped again: %v", again)
				}
			})
		})
	}
	t.Run("not the server's answer", func(t *testing.T) {
		g := testGuard(step.Unlimited(), 0)
		ctx := step.WithRunScope(context.Background())
		if err := g.Fail(ctx, io.ErrUnexpectedEOF); err != io.ErrUnexpectedEOF || g.Stopped(ctx) != nil {
			t.Errorf("%v changed", err)
		}
	})
	t.Run("first stop wins", func(t *testing.T) {
		g := testGuard(step.Unlimited(), 0)
		ctx := step.WithRunScope(context.Background())
		first := g.Fail(ctx, &kimi.APIError{Status: 429, Type: "exceeded_current_quota_error"})
		g.Fail(ctx, &kimi.APIError{Status: 401})
		if g.Stopped(ctx) != first {
			t.Errorf("stop %v, want the first %v", g.Stopped(ctx), first)
		}
	})
	t.Run("the stop is the run's", func(t *testing.T) {
		g := testGuard(step.Unlimited(), 0)
		first := step.WithRunScope(context.Background())
		g.Fail(first, &kimi.APIError{Status: 429, Type: "exceeded_current_quota_error"})
		next := step.WithRunScope(context.Background())
		if g.Stopped(first) == nil || g.Stopped(next) != nil {
			t.Errorf("stopped in the first run %v, in the next %v; want only the first", g.Stopped(first), g.Stopped(next))
		}
	})
}

// TestKimiGuardTimeAndHold: a call gets the step's timeout; a server's wait holds every later caller of
// the limiter, not only the one that was told.
func TestKimiGuardTimeAndHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := testGuard(step.NewLimiter("moonshot", 0, 0), 5*time.Minute)
		var left time.Duration
		if err := g.Do(context.Background(), func(ctx context.Context) error {
			d, ok := ctx.Deadline()
			if !ok {
				return errors.New("no deadline")
			}
			left = time.Until(d)
			return nil
		}); err != nil || left != 5*time.Minute {
			t.Fatalf("do: %v, %v left", err, left)
		}
		g.Fail(context.Background(), &kimi.APIError{Status: 429, Type: "rate_limit_reached_error", Wait: time.Minute})
		start := time.Now()
		if err := g.Do(context.Background(), func(context.Context) error { return nil }); err != nil || time.Since(start) != time.Minute {
			t.Errorf("held call: %v after %v, want a minute", err, time.Since(start))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		g.Fail(ctx, &kimi.APIError{Status: 429, Type: "rate_limit_reached_error", Wait: time.Hour})
		called := false
		if err := g.Do(ctx, func(context.Context) error { called = true; return nil }); !errors.Is(err, context.DeadlineExceeded) || called {
			t.Errorf("held call with a short context: %v, called %v", err, called)
		}
	})
}
