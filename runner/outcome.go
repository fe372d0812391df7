package runner

import "meetpipe/runner/internal/state"

// reportName is how the dry-run and --explain lines name the outcome.
func reportName(o state.Outcome) string {
	if o == state.OutcomeWouldRun {
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

// stepTrace is one line of an item's story in the dry-run and --explain report.
type stepTrace struct {
	Step     string `json:"step"`
	Action   Action `json:"action"`
	Reason   string `json:"reason,omitempty"`
	Estimate string `json:"estimate,omitempty"`
}
