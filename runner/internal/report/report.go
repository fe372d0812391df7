// Package report turns what the database holds into what a coaching team looks at: an HTML page with
// inline SVG charts, an Excel workbook and a short digest for a WeCom robot or an e-mail.
//
// It lives beside the steps, not in the engine: it knows phases, teachers and students, and it brings
// excelize and go-mail, none of which the generic runner should carry.
package report

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"meetpipe/steps/store"
)

// Options say how to draw a report.
type Options struct {
	Title    string
	Location *time.Location // dates are shown in it (default Asia/Shanghai)
	Now      time.Time      // for "days since" and ages (default time.Now)
	Phases   []string       // the journey's order (kimi_classify's phases); phases it lacks follow as they come
	Prices   Prices
	Pipeline string // the pipeline file, for the --only hint
}

// Prices are the model's prices per million tokens, from kimi_classify's settings. Known is false when
// none is configured: the report then shows tokens without money.
type Prices struct {
	Known                      bool
	Input, Output, CachedInput float64
	Currency                   string
}

// Pending is an item a run left for later (runner.Pending without the engine's hint).
type Pending struct {
	ID, Reason          string
	FirstSeen, LastSeen time.Time
}

// Report is everything the page, the workbook and the digest show.
type Report struct {
	Title                   string
	Pipeline                string
	Since, Until, Generated time.Time
	Loc                     *time.Location
	Phases                  []string

	Recordings []store.ReportRecording
	Students   []Student
	Weeks      []Week
	Teachers   []Teacher
	Review     []ReviewItem

	Runs           []store.RunRow
	Failures       []store.FailureRow
	FailuresByStep []FailureGroup
	Pending        []PendingRow
	Spend          Spend

	NewStudents int // first session ever inside the window
	// Omitted is how many older recordings of the window the report leaves out to stay small.
	Omitted int

	Talk       []store.ReportTalk // measured sessions (talk.go)
	TalkTrends []TalkTrend

	Coach *Coaching // the student board, homework, score trends and warnings; nil: not loaded
}

// Student is one student's journey through the window.
type Student struct {
	ID, Name               string
	Sessions, Minutes      int // in the window
	AllSessions, AllMinute int // all time (student_stats)
	Last                   *time.Time
	DaysSince              int // since the last session; -1 unknown
	New                    bool
	Journey                []Session
}

// Session is one recording of a student.
type Session struct {
	Recording, Teacher, Subject, Phase string
	Start                              time.Time
	Minutes                            int
}

// Phases is the student's phases in the order of the sessions.
func (s Student) Phases() []string {
	out := make([]string, len(s.Journey))
	for i, j := range s.Journey {
		out[i] = j.Phase
	}
	return out
}

// Week counts the sessions of a week (Monday to Sunday in the report's zone) per phase.
type Week struct {
	Start   time.Time
	ByPhase map[string]int
	Total   int
}

// Teacher is what one teacher held in the window.
type Teacher struct {
	ID              string // userid: what machines read (data-teacher)
	Name            string // as Tencent gave it (teacher_names); empty when it gave none
	Sessions        int
	Minutes         int
	ByPhase         map[string]int // sessions
	MinutesByPhase  map[string]int
	Students        int
	NeedsReview     int
	LastSessionTime time.Time
}

// Label is how people read the teacher: "王老师 (teacher_002)", or the userid alone when no name is known.
func (t Teacher) Label() string { return teacherLabel(t.ID, t.Name) }

// Short is the name, or the userid when no name is known: for narrow places (chart labels).
func (t Teacher) Short() string { return cmp.Or(t.Name, t.ID) }

// Share is the fraction of the teacher's sessions in phase p.
func (t Teacher) Share(p string) float64 {
	if t.Sessions == 0 {
		return 0
	}
	return float64(t.ByPhase[p]) / float64(t.Sessions)
}

// ReviewItem is a recording flagged needs_review.
type ReviewItem struct {
	ID, Teacher, Subject, Phase, Reason string // Teacher: teacherLabel
	TeacherID                           string
	Students                            []string
	Start                               time.Time
	Minutes                             int
}

// FailureGroup counts open failures of one step with one reason.
type FailureGroup struct {
	Step, Kind, Reason string
	Count              int
	Items              []string
}

// PendingRow is a pending item with its age.
type PendingRow struct {
	ID, Reason string
	FirstSeen  time.Time
	Age        time.Duration
}

// Spend is what the window cost: audio minutes transcribed and model tokens (and money when priced).
type Spend struct {
	Recordings, AudioMinutes                     int
	WithUsage, WithoutUsage                      int // recordings whose classification has token figures, and not
	Prompt, Completion, Reasoning, Cached, Total int
	Money                                        float64
	MoneyKnown                                   bool
	Currency                                     string
}

