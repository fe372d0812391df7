package steps

import (
	"context"
	"errors"

	"meetpipe/runner/step"
	"meetpipe/steps/tencent"
)

// tencentSource adapts the Tencent lister, which knows nothing of the engine, to it: the engine's
// window, emitter, items, limiters and logger in; the client's errors and findings out as they are
// (tencent.Error tells runner.Classify how it behaves, and a finding is the engine's type).
type tencentSource struct {
	lister   *tencent.Lister
	client   *tencent.Client
	check    tencent.CheckConfig
	operator string // the admin operator_id, when configured (STS token requests)
}

// List lists the window through the engine's emitter.
func (s *tencentSource) List(ctx context.Context, w step.Window, out step.Emitter) error {
	tw := tencent.Window{Since: w.Since, Until: w.Until, Pending: make([]tencent.Pending, 0, len(w.Pending)), Targeted: w.Targeted}
	for _, p := range w.Pending {
		tw.Pending = append(tw.Pending, tencent.Pending{ID: p.ID, Hint: p.Hint})
	}
	return s.lister.List(runLog(ctx), tw, engineSink{out})
}

// Resolve fetches the download addresses of an item about to be downloaded. It makes one try: the engine
// retries it under the consuming step's retry policy.
func (s *tencentSource) Resolve(ctx context.Context, in *step.Item) (step.Fields, error) {
	f, err := s.lister.Resolve(runLog(ctx), in)
	if err != nil {
		return nil, err
	}
	return step.Fields(f), nil
}

// Hint tells the engine how to find an item again in a later run.
func (s *tencentSource) Hint(in *step.Item) any { return s.lister.Hint(in) }

// Close releases the client's idle connections.
func (s *tencentSource) Close() error { return s.lister.Close() }

// Check reports the credentials, operator and limits (`runner doctor`).
func (s *tencentSource) Check(ctx context.Context, _ step.CheckOptions) []step.Finding {
	return s.client.Check(runLog(ctx), s.check)
}

// tencentSetting is the setting a configuration error of the client is about (tencent.SettingError), for
// Build.ErrorAt; "" (the step as a whole) when it names none.
func tencentSetting(err error) string {
	if se := (*tencent.SettingError)(nil); errors.As(err, &se) {
		return se.Setting
	}
	return ""
}

// runLog passes the run's logger (which the engine puts in every step's context) to the client.
func runLog(ctx context.Context) context.Context {
	return tencent.WithLogger(ctx, step.Logger(ctx))
}

// engineSink is the engine's emitter as the lister's sink.
type engineSink struct{ out step.Emitter }

func (s engineSink) Emit(ctx context.Context, id string, f map[string]any) error {
	return s.out.Emit(ctx, id, step.Fields(f))
}
func (s engineSink) NotReady(id string, hint any, reason string) { s.out.NotReady(id, hint, reason) }
func (s engineSink) Stuck(id string, hint any, reason string) {
	step.ReportStuck(s.out, id, hint, reason)
}

// engineLimiter makes the client's rate limiters from the engine's (rate only, no concurrency bound).
func engineLimiter(name string, perMinute float64) tencent.Limiter {
	return step.NewLimiter(name, 0, perMinute)
}
