package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// worker is one of a stage's goroutines: it takes items from the stage's channel, lets the stage act on
// them and passes them on; the last stage ends them.
func (r *run) worker(i int, chans []chan *work) {
	s := r.p.stages[i]
	last := i == len(r.p.stages)-1
	for w := range chans[i] {
		if !w.ended && i >= w.next {
			r.process(w, s)
		}
		if w.ended {
			continue
		}
		if last {
			if w.blocked != "" {
				r.finish(w, OutcomeWouldRun, "", nil)
			} else {
				r.finish(w, OutcomeDone, "", nil)
			}
			continue
		}
		chans[i+1] <- w
	}
}

// process does what decide says the item does at stage s.
func (r *run) process(w *work, s *stage) {
	d := r.decideAt(s, w)
	switch d.act {
	case ActDefer:
		r.finish(w, OutcomePending, s.id, d.err)
	case ActFail:
		r.finish(w, OutcomeFailed, s.id, d.err)
	case ActSkip, ActMayRun:
		r.note(w, s, d.trace(s))
	case ActWouldRun:
		if w.blocked == "" {
			w.blocked = s.id
		}
		r.note(w, s, d.trace(s))
	case ActMemo:
		w.item.setRaw(d.rec.Output)
		r.note(w, s, d.trace(s))
		r.afterStep(w, s)
	case ActRun:
		r.execute(w, s, d)
		if !w.ended {
			r.afterStep(w, s)
		}
	}
}

func (r *run) afterStep(w *work, s *stage) {
	if ok, reason := keep(s, w); !ok {
		r.filtered(w, s, reason)
	}
}

// execute runs the step with its retry policy and stores the record only once the output is safe.
func (r *run) execute(w *work, s *stage, d decision) {
	id := w.item.id
	log := r.log.With("item", id, "step", s.id)
	rec := &Record{Step: s.id, Key: d.key, Inputs: d.inputs, Started: time.Now().UTC(), Run: r.info.ID}
	r.prog[s.index].running.Add(1)
	defer r.prog[s.index].running.Add(-1)
	log.Debug("step starts", "why", d.reason)
	begin := time.Now()
	var lastErr error
	for attempt := 1; ; attempt++ {
		rec.Attempts = attempt
		actx, cancel := context.WithTimeout(r.workCtx, s.timeout)
		err := r.resolveLazy(WithLogger(actx, log), s, w)
		var out Fields
		if err == nil {
			out, err = s.step.Process(WithLogger(actx, log), w.item.Clone())
		}
		timedOut := actx.Err() == context.DeadlineExceeded && r.workCtx.Err() == nil
		cancel()
		if err == nil {
			raw, err := r.encodeOutput(s, out)
			if err != nil {
				lastErr = Permanent(err)
				break
			}
			rec.Status, rec.Output, rec.Finished = OutcomeDone, raw, time.Now().UTC()
			if !r.o.DryRun {
				if err := r.st.PutRecord(id, rec); err != nil {
					lastErr = err
					break
				}
			}
			w.item.setRaw(raw)
			for k, v := range out { // volatile parts are not stored, but later steps of this run see them
				if b, err := marshalField(v); err == nil {
					w.item.fields[k] = b
				}
			}
			r.note(w, s, d.trace(s))
			log.Debug("step done", "attempts", attempt, "elapsed", time.Since(begin).Round(time.Millisecond).String())
			return
		}
		if timedOut {
			err = Transient(fmt.Errorf("timed out after %s: %w", s.timeout, err))
		}
		lastErr = err
		if r.workCtx.Err() != nil {
			r.finish(w, OutcomePending, s.id, Deferred(fmt.Errorf("interrupted: %w", err)))
			return
		}
		kind, after := Classify(err)
		if kind != KindTransient {
			break
		}
		if attempt >= s.retry.Attempts {
			break
		}
		wait := backoff(s.retry, attempt)
		if after > wait {
			wait = min(after, MaxWait) // a hostile Retry-After must not park the item for days
		}
		if s.retry.MaxElapsed > 0 && time.Since(begin)+wait > s.retry.MaxElapsed {
			break
		}
		log.Warn("step failed; retrying", "attempt", attempt, "wait", wait.Round(time.Millisecond).String(),
			"err", r.p.Secrets.Scrub(err.Error()))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-r.workCtx.Done():
			t.Stop()
		}
	}
	rec.Status, rec.Error, rec.Finished = OutcomeFailed, r.p.Secrets.Scrub(lastErr.Error()), time.Now().UTC()
	if !r.o.DryRun {
		if err := r.st.PutRecord(id, rec); err != nil {
			log.Error("cannot save state", "err", err)
		}
	}
	kind, _ := Classify(lastErr)
	status := OutcomeFailed
	if kind == KindDeferred {
		status = OutcomePending
	}
	if IsEnvironmental(lastErr) {
		r.abort(s, lastErr)
	}
	r.finish(w, status, s.id, lastErr)
}

// resolveLazy asks the source for the lazy fields the step reads and the item lacks.
func (r *run) resolveLazy(ctx context.Context, s *stage, w *work) error {
	if r.resolve == nil {
		return nil
	}
	need := false
	for _, f := range s.spec.Reads {
		if r.lazy[f] && !w.item.Has(f) {
			need = true
		}
	}
	if !need {
		return nil
	}
	out, err := r.resolve.Resolve(ctx, w.item.Clone())
	if err != nil {
		return fmt.Errorf("resolve %s: %w", r.p.stages[0].id, err)
	}
	for k, v := range out {
		if !r.lazy[k] {
			return Permanent(fmt.Errorf("source %s resolved field %q, which it does not declare lazy", r.p.stages[0].uses, k))
		}
		b, err := marshalField(v)
		if err != nil {
			return Permanent(fmt.Errorf("source %s field %q: %w", r.p.stages[0].uses, k, err))
		}
		w.item.fields[k] = b // volatile: never stored
	}
	return nil
}

// backoff is exponential with full jitter: a random wait up to base·2^(attempt-1), capped.
func backoff(p RetryPolicy, attempt int) time.Duration {
	ceil := p.Backoff << (attempt - 1)
	if ceil <= 0 || ceil > p.MaxBackoff {
		ceil = p.MaxBackoff
	}
	if ceil <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(ceil)) + 1)
}

func (r *run) encodeOutput(s *stage, out Fields) (map[string]json.RawMessage, error) {
	raw := make(map[string]json.RawMessage, len(out))
	for k, v := range out {
		if !slices.ContainsFunc(s.spec.Writes, func(f Field) bool { return f.Name == k }) {
			return nil, fmt.Errorf("step %s wrote field %q, which its spec does not declare", s.uses, k)
		}
		b, err := marshalField(v)
		if err != nil {
			return nil, fmt.Errorf("step %s field %q: %w", s.uses, k, err)
		}
		raw[k] = r.vol.strip(k, b)
	}
	return raw, nil
}
