package steps

import (
	"context"
	"errors"

	"meetpipe/runner"
	"meetpipe/steps/tencent"
)

// tencentSource adapts the Tencent lister, which knows nothing of the engine, to it: the engine's
// window, emitter, items, limiters and logger in; the client's error kinds and findings out.
type tencentSource struct {
	lister   *tencent.Lister
	client   *tencent.Client
	check    tencent.CheckConfig
	operator string // the admin operator_id, when configured (STS token requests)
}

// List lists the window through the engine's emitter.
func (s *tencentSource) List(ctx context.Context, w runner.Window, out runner.Emitter) error {
	tw := tencent.Window{Since: w.Since, Until: w.Until, Pending: make([]tencent.Pending, 0, len(w.Pending)), Targeted: w.Targeted}
	for _, p := range w.Pending {
		tw.Pending = append(tw.Pending, tencent.Pending{ID: p.ID, Hint: p.Hint})
	}
	return engineError(s.lister.List(runLog(ctx), tw, engineSink{out}))
}

// Resolve fetches the download addresses of an item about to be downloaded. It makes one try: the engine
// retries it under the consuming step's retry policy.
func (s *tencentSource) Resolve(ctx context.Context, in *runner.Item) (runner.Fields, error) {
	f, err := s.lister.Resolve(runLog(ctx), in)
	if err != nil {
		return nil, engineError(err)
	}
	return runner.Fields(f), nil
}

// Hint tells the engine how to find an item again in a later run.
func (s *tencentSource) Hint(in *runner.Item) any { return s.lister.Hint(in) }

// Close releases the client's idle connections.
func (s *tencentSource) Close() error { return s.lister.Close() }

// Check reports the credentials, operator and limits (`runner doctor`).
func (s *tencentSource) Check(ctx context.Context, _ runner.CheckOptions) []runner.Finding {
	return s.client.Check(runLog(ctx), s.check)
}

// runLog passes the run's logger (which the engine puts in every step's context) to the client.
func runLog(ctx context.Context) context.Context {
	return tencent.WithLogger(ctx, runner.Logger(ctx))
}

// engineSink is the engine's emitter as the lister's sink.
type engineSink struct{ out runner.Emitter }

func (s engineSink) Emit(ctx context.Context, id string, f map[string]any) error {
	return s.out.Emit(ctx, id, runner.Fields(f))
}
func (s engineSink) NotReady(id string, hint any, reason string) { s.out.NotReady(id, hint, reason) }
func (s engineSink) Stuck(id string, hint any, reason string) {
	runner.ReportStuck(s.out, id, hint, reason)
}

// engineLimiter makes the client's rate limiters from the engine's (rate only, no concurrency bound).
func engineLimiter(name string, perMinute float64) tencent.Limiter {
	return runner.NewLimiter(name, 0, perMinute)
}

// engineError maps the client's error kinds to the engine's. An unmarked error (the emitter's, a
// cancelled context) passes as it is.
func engineError(err error) error {
	var te *tencent.Error
	if err == nil || !errors.As(err, &te) {
		return err
	}
	if tencent.EveryCall(err) {
		// A rejected signature, a clock off, a spent daily quota: not this recording's fault.
		return runner.Environmental(err)
	}
	switch te.Kind {
	case tencent.KindPermanent:
		return runner.Permanent(err)
	case tencent.KindDeferred:
		return runner.Deferred(err)
	}
	if te.After > 0 {
		return runner.RetryAfter(err, te.After)
	}
	return runner.Transient(err)
}
