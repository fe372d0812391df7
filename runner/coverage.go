package runner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// A window asked for is a window covered: the state keeps, in uncovered.json, every part of a requested
// window that no run has listed completely (a run stopped by its preflight, a listing that failed half
// way), and the next run lists those parts too, whatever its own window. The engine knows spans of time
// only; what a source does with a wider window is its own business.

// Span is a part of a window that still has to be listed.
type Span struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Asked is when a run first asked for (part of) it: a span older than pending_max_age is given up.
	Asked time.Time `json:"asked"`
}

func (s Span) String() string {
	return s.Since.Format(time.RFC3339) + ".." + s.Until.Format(time.RFC3339)
}

const uncoveredFile = "uncovered.json"

// Uncovered returns the spans earlier runs asked for and did not list completely. Like the pending list,
// a damaged uncovered.json is replaced by its backup generation (note says so); when neither decodes,
// the error says how to proceed.
func (s *State) Uncovered() (spans []Span, note string, err error) {
	main := filepath.Join(s.dir, uncoveredFile)
	spans, merr := readSpans(main)
	if merr == nil && spans != nil {
		return spans, "", nil
	}
	bak, berr := readSpans(main + ".bak")
	switch {
	case merr == nil && berr == nil && bak == nil:
		return []Span{}, "", nil
	case berr == nil && bak != nil:
		why := "missing"
		if merr != nil {
			why = merr.Error()
		}
		return bak, fmt.Sprintf("%s: %s; using its backup %s.bak (%d spans)", main, why, uncoveredFile, len(bak)), nil
	case merr == nil:
		merr = errors.New("missing")
	}
	if berr == nil {
		berr = errors.New("missing")
	}
	return nil, "", fmt.Errorf("%s: %v, and its backup %s.bak: %v: the windows that earlier runs could not list "+
		"would be forgotten. Repair the file (a JSON list of {since, until, asked}), or remove both and run once "+
		"with a --since that reaches back to the last complete night", main, merr, uncoveredFile, berr)
}

func readSpans(path string) ([]Span, error) {
	spans, err := readList[Span](path, "a list of spans")
	if err != nil {
		return nil, err
	}
	for i, sp := range spans {
		if !sp.Since.Before(sp.Until) {
			return nil, fmt.Errorf("span %d: since %s is not before until %s", i, sp.Since.Format(time.RFC3339), sp.Until.Format(time.RFC3339))
		}
	}
	return spans, nil
}

// PutUncovered replaces the uncovered spans, keeping the current file (when it decodes) as the backup.
func (s *State) PutUncovered(spans []Span) error {
	if s.readOnly {
		return errors.New("state is read-only (dry run)")
	}
	if spans == nil {
		spans = []Span{}
	}
	main := filepath.Join(s.dir, uncoveredFile)
	return s.withReserve(func() error {
		if cur, err := readSpans(main); err == nil && cur != nil {
			b, err := os.ReadFile(main)
			if err != nil {
				return fmt.Errorf("back up the uncovered windows: %w", err)
			}
			if err := WriteFileAtomic(main+".bak", b); err != nil {
				return fmt.Errorf("back up the uncovered windows: %w", err)
			}
		}
		return s.write(main, spans)
	})
}

// mergeSpans sorts spans and joins those that overlap or touch; a joined span keeps the earliest Asked.
func mergeSpans(spans []Span) []Span {
	s := append([]Span(nil), spans...)
	sort.Slice(s, func(i, j int) bool { return s[i].Since.Before(s[j].Since) })
	var out []Span
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
func subtractSpan(spans []Span, since, until time.Time) []Span {
	var out []Span
	for _, sp := range spans {
		if !sp.Until.After(since) || !sp.Since.Before(until) {
			out = append(out, sp)
			continue
		}
		if sp.Since.Before(since) {
			out = append(out, Span{Since: sp.Since, Until: since, Asked: sp.Asked})
		}
		if sp.Until.After(until) {
			out = append(out, Span{Since: until, Until: sp.Until, Asked: sp.Asked})
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
	var keep []Span
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
		extra := Span{Since: since, Until: r.o.Since}
		r.sum.Backfill = []Span{}
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
	all := mergeSpans(append(append([]Span(nil), keep...), Span{Since: r.o.Since, Until: r.o.Until, Asked: now}))
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
	st, err := OpenState(p.StateDir, false)
	if err != nil {
		return err
	}
	defer st.Close()
	spans, _, err := st.Uncovered()
	if err != nil {
		return err
	}
	return st.PutUncovered(mergeSpans(append(spans, Span{Since: since, Until: until, Asked: time.Now().UTC()})))
}

func spansText(spans []Span) string {
	parts := make([]string, len(spans))
	for i, sp := range spans {
		parts[i] = sp.String()
	}
	return strings.Join(parts, ", ")
}
