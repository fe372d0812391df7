package tencent

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"time"
)

// again makes call, and makes it again up to cfg.Retries times while it fails transiently. It is the one
// retry inside this package, kept for the listing only: the engine retries the calls of an item, but a
// listing has no item yet, and one bad page must not cost the whole night's listing. Each try is one
// request (a page, or one meeting's details or participants), so a retry repeats little. A rate-limited
// answer has already held the client's limiters; a server's Retry-After is waited at least.
func (l *Lister) again(ctx context.Context, path string, call func() error) error {
	for attempt := 0; ; attempt++ {
		err := call()
		if err == nil || ctx.Err() != nil {
			return err
		}
		if kind, _ := kindOf(err); kind != kindTransient || attempt >= l.cfg.Retries {
			return err
		}
		wait := l.delay(attempt)
		var ae *APIError
		if errors.As(err, &ae) && ae.RetryAfter > wait {
			wait = ae.RetryAfter // the server said how long (429 Retry-After)
		}
		l.logger(ctx).LogAttrs(ctx, slog.LevelWarn, "tencent request failed, retrying",
			slog.String("path", path), slog.Int("attempt", attempt+1), slog.Duration("wait", wait),
			slog.String("error", err.Error()))
		if serr := sleep(ctx, wait); serr != nil {
			return fmt.Errorf("%w (last error: %v)", serr, err)
		}
	}
}

// delay is the backoff before retry attempt+1: exponential with jitter so that several listings do not
// retry in step.
func (l *Lister) delay(attempt int) time.Duration {
	d := l.cfg.Backoff << min(attempt, 20)
	if d <= 0 || d > l.cfg.MaxBackoff {
		d = l.cfg.MaxBackoff
	}
	j, err := rand.Int(rand.Reader, big.NewInt(int64(d/2)+1))
	if err != nil {
		return d
	}
	return d/2 + time.Duration(j.Int64())
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
