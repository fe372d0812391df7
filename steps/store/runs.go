package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"
)

// Run is one run of a pipeline as pipeline_runs records it.
type Run struct {
	ID           string
	Pipeline     string
	Host         string
	Since, Until time.Time
	Started      time.Time
}

// RunEnd is how a run ended.
type RunEnd struct {
	Finished                                         time.Time
	Status                                           string // ok, failed, interrupted
	Items, Done, Skipped, Failed, Pending, Memo, Ran int
	Steps                                            map[string]int
	Failures                                         []Failure
}

// Failure is an item that failed (or was deferred) in a run.
type Failure struct {
	Item  string
	Step  string
	Kind  string // permanent, transient, deferred
	Error string
}

// StartRun records that a run began (status running). Recording the same run again changes nothing.
func StartRun(ctx context.Context, db *sql.DB, r Run) error {
	_, err := db.ExecContext(ctx, `INSERT INTO pipeline_runs
		(id, pipeline, host, window_since, window_until, status, started_at) VALUES (?, ?, ?, ?, ?, 'running', ?)
		ON DUPLICATE KEY UPDATE id = id`,
		fitColumn(r.ID, 64), fitColumn(r.Pipeline, 128), nullString(fitColumn(r.Host, 255)), nullTime(r.Since),
		nullTime(r.Until), r.Started.UTC())
	if err != nil {
		return fmt.Errorf("record start of run %s: %w", r.ID, err)
	}
	return nil
}

// FinishRun records how run r ended and remembers its failed items until they are stored. The run's row
// is created if StartRun could not write it (the server was down when the run began). Each failure is
// written on its own, with ids and texts cut to their columns (marked), so that one odd item cannot
// lose the others or leave the run shown as running; the run's row is written last, so that a finished
// run has its failures recorded.
func FinishRun(ctx context.Context, db *sql.DB, r Run, e RunEnd) error {
	var steps []byte
	if e.Steps != nil {
		var err error
		if steps, err = json.Marshal(e.Steps); err != nil {
			return fmt.Errorf("record end of run %s: %w", r.ID, err)
		}
	}
	id := fitColumn(r.ID, 64)
	at := e.Finished.UTC()
	var errs []error
	for _, f := range e.Failures {
		item, step, kind := fitColumn(f.Item, 64), fitColumn(f.Step, 128), fitColumn(f.Kind, 16)
		msg := truncateBytes(f.Error, 8000)
		if _, err := db.ExecContext(ctx, `INSERT INTO item_failures
			(item_id, run_id, step, kind, error, failures, first_failed_at, last_failed_at)
			VALUES (?, ?, ?, ?, ?, 1, ?, ?)
			ON DUPLICATE KEY UPDATE failures = failures + IF(run_id = ?, 0, 1), run_id = ?, step = ?, kind = ?,
				error = ?, last_failed_at = ?`,
			item, id, step, kind, msg, at, at, id, id, step, kind, msg, at); err != nil {
			errs = append(errs, fmt.Errorf("record failure of item %s: %w", shorten(f.Item), err))
		}
	}
	end := []any{fitColumn(e.Status, 16), at, e.Items, e.Done, e.Skipped, e.Failed, e.Pending, e.Memo, e.Ran, nullJSON(steps)}
	if _, err := db.ExecContext(ctx, `INSERT INTO pipeline_runs (id, pipeline, host, window_since, window_until,
			started_at, status, finished_at, items, done, skipped, failed, pending, memo, ran, steps)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON DUPLICATE KEY UPDATE status = ?, finished_at = ?, items = ?, done = ?, skipped = ?, failed = ?,
			pending = ?, memo = ?, ran = ?, steps = ?`,
		slices.Concat([]any{id, fitColumn(r.Pipeline, 128), nullString(fitColumn(r.Host, 255)), nullTime(r.Since),
			nullTime(r.Until), r.Started.UTC()}, end, end)...); err != nil {
		errs = append(errs, fmt.Errorf("record end of run %s: %w", r.ID, err))
	}
	return errors.Join(errs...)
}

// fitColumn cuts s to a VARCHAR(n) column (n characters). A cut value ends in "…" and a digest of the
// whole, so that two long ids sharing a prefix stay two rows.
func fitColumn(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	tag := "…" + hex.EncodeToString(sum[:])[:12]
	r := []rune(s)
	return string(r[:n-utf8.RuneCountInString(tag)]) + tag
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

// truncateBytes cuts s to at most n bytes on a rune boundary.
func truncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	s = s[:n]
	return s + "…"
}
