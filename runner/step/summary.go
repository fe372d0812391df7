package step

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// RunInfo identifies a run for observers and history.
type RunInfo struct {
	ID       string    `json:"id"`
	Pipeline string    `json:"pipeline"`
	Since    time.Time `json:"since"`
	Until    time.Time `json:"until"`
	Started  time.Time `json:"started"`
	DryRun   bool      `json:"dry_run"`
}

// Summary counts what a run did.
type Summary struct {
	Finished time.Time `json:"finished"`
	Status   RunStatus `json:"status"` // ok, failed (some item failed), pending (some left for later), interrupted
	Items    int       `json:"items"`
	Done     int       `json:"done"`
	Skipped  int       `json:"skipped"` // dropped by a filter
	Failed   int       `json:"failed"`
	// Pending is the one count of pending items, the run line's and `runner report`'s (待处理): the entries of
	// the pending list the run leaves in state_dir, every item a later run looks at again: deferred or
	// interrupted, not ready, stuck, failed for a transient fault, and earlier ones this run did not settle.
	Pending  int             `json:"pending"`
	Deferred int             `json:"deferred"`  // deferred or interrupted in this run (part of Pending)
	NotReady int             `json:"not_ready"` // reported not ready by the source (still transcoding)
	Stuck    int             `json:"stuck"`     // left pending by the source for a problem (exit 1)
	Memo     int             `json:"memo"`      // step executions served from the memo
	Ran      int             `json:"ran"`       // step executions actually run
	Failures []ItemFailure   `json:"failures,omitempty"`
	Steps    map[string]int  `json:"steps,omitempty"` // executions run per step
	Costs    map[string]Cost `json:"costs,omitempty"` // what steps reported spending (CostReporter), by step id
	// Backfill are the earlier windows no run could list that this run listed too (its Since moved back).
	Backfill []Span `json:"backfill,omitempty"`
	// Uncovered are the windows left for a later run to list: this run's own when its listing did not end.
	Uncovered []Span `json:"uncovered,omitempty"`
	// PendingLost says the pending list could not be written: the items it should name may be forgotten.
	PendingLost string `json:"pending_lost,omitempty"`
	// Filtered counts the items the filters dropped, by reason: the reason names the step and the false
	// clause with its value (`filter of step tencent_list: host_userid "t9" not in teachers`), so a
	// whitelist that drops everything shows which values it dropped. At most 50 entries; the
	// rest are counted under "(other reasons)".
	Filtered map[string]int `json:"filtered,omitempty"`
}

// ItemFailure is one item's failure in a run.
type ItemFailure struct {
	Item  string `json:"item"`
	Step  string `json:"step"`
	Error string `json:"error"`
	Kind  string `json:"kind"`
}

// FilteredReasons are Summary.Filtered's reasons, most items first.
func (s *Summary) FilteredReasons() []string {
	out := make([]string, 0, len(s.Filtered))
	for k := range s.Filtered {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b string) int { return cmp.Or(s.Filtered[b]-s.Filtered[a], strings.Compare(a, b)) })
	return out
}

// RunStatus is how a run ended (Summary.Status). It is a type of its own so that it cannot be mistaken
// for a check's status (finding.Status), which also has an "ok".
type RunStatus string

// The run statuses of Summary.Status.
const (
	RunOK          RunStatus = "ok"
	RunFailed      RunStatus = "failed"      // some item failed, the listing failed, or the environment did
	RunPending     RunStatus = "pending"     // nothing failed, but items were left for later for a reason
	RunInterrupted RunStatus = "interrupted" // stopped by a signal
)
