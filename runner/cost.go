package runner

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"meetpipe/runner/step"
)

// open runs every Opener in pipeline order. It reports whether the error is a configuration error.
func (r *run) open(ctx context.Context) (config bool, err error) {
	for _, s := range r.p.stages {
		o, ok := s.impl.(step.Opener)
		if !ok {
			continue
		}
		if err := o.Open(step.WithLogger(ctx, r.log.With("step", s.id))); err != nil {
			var d step.Diagnostic
			var ds *step.Diagnostics
			if errors.As(err, &d) || errors.As(err, &ds) {
				return true, fmt.Errorf("step %s: %w", s.id, err)
			}
			return false, fmt.Errorf("step %s: %s", s.id, r.p.Secrets.Scrub(err.Error()))
		}
	}
	return false, nil
}

// addEstimate adds what one would-run item would cost at step s to the dry run's estimate.
func (r *run) addEstimate(s *stage, c step.Cost) {
	if len(c.Units) == 0 && c.Money == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.estimated == nil {
		r.estimated = map[string]step.Cost{}
	}
	r.estimated[s.id] = addCost(r.estimated[s.id], c)
}

// addCost is a plus b, unit by unit; the sum is an estimate if either is.
func addCost(a, b step.Cost) step.Cost {
	units := maps.Clone(a.Units)
	if units == nil && len(b.Units) > 0 {
		units = map[string]int64{}
	}
	for k, v := range b.Units {
		units[k] += v
	}
	cur := a.Currency
	if cur == "" {
		cur = b.Currency
	}
	return step.Cost{Units: units, Money: a.Money + b.Money, Currency: cur, Estimate: a.Estimate || b.Estimate}
}

// costs gathers what CostReporters spent in ctx's run and, in a dry run, what the CostEstimators
// estimated; it logs a line per step (the report prints them at its end: endReport).
func (r *run) costs(ctx context.Context) map[string]step.Cost {
	out := map[string]step.Cost{}
	r.mu.Lock()
	estimated := r.estimated
	r.mu.Unlock()
	for _, s := range r.p.stages {
		var cost step.Cost
		if c, ok := s.impl.(step.CostReporter); ok {
			cost = c.Cost(ctx)
		}
		if e, ok := estimated[s.id]; ok {
			e.Estimate = true
			cost = addCost(cost, e)
		}
		if len(cost.Units) == 0 && cost.Money == 0 {
			continue
		}
		out[s.id] = cost
		line := costLine(cost)
		r.log.Info("cost", "step", s.id, "cost", line, "estimate", cost.Estimate)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// costLine renders a cost as "prompt_tokens=1200 completion_tokens=300 ≈ 0.0123 CNY".
func costLine(c step.Cost) string {
	var b strings.Builder
	if c.Estimate {
		b.WriteString("~ ")
	}
	for i, k := range slices.Sorted(maps.Keys(c.Units)) {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", k, c.Units[k])
	}
	if c.Money > 0 {
		fmt.Fprintf(&b, " ≈ %.4f %s", c.Money, c.Currency)
	}
	return b.String()
}
