package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"meetpipe/runner/table"
)

// StatusOptions bounds the lists of a Report. Zero values take the defaults.
type StatusOptions struct {
	Runs     int // last runs; default 10
	Failures int // failed items, most recent first; default 20
	Students int // most active students; default 10
}

// Report is what `runner status` shows: the state of the database, from the database.
type Report struct {
	GeneratedAt time.Time    `json:"generated_at"`
	Schema      SchemaState  `json:"schema"`
	Recordings  int          `json:"recordings"`
	NeedsReview int          `json:"needs_review"`
	ByStatus    []Count      `json:"by_status"` // recordings per status, then failed and pending items
	ByPhase     []Count      `json:"by_phase"`
	Runs        []RunRow     `json:"runs"`
	Failures    []FailureRow `json:"failures"`
	TopStudents []StudentRow `json:"top_students"`
	// UnmatchedGuests are guests the roster did not know; their recordings are flagged needs_review.
	UnmatchedGuests []GuestRow `json:"unmatched_guests"`
}

// SchemaState lists the migrations applied and still pending.
type SchemaState struct {
	Applied []string `json:"applied"`
	Pending []string `json:"pending"`
}

// Count is a number of recordings (or items) with one value.
type Count struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// RunRow is a row of pipeline_runs.
type RunRow struct {
	ID       string     `json:"id"`
	Pipeline string     `json:"pipeline"`
	Host     string     `json:"host,omitempty"`
	Status   string     `json:"status"`
	Since    *time.Time `json:"since,omitempty"`
	Until    *time.Time `json:"until,omitempty"`
	Started  time.Time  `json:"started"`
	Finished *time.Time `json:"finished,omitempty"`
	Items    int        `json:"items"`
	Done     int        `json:"done"`
	Skipped  int        `json:"skipped"`
	Failed   int        `json:"failed"`
	Pending  int        `json:"pending"`
	Memo     int        `json:"memo"`
	Ran      int        `json:"ran"`
	// Unfinished: no end was recorded. The run is still going, or it was killed or could not write its
	// end (the database was down), and its failed items may be missing from the list.
	Unfinished bool `json:"unfinished,omitempty"`
}

// FailureRow is an item that failed and has not been stored since.
type FailureRow struct {
	Item        string    `json:"item"`
	Run         string    `json:"run"`
	Step        string    `json:"step"`
	Kind        string    `json:"kind"`
	Error       string    `json:"error"`
	Failures    int       `json:"failures"` // runs in which it failed
	FirstFailed time.Time `json:"first_failed"`
	LastFailed  time.Time `json:"last_failed"`
}

// StudentRow is a row of student_stats with the student's latest name.
type StudentRow struct {
	ID           string     `json:"student_id"`
	Name         string     `json:"name,omitempty"`
	Recordings   int        `json:"record_cnt"`
	Minutes      int        `json:"total_duration"`
	LastRecordAt *time.Time `json:"last_record_at,omitempty"`
}

// ErrNotMigrated is returned by Status for a database without meetpipe's tables.
var ErrNotMigrated = errors.New("the database has no meetpipe schema: run `runner migrate`")

