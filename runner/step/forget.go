package step

import (
	"context"
	"time"
)

// ForgetOptions say whom a Forgetter erases.
type ForgetOptions struct {
	Student string    // the student id as stored
	Actor   string    // who asked (OS user@host), for the erasure log
	Now     time.Time // when
	DryRun  bool      // report what would go; change nothing
}

// Forgotten is what one Forgetter erased (or would erase) of one student.
type Forgotten struct {
	Where      string         // the store, e.g. "mysql"
	Rows       map[string]int // table → rows deleted or changed
	Recordings int            // recordings deleted (the student was their only student)
	Shared     int            // recordings kept without the student
	// Aliases are what the store knew the student by besides the id (source ids, display names), so that
	// state entries naming them are found too. Never printed.
	Aliases []string `json:"-"`
}

// Forgetter is implemented by steps that store people (a database): they erase one student on request
// (runner forget) and keep later runs from storing them again.
type Forgetter interface {
	Forget(ctx context.Context, o ForgetOptions) (Forgotten, error)
}

// Admitter is implemented by steps that can refuse an item as soon as it is listed, before any step works
// on it: a store that knows every person of the item was erased (runner forget), so that no transcript of
// theirs is made or sent to a model again. An error admits the item (the step itself decides later).
type Admitter interface {
	Admit(ctx context.Context, in *Item) (ok bool, reason string, err error)
}

// Expired is what retention deleted (or, in a dry run, would delete) in one place.
type Expired struct {
	Where string `json:"where"` // "state_dir", "log_file", or a step's store ("mysql")
	What  string `json:"what"`  // "memo entries", "media files", "transcripts", "run history", "log lines"
	Count int    `json:"count"`
}

// RetainOptions are what a Retainer is asked to enforce.
type RetainOptions struct {
	Now    time.Time
	Policy Retention
	DryRun bool // count what would go; delete nothing
}

// Retainer is implemented by steps that keep data outside state_dir (a database): at the end of every run
// the engine asks them to delete what the pipeline's retention no longer allows.
type Retainer interface {
	Retain(ctx context.Context, o RetainOptions) ([]Expired, error)
}

// Keep is a retention that never expires (the kind is not named under `retention:`).
const Keep time.Duration = -1

// Retention says how long each kind of personal data is kept. 0 deletes it at the end of every run; Keep
// (written `keep`, or left out) never.
type Retention struct {
	Transcripts time.Duration `json:"transcripts"` // transcript text (database) and the memo entries holding it (state_dir items/)
	Media       time.Duration `json:"media"`       // downloaded media and audio chunks (state_dir media/, audio/)
	RunHistory  time.Duration `json:"run_history"` // run history (database pipeline_runs, state_dir runs/)
	Logs        time.Duration `json:"logs"`        // lines of log_file
}

// KeepAll is the retention of a pipeline without `retention:`.
var KeepAll = Retention{Transcripts: Keep, Media: Keep, RunHistory: Keep, Logs: Keep}
