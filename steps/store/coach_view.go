package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/go-sql-driver/mysql"

	"meetpipe/steps/coach"
)

// StudentViews computes every student's view for warning rules as of now: sessions that started before
// it, homework open at it (an item closed later counts as open), the scores and talk shares of those
// sessions. It reads recordings, recording_students, action_items, scorecards and, when the table exists,
// recording_speakers.
func StudentViews(ctx context.Context, db *sql.DB, now time.Time) ([]coach.StudentView, error) {
	now = now.UTC()
	rows, err := db.QueryContext(ctx, `SELECT rs.student_id, COALESCE(rs.student_name, ''), r.id, r.start_ts,
		COALESCE(r.phase, ''), COALESCE(tn.name, r.teacher_id, '')
		FROM recording_students rs JOIN recordings r ON r.id = rs.recording_id
		LEFT JOIN teacher_names tn ON tn.teacher_id = r.teacher_id
		WHERE r.start_ts < ? ORDER BY rs.student_id, r.start_ts, r.id`, now)
	if err != nil {
		return nil, fmt.Errorf("student views: sessions: %w", err)
	}
	type session struct {
		id, phase, teacher string
		start              time.Time
	}
	byStudent := map[string][]session{}
	names := map[string]string{}
	var order []string
	for rows.Next() {
		var sid, name string
		var s session
		if err := rows.Scan(&sid, &name, &s.id, &s.start, &s.phase, &s.teacher); err != nil {
			rows.Close()
			return nil, fmt.Errorf("student views: sessions: %w", err)
		}
		if _, ok := byStudent[sid]; !ok {
			order = append(order, sid)
		}
		byStudent[sid] = append(byStudent[sid], s)
		if name != "" {
			names[sid] = name
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("student views: sessions: %w", err)
	}
	scores, err := sessionScores(ctx, db, now)
	if err != nil {
		return nil, err
	}
	shares, err := teacherShares(ctx, db)
	if err != nil {
		return nil, err
	}
	open, overdue, err := homeworkCounts(ctx, db, now)
	if err != nil {
		return nil, err
	}
	days := func(t time.Time) float64 { return math.Floor(now.Sub(t).Hours()/24*10) / 10 }
	out := make([]coach.StudentView, 0, len(order))
	for _, sid := range order {
		ss := byStudent[sid]
		last := ss[len(ss)-1]
		v := coach.StudentView{ID: sid, Name: names[sid], Teacher: last.teacher, Sessions: len(ss),
			LastSession: last.start.UTC().Format(time.RFC3339), DaysSinceLast: days(last.start), Phase: last.phase,
			OpenItems: open[sid], OverdueItems: overdue[sid], TeacherShare: -1, LastScores: map[string]float64{}}
		first := len(ss) - 1
		for first > 0 && ss[first-1].phase == last.phase {
			first--
		}
		v.SessionsInPhase, v.DaysInPhase = len(ss)-first, days(ss[first].start)
		if sh, ok := shares[last.id]; ok {
			v.TeacherShare = sh
		}
		var scored []session
		for _, s := range ss {
			if len(scores[s.id]) > 0 {
				scored = append(scored, s)
			}
		}
		if n := len(scored); n > 0 {
			ls := scored[n-1]
			v.ScorePhase, v.LastScores, v.LastScore = ls.phase, scores[ls.id], mean(scores[ls.id])
			var inPhase []session
			for _, s := range scored {
				if s.phase == ls.phase {
					inPhase = append(inPhase, s)
				}
			}
			v.ScoredInPhase = len(inPhase)
			if k := len(inPhase); k >= 2 {
				v.ScoreTrend = math.Round((v.LastScore-mean(scores[inPhase[k-2].id]))*100) / 100
			}
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func mean(m map[string]float64) float64 {
	if len(m) == 0 {
		return 0
	}
	var sum float64
	for _, v := range m {
		sum += v
	}
	return math.Round(sum/float64(len(m))*100) / 100
}

func sessionScores(ctx context.Context, db *sql.DB, now time.Time) (map[string]map[string]float64, error) {
	rows, err := db.QueryContext(ctx, `SELECT s.recording_id, s.criterion, s.score FROM scorecards s
		JOIN recordings r ON r.id = s.recording_id WHERE r.start_ts < ?`, now)
	if err != nil {
		return nil, fmt.Errorf("student views: scorecards: %w", err)
	}
	defer rows.Close()
	out := map[string]map[string]float64{}
	for rows.Next() {
		var rec, crit string
		var score float64
		if err := rows.Scan(&rec, &crit, &score); err != nil {
			return nil, fmt.Errorf("student views: scorecards: %w", err)
		}
		if out[rec] == nil {
			out[rec] = map[string]float64{}
		}
		out[rec][crit] = score
	}
	return out, rows.Err()
}

// teacherShares is the teacher's share of teacher plus student talk per recording, from the speakers
// table of issue 21 (sql/0003_speakers.sql) when it exists.
func teacherShares(ctx context.Context, db *sql.DB) (map[string]float64, error) {
	rows, err := db.QueryContext(ctx, `SELECT recording_id,
		SUM(CASE WHEN role = 'teacher' THEN talk_ms ELSE 0 END), SUM(CASE WHEN role IN ('teacher', 'student') THEN talk_ms ELSE 0 END)
		FROM recording_speakers GROUP BY recording_id`)
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1146 {
		return map[string]float64{}, nil // no speakers table: talk share not measured
	}
	if err != nil {
		return nil, fmt.Errorf("student views: recording_speakers: %w", err)
	}
	defer rows.Close()
	out := map[string]float64{}
	for rows.Next() {
		var rec string
		var teacher, both float64
		if err := rows.Scan(&rec, &teacher, &both); err != nil {
			return nil, fmt.Errorf("student views: recording_speakers: %w", err)
		}
		if both > 0 {
			out[rec] = math.Round(teacher/both*1000) / 1000
		}
	}
	return out, rows.Err()
}

// homeworkCounts are each student's items open at now (assigned before it, not closed by a session
// before it) and those of them overdue (due before now's day, in UTC).
func homeworkCounts(ctx context.Context, db *sql.DB, now time.Time) (open, overdue map[string]int, err error) {
	rows, err := db.QueryContext(ctx, `SELECT a.student_id, a.due_date IS NOT NULL AND a.due_date < DATE(?)
		FROM action_items a JOIN recordings r ON r.id = a.recording_id
		LEFT JOIN recordings c ON c.id = a.closed_in
		WHERE r.start_ts < ? AND (a.status = 'open' OR c.start_ts IS NULL OR c.start_ts >= ?)`, now, now, now)
	if err != nil {
		return nil, nil, fmt.Errorf("student views: action_items: %w", err)
	}
	defer rows.Close()
	open, overdue = map[string]int{}, map[string]int{}
	for rows.Next() {
		var sid string
		var late bool
		if err := rows.Scan(&sid, &late); err != nil {
			return nil, nil, fmt.Errorf("student views: action_items: %w", err)
		}
		open[sid]++
		if late {
			overdue[sid]++
		}
	}
	return open, overdue, rows.Err()
}

// HomeworkRow is an action item as the report shows it, with its status as of the report's end.
type HomeworkRow struct {
	StudentID, Student string
	Owner, Task        string
	DueDate            string // YYYY-MM-DD or ""
	Status             string // at until: an item closed after it is open
	Assigned           time.Time
	ClosedIn           string
	Overdue            bool
}

// ScoreRow is one criterion's score of one session of a student.
type ScoreRow struct {
	StudentID, Recording, Phase, Criterion string
	Start                                  time.Time
	Score, Max                             float64
}

// LoadCoachDetail reads every student's homework and scores of sessions before until (the report's end),
// each with its status as of then.
func LoadCoachDetail(ctx context.Context, db *sql.DB, until time.Time) ([]HomeworkRow, []ScoreRow, error) {
	until = until.UTC()
	rows, err := db.QueryContext(ctx, `SELECT a.student_id, COALESCE((SELECT MAX(rs.student_name) FROM recording_students rs
			WHERE rs.student_id = a.student_id), ''), a.owner, a.task, COALESCE(DATE_FORMAT(a.due_date, '%Y-%m-%d'), ''),
		CASE WHEN a.status = 'open' OR c.start_ts IS NULL OR c.start_ts >= ? THEN 'open' ELSE a.status END,
		r.start_ts, CASE WHEN c.start_ts < ? THEN COALESCE(a.closed_in, '') ELSE '' END,
		a.due_date IS NOT NULL AND a.due_date < DATE(?)
		FROM action_items a JOIN recordings r ON r.id = a.recording_id LEFT JOIN recordings c ON c.id = a.closed_in
		WHERE r.start_ts < ? ORDER BY a.student_id, r.start_ts, a.id`, until, until, until, until)
	if err != nil {
		return nil, nil, fmt.Errorf("report: action_items: %w", err)
	}
	var hw []HomeworkRow
	for rows.Next() {
		var h HomeworkRow
		var late bool
		if err := rows.Scan(&h.StudentID, &h.Student, &h.Owner, &h.Task, &h.DueDate, &h.Status, &h.Assigned, &h.ClosedIn, &late); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("report: action_items: %w", err)
		}
		h.Overdue = late && h.Status == "open"
		hw = append(hw, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("report: action_items: %w", err)
	}
	rows, err = db.QueryContext(ctx, `SELECT rs.student_id, s.recording_id, s.phase, s.criterion, r.start_ts, s.score, s.max_score
		FROM scorecards s JOIN recordings r ON r.id = s.recording_id JOIN recording_students rs ON rs.recording_id = s.recording_id
		WHERE r.start_ts < ? ORDER BY rs.student_id, r.start_ts, s.recording_id, s.criterion`, until)
	if err != nil {
		return nil, nil, fmt.Errorf("report: scorecards: %w", err)
	}
	defer rows.Close()
	var sc []ScoreRow
	for rows.Next() {
		var s ScoreRow
		if err := rows.Scan(&s.StudentID, &s.Recording, &s.Phase, &s.Criterion, &s.Start, &s.Score, &s.Max); err != nil {
			return nil, nil, fmt.Errorf("report: scorecards: %w", err)
		}
		sc = append(sc, s)
	}
	return hw, sc, rows.Err()
}

// MissingTable reports an error of a query on a table the schema lacks (MySQL 1146): a database the
// migrations of the coaching memory have not reached yet.
func MissingTable(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1146
}
