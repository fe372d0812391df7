package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"meetpipe/steps/coach"
)

// SaveCoaching writes a recording's checked extraction in one transaction: its homework for each of its
// students (keyed by coach.ItemKey, so a rerun updates the same rows and keeps their status), the items
// its followups close, and its scorecard. Items this recording no longer extracts and that are still open
// are removed; items it closed before and no longer closes are opened again, so that re-scoring a stored
// transcript leaves exactly what the new answer says.
func SaveCoaching(ctx context.Context, db *sql.DB, recordingID string, students []string, ex *coach.Extraction) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save coaching of %s: begin: %w", recordingID, err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := saveCoaching(ctx, tx, recordingID, students, ex); err != nil {
		return fmt.Errorf("save coaching of %s: %w", recordingID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("save coaching of %s: commit: %w", recordingID, err)
	}
	return nil
}

func saveCoaching(ctx context.Context, tx *sql.Tx, rec string, students []string, ex *coach.Extraction) error {
	keys := []any{rec}
	for _, it := range ex.Homework {
		keys = append(keys, it.Key)
		for _, st := range students {
			var due any
			if it.DueDate != "" {
				due = it.DueDate
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO action_items
				(id, student_id, recording_id, owner, task, due_text, due_date, evidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
				ON DUPLICATE KEY UPDATE owner = VALUES(owner), task = VALUES(task), due_text = VALUES(due_text),
				due_date = VALUES(due_date), evidence = VALUES(evidence)`,
				it.Key, st, rec, it.Owner, clip(it.Task, 500), nullString(clip(it.Due, 100)), due, it.Evidence); err != nil {
				return fmt.Errorf("action_items: %w", err)
			}
		}
	}
	q := `DELETE FROM action_items WHERE recording_id = ? AND status = 'open'`
	if len(keys) > 1 {
		q += ` AND id NOT IN (` + placeholders(len(keys)-1) + `)`
	}
	if _, err := tx.ExecContext(ctx, q, keys...); err != nil {
		return fmt.Errorf("action_items: %w", err)
	}
	if len(students) == 0 {
		return saveScores(ctx, tx, rec, ex)
	}
	closing := []any{rec}
	for _, f := range ex.Followups {
		if !slices.Contains(coach.Closing, f.Status) {
			continue
		}
		closing = append(closing, f.Key)
		args := []any{f.Status, rec, f.Evidence, f.Key}
		args = append(args, anySlice(students)...)
		args = append(args, rec)
		if _, err := tx.ExecContext(ctx, `UPDATE action_items SET status = ?, closed_in = ?, close_evidence = ?
			WHERE id = ? AND student_id IN (`+placeholders(len(students))+`) AND (status = 'open' OR closed_in = ?)`,
			args...); err != nil {
			return fmt.Errorf("action_items: close %s: %w", f.Key, err)
		}
	}
	q = `UPDATE action_items SET status = 'open', closed_in = NULL, close_evidence = NULL WHERE closed_in = ?`
	if len(closing) > 1 {
		q += ` AND id NOT IN (` + placeholders(len(closing)-1) + `)`
	}
	if _, err := tx.ExecContext(ctx, q, closing...); err != nil {
		return fmt.Errorf("action_items: reopen: %w", err)
	}
	return saveScores(ctx, tx, rec, ex)
}

func saveScores(ctx context.Context, tx *sql.Tx, rec string, ex *coach.Extraction) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM scorecards WHERE recording_id = ?`, rec); err != nil {
		return fmt.Errorf("scorecards: %w", err)
	}
	for _, s := range ex.Scores {
		if _, err := tx.ExecContext(ctx, `INSERT INTO scorecards (recording_id, criterion, phase, score, min_score, max_score, evidence)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, rec, clip(s.Criterion, 100), ex.Phase, s.Score, s.Min, s.Max, s.Evidence); err != nil {
			return fmt.Errorf("scorecards: %w", err)
		}
	}
	return nil
}

// OpenItems are the items a session of these students may close: assigned at an earlier session (before
// start) and still open, or closed by this very recording (so that a rerun asks the same question).
// sourceIDs are the ids the source gave; a roster may have mapped them, so their canonical ids are looked
// up in recording_sources too.
func OpenItems(ctx context.Context, db *sql.DB, recordingID string, sourceIDs []string, start time.Time) ([]coach.OpenItem, error) {
	if len(sourceIDs) == 0 {
		return nil, nil
	}
	ph := placeholders(len(sourceIDs))
	args := append(anySlice(sourceIDs), anySlice(sourceIDs)...)
	args = append(args, start.UTC(), recordingID)
	rows, err := db.QueryContext(ctx, `SELECT a.id, a.student_id, a.task, COALESCE(DATE_FORMAT(a.due_date, '%Y-%m-%d'), ''), a.recording_id
		FROM action_items a JOIN recordings r ON r.id = a.recording_id
		WHERE (a.student_id IN (`+ph+`) OR a.student_id IN (SELECT student_id FROM recording_sources WHERE source_id IN (`+ph+`)))
		  AND r.start_ts < ? AND (a.status = 'open' OR a.closed_in = ?)
		ORDER BY r.start_ts, a.id, a.student_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("open items: %w", err)
	}
	defer rows.Close()
	var out []coach.OpenItem
	for rows.Next() {
		var it coach.OpenItem
		if err := rows.Scan(&it.Key, &it.StudentID, &it.Task, &it.DueDate, &it.Recording); err != nil {
			return nil, fmt.Errorf("open items: %w", err)
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}

// SaveTeacherName keeps the teacher's display name as the source gave it last.
func SaveTeacherName(ctx context.Context, db *sql.DB, teacherID, name string) error {
	if _, err := db.ExecContext(ctx, `INSERT INTO teacher_names (teacher_id, name) VALUES (?, ?)
		ON DUPLICATE KEY UPDATE name = VALUES(name)`, teacherID, clip(name, 255)); err != nil {
		return fmt.Errorf("teacher_names: %w", err)
	}
	return nil
}
