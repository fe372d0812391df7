package step

import "time"

// Statuses of a Finding.
const (
	StatusOK   = "ok"
	StatusWarn = "warn"
	StatusFail = "fail"
)

// Finding is one result of a check: what was checked, what was found and, unless it is ok, what to do
// about it in one sentence. Client packages that do not import runner declare a struct with the same
// fields, which converts to Finding.
type Finding struct {
	Status  string `json:"status"` // ok, warn or fail
	Subject string `json:"subject"`
	Detail  string `json:"detail,omitempty"`
	Remedy  string `json:"remedy,omitempty"`
	// Config marks a failure of the configuration (a key refused, a model not served), as opposed to a
	// service that is down: a run's preflight exits 2 for it, 1 for an outage.
	Config bool `json:"config,omitempty"`
}

// OK, Warn and Fail build findings.
func OK(subject, detail string) Finding { return Finding{StatusOK, subject, detail, "", false} }

func Warn(subject, detail, remedy string) Finding {
	return Finding{StatusWarn, subject, detail, remedy, false}
}

func Fail(subject, detail, remedy string) Finding {
	return Finding{StatusFail, subject, detail, remedy, false}
}

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
