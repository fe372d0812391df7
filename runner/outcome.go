package runner

// Outcome is where an item ended in a run (ItemState.Status) or how a step's record ended (Record.Status).
// The values are what state files, dry-run output and --explain have always shown.
type Outcome string

const (
	OutcomeDone     Outcome = "done"
	OutcomeSkipped  Outcome = "skipped" // dropped by a filter
	OutcomeFailed   Outcome = "failed"
	OutcomePending  Outcome = "pending"   // deferred or interrupted: a later run takes it again
	OutcomeWouldRun Outcome = "would-run" // dry run: the rest needs a step with side effects
	OutcomeNotReady Outcome = "not-ready" // the source says: not ready yet (still transcoding)
	OutcomeStuck    Outcome = "stuck"     // the source could not produce it, for a problem
)

// reportName is how the dry-run and --explain lines name the outcome.
func (o Outcome) reportName() string {
	if o == OutcomeWouldRun {
		return "would-process"
	}
	return string(o)
}

// Action is what one step did, or would do, with an item: the decision of decide and the trace's verb.
type Action string

const (
	ActListed   Action = "listed"    // the source produced the item
	ActMemo     Action = "memo"      // the step's output was served from its record
	ActRun      Action = "run"       // the step runs
	ActSkip     Action = "skip"      // its if: is false
	ActFiltered Action = "filtered"  // its filter dropped the item after it
	ActWouldRun Action = "would-run" // dry run: the step has side effects, or comes after one
	ActMayRun   Action = "may-run"   // dry run: its if: reads what an earlier would-run step would write
	ActFail     Action = "failed"    // its if: cannot be evaluated: the item fails here
	ActDefer    Action = "pending"   // the run stopped before this step: the item stays pending
)

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

// stepTrace is one line of an item's story in the dry-run and --explain report.
type stepTrace struct {
	Step     string `json:"step"`
	Action   Action `json:"action"`
	Reason   string `json:"reason,omitempty"`
	Estimate string `json:"estimate,omitempty"`
}
