package runner

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"meetpipe/runner/internal/state"
	"meetpipe/runner/step"
	"meetpipe/runner/table"
)

// reportCap bounds the entries a dry run or --explain holds to sort: beyond it the rest print as they
// come, so memory stays bounded on a huge window.
const reportCap = 5000

type reportEntry struct {
	Item     string                     `json:"item"`
	Decision string                     `json:"decision"`
	Labels   map[string]json.RawMessage `json:"labels,omitempty"` // the source's Spec.Label fields
	Reason   string                     `json:"reason,omitempty"`
	Steps    []stepTrace                `json:"steps,omitempty"`
	order    json.RawMessage            // the source's Spec.OrderBy field
}

// reportCounts is the report's last JSON object: items by decision, memo served steps, costs.
type reportCounts struct {
	Counts map[string]int       `json:"counts"`
	Memo   int                  `json:"memo_steps"`
	Costs  map[string]step.Cost `json:"costs,omitempty"`
	Note   string               `json:"note,omitempty"`
}

// reportBuf holds the dry-run / --explain entries until the end of the run, where they print in the
// source's order.
type reportBuf struct {
	entries  []reportEntry
	counts   map[string]int
	overflow bool // more than reportCap entries: the rest printed unsorted as they came
}

// reportLine records one item's decision for dry runs and --explain; it (nil for an item the source only
// named: not ready, stuck) gives the labels and the order.
func (r *run) reportLine(id string, it *step.Item, out state.Outcome, reason string, trace []stepTrace) {
	if r.o.Report == nil || !(r.o.DryRun || r.o.Explain) {
		return
	}
	e := reportEntry{Item: id, Decision: reportName(out), Reason: reason, Steps: trace}
	if it != nil {
		spec := r.p.stages[0].spec
		for _, f := range spec.Label {
			if raw := it.Raw(f); raw != nil {
				if e.Labels == nil {
					e.Labels = map[string]json.RawMessage{}
				}
				e.Labels[f] = raw
			}
		}
		if spec.OrderBy != "" {
			e.order = it.Raw(spec.OrderBy)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	b := &r.report
	if b.counts == nil {
		b.counts = map[string]int{}
	}
	b.counts[e.Decision]++
	if b.overflow {
		r.printEntry(e)
		return
	}
	b.entries = append(b.entries, e)
	if len(b.entries) >= reportCap {
		b.overflow = true
		r.printNote(fmt.Sprintf("more than %d items: these %d in order, the rest unsorted as they come", reportCap, reportCap))
		r.flushEntries()
	}
}

// flushEntries prints the held entries in the source's order (OrderBy, then id). r.mu is held.
func (r *run) flushEntries() {
	es := r.report.entries
	slices.SortStableFunc(es, func(a, b reportEntry) int {
		return cmp.Or(compareOrder(a.order, b.order), strings.Compare(a.Item, b.Item))
	})
	for _, e := range es {
		r.printEntry(e)
	}
	r.report.entries = nil
}

// compareOrder orders two OrderBy values: times as times, numbers as numbers, else as text; an item
// without one comes last.
func compareOrder(a, b json.RawMessage) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	var va, vb any
	if json.Unmarshal(a, &va) == nil && json.Unmarshal(b, &vb) == nil {
		switch x := va.(type) {
		case float64:
			if y, ok := vb.(float64); ok {
				return cmp.Compare(x, y)
			}
		case string:
			if y, ok := vb.(string); ok {
				ta, ea := time.Parse(time.RFC3339Nano, x)
				tb, eb := time.Parse(time.RFC3339Nano, y)
				if ea == nil && eb == nil {
					return ta.Compare(tb)
				}
				return strings.Compare(x, y)
			}
		}
	}
	return strings.Compare(string(a), string(b))
}

// labelText renders a label value for the text report: a time as "2006-01-02 15:04 UTC", a list joined
// with commas, other values as their JSON.
func labelText(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	switch x := v.(type) {
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return t.Format("2006-01-02 15:04 MST")
		}
		return x
	case []any:
		parts := make([]string, 0, len(x))
		for _, p := range x {
			if s, ok := p.(string); ok {
				parts = append(parts, s)
			} else {
				b, _ := json.Marshal(p)
				parts = append(parts, string(b))
			}
		}
		return strings.Join(parts, ",")
	case nil:
		return "-"
	}
	return string(raw)
}

