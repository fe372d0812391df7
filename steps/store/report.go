package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// ReportData is what `runner report` draws: the recordings of a window with their students, every
// student's all-time statistics, and the pipeline's recent runs and open failures.
type ReportData struct {
	Since, Until time.Time
	Recordings   []ReportRecording // in the window, by start
	Students     []ReportStudent   // who attended a recording of the window, by id
	Runs         []RunRow          // most recent first
	Failures     []FailureRow      // open item failures, most recent first
	// Omitted is how many older recordings of the window were left out to keep the report within
	// ReportOptions.MaxRecordings (0: none).
	Omitted int
	Talk    []ReportTalk // measured recordings of the window, by start (report_talk.go)
}

// ReportRecording is a stored recording as a report shows it.
type ReportRecording struct {
	ID           string
	Subject      string
	Teacher      string    // teacher_id (userid)
	TeacherName  string    // from teacher_names; empty when Tencent gave none
	Start        time.Time // UTC
	Minutes      int
	Phase        string
	Status       string
	NeedsReview  bool
	ReviewReason string // classification.reason, or the deciding rule
	Rule         string
	Summary      string
	Students     []ReportAttendee
	Usage        Usage
}

// ReportAttendee is a student of one recording.
type ReportAttendee struct {
	ID, Name string
	Minutes  int // attended, rounded
}

// Usage is what classifying a recording cost in model tokens; Known is false when the classification
// does not say (older rows, or a rule decided without the model).
type Usage struct {
	Known                                        bool
	Model                                        string
	Prompt, Completion, Reasoning, Cached, Total int
}

// ReportStudent is a student: the window's sessions and the all-time statistics of student_stats.
type ReportStudent struct {
	ID, Name         string
	AllSessions      int        // record_cnt
	AllMinutes       int        // total_duration
	FirstSession     *time.Time // earliest recording ever (UTC)
	LastSession      *time.Time // last_record_at
	WindowSessions   int
	WindowMinutes    int
	WindowRecordings []string // recording ids of the window, by start
}

// ReportOptions bound a report: the window and how many runs and failures to list (defaults 10 and 50).
type ReportOptions struct {
	Since, Until time.Time
	Runs         int
	Failures     int
	// MaxRecordings bounds the recordings read: the most recent ones are kept and the count of the rest is
	// ReportData.Omitted (0: DefaultMaxReportRecordings).
	MaxRecordings int
}

// DefaultMaxReportRecordings keeps a report's page and mail to a few megabytes.
const DefaultMaxReportRecordings = 3000

// maxReportSummary bounds the characters of a summary a report reads.
const maxReportSummary = 2000

// LoadReport reads the window's recordings, their students and the pipeline's health.
func LoadReport(ctx context.Context, db *sql.DB, o ReportOptions) (*ReportData, error) {
	d := &ReportData{Since: o.Since.UTC(), Until: o.Until.UTC()}
	if o.MaxRecordings <= 0 {
		o.MaxRecordings = DefaultMaxReportRecordings
	}
	if err := d.readRecordings(ctx, db, o.MaxRecordings); err != nil {
		return nil, fmt.Errorf("report: recordings %s..%s: %w", d.Since.Format(time.RFC3339), d.Until.Format(time.RFC3339), err)
	}
	if err := d.readStudents(ctx, db); err != nil {
		return nil, fmt.Errorf("report: students: %w", err)
	}
	if err := d.readTalk(ctx, db); err != nil {
		return nil, fmt.Errorf("report: talk: %w", err)
	}
	if err := d.readTeacherNames(ctx, db); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var rep Report
	if err := rep.readRuns(ctx, db, positiveOr(o.Runs, 10)); err != nil {
		return nil, fmt.Errorf("report: pipeline_runs: %w", err)
	}
	if err := rep.readFailures(ctx, db, positiveOr(o.Failures, 50)); err != nil {
		return nil, fmt.Errorf("report: item_failures: %w", err)
	}
	d.Runs, d.Failures = rep.Runs, rep.Failures
	return d, nil
}