// Build computes the report of d.
func Build(d *store.ReportData, pending []Pending, o Options) *Report {
	if o.Location == nil {
		o.Location = shanghai()
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Title == "" {
		o.Title = "辅导进度报告"
	}
	r := &Report{Title: o.Title, Pipeline: o.Pipeline, Since: d.Since, Until: d.Until, Generated: o.Now, Loc: o.Location,
		Phases: slices.Clone(o.Phases), Recordings: d.Recordings, Runs: d.Runs, Failures: d.Failures, Omitted: d.Omitted}
	for _, rec := range d.Recordings {
		if rec.Phase != "" && !slices.Contains(r.Phases, rec.Phase) {
			r.Phases = append(r.Phases, rec.Phase)
		}
	}
	r.talk(d.Talk)
	byRec := map[string]store.ReportRecording{}
	for _, rec := range d.Recordings {
		byRec[rec.ID] = rec
	}
	for _, s := range d.Students {
		st := Student{ID: s.ID, Name: s.Name, Sessions: s.WindowSessions, Minutes: s.WindowMinutes,
			AllSessions: s.AllSessions, AllMinute: s.AllMinutes, Last: s.LastSession, DaysSince: -1}
		if s.LastSession != nil {
			st.DaysSince = int(o.Now.Sub(*s.LastSession).Hours() / 24)
		}
		if s.FirstSession != nil && !s.FirstSession.Before(d.Since) {
			st.New = true
			r.NewStudents++
		}
		for _, id := range s.WindowRecordings {
			rec := byRec[id]
			ses := Session{Recording: id, Teacher: teacherLabel(rec.Teacher, rec.TeacherName), Subject: rec.Subject, Phase: rec.Phase, Start: rec.Start}
			for _, a := range rec.Students {
				if a.ID == s.ID {
					ses.Minutes = a.Minutes
				}
			}
			st.Journey = append(st.Journey, ses)
		}
		r.Students = append(r.Students, st)
	}
	// Most recently seen first: the team looks at who is active, then at who went quiet.
	sort.SliceStable(r.Students, func(i, j int) bool {
		a, b := r.Students[i], r.Students[j]
		if a.Sessions != b.Sessions {
			return a.Sessions > b.Sessions
		}
		return a.ID < b.ID
	})
	r.weeks()
	r.teachers()
	for _, rec := range d.Recordings {
		if !rec.NeedsReview {
			continue
		}
		it := ReviewItem{ID: rec.ID, Teacher: teacherLabel(rec.Teacher, rec.TeacherName), TeacherID: rec.Teacher,
			Subject: rec.Subject, Phase: rec.Phase, Reason: ReasonLabel(rec.ReviewReason), Start: rec.Start, Minutes: rec.Minutes}
		for _, a := range rec.Students {
			it.Students = append(it.Students, studentLabel(a.ID, a.Name))
		}
		r.Review = append(r.Review, it)
	}
	groups := map[[3]string]*FailureGroup{}
	for _, f := range d.Failures {
		reason := firstLine(f.Error, 120)
		k := [3]string{f.Step, f.Kind, reason}
		g := groups[k]
		if g == nil {
			g = &FailureGroup{Step: f.Step, Kind: f.Kind, Reason: reason}
			groups[k] = g
		}
		g.Count++
		g.Items = append(g.Items, f.Item)
	}
	for _, g := range groups {
		r.FailuresByStep = append(r.FailuresByStep, *g)
	}
	sort.Slice(r.FailuresByStep, func(i, j int) bool {
		a, b := r.FailuresByStep[i], r.FailuresByStep[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		return a.Step+a.Reason < b.Step+b.Reason
	})
	for _, p := range pending {
		r.Pending = append(r.Pending, PendingRow{ID: p.ID, Reason: ReasonLabel(p.Reason), FirstSeen: p.FirstSeen, Age: o.Now.Sub(p.FirstSeen)})
	}
	sort.Slice(r.Pending, func(i, j int) bool { return r.Pending[i].Age > r.Pending[j].Age })
	r.spend(o.Prices)
	return r
}

func (r *Report) weeks() {
	idx := map[time.Time]*Week{}
	// Every week of the window appears, empty ones too, so gaps show.
	for t := weekStart(r.Since.In(r.Loc)); t.Before(r.Until); t = t.AddDate(0, 0, 7) {
		w := &Week{Start: t, ByPhase: map[string]int{}}
		idx[t] = w
	}
	for _, rec := range r.Recordings {
		ws := weekStart(rec.Start.In(r.Loc))
		w := idx[ws]
		if w == nil {
			w = &Week{Start: ws, ByPhase: map[string]int{}}
			idx[ws] = w
		}
		w.ByPhase[phaseOr(rec.Phase)]++
		w.Total++
	}
	for _, w := range idx {
		r.Weeks = append(r.Weeks, *w)
	}
	sort.Slice(r.Weeks, func(i, j int) bool { return r.Weeks[i].Start.Before(r.Weeks[j].Start) })
}

func (r *Report) teachers() {
	idx := map[string]*Teacher{}
	students := map[string]map[string]bool{}
	for _, rec := range r.Recordings {
		t := idx[rec.Teacher]
		if t == nil {
			t = &Teacher{ID: rec.Teacher, Name: strings.TrimSpace(rec.TeacherName), ByPhase: map[string]int{}, MinutesByPhase: map[string]int{}}
			idx[rec.Teacher] = t
			students[rec.Teacher] = map[string]bool{}
		}
		t.Sessions++
		t.Minutes += rec.Minutes
		t.ByPhase[phaseOr(rec.Phase)]++
		t.MinutesByPhase[phaseOr(rec.Phase)] += rec.Minutes
		if rec.NeedsReview {
			t.NeedsReview++
		}
		if rec.Start.After(t.LastSessionTime) {
			t.LastSessionTime = rec.Start
		}
		for _, a := range rec.Students {
			students[rec.Teacher][a.ID] = true
		}
	}
	for id, t := range idx {
		t.Students = len(students[id])
		r.Teachers = append(r.Teachers, *t)
	}
	sort.Slice(r.Teachers, func(i, j int) bool {
		if r.Teachers[i].Minutes != r.Teachers[j].Minutes {
			return r.Teachers[i].Minutes > r.Teachers[j].Minutes
		}
		return r.Teachers[i].ID < r.Teachers[j].ID
	})
}

func (r *Report) spend(p Prices) {
	s := &r.Spend
	s.Currency = p.Currency
	for _, rec := range r.Recordings {
		s.Recordings++
		s.AudioMinutes += rec.Minutes
		u := rec.Usage
		if !u.Known {
			s.WithoutUsage++
			continue
		}
		s.WithUsage++
		s.Prompt += u.Prompt
		s.Completion += u.Completion
		s.Reasoning += u.Reasoning
		s.Cached += u.Cached
		s.Total += u.Total
	}
	if p.Known && s.WithUsage > 0 {
		s.MoneyKnown = true
		in := float64(s.Prompt - s.Cached)
		cachedPrice := p.CachedInput
		if cachedPrice == 0 {
			cachedPrice = p.Input // no cache price configured: cached tokens cost as input
		}
		s.Money = (in*p.Input + float64(s.Cached)*cachedPrice + float64(s.Completion)*p.Output) / 1e6
	}
}

// Sessions is the number of recordings in the window.
func (r *Report) Sessions() int { return len(r.Recordings) }

// Hours is the window's session time in hours.
func (r *Report) Hours() float64 { return float64(r.Spend.AudioMinutes) / 60 }

// OnlyCommand is the command an operator pastes to process these recordings again.
func (r *Report) OnlyCommand(ids ...string) string {
	return fmt.Sprintf("runner run %s --only %s", r.pipeline(), strings.Join(ids, ","))
}

// RerunCommand is OnlyCommand for one review item, with a window that holds its start: a recording older
// than the default 24 hours is not listed otherwise.
func (r *Report) RerunCommand(it ReviewItem) string {
	since := it.Start.Add(-time.Hour).In(r.Loc)
	until := it.Start.Add(24 * time.Hour)
	if !r.Generated.IsZero() && until.After(r.Generated) {
		until = r.Generated
	}
	return fmt.Sprintf("runner run %s --since %s --until %s --only %s", r.pipeline(), since.Format(time.RFC3339),
		until.In(r.Loc).Format(time.RFC3339), it.ID)
}

func (r *Report) pipeline() string {
	if r.Pipeline == "" {
		return "pipelines/meeting.yaml"
	}
	return r.Pipeline
}

func weekStart(t time.Time) time.Time {
	d := (int(t.Weekday()) + 6) % 7 // Monday = 0
	y, m, day := t.AddDate(0, 0, -d).Date()
	return time.Date(y, m, day, 0, 0, 0, 0, t.Location())
}

func phaseOr(p string) string {
	if p == "" {
		return "未分类"
	}
	return p
}

func studentLabel(id, name string) string {
	if name == "" || name == id {
		return id
	}
	return name + " (" + id + ")"
}

// teacherLabel is a teacher as people read it: the name Tencent gave with the userid, like a student's.
func teacherLabel(id, name string) string { return studentLabel(id, strings.TrimSpace(name)) }

func firstLine(s string, n int) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func shanghai() *time.Location {
	if l, err := time.LoadLocation("Asia/Shanghai"); err == nil {
		return l
	}
	return time.FixedZone("CST", 8*3600)
}
