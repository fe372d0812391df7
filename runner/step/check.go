package step

import (
	"time"

	"meetpipe/runner/finding"
)

// Statuses of a Finding.
const (
	StatusOK   = finding.StatusOK
	StatusWarn = finding.StatusWarn
	StatusFail = finding.StatusFail
)

// Finding is one result of a check: the leaf package's type, which the client packages produce without
// importing the engine.
type Finding = finding.Finding

// OK, Warn and Fail build findings (finding.OK, finding.Warn, finding.Fail).
func OK(subject, detail string) Finding           { return finding.OK(subject, detail) }
func Warn(subject, detail, remedy string) Finding { return finding.Warn(subject, detail, remedy) }
func Fail(subject, detail, remedy string) Finding { return finding.Fail(subject, detail, remedy) }

// CheckOptions say how far a check may go.
type CheckOptions struct {
	// Spend allows calls that cost money (a one-second transcription); without it checks are free.
	Spend bool
	// Preflight is set when a run checks before it starts: only cheap checks that decide whether the run
	// can do its job (a sink reachable and writable, a tool present), nothing slow.
	Preflight bool
	// Window is the span a nightly run covers (for estimates of disk space).
	Window time.Duration
	// RecentItems is the most items one of the recent runs in state_dir saw, scaled to Window (0: no
	// history).
	RecentItems int
	// StateDir is the pipeline's state_dir.
	StateDir string
	// Deadline bounds all the checks together (0: DefaultCheckDeadline).
	Deadline time.Duration
}

// DefaultCheckDeadline bounds all the checks together, so that services that hang cannot hold the
// doctor or a run's preflight for their sum of timeouts.
const DefaultCheckDeadline = 45 * time.Second