func (d *ReportData) readRecordings(ctx context.Context, db *sql.DB, limit int) error {
	var total int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM recordings WHERE start_ts >= ? AND start_ts < ?`,
		d.Since, d.Until).Scan(&total); err != nil {
		return err
	}
	d.Omitted = max(0, total-limit)
	// The most recent limit recordings, shown by start; a summary is cut at maxReportSummary characters.
	rows, err := db.QueryContext(ctx, `SELECT * FROM (SELECT id, COALESCE(subject, '') AS subject,
		COALESCE(teacher_id, '') AS teacher_id, start_ts, COALESCE(duration_min, 0) AS duration_min,
		COALESCE(phase, '') AS phase, status, needs_review, LEFT(COALESCE(summary, ''), ?) AS summary,
		COALESCE(CAST(classification AS CHAR), '') AS classification
		FROM recordings WHERE start_ts >= ? AND start_ts < ? ORDER BY start_ts DESC, id DESC LIMIT ?) w
		ORDER BY start_ts, id`, maxReportSummary, d.Since, d.Until, limit)
	if err != nil {
		return err
	}
	defer rows.Close()
	index := map[string]int{}
	for rows.Next() {
		var r ReportRecording
		var class string
		if err := rows.Scan(&r.ID, &r.Subject, &r.Teacher, &r.Start, &r.Minutes, &r.Phase, &r.Status,
			&r.NeedsReview, &r.Summary, &class); err != nil {
			return err
		}
		r.Start = r.Start.UTC()
		r.Rule, r.ReviewReason, r.Usage = parseClassification(class)
		if r.NeedsReview && r.ReviewReason == "" {
			r.ReviewReason = r.Rule
		}
		index[r.ID] = len(d.Recordings)
		d.Recordings = append(d.Recordings, r)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close()
	from := d.Since
	if d.Omitted > 0 && len(d.Recordings) > 0 {
		from = d.Recordings[0].Start // only the attendance of the recordings kept
	}
	att, err := db.QueryContext(ctx, `SELECT rs.recording_id, rs.student_id, COALESCE(rs.student_name, ''),
		rs.attended_seconds FROM recording_students rs JOIN recordings r ON r.id = rs.recording_id
		WHERE r.start_ts >= ? AND r.start_ts < ? ORDER BY rs.recording_id, rs.student_id`, from, d.Until)
	if err != nil {
		return err
	}
	defer att.Close()
	for att.Next() {
		var rec string
		var a ReportAttendee
		var secs int
		if err := att.Scan(&rec, &a.ID, &a.Name, &secs); err != nil {
			return err
		}
		a.Minutes = (secs + 30) / 60
		if i, ok := index[rec]; ok {
			d.Recordings[i].Students = append(d.Recordings[i].Students, a)
		}
	}
	return att.Err()
}

// parseClassification reads the classification JSON defensively: its shape belongs to kimi_classify
// and grows (usage{…} with reasoning and cached tokens is newer than prompt_tokens/completion_tokens).
func parseClassification(s string) (rule, reason string, u Usage) {
	if s == "" {
		return "", "", u
	}
	var c struct {
		Model            string `json:"model"`
		Rule             string `json:"rule"`
		Reason           string `json:"reason"`
		PromptTokens     *int   `json:"prompt_tokens"`
		CompletionTokens *int   `json:"completion_tokens"`
		Tokens           *int   `json:"tokens"`
		Usage            *struct {
			Prompt     *int `json:"prompt_tokens"`
			Completion *int `json:"completion_tokens"`
			Reasoning  *int `json:"reasoning_tokens"`
			Cached     *int `json:"cached_tokens"`
			Total      *int `json:"total_tokens"`
		} `json:"usage"`
	}
	if json.Unmarshal([]byte(s), &c) != nil {
		return "", "", u
	}
	u.Model = c.Model
	get := func(p *int) int {
		if p == nil {
			return 0
		}
		return *p
	}
	switch {
	case c.Usage != nil && (c.Usage.Prompt != nil || c.Usage.Completion != nil):
		u.Known = true
		u.Prompt, u.Completion = get(c.Usage.Prompt), get(c.Usage.Completion)
		u.Reasoning, u.Cached, u.Total = get(c.Usage.Reasoning), get(c.Usage.Cached), get(c.Usage.Total)
	case c.PromptTokens != nil || c.CompletionTokens != nil:
		u.Known = true
		u.Prompt, u.Completion, u.Total = get(c.PromptTokens), get(c.CompletionTokens), get(c.Tokens)
	}
	if u.Known && u.Total == 0 {
		u.Total = u.Prompt + u.Completion
	}
	return c.Rule, c.Reason, u
}

// readStudents gathers the window's students from its recordings and adds their all-time statistics.
func (d *ReportData) readStudents(ctx context.Context, db *sql.DB) error {
	byID := map[string]*ReportStudent{}
	for _, r := range d.Recordings {
		for _, a := range r.Students {
			s := byID[a.ID]
			if s == nil {
				s = &ReportStudent{ID: a.ID}
				byID[a.ID] = s
			}
			if a.Name != "" {
				s.Name = a.Name // recordings are by start: the latest name wins
			}
			s.WindowSessions++
			s.WindowMinutes += a.Minutes
			s.WindowRecordings = append(s.WindowRecordings, r.ID)
		}
	}
	if len(byID) == 0 {
		return nil
	}
	rows, err := db.QueryContext(ctx, `SELECT s.student_id, s.record_cnt, s.total_duration, s.last_record_at,
		(SELECT MIN(r.start_ts) FROM recording_students rs JOIN recordings r ON r.id = rs.recording_id
		 WHERE rs.student_id = s.student_id)
		FROM student_stats s JOIN (SELECT DISTINCT rs.student_id FROM recording_students rs
		 JOIN recordings r ON r.id = rs.recording_id WHERE r.start_ts >= ? AND r.start_ts < ?) w
		 ON w.student_id = s.student_id`, d.Since, d.Until)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var cnt, mins int
		var last, first sql.NullTime
		if err := rows.Scan(&id, &cnt, &mins, &last, &first); err != nil {
			return err
		}
		if s := byID[id]; s != nil {
			s.AllSessions, s.AllMinutes, s.LastSession, s.FirstSession = cnt, mins, timePtr(last), timePtr(first)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, s := range byID {
		d.Students = append(d.Students, *s)
	}
	sort.Slice(d.Students, func(i, j int) bool { return d.Students[i].ID < d.Students[j].ID })
	return nil
}
