package runner

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// StuckReporter is implemented by the engine's Emitter. A source reports with Stuck an item it found but
// could not produce for a problem (its details could not be read), as opposed to NotReady, which means
// "not ready yet, and that is normal" (still being transcoded). Both keep the item pending for later
// runs; a run that leaves any item stuck fails (exit 1), naming the items and the reasons.
type StuckReporter interface {
	Stuck(id string, hint any, reason string)
}

// ReportStuck reports a stuck item through out when it can tell stuck from not ready, else as not ready.
func ReportStuck(out Emitter, id string, hint any, reason string) {
	if s, ok := out.(StuckReporter); ok {
		s.Stuck(id, hint, reason)
		return
	}
	out.NotReady(id, hint, reason)
}

func (e *emitter) Stuck(id string, hint any, reason string) {
	r := e.r
	reason = r.p.Secrets.Scrub(reason)
	p := r.leavePending(id, hint, reason, true)
	r.log.Warn("left pending for a problem; later runs try again", "item", id, "reason", reason,
		"since", p.FirstSeen.Format(time.RFC3339))
	r.reportLine(id, nil, OutcomeStuck, reason, nil)
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
