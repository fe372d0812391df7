package tencent

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"
)

// Limiter bounds requests. The step gives the engine's limiters (its Limiter has these two methods), so
// that this package keeps to the limits without knowing the engine.
type Limiter interface {
	// Acquire waits for a slot; release gives back what was held (nothing, for a rate-only limiter).
	Acquire(ctx context.Context) (release func(), err error)
	// Hold makes every caller wait d: the service is refusing the whole app.
	Hold(d time.Duration)
}

// noLimit is the Limiter of a client given no way to make one.
type noLimit struct{}

func (noLimit) Acquire(context.Context) (func(), error) { return func() {}, nil }
func (noLimit) Hold(time.Duration)                      {}

// Window is the span a listing covers, plus the recordings an earlier run left pending, which are looked
// for again even outside the span.
type Window struct {
	Since, Until time.Time
	Pending      []Pending
	// Targeted lists the Pending recordings alone, not Since..Until (a push named them).
	Targeted bool
}

// Pending is a recording an earlier run reported as not ready, with the hint it was reported with.
type Pending struct {
	ID   string
	Hint json.RawMessage
}

// Sink receives what a listing finds. Emit blocks while the consumer is full and fails when it stops.
type Sink interface {
	Emit(ctx context.Context, id string, fields map[string]any) error
	// NotReady reports a recording that exists but is not finished yet (recording, transcoding).
	NotReady(id string, hint any, reason string)
	// Stuck reports a recording found but not produced for a problem (its participants could not be read).
	Stuck(id string, hint any, reason string)
}

// Item is what Resolve and Hint read of an item listed earlier: its id and its JSON fields.
type Item interface {
	ID() string
	Has(name string) bool
	Get(name string, v any) error
}

type logKey struct{}

// WithLogger returns ctx carrying log: the run's logger, which the step passes in, so that levels and
// attributes reach the handler the CLI configured.
func WithLogger(ctx context.Context, log *slog.Logger) context.Context {
	return context.WithValue(ctx, logKey{}, log)
}

// loggerFrom is the logger of ctx (WithLogger), else the process's default as it is now: never one
// captured before the CLI set it up.
func loggerFrom(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(logKey{}).(*slog.Logger); ok && l != nil {
		return l
	}
	return slog.Default()
}
