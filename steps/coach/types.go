package coach

// Extraction is what kimi_classify keeps of a session's extracted fields after the checks (quotes found,
// enums and ranges held), in classification.coaching; mysql_upsert stores it in action_items and
// scorecards.
type Extraction struct {
	Phase     string     `json:"phase" expr:"phase"`
	Homework  []Item     `json:"homework" expr:"homework"`
	Scores    []Score    `json:"scores" expr:"scores"`
	Followups []Followup `json:"followups" expr:"followups"`
	// Dropped counts extracted items whose quote is not in the transcript (never stored).
	Dropped int `json:"dropped_ungrounded" expr:"dropped_ungrounded"`
	// OutOfRange counts scores still out of their criterion's range after the re-ask (not stored).
	OutOfRange int `json:"out_of_range" expr:"out_of_range"`
}

// Item is one piece of homework or a to-do, keyed by ItemKey.
type Item struct {
	Key      string `json:"key" expr:"key"`
	Owner    string `json:"owner" expr:"owner"` // teacher or student
	Task     string `json:"task" expr:"task"`
	Due      string `json:"due" expr:"due"`           // as said
	DueDate  string `json:"due_date" expr:"due_date"` // YYYY-MM-DD, "" when not resolved
	Evidence string `json:"evidence" expr:"evidence"`
}

// Score is one rubric criterion's score with its evidence.
type Score struct {
	Criterion string  `json:"criterion" expr:"criterion"`
	Score     float64 `json:"score" expr:"score"`
	Min       float64 `json:"min" expr:"min"`
	Max       float64 `json:"max" expr:"max"`
	Evidence  string  `json:"evidence" expr:"evidence"`
}

// Followup is the model's word on an open item of an earlier session: done, not_done or dropped closes
// it with this recording.
type Followup struct {
	Key      string `json:"key" expr:"key"`
	Status   string `json:"status" expr:"status"`
	Evidence string `json:"evidence" expr:"evidence"`
}

// OpenItem is an earlier session's item given to the model at the student's next session.
type OpenItem struct {
	Key       string `json:"key"`
	StudentID string `json:"student_id"`
	Task      string `json:"task"`
	DueDate   string `json:"due_date"`
	Recording string `json:"recording_id"`
}

// Closing statuses of a followup; "not_mentioned" leaves the item open.
var Closing = []string{"done", "not_done", "dropped"}

// StudentView is what a warning rule sees of one student (`student.` in kimi warnings' `when:`), as of
// the run's now(): only sessions that started before it count.
type StudentView struct {
	ID      string `json:"id" expr:"id"`
	Name    string `json:"name" expr:"name"`
	Teacher string `json:"teacher" expr:"teacher"` // of the last session: the name Tencent gave, else the userid
	// Sessions is every session of the student; LastSession the start of the latest (UTC).
	Sessions      int     `json:"sessions" expr:"sessions"`
	LastSession   string  `json:"last_session" expr:"last_session"` // RFC 3339
	DaysSinceLast float64 `json:"days_since_last" expr:"days_since_last"`
	// Phase is the last session's; DaysInPhase counts from the first of the latest run of sessions in it,
	// SessionsInPhase their number.
	Phase           string  `json:"phase" expr:"phase"`
	DaysInPhase     float64 `json:"days_in_phase" expr:"days_in_phase"`
	SessionsInPhase int     `json:"sessions_in_phase" expr:"sessions_in_phase"`
	// OpenItems are open action items; OverdueItems those whose due date is before now's day.
	OpenItems    int `json:"open_items" expr:"open_items"`
	OverdueItems int `json:"overdue_items" expr:"overdue_items"`
	// LastScores are the criteria of the last scored session; LastScore their mean, ScorePhase its phase.
	// ScoreTrend is LastScore minus the mean of the scored session before it in the same phase
	// (0 with fewer than two); ScoredInPhase counts the scored sessions of ScorePhase.
	LastScores    map[string]float64 `json:"last_scores" expr:"last_scores"`
	LastScore     float64            `json:"last_score" expr:"last_score"`
	ScorePhase    string             `json:"score_phase" expr:"score_phase"`
	ScoreTrend    float64            `json:"score_trend" expr:"score_trend"`
	ScoredInPhase int                `json:"scored_in_phase" expr:"scored_in_phase"`
	// TeacherShare is the teacher's share of teacher plus student talk time in the last session, from
	// recording_speakers where that table exists; -1 when not measured.
	TeacherShare float64 `json:"teacher_share" expr:"teacher_share"`
}

// Warning is a rule that fired for a student.
type Warning struct {
	StudentID string `json:"student_id"`
	Student   string `json:"student"`
	Teacher   string `json:"teacher"`
	Rule      string `json:"rule"`
	Message   string `json:"message"`
	New       bool   `json:"new"` // not firing at the start of the report's window
}
