package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// ReportTalk is one measured recording of the window as the report's talk section shows it: the shares
// and figures talk_metrics stored in recordings.talk (defined in steps/talk).
type ReportTalk struct {
	RecordingID, Teacher, Phase, Source string
	TeacherName                         string    // from teacher_names; empty when Tencent gave none
	Start                               time.Time // UTC
	TeacherShare, StudentShare          float64
	WaitAfterQuestionMS                 int64
	SilenceMS, OverlapMS                int64
	TeacherLongestMS, StudentLongestMS  int64
	TeacherQuestions, StudentQuestions  int
	OffTarget                           bool
}

// readTalk reads the window's measured recordings (recordings.talk with speaker labels), by start.
func (d *ReportData) readTalk(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `SELECT id, COALESCE(teacher_id, ''), COALESCE(phase, ''),
		COALESCE(transcript_source, ''), start_ts, CAST(talk AS CHAR), talk_off_target
		FROM recordings WHERE start_ts >= ? AND start_ts < ? AND talk IS NOT NULL ORDER BY start_ts, id`, d.Since, d.Until)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var t ReportTalk
		var raw string
		if err := rows.Scan(&t.RecordingID, &t.Teacher, &t.Phase, &t.Source, &t.Start, &raw, &t.OffTarget); err != nil {
			return err
		}
		var m struct {
			Labelled     bool    `json:"labelled"`
			TeacherShare float64 `json:"teacher_share"`
			StudentShare float64 `json:"student_share"`
			Wait         int64   `json:"wait_after_question_ms"`
			Silence      int64   `json:"silence_ms"`
			Overlap      int64   `json:"overlap_ms"`
			Speakers     []struct {
				Role      string `json:"role"`
				Longest   int64  `json:"longest_monologue_ms"`
				Questions int    `json:"questions"`
			} `json:"speakers"`
		}
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			return fmt.Errorf("recording %s: talk: %w", t.RecordingID, err)
		}
		if !m.Labelled {
			continue
		}
		t.Start = t.Start.UTC()
		t.TeacherShare, t.StudentShare, t.WaitAfterQuestionMS, t.SilenceMS, t.OverlapMS = m.TeacherShare, m.StudentShare, m.Wait, m.Silence, m.Overlap
		for _, s := range m.Speakers {
			switch s.Role {
			case "teacher":
				t.TeacherLongestMS = max(t.TeacherLongestMS, s.Longest)
				t.TeacherQuestions += s.Questions
			case "student":
				t.StudentLongestMS = max(t.StudentLongestMS, s.Longest)
				t.StudentQuestions += s.Questions
			}
		}
		d.Talk = append(d.Talk, t)
	}
	return rows.Err()
}
