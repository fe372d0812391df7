package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"meetpipe/steps/roster"
)

func init() {
	expectedTables["0005_privacy"] = []tableShape{
		{"recording_redactions", []column{{"recording_id", tID, 64}, {"field", tID, 64}, {"pattern", tID, 64},
			{"replaced", tInt, 0}}, []string{"recording_id", "field", "pattern"}},
		{"student_tombstones", []column{{"hash", tID, 64}, {"kind", tID, 4}, {"created_at", tTime, 0}}, []string{"hash"}},
		{"erasure_log", []column{{"id", tInt, 0}, {"erased_at", tTime, 0}, {"actor", tText, 0}, {"kind", tID, 16},
			{"rows_deleted", tInt, 0}}, []string{"id"}},
	}
}

// Redactions are what redaction replaced in a recording: item field → pattern → count.
type Redactions map[string]map[string]int

func replaceRedactions(ctx context.Context, tx *sql.Tx, id string, red Redactions) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM recording_redactions WHERE recording_id = ?`, id); err != nil {
		return fmt.Errorf("replace redactions: %w", err)
	}
	for _, field := range slices.Sorted(maps.Keys(red)) {
		for _, pat := range slices.Sorted(maps.Keys(red[field])) {
			if n := red[field][pat]; n > 0 {
				if _, err := tx.ExecContext(ctx, `INSERT INTO recording_redactions (recording_id, field, pattern, replaced)
					VALUES (?, ?, ?, ?)`, id, field, pat, n); err != nil {
					return fmt.Errorf("redactions %s/%s: %w", field, pat, err)
				}
			}
		}
	}
	return nil
}

// TombstoneHash is the hex SHA-256 of kind ("id" or "name") and value; names are normalised first
// (roster.Normalize), so "赵同学　" and "赵同学" are one tombstone.
func TombstoneHash(kind, value string) string {
	if kind == "name" {
		value = roster.Normalize(value)
	}
	h := sha256.Sum256([]byte(kind + ":" + value))
	return hex.EncodeToString(h[:])
}

func isGuest(id string) bool {
	return strings.HasPrefix(id, roster.NamePrefix) || strings.HasPrefix(id, "ext:")
}

// DropTombstoned removes from r the students that were erased (runner forget): a source or student id
// with a tombstone, or a guest whose normalised name has one (a guest's uuid changes every meeting). A
// student with an enterprise userid is matched by id only: two people may share a display name. It
// reports how many students it removed.
func DropTombstoned(ctx context.Context, q querier, r *Recording) (int, error) {
	cand := map[string]bool{}
	for _, s := range r.Sources {
		cand[TombstoneHash("id", s.SourceID)], cand[TombstoneHash("id", s.StudentID)] = true, true
		if isGuest(s.SourceID) && s.Name != "" {
			cand[TombstoneHash("name", s.Name)] = true
		}
	}
	for _, a := range r.Students {
		cand[TombstoneHash("id", a.StudentID)] = true
		if isGuest(a.StudentID) && a.Name != "" {
			cand[TombstoneHash("name", a.Name)] = true
		}
	}
	if len(cand) == 0 {
		return 0, nil
	}
	keys := slices.Sorted(maps.Keys(cand))
	rows, err := q.QueryContext(ctx, `SELECT hash FROM student_tombstones WHERE hash IN (?`+strings.Repeat(", ?", len(keys)-1)+`)`, anySlice(keys)...)
	if err != nil {
		return 0, fmt.Errorf("read tombstones: %w", err)
	}
	dead := map[string]bool{}
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			rows.Close()
			return 0, fmt.Errorf("read tombstones: %w", err)
		}
		dead[h] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(dead) == 0 {
		return 0, err
	}
	gone := func(id, name string) bool {
		return dead[TombstoneHash("id", id)] || isGuest(id) && name != "" && dead[TombstoneHash("name", name)]
	}
	before := len(r.Students)
	if r.Sources != nil {
		var kept []Source
		for _, s := range r.Sources {
			if !gone(s.SourceID, s.Name) && !gone(s.StudentID, s.Name) {
				kept = append(kept, s)
			}
		}
		r.Sources = kept
		if r.Sources == nil {
			r.Sources = []Source{}
		}
		r.Students = Merge(r.Sources)
	} else {
		r.Students = slices.DeleteFunc(r.Students, func(a Attendance) bool { return gone(a.StudentID, a.Name) })
	}
	return before - len(r.Students), nil
}

// ForgetResult is what erasing one student removed (or, in a dry run, would remove).
type ForgetResult struct {
	Recordings int            // recordings deleted: the student was their only student
	Shared     int            // recordings kept without the student
	Rows       map[string]int // table → rows deleted (recordings: blanked student_ids counted under "recordings (updated)")
	// Names and SourceIDs are what the database knew the student by, so that the caller can find the state
	// entries that name them. Never print them.
	Names     []string
	SourceIDs []string
}

// Forget erases one student in one transaction: their rows in every table that has a student_id or
// source_id column (recording_students, recording_sources, and the speaker, homework and score tables
// when they exist), the recordings where they were the only student with every row that refers to those
// recordings, their id from the student_ids of the recordings they shared; then it recomputes the
// statistics of everyone touched, stores tombstones (hashes) of their ids and names, and logs the erasure
// without content. With dryRun it rolls all of it back and only reports.
func Forget(ctx context.Context, db *sql.DB, studentID, actor string, at time.Time, dryRun bool) (ForgetResult, error) {
	res := ForgetResult{Rows: map[string]int{}}
	tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return res, fmt.Errorf("forget: begin: %w", err)
	}
	defer tx.Rollback()
	fail := func(what string, err error) (ForgetResult, error) {
		return res, fmt.Errorf("forget: %s: %w", what, err)
	}

	ids := []string{studentID}
	src, err := queryStrings(ctx, tx, `SELECT DISTINCT source_id FROM recording_sources WHERE student_id = ? OR source_id = ?`, studentID, studentID)
	if err != nil {
		return fail("read sources", err)
	}
	res.SourceIDs = src
	ids = slices.Compact(slices.Sorted(slices.Values(append(ids, src...))))
	in := "(?" + strings.Repeat(", ?", len(ids)-1) + ")"
	args := anySlice(ids)
	recs, err := queryStrings(ctx, tx, `SELECT recording_id FROM recording_students WHERE student_id IN `+in+`
		UNION SELECT recording_id FROM recording_sources WHERE student_id IN `+in+` OR source_id IN `+in,
		slices.Concat(args, args, args)...)
	if err != nil {
		return fail("read recordings", err)
	}
	slices.Sort(recs)
	recs = slices.Compact(recs)
	names, err := queryStrings(ctx, tx, `SELECT student_name FROM recording_students WHERE student_id IN `+in+` AND student_name IS NOT NULL
		UNION SELECT student_name FROM recording_sources WHERE (student_id IN `+in+` OR source_id IN `+in+`) AND student_name IS NOT NULL`,
		slices.Concat(args, args, args)...)
	if err != nil {
		return fail("read names", err)
	}
	res.Names = names

	// The recording rows first, in sorted order, as an upsert takes them: the two serialise.
	var solo, shared []string
	touched := slices.Clone(ids)
	for _, r := range recs {
		if _, err := queryStrings(ctx, tx, `SELECT id FROM recordings WHERE id = ? FOR UPDATE`, r); err != nil {
			return fail("lock recording", err)
		}
		others, err := queryStrings(ctx, tx, `SELECT student_id FROM recording_students WHERE recording_id = ? AND student_id NOT IN `+in,
			append([]any{r}, args...)...)
		if err != nil {
			return fail("read students", err)
		}
		if len(others) == 0 {
			solo = append(solo, r)
		} else {
			shared = append(shared, r)
			touched = append(touched, others...)
		}
	}
	slices.Sort(touched)
	touched = slices.Compact(touched)
	res.Recordings, res.Shared = len(solo), len(shared)
	q := "INSERT INTO student_stats (student_id) VALUES (?)" + strings.Repeat(", (?)", len(touched)-1) +
		" ON DUPLICATE KEY UPDATE student_id = student_id"
	if _, err := tx.ExecContext(ctx, q, anySlice(touched)...); err != nil {
		return fail("lock student stats", err)
	}

	cols, err := personalColumns(ctx, tx)
	if err != nil {
		return fail("read schema", err)
	}
	exec := func(table, q string, a ...any) error {
		out, err := tx.ExecContext(ctx, q, a...)
		if err != nil {
			return fmt.Errorf("%s: %w", table, err)
		}
		n, _ := out.RowsAffected()
		res.Rows[table] += int(n)
		return nil
	}
	// Rows of the student, in every table that names students.
	for _, t := range slices.Sorted(maps.Keys(cols)) {
		if t == "student_stats" {
			continue // recomputed below
		}
		for _, c := range []string{"student_id", "source_id"} {
			if cols[t][c] {
				if err := exec(t, "DELETE FROM `"+t+"` WHERE `"+c+"` IN "+in, args...); err != nil {
					return fail("delete", err)
				}
			}
		}
	}
	// Recordings that were theirs alone, with every row that refers to them.
	if len(solo) > 0 {
		sin := "(?" + strings.Repeat(", ?", len(solo)-1) + ")"
		sargs := anySlice(solo)
		for _, t := range slices.Sorted(maps.Keys(cols)) {
			if t != "recordings" && cols[t]["recording_id"] {
				if err := exec(t, "DELETE FROM `"+t+"` WHERE recording_id IN "+sin, sargs...); err != nil {
					return fail("delete", err)
				}
			}
		}
		if err := exec("item_failures", "DELETE FROM item_failures WHERE item_id IN "+sin, sargs...); err != nil {
			return fail("delete", err)
		}
		if err := exec("recordings", "DELETE FROM recordings WHERE id IN "+sin, sargs...); err != nil {
			return fail("delete", err)
		}
	}
	// Shared recordings keep their row, without the student's id.
	for _, r := range shared {
		left, err := queryStrings(ctx, tx, `SELECT student_id FROM recording_students WHERE recording_id = ? ORDER BY student_id`, r)
		if err != nil {
			return fail("read students", err)
		}
		var cur []string
		var raw sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT student_ids FROM recordings WHERE id = ?`, r).Scan(&raw); err != nil {
			return fail("read student_ids", err)
		}
		if raw.Valid && json.Unmarshal([]byte(raw.String), &cur) == nil {
			cur = slices.DeleteFunc(cur, func(s string) bool { return slices.Contains(ids, s) })
		} else {
			cur = left
		}
		b, _ := json.Marshal(cur)
		if err := exec("recordings (student_ids)", `UPDATE recordings SET student_ids = ? WHERE id = ?`, string(b), r); err != nil {
			return fail("update", err)
		}
	}
	if err := recomputeStats(ctx, tx, touched, nil); err != nil {
		return fail("statistics", err)
	}
	// Tombstones: hashes only.
	tomb := map[string]string{}
	for _, id := range ids {
		tomb[TombstoneHash("id", id)] = "id"
	}
	for _, n := range names {
		if roster.Normalize(n) != "" {
			tomb[TombstoneHash("name", n)] = "name"
		}
	}
	for _, h := range slices.Sorted(maps.Keys(tomb)) {
		if _, err := tx.ExecContext(ctx, `INSERT IGNORE INTO student_tombstones (hash, kind) VALUES (?, ?)`, h, tomb[h]); err != nil {
			return fail("tombstone", err)
		}
	}
	total := 0
	for _, n := range res.Rows {
		total += n
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO erasure_log (erased_at, actor, kind, rows_deleted) VALUES (?, ?, 'student', ?)`,
		at.UTC(), actor, total); err != nil {
		return fail("erasure log", err)
	}
	if dryRun {
		return res, nil // the deferred rollback undoes it all
	}
	if err := tx.Commit(); err != nil {
		return fail("commit", err)
	}
	return res, nil
}

// personalColumns lists the tables of the database with a recording_id, student_id or source_id column:
// the ones this code creates and those other migrations add (speakers, homework, scores).
func personalColumns(ctx context.Context, tx *sql.Tx) (map[string]map[string]bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = DATABASE() AND column_name IN ('recording_id', 'student_id', 'source_id')`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]map[string]bool{}
	for rows.Next() {
		var t, c string
		if err := rows.Scan(&t, &c); err != nil {
			return nil, err
		}
		if strings.ContainsAny(t, "`") {
			continue
		}
		if out[t] == nil {
			out[t] = map[string]bool{}
		}
		out[t][strings.ToLower(c)] = true
	}
	return out, rows.Err()
}