// Status reads the report from db.
func Status(ctx context.Context, db *sql.DB, opts StatusOptions) (*Report, error) {
	opts.Runs = positiveOr(opts.Runs, 10)
	opts.Failures = positiveOr(opts.Failures, 20)
	opts.Students = positiveOr(opts.Students, 10)
	rep := &Report{GeneratedAt: time.Now().UTC().Truncate(time.Second), ByStatus: []Count{}, ByPhase: []Count{},
		Runs: []RunRow{}, Failures: []FailureRow{}, TopStudents: []StudentRow{}}

	pending, err := PendingMigrations(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	rep.Schema = SchemaState{Applied: []string{}, Pending: []string{}}
	for _, m := range ms {
		if !contains(pending, m.Version) {
			rep.Schema.Applied = append(rep.Schema.Applied, m.Version)
		}
	}
	rep.Schema.Pending = append(rep.Schema.Pending, pending...)
	if len(rep.Schema.Applied) == 0 {
		return nil, ErrNotMigrated
	}

	if err := db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(needs_review), 0) FROM recordings`).
		Scan(&rep.Recordings, &rep.NeedsReview); err != nil {
		return nil, fmt.Errorf("status: count recordings: %w", err)
	}
	if rep.ByStatus, err = counts(ctx, db, `SELECT status AS name, COUNT(*) AS n FROM recordings GROUP BY status
		UNION ALL
		SELECT IF(kind = 'deferred', 'pending', 'failed') AS k, COUNT(*) FROM item_failures GROUP BY k
		ORDER BY n DESC, name`); err != nil {
		return nil, fmt.Errorf("status: count per status: %w", err)
	}
	if rep.ByPhase, err = counts(ctx, db, `SELECT COALESCE(phase, '(none)') AS name, COUNT(*) AS n FROM recordings
		GROUP BY name ORDER BY n DESC, name`); err != nil {
		return nil, fmt.Errorf("status: count per phase: %w", err)
	}
	if err := rep.readRuns(ctx, db, opts.Runs); err != nil {
		return nil, fmt.Errorf("status: runs: %w", err)
	}
	if err := rep.readFailures(ctx, db, opts.Failures); err != nil {
		return nil, fmt.Errorf("status: failed items: %w", err)
	}
	if err := rep.readStudents(ctx, db, opts.Students); err != nil {
		return nil, fmt.Errorf("status: students: %w", err)
	}
	if rep.UnmatchedGuests, err = unmatchedGuests(ctx, db, opts.Students); err != nil {
		return nil, fmt.Errorf("status: guests: %w", err)
	}
	return rep, nil
}

func positiveOr(n, def int) int {
	if n > 0 {
		return n
	}
	return def
}

func contains(xs []string, x string) bool {
	for _, e := range xs {
		if e == x {
			return true
		}
	}
	return false
}

func counts(ctx context.Context, db *sql.DB, q string) ([]Count, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Count{}
	for rows.Next() {
		var c Count
		if err := rows.Scan(&c.Name, &c.Count); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (rep *Report) readRuns(ctx context.Context, db *sql.DB, limit int) error {
	rows, err := db.QueryContext(ctx, `SELECT id, pipeline, COALESCE(host, ''), status, window_since, window_until,
		started_at, finished_at, items, done, skipped, failed, pending, memo, ran
		FROM pipeline_runs ORDER BY started_at DESC, id DESC LIMIT ?`, limit)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var r RunRow
		var since, until, fin sql.NullTime
		if err := rows.Scan(&r.ID, &r.Pipeline, &r.Host, &r.Status, &since, &until, &r.Started, &fin,
			&r.Items, &r.Done, &r.Skipped, &r.Failed, &r.Pending, &r.Memo, &r.Ran); err != nil {
			return err
		}
		r.Since, r.Until, r.Finished = timePtr(since), timePtr(until), timePtr(fin)
		r.Unfinished = r.Finished == nil
		rep.Runs = append(rep.Runs, r)
	}
	return rows.Err()
}

func (rep *Report) readFailures(ctx context.Context, db *sql.DB, limit int) error {
	rows, err := db.QueryContext(ctx, `SELECT item_id, run_id, step, kind, error, failures, first_failed_at,
		last_failed_at FROM item_failures ORDER BY last_failed_at DESC, item_id LIMIT ?`, limit)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var f FailureRow
		if err := rows.Scan(&f.Item, &f.Run, &f.Step, &f.Kind, &f.Error, &f.Failures, &f.FirstFailed,
			&f.LastFailed); err != nil {
			return err
		}
		rep.Failures = append(rep.Failures, f)
	}
	return rows.Err()
}

func (rep *Report) readStudents(ctx context.Context, db *sql.DB, limit int) error {
	rows, err := db.QueryContext(ctx, `SELECT s.student_id, COALESCE((SELECT rs.student_name
			FROM recording_students rs JOIN recordings r ON r.id = rs.recording_id
			WHERE rs.student_id = s.student_id AND rs.student_name IS NOT NULL
			ORDER BY r.start_ts DESC LIMIT 1), ''),
		s.record_cnt, s.total_duration, s.last_record_at
		FROM student_stats s WHERE s.record_cnt > 0
		ORDER BY s.record_cnt DESC, s.total_duration DESC, s.student_id LIMIT ?`, limit)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var s StudentRow
		var last sql.NullTime
		if err := rows.Scan(&s.ID, &s.Name, &s.Recordings, &s.Minutes, &last); err != nil {
			return err
		}
		s.LastRecordAt = timePtr(last)
		rep.TopStudents = append(rep.TopStudents, s)
	}
	return rows.Err()
}

func timePtr(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	v := t.Time.UTC()
	return &v
}

// WriteText prints the report as aligned tables for a terminal. Times are UTC.
func (rep *Report) WriteText(w io.Writer) error {
	p := &printer{w: w}
	p.linef("recordings: %d (needs review: %d)", rep.Recordings, rep.NeedsReview)
	if len(rep.Schema.Pending) > 0 {
		p.linef("schema: %d migration(s) pending (%s): run `runner migrate`", len(rep.Schema.Pending),
			strings.Join(rep.Schema.Pending, ", "))
	}
	p.table("status", []string{"status", ">count"}, rowsOf(rep.ByStatus, func(c Count) []string {
		return []string{c.Name, strconv.Itoa(c.Count)}
	}))
	p.table("phase", []string{"phase", ">count"}, rowsOf(rep.ByPhase, func(c Count) []string {
		return []string{c.Name, strconv.Itoa(c.Count)}
	}))
	p.table("last runs", []string{"run", "pipeline", "started", "finished", "status", ">items", ">done",
		">skipped", ">failed", ">pending"}, rowsOf(rep.Runs, func(r RunRow) []string {
		status := r.Status
		if r.Unfinished {
			status += "?"
		}
		return []string{r.ID, r.Pipeline, fmtTime(&r.Started), fmtTime(r.Finished), status,
			strconv.Itoa(r.Items), strconv.Itoa(r.Done), strconv.Itoa(r.Skipped), strconv.Itoa(r.Failed),
			strconv.Itoa(r.Pending)}
	}))
	unfinished := 0
	for _, r := range rep.Runs {
		if r.Unfinished {
			unfinished++
		}
	}
	if unfinished > 0 {
		p.linef("  %d run(s) marked ? have no recorded end: still running, or killed or unable to record their end; "+
			"their failed items may be missing below (see the run's log)", unfinished)
	}
	p.table("failed items", []string{"item", "step", "kind", "last failed", ">runs", "reason"},
		rowsOf(rep.Failures, func(f FailureRow) []string {
			return []string{f.Item, f.Step, f.Kind, fmtTime(&f.LastFailed), strconv.Itoa(f.Failures),
				oneLine(f.Error, 100)}
		}))
	p.table("most active students", []string{"student", "name", ">recordings", ">minutes", "last"},
		rowsOf(rep.TopStudents, func(s StudentRow) []string {
			return []string{s.ID, s.Name, strconv.Itoa(s.Recordings), strconv.Itoa(s.Minutes), fmtTime(s.LastRecordAt)}
		}))
	p.table("guests not in the roster (add them, or their alias, to the roster file)", []string{"guest", "name", ">recordings", "last"},
		rowsOf(rep.UnmatchedGuests, func(g GuestRow) []string {
			return []string{g.SourceID, g.Name, strconv.Itoa(g.Recordings), fmtTime(g.Last)}
		}))
	return p.err
}

func rowsOf[T any](xs []T, f func(T) []string) [][]string {
	out := make([][]string, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

func fmtTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC") // labelled: an operator in +08:00 must not guess
}

// oneLine keeps the first line of s, cut to n runes.
func oneLine(s string, n int) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

type printer struct {
	w   io.Writer
	err error
}

func (p *printer) linef(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format+"\n", args...)
	}
}

// table prints a titled table whose columns line up on a terminal, counting CJK characters as two cells
// (text/tabwriter counts them as one, which breaks columns of Chinese phases and names). A heading that
// starts with ">" marks a right-aligned column (numbers).
func (p *printer) table(title string, head []string, rows [][]string) {
	p.linef("")
	if len(rows) == 0 {
		p.linef("%s: none", title)
		return
	}
	p.linef("%s:", title)
	widths := make([]int, len(head))
	right := make([]bool, len(head))
	head = slices.Clone(head)
	for i := range head {
		head[i], right[i] = strings.CutPrefix(head[i], ">")
		widths[i] = displayWidth(head[i])
		for _, r := range rows {
			widths[i] = max(widths[i], displayWidth(r[i]))
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		b.WriteString("  ")
		for i, c := range cells {
			pad := strings.Repeat(" ", widths[i]-displayWidth(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if right[i] {
				b.WriteString(pad + c)
			} else if i < len(cells)-1 {
				b.WriteString(c + pad)
			} else {
				b.WriteString(c)
			}
		}
		p.linef("%s", b.String())
	}
	line(head)
	for _, r := range rows {
		line(r)
	}
}

// displayWidth counts terminal cells: East Asian wide and fullwidth runes take two.
func displayWidth(s string) int { return table.Width(s) }