// printEntry writes one item's lines, scrubbed of secrets. r.mu is held.
func (r *run) printEntry(e reportEntry) {
	var line string
	if r.o.JSON {
		b, _ := json.Marshal(e)
		line = string(b)
	} else {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s", table.Pad(printable(e.Item), 22), table.Pad(e.Decision, 13)) // ids come from remote APIs
		for _, f := range r.p.stages[0].spec.Label {
			if e.Labels == nil {
				break // an item the source only named: no fields to show
			}
			v := "-"
			if raw, ok := e.Labels[f]; ok {
				v = labelText(raw)
			}
			b.WriteString(" " + printable(v))
		}
		if e.Reason != "" {
			fmt.Fprintf(&b, " %s", printable(e.Reason))
		}
		for _, t := range e.Steps {
			fmt.Fprintf(&b, "\n    %s %s", table.Pad(t.Step, 16), table.Pad(string(t.Action), 9))
			if t.Reason != "" {
				b.WriteString(" " + printable(t.Reason))
			}
			if t.Estimate != "" {
				b.WriteString(" [" + t.Estimate + "]")
			}
		}
		line = b.String()
	}
	fmt.Fprintln(r.o.Report, r.p.Secrets.Scrub(line))
}

// printNote writes a line about the report itself. r.mu is held.
func (r *run) printNote(s string) {
	if r.o.JSON {
		b, _ := json.Marshal(reportCounts{Note: s})
		s = string(b)
	} else {
		s = "# " + s
	}
	fmt.Fprintln(r.o.Report, s)
}

// endReport prints the held entries in order, then the costs (money where prices are set) and the
// counts of the items by decision.
func (r *run) endReport(costs map[string]step.Cost) {
	if r.o.Report == nil || !(r.o.DryRun || r.o.Explain) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flushEntries()
	counts := r.report.counts
	if counts == nil {
		counts = map[string]int{}
	}
	if r.o.JSON {
		b, _ := json.Marshal(reportCounts{Counts: counts, Memo: r.sum.Memo, Costs: costs})
		fmt.Fprintln(r.o.Report, r.p.Secrets.Scrub(string(b)))
		return
	}
	writeCosts(r.o.Report, r.p.stages, costs)
	total := 0
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		total += counts[k]
		parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
	}
	line := fmt.Sprintf("%d items", total)
	if len(parts) > 0 {
		line += ": " + strings.Join(parts, ", ")
	}
	line += fmt.Sprintf("; %d step(s) from the memo", r.sum.Memo)
	if m, cur := totalMoney(costs); m > 0 {
		line += fmt.Sprintf("; ≈ %.4f %s", m, cur)
	}
	fmt.Fprintln(r.o.Report, line)
}

// writeCosts prints a "cost <step>: …" line per step with a cost, in pipeline order.
func writeCosts(w io.Writer, stages []*stage, costs map[string]step.Cost) {
	for _, s := range stages {
		if c, ok := costs[s.id]; ok {
			fmt.Fprintf(w, "cost %s: %s\n", s.id, costLine(c))
		}
	}
}

// totalMoney sums the costs' money; the currency is the first one met (mixed currencies are not summed
// in practice: one price list per run).
func totalMoney(costs map[string]step.Cost) (float64, string) {
	var m float64
	cur := ""
	for _, k := range slices.Sorted(maps.Keys(costs)) {
		c := costs[k]
		if c.Money > 0 && (cur == "" || cur == c.Currency) {
			m += c.Money
			cur = c.Currency
		}
	}
	return m, cur
}
