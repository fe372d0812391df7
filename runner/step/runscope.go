package step

import (
	"context"
	"sync"
)

// A run scope holds what steps keep for one run only (a stop latch, token counters). Steps outlive a run
// (a loaded Pipeline may run again), so such state lives here, reached through the run's context as the
// logger is, and is gone when the run ends.
type runScope struct {
	mu   sync.Mutex
	vals map[any]any
}

type scopeKey struct{}

// WithRunScope returns ctx carrying a new, empty run scope. Run calls it; a test that drives a step by
// hand calls it once per simulated run.
func WithRunScope(ctx context.Context) context.Context {
	return context.WithValue(ctx, scopeKey{}, &runScope{vals: map[any]any{}})
}

// RunValue returns the value kept under key in ctx's run, made by init on first use. key is usually the
// step itself (comparable, one per step). Outside a run (no scope in ctx) every call gets a new value, so
// nothing outlives the call.
func RunValue[T any](ctx context.Context, key any, init func() *T) *T {
	s, ok := ctx.Value(scopeKey{}).(*runScope)
	if !ok {
		return init()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.vals[key].(*T); ok {
		return v
	}
	v := init()
	s.vals[key] = v
	return v
}
