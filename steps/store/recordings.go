package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Recording is one meeting recording as stored: the row of `recordings` plus its students.
type Recording struct {
	ID          string // Tencent meeting_record_id
	MeetingID   string
	MeetingCode string
	Subject     string
	TeacherID   string
	Start       time.Time
	End         time.Time // zero: unknown
	DurationMin *int      // nil: unknown
	// Students are the recording's students in the source's order, each at most once.
	Students []Attendance
	// Sources, when not nil, are the ids the source gave (before a roster mapped them to Students'
	// ids), kept in recording_sources so that a roster edit can re-key the links (ApplyRoster).
	Sources []Source
	Phase   string
	Summary string
	// Transcript is the full text; Segments its timed pieces as JSON ([{start, end, text}]), or nil.
	Transcript string
	Segments   json.RawMessage
	// Classification is kimi_classify's record (model, rule, confidence, …) as JSON, or nil.
	Classification json.RawMessage
	NeedsReview    bool
	// Files describes the recording's files (ids, times, sizes) as JSON, without any signed URL.
	Files   json.RawMessage
	PlayURL string // a non-secret view address, or ""
	// Redactions count what redaction replaced in the item's fields (recording_redactions); nil: none.
	Redactions Redactions
	// TranscriptSource is tencent or asr ("" without a transcript); Talk is talk_metrics' record as JSON
	// (nil: not measured), TalkOffTarget its flag; Speakers its rows of recording_speakers.
	TranscriptSource string
	Talk             json.RawMessage
	TalkOffTarget    bool
	Speakers         []SpeakerRow
}

// Attendance is one student of a recording.
type Attendance struct {
	StudentID string
	Name      string
	Seconds   int64 // attended, summed over rejoins
}

// Status values of a stored recording.
const (
	StatusDone    = "done"    // transcript and summary present
	StatusPartial = "partial" // stored without a transcript or a summary (a step was skipped for it)
)

// Status is the recording's status column: done when it has a transcript and a summary.
func (r *Recording) Status() string {
	if strings.TrimSpace(r.Transcript) == "" || strings.TrimSpace(r.Summary) == "" {
		return StatusPartial
	}
	return StatusDone
}

// Result says what an upsert changed.
type Result struct {
	Action   string // inserted, updated or unchanged
	Status   string // the recording's status column
	Students int    // links of the recording after the upsert
	// Touched are the students whose statistics were recomputed: the recording's students now and before.
	Touched  []string
	Attempts int // transactions tried (more than 1 after a deadlock or lock wait timeout)
}

// Stored is the item field mysql_upsert writes: what happened to the recording's row.
type Stored struct {
	Action   string    `json:"action" expr:"action"`     // inserted, updated or unchanged
	Status   string    `json:"status" expr:"status"`     // the status column: done or partial
	Students int       `json:"students" expr:"students"` // student links written
	At       time.Time `json:"at" expr:"at"`             // when the transaction committed (UTC)
}

// Recordings writes recordings and keeps student_stats exact.
type Recordings struct {
	DB *sql.DB
	// LockRetries is how many more times a transaction that lost a lock race (deadlock 1213, lock wait
	// timeout 1205) is run again at once, before the error goes to the caller; default 3.
	LockRetries int

	// beforeWrite, when set, runs between reading the links and writing the stats: tests widen the window
	// in which a missing lock would let two transactions overwrite each other.
	beforeWrite func()
}

