package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"meetpipe/runner/disk"
	"meetpipe/runner/internal/state"
	"meetpipe/runner/step"
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
			out := state.OutcomeDone
			if w.blocked != "" {
				out = state.OutcomeWouldRun
			}
			r.finish(w, out, "", nil)
			continue
		}
		chans[i+1] <- w
	}
}

// process does what decide says the item does at stage s.
func (r *run) process(w *work, s *stage) {
	d := r.decideAt(s, w)
	switch d.act {
	case ActDefer, ActFail:
		r.finish(w, d.outcome(), s.id, d.err)
	case ActSkip, ActMayRun:
		r.note(w, s, d.trace(s))
	case ActWouldRun:
		if w.blocked == "" {
			w.blocked = s.id
		}
		r.addEstimate(s, d.cost)
		r.note(w, s, d.trace(s))
	case ActMemo:
		w.item.SetRaw(d.rec.Output)
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
	log := r.log.With("item", w.item.ID(), "step", s.id)
	rec := &state.Record{Step: s.id, Key: d.key, Inputs: d.inputs, Started: time.Now().UTC(), Run: r.info.ID}
	r.prog[s.index].running.Add(1)
	defer r.prog[s.index].running.Add(-1)
	log.Debug("step starts", "why", d.reason)
	begin := time.Now()
	var err error
	for attempt := 1; ; attempt++ {
		rec.Attempts = attempt
		var out step.Fields
		if out, err = r.attempt(w, s, log); err == nil {
			if err = r.keepOutput(w, s, rec, out); err == nil {
				r.note(w, s, d.trace(s))
				log.Debug("step done", "attempts", attempt, "elapsed", time.Since(begin).Round(time.Millisecond).String())
				return
			}
			break
		}
		if r.workCtx.Err() != nil {
			r.finish(w, state.OutcomePending, s.id, step.Deferred(fmt.Errorf("interrupted: %w", err)))
			return
		}
		wait, again := retryWait(s.retry, attempt, time.Since(begin), err)
		if !again {
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
	rec.Status, rec.Error, rec.Finished = state.OutcomeFailed, r.p.Secrets.Scrub(err.Error()), time.Now().UTC()
	if !r.o.DryRun {
		if err := r.st.PutRecord(w.item.ID(), rec); err != nil {
			log.Error("cannot save state", "err", err)
		}
	}
	out := state.OutcomeFailed
	if kind, _ := step.Classify(err); kind == step.KindDeferred {
		out = state.OutcomePending
	}
	if step.IsEnvironmental(err) {
		r.abort(s, err)
	}
	r.finish(w, out, s.id, err)
}

// attempt runs the step once, within its timeout; a timeout is transient.
func (r *run) attempt(w *work, s *stage, log *slog.Logger) (step.Fields, error) {
	ctx, cancel := context.WithTimeout(r.workCtx, s.timeout)
	defer cancel()
	err := r.resolveLazy(step.WithLogger(ctx, log), s, w)
	var out step.Fields
	if err == nil {
		out, err = s.step.Process(step.WithLogger(ctx, log), w.item.Clone())
	}
	if err != nil && ctx.Err() == context.DeadlineExceeded && r.workCtx.Err() == nil {
		err = step.Transient(fmt.Errorf("timed out after %s: %w", s.timeout, err))
	}
	return out, err
}

// keepOutput stores the step's output in its record and merges it into the item. An error is final:
// output outside the spec is permanent; a full disk under state_dir is the environment's (the item stays
// pending and the run stops, as for aria2c's ENOSPC); another state that cannot be written fails the item.
func (r *run) keepOutput(w *work, s *stage, rec *state.Record, out step.Fields) error {
	// Redaction at the door: before the record, the item, later steps or any log line sees the output.
	out, err := r.redactOutput(w.item, out)
	if err != nil {
		return step.Permanent(fmt.Errorf("step %s: redact: %w", s.id, err))
	}
	counts, counted := out[step.RedactionsField]
	delete(out, step.RedactionsField) // out is the redactor's copy when it counted
	raw, err := r.encodeOutput(s, out)
	if err != nil {
		return step.Permanent(err)
	}
	if counted {
		if raw[step.RedactionsField], err = step.MarshalField(counts); err != nil {
			return step.Permanent(err)
		}
	}
	rec.Status, rec.Output, rec.Finished = state.OutcomeDone, raw, time.Now().UTC()
	if !r.o.DryRun {
		if err := r.st.PutRecord(w.item.ID(), rec); err != nil {
			if disk.IsFull(err) {
				return step.Environmental(fmt.Errorf("disk full under state_dir %s: the step's result cannot be kept; "+
					"free space there; the item stays pending: %w", r.p.StateDir, err))
			}
			return err
		}
	}
	w.item.SetRaw(raw)
	for k, v := range out { // volatile parts are not stored, but later steps of this run see them
		if b, err := step.MarshalField(v); err == nil {
			w.item.SetRaw(map[string]json.RawMessage{k: b})
		}
	}
	return nil
}

// retryWait says whether a failed attempt is tried again, and after how long: only transient errors,
// within the policy's attempts and total time, after the backoff or the server's Retry-After.
func retryWait(p RetryPolicy, attempt int, elapsed time.Duration, err error) (time.Duration, bool) {
	kind, after := step.Classify(err)
	if kind != step.KindTransient || attempt >= p.Attempts {
		return 0, false
	}
	wait := backoff(p, attempt)
	if after > wait {
		wait = min(after, MaxWait) // a hostile Retry-After must not park the item for days
	}
	if p.MaxElapsed > 0 && elapsed+wait > p.MaxElapsed {
		return 0, false
	}
	return wait, true
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
			return step.Permanent(fmt.Errorf("source %s resolved field %q, which it does not declare lazy", r.p.stages[0].uses, k))
		}
		b, err := step.MarshalField(v)
		if err != nil {
			return step.Permanent(fmt.Errorf("source %s field %q: %w", r.p.stages[0].uses, k, err))
		}
		w.item.SetRaw(map[string]json.RawMessage{k: b}) // volatile: never stored
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

func (r *run) encodeOutput(s *stage, out step.Fields) (map[string]json.RawMessage, error) {
	raw := make(map[string]json.RawMessage, len(out))
	for k, v := range out {
		if !slices.ContainsFunc(s.spec.Writes, func(f step.Field) bool { return f.Name == k }) {
			return nil, fmt.Errorf("step %s wrote field %q, which its spec does not declare", s.uses, k)
		}
		b, err := step.MarshalField(v)
		if err != nil {
			return nil, fmt.Errorf("step %s field %q: %w", s.uses, k, err)
		}
		raw[k] = r.vol.strip(k, b)
	}
	return raw, nil
}
