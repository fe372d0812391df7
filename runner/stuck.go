package runner

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"meetpipe/runner/internal/state"
)

func (e *emitter) Stuck(id string, hint any, reason string) {
	r := e.r
	reason = r.p.Secrets.Scrub(reason)
	p := r.leavePending(id, hint, reason, true)
	r.log.Warn("left pending for a problem; later runs try again", "item", id, "reason", reason,
		"since", p.FirstSeen.Format(time.RFC3339))
	r.reportLine(id, nil, state.OutcomeStuck, reason, nil)
}

// stuckError is the run's error for the items left stuck this run, or nil.
func (r *run) stuckError() error {
	var lines []string
	for id, p := range r.pending {
		if p.Problem {
			lines = append(lines, fmt.Sprintf("%s: %s (pending since %s)", id, p.Reason, p.FirstSeen.Format(time.RFC3339)))
		}
	}
	if len(lines) == 0 {
		return nil
	}
	sort.Strings(lines)
	return fmt.Errorf("%d item(s) left pending for a problem, not because they are still being prepared:\n    %s",
		len(lines), strings.Join(lines, "\n    "))
}