// Upsert writes r in one transaction: the recording row (inserted or updated in place), its student links
// (replaced), and the statistics of every student it has or had, recomputed from the links. Running it
// again with the same r changes nothing. Concurrent upserts that share students stay exact: each takes
// the recording row and then the students' stats rows in sorted order before it reads anything they
// guard, so conflicting transactions queue instead of racing, and deadlocks cannot form between them.
func (s *Recordings) Upsert(ctx context.Context, r Recording) (Result, error) {
	if err := r.check(); err != nil {
		return Result{}, err
	}
	retries := s.LockRetries
	if retries <= 0 {
		retries = 3
	}
	var res Result
	var err error
	for attempt := 1; ; attempt++ {
		res, err = s.upsertOnce(ctx, r)
		res.Attempts = attempt
		if err == nil || !isLockConflict(err) || attempt > retries {
			return res, err
		}
		// Another transaction won; a short random pause keeps the two from colliding again.
		d := time.Duration(rand.Int64N(int64(20*time.Millisecond)<<attempt)) + time.Millisecond
		select {
		case <-ctx.Done():
			return res, err
		case <-time.After(d):
		}
	}
}

func (r *Recording) check() error {
	var missing []string
	if r.ID == "" {
		missing = append(missing, "id")
	}
	if r.MeetingID == "" {
		missing = append(missing, "meeting_id")
	}
	if r.Start.IsZero() {
		missing = append(missing, "start")
	}
	if len(missing) > 0 {
		return &ValueError{Table: "recordings", Column: strings.Join(missing, ", "), Value: "empty",
			Err: errors.New("required")}
	}
	seen := map[string]bool{}
	for _, a := range r.Students {
		if a.StudentID == "" {
			return &ValueError{Table: "recording_students", Column: "student_id", Value: `""`, Err: errors.New("empty student id")}
		}
		if seen[a.StudentID] {
			return &ValueError{Table: "recording_students", Column: "student_id", Value: shorten(a.StudentID),
				Err: errors.New("student listed twice")}
		}
		seen[a.StudentID] = true
		if a.Seconds < 0 {
			return &ValueError{Table: "recording_students", Column: "attended_seconds", Value: fmt.Sprint(a.Seconds),
				Err: errors.New("negative")}
		}
	}
	return nil
}

// recordingColumns are written by the upsert, in this order.
var recordingColumns = []string{"id", "meeting_id", "meeting_code", "subject", "teacher_id", "start_ts",
	"end_ts", "duration_min", "student_ids", "phase", "transcript", "transcript_segments", "summary",
	"classification", "needs_review", "files", "play_url", "download_url", "status",
	"transcript_source", "talk", "talk_off_target"}

