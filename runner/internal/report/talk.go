package report

import (
	"fmt"
	"sort"
	"time"

	"meetpipe/steps/store"
)

// SheetTalk is the workbook's sheet of talk shares.
const SheetTalk = "说话"

// TalkTrend is one teacher's students' share of speech, week by week (README: Talk metrics).
type TalkTrend struct {
	Teacher  string // teacherLabel
	ID       string // the teacher's userid, for machines
	Sessions int
	Mean     float64 // students' mean share over the window's measured sessions
	OffCount int     // sessions that missed their phase's target
	Weeks    []TalkWeek
}

// TalkWeek is a week of a teacher's trend.
type TalkWeek struct {
	Start    time.Time
	Sessions int
	Student  float64 // mean student share
}

// talk fills the talk section: the sessions as stored and each teacher's weekly trend.
func (r *Report) talk(rows []store.ReportTalk) {
	r.Talk = rows
	by := map[string]*TalkTrend{}
	weeks := map[string]map[time.Time]*TalkWeek{}
	for _, t := range rows {
		tr := by[t.Teacher]
		if tr == nil {
			tr = &TalkTrend{Teacher: teacherLabel(t.Teacher, t.TeacherName), ID: t.Teacher}
			by[t.Teacher] = tr
			weeks[t.Teacher] = map[time.Time]*TalkWeek{}
		}
		tr.Sessions++
		tr.Mean += t.StudentShare
		if t.OffTarget {
			tr.OffCount++
		}
		ws := weekStart(t.Start.In(r.Loc))
		w := weeks[t.Teacher][ws]
		if w == nil {
			w = &TalkWeek{Start: ws}
			weeks[t.Teacher][ws] = w
		}
		w.Sessions++
		w.Student += t.StudentShare
	}
	for id, tr := range by {
		tr.Mean /= float64(tr.Sessions)
		for _, w := range weeks[id] {
			w.Student /= float64(w.Sessions)
			tr.Weeks = append(tr.Weeks, *w)
		}
		sort.Slice(tr.Weeks, func(i, j int) bool { return tr.Weeks[i].Start.Before(tr.Weeks[j].Start) })
		r.TalkTrends = append(r.TalkTrends, *tr)
	}
	sort.Slice(r.TalkTrends, func(i, j int) bool { return r.TalkTrends[i].Teacher < r.TalkTrends[j].Teacher })
}

// seconds shows milliseconds as seconds with one decimal.
func seconds(ms int64) string { return fmt.Sprintf("%.1f", float64(ms)/1000) }

// talkSheet is the workbook's talk sheet: one row per measured session.
func (r *Report) talkSheet(wall func(*time.Time) time.Time) sheet {
	s := sheet{name: SheetTalk, head: []string{"ID", "开始", "老师", "阶段", "来源", "老师占比", "学员占比",
		"提问后等待（秒）", "老师最长独白（秒）", "学员最长独白（秒）", "老师提问", "学员提问", "静默（秒）", "重叠（秒）", "未达目标"}}
	for _, t := range r.Talk {
		start := t.Start
		off := ""
		if t.OffTarget {
			off = "是"
		}
		s.rows = append(s.rows, []any{t.RecordingID, wall(&start), teacherLabel(t.Teacher, t.TeacherName), t.Phase, t.Source,
			fmt.Sprintf("%.0f%%", t.TeacherShare*100), fmt.Sprintf("%.0f%%", t.StudentShare*100), seconds(t.WaitAfterQuestionMS),
			seconds(t.TeacherLongestMS), seconds(t.StudentLongestMS), t.TeacherQuestions, t.StudentQuestions,
			seconds(t.SilenceMS), seconds(t.OverlapMS), off})
	}
	return s
}
