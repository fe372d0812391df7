package runner

import (
	"context"
	"fmt"

	"meetpipe/runner/internal/state"
	"meetpipe/runner/step"

	"github.com/hashicorp/go-multierror"
)

// abort stops the run after step s reported a fault of the environment (Environmental): no new item is
// taken, and items not yet through stay pending, since every one of them would fail the same way.
func (r *run) abort(s *stage, err error) {
	msg := r.p.Secrets.Scrub(err.Error())
	r.mu.Lock()
	first := r.envErr == nil
	if first {
		r.envErr = err
		r.errs = multierror.Append(r.errs, fmt.Errorf("step %s: stopping the run: the environment, not the items, "+
			"is at fault; unfinished items stay pending for the next run: %s", s.id, msg))
	}
	r.mu.Unlock()
	if first {
		r.log.Error("environment-wide failure: stopping the run; items stay pending", "step", s.id, "err", msg)
		r.stop.Store(true)
	}
}

// stopped records an item the source offered after the run stopped taking items: it stays pending, so
// that the next run finds it even when its window has moved on. After a signal the listing ends
// (context.Canceled); after an environment-wide fault it goes on, so that every item of the window is
// remembered.
func (e *emitter) stopped(id string, f step.Fields) error {
	r := e.r
	r.mu.Lock()
	env := r.envErr != nil
	r.mu.Unlock()
	ret := context.Canceled
	if env {
		ret = nil
	}
	if !r.admit(id) {
		return ret
	}
	it, err := step.NewItem(id, f)
	if err != nil {
		return ret
	}
	at := r.p.stages[min(1, len(r.p.stages)-1)].id
	r.finish(&work{item: it, next: 1}, state.OutcomePending, at, step.Deferred(fmt.Errorf("the run stopped before it started")))
	return ret
}
