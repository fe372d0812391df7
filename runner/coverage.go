package runner

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"meetpipe/runner/internal/state"
	"meetpipe/runner/step"
)

// A window asked for is a window covered: the state keeps, in uncovered.json, every part of a requested
// window that no run has listed completely (a run stopped by its preflight, a listing that failed half
// way), and the next run lists those parts too, whatever its own window. The engine knows spans of time
// only; what a source does with a wider window is its own business.

// mergeSpans sorts spans and joins those that overlap or touch; a joined span keeps the earliest Asked.
func mergeSpans(spans []step.Span) []step.Span {
	s := append([]step.Span(nil), spans...)
	sort.Slice(s, func(i, j int) bool { return s[i].Since.Before(s[j].Since) })
	var out []step.Span
	for _, sp := range s {
		if n := len(out); n > 0 && !sp.Since.After(out[n-1].Until) {
			last := &out[n-1]
			if sp.Until.After(last.Until) {
				last.Until = sp.Until
			}
			if sp.Asked.Before(last.Asked) {
				last.Asked = sp.Asked
			}
			continue
		}
		out = append(out, sp)
	}
	return out
}

// subtractSpan is spans without the part [since, until).
func subtractSpan(spans []step.Span, since, until time.Time) []step.Span {
	var out []step.Span
	for _, sp := range spans {
		if !sp.Until.After(since) || !sp.Since.Before(until) {
			out = append(out, sp)
			continue
		}
		if sp.Since.Before(since) {
			out = append(out, step.Span{Since: sp.Since, Until: since, Asked: sp.Asked})
		}
		if sp.Until.After(until) {
			out = append(out, step.Span{Since: until, Until: sp.Until, Asked: sp.Asked})
		}
	}
	return out
}

// widen reads the spans earlier runs left uncovered, gives up those older than pending_max_age (saying
// so), moves the run's Since back to the earliest of the rest that ends before the run's Until, and —
// unless the run only looks (dry run) or only at some items (--only) — records the whole window as
// uncovered before anything is listed, so that a run stopped at any point leaves it for the next one.
func (r *run) widen() (config bool, err error) {
	if len(r.only) > 0 {
		return false, nil // a run of a few items covers no window
	}
	spans, note, err := r.st.Uncovered()
	if err != nil {
		return true, err
	}
	if note != "" {
		r.log.Warn("uncovered windows recovered from their backup", "note", note)
	}
	now := time.Now().UTC()
	var keep []step.Span
	for _, sp := range spans {
		if r.p.PendingMaxAge > 0 && sp.Asked.Before(now.Add(-r.p.PendingMaxAge)) {
			r.log.Warn("giving up on a window no run could list: asked for longer ago than pending_max_age; "+
				"recordings of it that are not stored yet need a run with --since covering it",
				"window", sp.String(), "asked", sp.Asked.Format(time.RFC3339), "pending_max_age", r.p.PendingMaxAge.String())
			continue
		}
		keep = append(keep, sp)
	}
	since := r.o.Since
	for _, sp := range keep {
		if sp.Since.Before(since) && sp.Since.Before(r.o.Until) {
			since = sp.Since
		}
	}
	if since.Before(r.o.Since) {
		extra := step.Span{Since: since, Until: r.o.Since}
		r.sum.Backfill = []step.Span{}
		for _, sp := range mergeSpans(keep) {
			if sp.Since.Before(r.o.Since) && sp.Since.Before(r.o.Until) {
				sp.Until = minTime(sp.Until, r.o.Since)
				r.sum.Backfill = append(r.sum.Backfill, sp)
			}
		}
		r.log.Warn("listing also the window(s) earlier runs could not list", "since", since.Format(time.RFC3339),
			"asked_since", r.o.Since.Format(time.RFC3339), "extra", extra.String(), "windows", len(r.sum.Backfill))
		r.o.Since = since
		r.info.Since = since
	}
	r.uncovered = keep
	if r.o.DryRun {
		return false, nil
	}
	all := mergeSpans(append(append([]step.Span(nil), keep...), step.Span{Since: r.o.Since, Until: r.o.Until, Asked: now}))
	if err := r.st.PutUncovered(all); err != nil {
		return false, fmt.Errorf("record the window before listing it: %w", err)
	}
	r.coverKept = true
	r.sum.Uncovered = all
	return false, nil
}

// covered records that the run's window was listed completely and its items are safe in the pending
// list or the state: what is left uncovered is only what lies outside it.
func (r *run) covered() {
	if !r.coverKept {
		return
	}
	rest := subtractSpan(mergeSpans(r.uncovered), r.o.Since, r.o.Until)
	if err := r.st.PutUncovered(rest); err != nil {
		r.log.Error("cannot record that the window was listed; the next run lists it again", "err", err)
		return
	}
	r.mu.Lock()
	r.sum.Uncovered = rest
	r.mu.Unlock()
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// KeepWindow records [since, until) as not listed, for a run that stops before it lists anything (its
// preflight failed): the next run lists it too. It takes the state's lock like a run.
func (p *Pipeline) KeepWindow(since, until time.Time) error {
	if !since.Before(until) {
		return nil
	}
	st, err := state.Open(p.StateDir, false)
	if err != nil {
		return err
	}
	defer st.Close()
	spans, _, err := st.Uncovered()
	if err != nil {
		return err
	}
	return st.PutUncovered(mergeSpans(append(spans, step.Span{Since: since, Until: until, Asked: time.Now().UTC()})))
}

func spansText(spans []step.Span) string {
	parts := make([]string, len(spans))
	for i, sp := range spans {
		parts[i] = sp.String()
	}
	return strings.Join(parts, ", ")
}
