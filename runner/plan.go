package runner

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"meetpipe/runner/internal/state"
	"meetpipe/runner/step"
)

// emitter receives the source's items, plans them and feeds the first stage.
type emitter struct {
	r     *run
	ctx   context.Context
	chans []chan *work
}

func (e *emitter) Emit(ctx context.Context, id string, f step.Fields) error {
	r := e.r
	if r.stop.Load() {
		return e.stopped(id, f)
	}
	if !r.admit(id) {
		return nil
	}
	src := r.p.stages[0]
	it, err := step.NewItem(id, f)
	if err == nil {
		err = r.p.redactItem(it) // a source's fields named under redact: too
	}
	if err != nil {
		empty, _ := step.NewItem(id, nil)
		r.finish(&work{item: empty}, state.OutcomeFailed, src.id, step.Permanent(err))
		return nil
	}
	w := &work{item: it, next: 1}
	r.mu.Lock()
	// A copy as the source gave it: savePending asks the Hinter about it while a worker changes the item.
	r.inflight[id] = it.Clone()
	r.mu.Unlock()
	r.note(w, src, stepTrace{Step: src.id, Action: ActListed})
	if ok, reason := keep(src, w); !ok {
		r.filtered(w, src, reason)
		return nil
	}
	if ok, reason := r.admitted(ctx, w); !ok {
		r.filtered(w, src, reason)
		return nil
	}
	r.plan(w)
	if w.ended {
		return nil
	}
	select {
	case e.chans[1] <- w:
		return nil
	case <-ctx.Done():
		r.finish(w, state.OutcomePending, r.p.stages[w.next].id, step.Deferred(errors.New("interrupted before it started")))
		return ctx.Err()
	}
}

func (e *emitter) NotReady(id string, hint any, reason string) {
	r := e.r
	r.leavePending(id, hint, reason, false)
	r.log.Info("not ready yet; will look again in later runs", "item", id, "reason", reason)
	r.reportLine(id, nil, state.OutcomeNotReady, reason, nil)
}

// plan serves the item from the memo as far as the memo goes, then checks that the memoized artifacts
// the first step to run depends on still exist; where they do not, it moves the start back. What it
// served is noted (traced and counted) only once the start is known, so a move back un-counts nothing.
func (r *run) plan(w *work) {
	stages := r.p.stages
	n := len(stages)
	snaps := make([]*step.Item, n)
	served := make([]bool, n)
	var seen []stepTrace // by stage: seen[k] is stage k+1
	flush := func(upto int) {
		for k, tr := range seen {
			if k+1 < upto {
				r.note(w, stages[k+1], tr)
			}
		}
	}
	m := n
	var first *decision // the decision at stage m
plan:
	for i := 1; i < n; i++ {
		s := stages[i]
		snaps[i] = w.item.Clone()
		d := r.decide(s, w)
		switch d.act {
		case ActSkip:
			seen = append(seen, d.trace(s))
		case ActMemo:
			w.item.SetRaw(d.rec.Output)
			served[i] = true
			seen = append(seen, d.trace(s))
			if ok, reason := keep(s, w); !ok {
				flush(n)
				r.filtered(w, s, reason)
				return
			}
		case ActFail:
			flush(n)
			r.finish(w, d.outcome(), s.id, d.err)
			return
		default: // run, would-run, defer: the workers take it from here
			m, first = i, &d
			break plan
		}
	}
	if m == n {
		flush(n)
		r.finish(w, state.OutcomeDone, "", nil)
		return
	}
	start := m
	for start > 1 && served[start-1] {
		prev := stages[start-1]
		v, ok := prev.impl.(step.Verifier)
		if !ok {
			break
		}
		err := v.Verify(r.workCtx, snaps[start])
		if err == nil {
			break
		}
		r.log.Info("memoized output is gone; running the step again", "item", w.item.ID(), "step", prev.id, "reason", r.p.Secrets.Scrub(err.Error()))
		start--
	}
	if start < m {
		w.item = snaps[start]
		w.forceUntil = m
	} else {
		w.decided = first
	}
	flush(start)
	w.next = start
}

// leavePending keeps an item the source could not produce on the pending list: not ready yet, or stuck for
// a problem.
func (r *run) leavePending(id string, hint any, reason string, problem bool) step.Pending {
	raw, _ := json.Marshal(hint)
	now := time.Now().UTC()
	r.mu.Lock()
	defer r.mu.Unlock()
	p := step.Pending{ID: id, Hint: raw, Reason: reason, Problem: problem, FirstSeen: now, LastSeen: now}
	if old, ok := r.pendingOld[id]; ok {
		p.FirstSeen = old.FirstSeen
	}
	r.pending[id] = p
	if problem {
		r.sum.Stuck++
	} else {
		r.sum.NotReady++
	}
	return p
}
