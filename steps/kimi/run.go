package kimi

import "context"

// Run is what a Classifier keeps for one run of its caller: the tokens spent, the answers already paid
// for (an engine retry after a 429 half-way through the ladder or a map-reduce does not pay again) and
// the parameters the model refused. A Classifier may serve many runs, so this lives with the caller's
// run and reaches the Classifier through the call's context (WithRun).
type Run struct {
	Spent  Meter // tokens of this run's calls
	cache  *Cache[[32]byte, *ChatResponse]
	healer Healer
}

// NewRun returns the state of a new run.
func NewRun() *Run {
	return &Run{cache: NewCache[[32]byte, *ChatResponse](512, nil)}
}

type runKey struct{}

// WithRun returns ctx whose Classifier calls belong to r.
func WithRun(ctx context.Context, r *Run) context.Context {
	return context.WithValue(ctx, runKey{}, r)
}

// run is ctx's Run; a caller that gives none (a test, a one-off call) shares the Classifier's own.
func (c *Classifier) run(ctx context.Context) *Run {
	if r, ok := ctx.Value(runKey{}).(*Run); ok {
		return r
	}
	return c.loose
}
