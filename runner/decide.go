package runner

import (
	"errors"
	"fmt"

	"meetpipe/runner/internal/state"
	"meetpipe/runner/internal/yamlnode"
	"meetpipe/runner/step"
)

// decision is what an item does at one step, and why.
type decision struct {
	stage    int // the stage it is about
	act      Action
	reason   string
	estimate string            // would-run: what running would cost (Estimator)
	cost     step.Cost         // would-run: the same as a number (CostEstimator), summed by process
	err      error             // fail, defer: the item's error
	rec      *state.Record     // memo: the record whose output is served
	key      string            // run: the memo key the new record gets
	inputs   map[string]string // run: per-input hashes, for a later --explain
}

// decide is the executor's one decision: memo, run, skip, would-run, may-run, fail or defer, with the
// reason. Planning and the workers both ask it. It changes nothing (no counter, no trace, no state), so
// asking again gives the same answer.
func (r *run) decide(s *stage, w *work) (d decision) {
	defer func() { d.stage = s.index }()
	if w.blocked != "" {
		return r.decidePreview(s, w)
	}
	if r.stop.Load() {
		return decision{act: ActDefer, err: step.Deferred(errors.New("run stopped before this step"))}
	}
	if d, ok := decideIf(s, w); ok {
		return d
	}
	key, inputs := memoKey(s, w.item, r.vol)
	d = decision{act: ActRun, reason: "no record", key: key, inputs: inputs}
	rec, err := r.st.Record(w.item.ID(), s.id)
	if err != nil {
		r.log.Warn("cannot read state; running the step", "item", w.item.ID(), "step", s.id, "err", err)
	}
	switch {
	case r.forced[s.index]:
		d.reason = "forced"
	case s.index < w.forceUntil:
		d.reason = "memoized output was gone"
	case rec != nil && rec.Status == state.OutcomeDone && rec.Key == key:
		r.redactRecord(w.item.ID(), rec)
		return decision{act: ActMemo, rec: rec, reason: memoReason(rec)}
	case rec != nil && rec.Status == state.OutcomeFailed && rec.Key == key:
		d.reason = "failed last time: " + rec.Error
	case rec != nil:
		if c := changed(rec.Inputs, inputs); len(c) > 0 {
			d.reason = fmt.Sprintf("changed: %v", c)
		} else {
			d.reason = "key changed"
		}
	}
	if r.o.DryRun && s.spec.SideEffects {
		d.act = ActWouldRun
		d.estimate, d.cost = estimate(s, w)
	}
	return d
}

// memoReason says why a step's output comes from the memo: when and by which run it was made, from the
// same inputs (the memo key matches).
func memoReason(rec *state.Record) string {
	key := rec.Key
	if len(key) > 12 {
		key = key[:12]
	}
	s := "same inputs as"
	if rec.Run != "" {
		s += " run " + rec.Run
	} else {
		s += " an earlier run"
	}
	if !rec.Finished.IsZero() {
		s += " at " + rec.Finished.UTC().Format("2006-01-02 15:04 UTC")
	}
	return s + " (key " + key + ")"
}

// decideAt is what a worker asks at stage s: the plan's decision when the plan settled this stage and the
// run has not stopped since, else decide's. So each step of an item is decided once.
func (r *run) decideAt(s *stage, w *work) decision {
	d := w.decided
	w.decided = nil
	if d == nil || d.stage != s.index || r.stop.Load() {
		return r.decide(s, w)
	}
	return *d
}

// decidePreview decides a step of a dry run after a step that would run (w.blocked): the step would run
// too, unless its if: is false on what is known; an if: that reads what the blocked steps would write
// cannot be told yet.
func (r *run) decidePreview(s *stage, w *work) decision {
	if s.iff != nil {
		if missing := s.iff.Missing(w.item); len(missing) > 0 {
			return decision{act: ActMayRun, reason: fmt.Sprintf("after %s; if: %s depends on %v, which it would write",
				w.blocked, yamlnode.OneLine(s.iff.Source()), missing)}
		}
		if d, ok := decideIf(s, w); ok {
			return d
		}
	}
	d := decision{act: ActWouldRun, reason: "after " + w.blocked}
	d.estimate, d.cost = estimate(s, w)
	return d
}

// decideIf evaluates the step's if:. It reports a decision (skip, or fail when the expression cannot be
// evaluated) when the if: settles it, and false when the step goes ahead.
func decideIf(s *stage, w *work) (decision, bool) {
	if s.iff == nil {
		return decision{}, false
	}
	ok, err := s.iff.Bool(w.item, nil)
	switch {
	case err != nil:
		return decision{act: ActFail, err: step.Permanent(fmt.Errorf("if: %w", err))}, true
	case !ok:
		return decision{act: ActSkip, reason: "if false: " + s.iff.Why(w.item, nil)}, true
	}
	return decision{}, false
}

// estimate asks the step what running it on the item would cost, in words and as a number; both calls
// are pure.
func estimate(s *stage, w *work) (words string, cost step.Cost) {
	if e, ok := s.impl.(step.Estimator); ok {
		words = e.Estimate(w.item)
	}
	if e, ok := s.impl.(step.CostEstimator); ok {
		cost = e.EstimateCost(w.item)
	}
	return words, cost
}

// keep evaluates a stage's filter after the stage. When it drops the item it says why.
func keep(s *stage, w *work) (bool, string) {
	if s.filter == nil {
		return true, ""
	}
	ok, err := s.filter.Bool(w.item, nil)
	if err != nil {
		return false, fmt.Sprintf("filter of step %s failed: %v", s.id, err)
	}
	if !ok {
		return false, fmt.Sprintf("filter of step %s: %s", s.id, s.filter.Why(w.item, nil))
	}
	return true, ""
}

// outcome is where a decision that ends the item (fail, defer) leaves it.
func (d decision) outcome() state.Outcome {
	if d.act == ActDefer {
		return state.OutcomePending
	}
	return state.OutcomeFailed
}

// trace is the decision as a line of the item's story.
func (d decision) trace(s *stage) stepTrace {
	return stepTrace{Step: s.id, Action: d.act, Reason: d.reason, Estimate: d.estimate}
}
