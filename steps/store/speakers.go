package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// SpeakerRow is one row of recording_speakers: a speaker of a recording and its talk metrics (defined in
// steps/talk). StudentID is "" for the teacher and for unknown speakers (stored NULL).
type SpeakerRow struct {
	Key                string
	Role               string
	StudentID          string
	Source             string
	TalkMS             int64
	Share              float64
	Questions          int
	Turns              int
	LongestMonologueMS int64
	Chars              int
}

// replaceSpeakers makes recording_speakers of id hold rows, inside the upsert's transaction (the recording's
// row lock is held). It writes nothing when the stored rows are the same, so a rerun changes nothing, and
// reports whether it changed anything.
func replaceSpeakers(ctx context.Context, tx *sql.Tx, id string, rows []SpeakerRow) (bool, error) {
	old, err := readSpeakers(ctx, tx, id)
	if err != nil {
		return false, err
	}
	want := slices.Clone(rows)
	sortSpeakers(want)
	if slices.Equal(old, want) {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM recording_speakers WHERE recording_id = ?`, id); err != nil {
		return false, fmt.Errorf("remove old speakers: %w", err)
	}
	if len(want) == 0 {
		return true, nil
	}
	q := `INSERT INTO recording_speakers (recording_id, speaker_key, role, student_id, source, talk_ms, share,
		questions, turns, longest_monologue_ms, chars) VALUES ` +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?), ", len(want)), ", ")
	args := make([]any, 0, 11*len(want))
	for _, r := range want {
		args = append(args, id, r.Key, r.Role, nullString(r.StudentID), r.Source, r.TalkMS, fmt.Sprintf("%.4f", r.Share),
			r.Questions, r.Turns, r.LongestMonologueMS, r.Chars)
	}
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return false, fmt.Errorf("speakers: %w", valueError(err, "recording_speakers", func(string) any { return "" }))
	}
	return true, nil
}

// ReadSpeakers returns a recording's stored speakers, ordered by key.
func ReadSpeakers(ctx context.Context, db *sql.DB, id string) ([]SpeakerRow, error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return readSpeakers(ctx, tx, id)
}

func readSpeakers(ctx context.Context, tx *sql.Tx, id string) ([]SpeakerRow, error) {
	rs, err := tx.QueryContext(ctx, `SELECT speaker_key, role, COALESCE(student_id, ''), source, talk_ms, share,
		questions, turns, longest_monologue_ms, chars FROM recording_speakers WHERE recording_id = ? ORDER BY speaker_key`, id)
	if err != nil {
		return nil, fmt.Errorf("read speakers: %w", err)
	}
	defer rs.Close()
	var out []SpeakerRow
	for rs.Next() {
		var r SpeakerRow
		var share string
		if err := rs.Scan(&r.Key, &r.Role, &r.StudentID, &r.Source, &r.TalkMS, &share, &r.Questions, &r.Turns,
			&r.LongestMonologueMS, &r.Chars); err != nil {
			return nil, fmt.Errorf("read speakers: %w", err)
		}
		fmt.Sscanf(share, "%g", &r.Share)
		out = append(out, r)
	}
	return out, rs.Err()
}

// sortSpeakers orders rows as readSpeakers does, with shares at the stored precision.
func sortSpeakers(rows []SpeakerRow) {
	for i := range rows {
		var v float64
		fmt.Sscanf(fmt.Sprintf("%.4f", rows[i].Share), "%g", &v)
		rows[i].Share = v
	}
	slices.SortFunc(rows, func(a, b SpeakerRow) int { return strings.Compare(a.Key, b.Key) })
}
