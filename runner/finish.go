package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"meetpipe/runner/internal/state"
	"meetpipe/runner/step"

	"github.com/hashicorp/go-multierror"
)

// admit counts an item the source produced, once: it reports false for an item of another id than
// --only asks for, and for one already produced in this run.
func (r *run) admit(id string) bool {
	if len(r.only) > 0 && !r.only[id] {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.emitted[id] {
		return false
	}
	r.emitted[id] = true
	r.sum.Items++
	return true
}

// note adds what one step did with the item to its trace and counts it: the one place where the run's
// step counts and the live display's change.
func (r *run) note(w *work, s *stage, tr stepTrace) {
	w.trace = append(w.trace, tr)
	p := r.prog[s.index]
	switch tr.Action {
	case ActListed:
		p.done.Add(1)
	case ActRun:
		p.done.Add(1)
		r.mu.Lock()
		r.sum.Ran++
		r.sum.Steps[s.id]++
		r.mu.Unlock()
	case ActMemo:
		p.memo.Add(1)
		r.mu.Lock()
		r.sum.Memo++
		r.mu.Unlock()
	case ActSkip, ActFiltered:
		p.skipped.Add(1)
	}
}

// filtered ends an item that the filter of step s dropped.
func (r *run) filtered(w *work, s *stage, reason string) {
	r.note(w, s, stepTrace{Step: s.id, Action: ActFiltered, Reason: reason})
	r.finish(w, state.OutcomeSkipped, s.id, errors.New(reason))
}

// finish records an item's outcome: counts, failures, the pending list, state and report. It is the one
// place where item counts change; an item finishes once.
func (r *run) finish(w *work, out state.Outcome, stepID string, err error) {
	if w.ended {
		return
	}
	w.ended = true
	id := w.item.ID()
	reason := ""
	if err != nil {
		reason = r.p.Secrets.Scrub(err.Error())
	}
	kind, _ := step.Classify(err)
	retryLater := out == state.OutcomePending || out == state.OutcomeFailed && kind == step.KindTransient
	var hint json.RawMessage
	if retryLater && r.hinter != nil {
		hint, _ = json.Marshal(r.hinter.Hint(w.item))
	}
	r.mu.Lock()
	delete(r.inflight, id)
	switch out {
	case state.OutcomeDone, state.OutcomeWouldRun:
		r.sum.Done++
	case state.OutcomeSkipped:
		r.sum.Skipped++
		countFiltered(&r.sum, reason)
	case state.OutcomeFailed:
		r.sum.Failed++
		r.sum.Failures = append(r.sum.Failures, step.ItemFailure{Item: id, Step: stepID, Error: reason, Kind: kind.String()})
		r.errs = multierror.Append(r.errs, fmt.Errorf("item %s: step %s: %s", id, stepID, reason))
	case state.OutcomePending:
		r.sum.Deferred++
		if !r.stop.Load() {
			r.errs = multierror.Append(r.errs, fmt.Errorf("item %s: step %s: left for the next run: %s", id, stepID, reason))
		}
	}
	if retryLater {
		now := time.Now().UTC()
		p := step.Pending{ID: id, Hint: hint, Reason: string(out) + " at " + stepID + ": " + reason, FirstSeen: now, LastSeen: now}
		if old, ok := r.pendingOld[id]; ok {
			p.FirstSeen = old.FirstSeen
			if hint == nil || string(hint) == "null" {
				p.Hint = old.Hint
			}
		}
		r.pending[id] = p
	} else {
		r.resolved[id] = true
		delete(r.pending, id)
	}
	r.mu.Unlock()

	if out == state.OutcomeFailed {
		for _, s := range r.p.stages {
			if s.id == stepID {
				r.prog[s.index].failed.Add(1)
			}
		}
	}
	switch out {
	case state.OutcomeFailed:
		r.log.Error("item failed", "item", id, "step", stepID, "err", reason)
	case state.OutcomePending:
		r.log.Warn("item left pending", "item", id, "step", stepID, "reason", reason)
	case state.OutcomeSkipped:
		r.log.Info("item skipped", "item", id, "reason", reason)
	default:
		r.log.Debug("item finished", "item", id, "status", string(out))
	}
	if !r.o.DryRun {
		if err := r.st.PutItem(&state.ItemState{ID: id, Status: out, Step: stepID, Reason: reason, Run: r.info.ID, Updated: time.Now().UTC()}); err != nil {
			r.log.Error("cannot save item state", "item", id, "err", err)
		}
	}
	r.reportLine(id, w.item, out, reason, w.trace)
}

// maxFilterReasons bounds Summary.Filtered: the reasons carry values, one per host at most in practice.
const maxFilterReasons = 50

// otherFilterReasons is the Summary.Filtered key of the reasons beyond maxFilterReasons.
const otherFilterReasons = "(other reasons)"

// countFiltered adds one item dropped for reason.
func countFiltered(s *step.Summary, reason string) {
	if s.Filtered == nil {
		s.Filtered = map[string]int{}
	}
	if _, ok := s.Filtered[reason]; !ok && len(s.Filtered) >= maxFilterReasons {
		reason = otherFilterReasons
	}
	s.Filtered[reason]++
}
