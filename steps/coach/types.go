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
