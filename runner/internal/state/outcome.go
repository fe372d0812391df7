package state

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