func (r *Recording) values() ([]any, error) {
	ids := make([]string, len(r.Students))
	for i, a := range r.Students {
		ids[i] = a.StudentID
	}
	studentIDs, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	var dur any
	if r.DurationMin != nil {
		dur = *r.DurationMin
	}
	var end any
	if !r.End.IsZero() {
		end = r.End.UTC()
	}
	return []any{r.ID, r.MeetingID, nullString(r.MeetingCode), nullString(r.Subject), nullString(r.TeacherID),
		r.Start.UTC(), end, dur, string(studentIDs), nullString(r.Phase), nullString(r.Transcript),
		nullJSON(r.Segments), nullString(r.Summary), nullJSON(r.Classification), r.NeedsReview,
		nullJSON(r.Files), nullString(r.PlayURL), nil, r.Status(),
		nullString(r.TranscriptSource), nullJSON(r.Talk), r.TalkOffTarget}, nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullJSON(raw json.RawMessage) any {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return string(raw)
}

var upsertRecordingSQL = func() string {
	set := make([]string, 0, len(recordingColumns)-1)
	for _, c := range recordingColumns[1:] {
		set = append(set, c+" = ?")
	}
	return "INSERT INTO recordings (" + strings.Join(recordingColumns, ", ") + ") VALUES (?" +
		strings.Repeat(", ?", len(recordingColumns)-1) + ") ON DUPLICATE KEY UPDATE " + strings.Join(set, ", ")
}()

func (s *Recordings) upsertOnce(ctx context.Context, r Recording) (res Result, err error) {
	vals, err := r.values()
	if err != nil {
		return res, fmt.Errorf("recording %s: %w", r.ID, err)
	}
	// READ COMMITTED: the statistics are recomputed with plain reads that must see every transaction
	// committed before this one took the students' locks, not a snapshot from when it began.
	tx, err := s.DB.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return res, fmt.Errorf("recording %s: begin: %w", r.ID, err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()

	// 1. The recording row first: it serialises upserts of the same recording.
	out, err := tx.ExecContext(ctx, upsertRecordingSQL, append(vals, vals[1:]...)...)
	if err != nil {
		return res, fmt.Errorf("recording %s: %w", r.ID, valueError(err, "recordings", func(col string) any {
			if i := slices.Index(recordingColumns, col); i >= 0 {
				return vals[i]
			}
			return nil
		}))
	}
	n, _ := out.RowsAffected() // 1 inserted, 2 updated, 0 unchanged (CLIENT_FOUND_ROWS is off)
	changed := n > 0
	res.Action = map[int64]string{0: "unchanged", 1: "inserted", 2: "updated"}[n]
	res.Status = r.Status()

	// 2. The students it had. No other transaction changes this recording's links without the row lock
	// taken above, so a plain read is exact.
	old, err := queryStrings(ctx, tx, `SELECT student_id FROM recording_students WHERE recording_id = ?`, r.ID)
	if err != nil {
		return res, fmt.Errorf("recording %s: read its students: %w", r.ID, err)
	}
	now := make([]string, len(r.Students))
	for i, a := range r.Students {
		now[i] = a.StudentID
	}
	touched := slices.Concat(old, now)
	slices.Sort(touched)
	touched = slices.Compact(touched)
	res.Touched, res.Students = touched, len(now)

	// 3. Lock the stats rows of every touched student, creating missing ones, in sorted order: two
	// transactions sharing students take them in the same order, so they queue and never deadlock on
	// them. (An upsert locks an existing row exclusively at once; SELECT … FOR UPDATE could not create
	// the missing rows, and INSERT IGNORE would take a shared lock that deadlocks when upgraded.)
	if len(touched) > 0 {
		q := "INSERT INTO student_stats (student_id) VALUES (?)" + strings.Repeat(", (?)", len(touched)-1) +
			" ON DUPLICATE KEY UPDATE student_id = student_id"
		if _, err := tx.ExecContext(ctx, q, anySlice(touched)...); err != nil {
			return res, fmt.Errorf("recording %s: lock student stats: %w", r.ID,
				valueError(err, "student_stats", func(string) any { return strings.Join(touched, ",") }))
		}
	}

	// 4. Replace the links: drop students it no longer has, upsert the others.
	del := "DELETE FROM recording_students WHERE recording_id = ?"
	args := []any{r.ID}
	if len(now) > 0 {
		del += " AND student_id NOT IN (?" + strings.Repeat(", ?", len(now)-1) + ")"
		args = append(args, anySlice(now)...)
	}
	if out, err := tx.ExecContext(ctx, del, args...); err != nil {
		return res, fmt.Errorf("recording %s: remove old students: %w", r.ID, err)
	} else if n, _ := out.RowsAffected(); n > 0 {
		changed = true
	}
	for _, a := range r.Students {
		out, err := tx.ExecContext(ctx, `INSERT INTO recording_students
			(recording_id, student_id, student_name, attended_seconds) VALUES (?, ?, ?, ?)
			ON DUPLICATE KEY UPDATE student_name = ?, attended_seconds = ?`,
			r.ID, a.StudentID, nullString(a.Name), a.Seconds, nullString(a.Name), a.Seconds)
		if err != nil {
			return res, fmt.Errorf("recording %s: student %s: %w", r.ID, a.StudentID,
				valueError(err, "recording_students", func(col string) any {
					switch col {
					case "student_id":
						return a.StudentID
					case "student_name":
						return a.Name
					}
					return a.Seconds
				}))
		}
		if n, _ := out.RowsAffected(); n > 0 {
			changed = true
		}
	}

	// 4b. What the links came from, for roster edits.
	if r.Sources != nil {
		if err := replaceSources(ctx, tx, r.ID, r.Sources); err != nil {
			return res, fmt.Errorf("recording %s: %w", r.ID, err)
		}
	}

	// 4c. What redaction replaced: counts only.
	if err := replaceRedactions(ctx, tx, r.ID, r.Redactions); err != nil {
		return res, fmt.Errorf("recording %s: %w", r.ID, err)
	}
	// 4d. The speakers' metrics, replaced only when they differ.
	if moved, err := replaceSpeakers(ctx, tx, r.ID, r.Speakers); err != nil {
		return res, fmt.Errorf("recording %s: %w", r.ID, err)
	} else if moved {
		changed = true
	}

	// 5. Recompute the touched students' statistics from the links. Their stats rows are ours, and every
	// transaction that changes one of their links holds that row until it commits, so this read sees
	// all of their recordings.
	if err := recomputeStats(ctx, tx, touched, s.beforeWrite); err != nil {
		return res, fmt.Errorf("recording %s: %w", r.ID, err)
	}

	// 6. Stored: it is no longer a failed item.
	if _, err := tx.ExecContext(ctx, `DELETE FROM item_failures WHERE item_id = ?`, r.ID); err != nil {
		return res, fmt.Errorf("recording %s: clear failure: %w", r.ID, err)
	}
	if err := tx.Commit(); err != nil {
		// The outcome is unknown when the connection died during COMMIT; running the upsert again is
		// harmless either way.
		return res, fmt.Errorf("recording %s: commit: %w", r.ID, err)
	}
	if changed && res.Action == "unchanged" {
		res.Action = "updated"
	}
	return res, nil
}

// recomputeStats sets student_stats of each student in ids from recording_students: record_cnt is the
// number of recordings, total_duration the attended seconds summed and rounded to minutes, and
// last_record_at the latest start. A student left with no recording loses the row.
func recomputeStats(ctx context.Context, tx *sql.Tx, ids []string, beforeWrite func()) error {
	if len(ids) == 0 {
		return nil
	}
	type stat struct {
		cnt  int64
		secs int64
		last time.Time
	}
	got := map[string]stat{}
	rows, err := tx.QueryContext(ctx, `SELECT rs.student_id, COUNT(*), COALESCE(SUM(rs.attended_seconds), 0),
			MAX(r.start_ts)
		FROM recording_students rs JOIN recordings r ON r.id = rs.recording_id
		WHERE rs.student_id IN (?`+strings.Repeat(", ?", len(ids)-1)+`)
		GROUP BY rs.student_id`, anySlice(ids)...)
	if err != nil {
		return fmt.Errorf("recompute student stats: %w", err)
	}
	for rows.Next() {
		var id string
		var st stat
		if err := rows.Scan(&id, &st.cnt, &st.secs, &st.last); err != nil {
			rows.Close()
			return fmt.Errorf("recompute student stats: %w", err)
		}
		got[id] = st
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("recompute student stats: %w", err)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("recompute student stats: %w", err)
	}
	if beforeWrite != nil {
		beforeWrite()
	}
	for _, id := range ids {
		st, ok := got[id]
		if !ok {
			if _, err := tx.ExecContext(ctx, `DELETE FROM student_stats WHERE student_id = ?`, id); err != nil {
				return fmt.Errorf("student %s: remove stats: %w", id, err)
			}
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE student_stats SET record_cnt = ?, total_duration = ?,
			last_record_at = ? WHERE student_id = ?`, st.cnt, Minutes(st.secs), st.last, id); err != nil {
			return fmt.Errorf("student %s: update stats: %w", id, err)
		}
	}
	return nil
}

// Minutes converts attended seconds to the whole minutes of student_stats.total_duration, rounding
// half up: the sum of a student's seconds is rounded once, so short rejoins are not lost to per-row
// rounding.
func Minutes(seconds int64) int64 { return (seconds + 30) / 60 }

func queryStrings(ctx context.Context, tx *sql.Tx, q string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func anySlice[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}