// RetainResult is what retention blanked or deleted in the database.
type RetainResult struct {
	Transcripts int // recordings whose transcript was blanked
	Runs        int // pipeline_runs rows deleted
}

// Retain blanks the transcript (text and timed segments) of recordings that started before
// transcriptsBefore and deletes pipeline_runs rows started before runsBefore; a zero time skips that
// kind. Each kind that deleted something is logged in erasure_log. With dryRun it only counts.
func Retain(ctx context.Context, db *sql.DB, transcriptsBefore, runsBefore time.Time, actor string, dryRun bool) (RetainResult, error) {
	var res RetainResult
	do := func(kind, count, change string, before time.Time, n *int) error {
		if before.IsZero() {
			return nil
		}
		if dryRun {
			return db.QueryRowContext(ctx, count, before.UTC()).Scan(n)
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		out, err := tx.ExecContext(ctx, change, before.UTC())
		if err != nil {
			return err
		}
		m, _ := out.RowsAffected()
		*n = int(m)
		if m > 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO erasure_log (erased_at, actor, kind, rows_deleted) VALUES (?, ?, ?, ?)`,
				time.Now().UTC(), actor, kind, m); err != nil {
				return err
			}
		}
		return tx.Commit()
	}
	if err := do("transcripts",
		`SELECT COUNT(*) FROM recordings WHERE start_ts < ? AND (transcript IS NOT NULL OR transcript_segments IS NOT NULL)`,
		`UPDATE recordings SET transcript = NULL, transcript_segments = NULL
			WHERE start_ts < ? AND (transcript IS NOT NULL OR transcript_segments IS NOT NULL)`,
		transcriptsBefore, &res.Transcripts); err != nil {
		return res, fmt.Errorf("retention transcripts: %w", err)
	}
	if err := do("run_history", `SELECT COUNT(*) FROM pipeline_runs WHERE started_at < ?`,
		`DELETE FROM pipeline_runs WHERE started_at < ?`, runsBefore, &res.Runs); err != nil {
		return res, fmt.Errorf("retention run history: %w", err)
	}
	return res, nil
}
