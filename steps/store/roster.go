package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Source is one student of a recording as the source named them, and the canonical id it maps to.
type Source struct {
	SourceID  string // userid, name:<normalised name> or ext:<uuid>
	StudentID string // canonical id (recording_students.student_id)
	Name      string
	Seconds   int64
	Unmatched bool // a guest the configured roster does not know
}

// Resolver maps a source id to its canonical id; unmatched is true for a guest the roster does not know.
type Resolver func(sourceID string) (studentID string, unmatched bool)

// Merge turns a recording's sources into its students: sources mapped to one canonical id become one
// link with their seconds summed (the first name kept), in first-seen order.
func Merge(sources []Source) []Attendance {
	var out []Attendance
	at := map[string]int{}
	for _, s := range sources {
		if i, ok := at[s.StudentID]; ok {
			out[i].Seconds += s.Seconds
			if out[i].Name == "" {
				out[i].Name = s.Name
			}
			continue
		}
		at[s.StudentID] = len(out)
		out = append(out, Attendance{StudentID: s.StudentID, Name: s.Name, Seconds: s.Seconds})
	}
	return out
}

func replaceSources(ctx context.Context, tx *sql.Tx, id string, sources []Source) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM recording_sources WHERE recording_id = ?`, id); err != nil {
		return fmt.Errorf("replace sources: %w", err)
	}
	for _, s := range sources {
		if _, err := tx.ExecContext(ctx, `INSERT INTO recording_sources
			(recording_id, source_id, student_id, student_name, attended_seconds, unmatched) VALUES (?, ?, ?, ?, ?, ?)
			ON DUPLICATE KEY UPDATE student_id = VALUES(student_id), student_name = VALUES(student_name),
			attended_seconds = attended_seconds + VALUES(attended_seconds), unmatched = VALUES(unmatched)`,
			id, s.SourceID, s.StudentID, nullString(s.Name), max(s.Seconds, 0), s.Unmatched); err != nil {
			return fmt.Errorf("source %s: %w", s.SourceID, valueError(err, "recording_sources", func(string) any { return s.SourceID }))
		}
	}
	return nil
}

// ApplyRoster re-keys the stored links whose canonical id or unmatched flag the resolver now gives
// differently (a roster edit: a merged, renamed or newly known student), one transaction per recording
// that recomputes every touched student's statistics, as an upsert does: a merged or renamed student's
// rows move, and none is left behind or counted twice. needs_review follows: the classifier's flag, or
// an unmatched guest. No step runs again. It returns the recordings re-keyed.
func ApplyRoster(ctx context.Context, db *sql.DB, resolve Resolver) (int, error) {
	rows, err := db.QueryContext(ctx, `SELECT recording_id, source_id, student_id, unmatched FROM recording_sources`)
	if err != nil {
		return 0, fmt.Errorf("apply roster: %w", err)
	}
	var stale []string
	for rows.Next() {
		var rec, src, cur string
		var un bool
		if err := rows.Scan(&rec, &src, &cur, &un); err != nil {
			rows.Close()
			return 0, fmt.Errorf("apply roster: %w", err)
		}
		if id, u := resolve(src); id != cur || u != un {
			stale = append(stale, rec)
		}
	}
	if err := rows.Close(); err != nil {
		return 0, fmt.Errorf("apply roster: %w", err)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("apply roster: %w", err)
	}
	slices.Sort(stale)
	stale = slices.Compact(stale)
	for _, id := range stale {
		for attempt := 1; ; attempt++ {
			err := relink(ctx, db, id, resolve)
			if err == nil {
				break
			}
			if !isLockConflict(err) || attempt > 3 {
				return 0, fmt.Errorf("apply roster: recording %s: %w", id, err)
			}
			time.Sleep(time.Duration(attempt) * 10 * time.Millisecond)
		}
	}
	return len(stale), nil
}

// relink re-keys one recording's links from its sources.
func relink(ctx context.Context, db *sql.DB, id string, resolve Resolver) (err error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	// The recording row first, as in an upsert: it serialises writers of this recording.
	var cls sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT classification FROM recordings WHERE id = ? FOR UPDATE`, id).Scan(&cls); err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, `SELECT source_id, student_name, attended_seconds, student_id FROM recording_sources
		WHERE recording_id = ? ORDER BY source_id`, id)
	if err != nil {
		return err
	}
	var sources []Source
	moved := map[string]string{} // old canonical id → new, for recording_speakers
	for rows.Next() {
		var s Source
		var name sql.NullString
		var was string
		if err := rows.Scan(&s.SourceID, &name, &s.Seconds, &was); err != nil {
			rows.Close()
			return err
		}
		s.Name = name.String
		s.StudentID, s.Unmatched = resolve(s.SourceID)
		if was != s.StudentID {
			moved[was] = s.StudentID
		}
		sources = append(sources, s)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	students := Merge(sources)
	old, err := queryStrings(ctx, tx, `SELECT student_id FROM recording_students WHERE recording_id = ?`, id)
	if err != nil {
		return err
	}
	touched := slices.Clone(old)
	ids := make([]string, len(students))
	for i, a := range students {
		ids[i] = a.StudentID
		touched = append(touched, a.StudentID)
	}
	slices.Sort(touched)
	touched = slices.Compact(touched)
	if len(touched) > 0 {
		q := "INSERT INTO student_stats (student_id) VALUES (?)" + strings.Repeat(", (?)", len(touched)-1) +
			" ON DUPLICATE KEY UPDATE student_id = student_id"
		if _, err := tx.ExecContext(ctx, q, anySlice(touched)...); err != nil {
			return fmt.Errorf("lock student stats: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM recording_students WHERE recording_id = ?`, id); err != nil {
		return err
	}
	review := false
	for _, a := range students {
		if _, err := tx.ExecContext(ctx, `INSERT INTO recording_students (recording_id, student_id, student_name,
			attended_seconds) VALUES (?, ?, ?, ?)`, id, a.StudentID, nullString(a.Name), a.Seconds); err != nil {
			return fmt.Errorf("student %s: %w", a.StudentID, err)
		}
	}
	for _, s := range sources {
		review = review || s.Unmatched
		if _, err := tx.ExecContext(ctx, `UPDATE recording_sources SET student_id = ?, unmatched = ?
			WHERE recording_id = ? AND source_id = ?`, s.StudentID, s.Unmatched, id, s.SourceID); err != nil {
			return err
		}
	}
	if err := rekeySpeakers(ctx, tx, id, moved); err != nil {
		return err
	}
	var c struct {
		NeedsReview bool `json:"needs_review"`
	}
	if cls.Valid {
		json.Unmarshal([]byte(cls.String), &c) //nolint:errcheck // a bad column keeps the guests' flag only
	}
	idsJSON, _ := json.Marshal(ids)
	if _, err := tx.ExecContext(ctx, `UPDATE recordings SET student_ids = ?, needs_review = ? WHERE id = ?`,
		string(idsJSON), review || c.NeedsReview, id); err != nil {
		return err
	}
	if err := recomputeStats(ctx, tx, touched, nil); err != nil {
		return err
	}
	return tx.Commit()
}

// GuestRow is a guest the configured roster did not know, with the recordings flagged for it.
type GuestRow struct {
	SourceID   string     `json:"source_id"`
	Name       string     `json:"name,omitempty"`
	Recordings int        `json:"recordings"`
	Last       *time.Time `json:"last,omitempty"`
}

// unmatchedGuests lists up to n guests the roster did not know, most recent first. A database without
// migration 0002 has none.
func unmatchedGuests(ctx context.Context, db *sql.DB, n int) ([]GuestRow, error) {
	rows, err := db.QueryContext(ctx, `SELECT s.source_id, MAX(s.student_name), COUNT(*), MAX(r.start_ts)
		FROM recording_sources s JOIN recordings r ON r.id = s.recording_id
		WHERE s.unmatched GROUP BY s.source_id ORDER BY MAX(r.start_ts) DESC, s.source_id LIMIT ?`, n)
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1146 {
		return []GuestRow{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []GuestRow{}
	for rows.Next() {
		var g GuestRow
		var name sql.NullString
		var last sql.NullTime
		if err := rows.Scan(&g.SourceID, &name, &g.Recordings, &last); err != nil {
			return nil, err
		}
		g.Name, g.Last = name.String, timePtr(last)
		out = append(out, g)
	}
	return out, rows.Err()
}

// rekeySpeakers moves the students of a recording's recording_speakers rows to their new canonical ids in
// one statement (so that A→B and B→C do not chain).
func rekeySpeakers(ctx context.Context, tx *sql.Tx, id string, moved map[string]string) error {
	if len(moved) == 0 {
		return nil
	}
	q := "UPDATE recording_speakers SET student_id = CASE student_id"
	var args, in []any
	for from, to := range moved {
		q += " WHEN ? THEN ?"
		args = append(args, from, to)
		in = append(in, from)
	}
	q += " END WHERE recording_id = ? AND role = 'student' AND student_id IN (?" + strings.Repeat(", ?", len(in)-1) + ")"
	args = append(append(args, id), in...)
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("re-key speakers: %w", err)
	}
	return nil
}
