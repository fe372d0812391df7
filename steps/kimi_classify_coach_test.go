package steps

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"meetpipe/runner/step"
	"meetpipe/steps/coach"
	"meetpipe/steps/kimi"
	"meetpipe/steps/kimi/emulator"
	"meetpipe/steps/store/storetest"

	"gopkg.in/yaml.v3"
)

// shippedCoaching is the coaching part of kimi_classify's `with:` in pipelines/meeting.yaml (phases,
// extract, rubrics, timezone), so that the tests exercise what production runs.
func shippedCoaching(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../pipelines/meeting.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Steps []struct {
			Uses string         `yaml:"uses"`
			With map[string]any `yaml:"with"`
		} `yaml:"steps"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, s := range doc.Steps {
		if s.Uses != "kimi_classify" {
			continue
		}
		keep := map[string]any{}
		for _, k := range []string{"phases", "extract", "rubrics", "timezone"} {
			if s.With[k] == nil {
				t.Fatalf("meeting.yaml's kimi_classify has no %s", k)
			}
			keep[k] = s.With[k]
		}
		out, err := yaml.Marshal(keep)
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	t.Fatal("meeting.yaml has no kimi_classify")
	return ""
}

// Session one of 李同学: a mock interview that assigns homework "下周五之前" (Friday 2026-05-01 in Shanghai,
// so 2026-05-08).
var session1 = []string{
	"老师：我们开始模拟面试，先做一个自我介绍吧。",
	"学生：面试官你好，我叫李同学，做了三年后端开发，主要负责订单系统。",
	"老师：你下周五之前把 STAR 结构的项目经历写一版发给我。",
	"学生：好的，没问题。",
}

// Session two, a week later: the homework is done.
var session2 = []string{
	"老师：我们继续模拟面试，上次的作业怎么样了？",
	"学生：STAR 结构的项目经历我已经写好了，发给你了。",
	"老师：好，那我们练一道算法题。",
}

func coachItem(t *testing.T, id string, day int, lines []string) step.Fields {
	t.Helper()
	var texts []string
	tr := kimi.Transcript{Segments: []kimi.Segment{}}
	for i, l := range lines {
		tr.Segments = append(tr.Segments, kimi.Segment{Start: float64(i * 10), End: float64(i*10 + 9), Text: l})
		texts = append(texts, l)
	}
	tr.Text = kimi.JoinText(texts)
	return step.Fields{"transcript": tr, "subject": "模拟面试 " + id, "duration_min": 45, "teacher_id": "teacher_wang",
		"start": time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC).AddDate(0, 0, day), "meeting_id": "m-" + id,
		"student_ids": []string{"stu_li"}}
}

// classifyAndStore runs kimi_classify then mysql_upsert on it, as the pipeline does.
func classifyAndStore(t *testing.T, cls *kimiClassify, up *mysqlUpsert, f step.Fields) *kimi.Classification {
	t.Helper()
	ctx := context.Background()
	id := strings.TrimPrefix(f["meeting_id"].(string), "m-") // the recording id, as coachItem names the meeting
	it, err := step.NewItem(id, f)
	if err != nil {
		t.Fatal(err)
	}
	out, err := cls.Process(ctx, it)
	if err != nil {
		t.Fatalf("classify %s: %v", id, err)
	}
	next := step.Fields{}
	for k, v := range f {
		next[k] = v
	}
	for k, v := range out {
		next[k] = v
	}
	stored, err := step.NewItem(id, next)
	if err != nil {
		t.Fatal(err)
	}
	if up != nil {
		if _, err := up.Process(ctx, stored); err != nil {
			t.Fatalf("store %s: %v", id, err)
		}
	}
	return out["classification"].(*kimi.Classification)
}

func TestCoachExtractionOneCallQuotesAndDueDate(t *testing.T) {
	s := moonshotServer(t, emulator.MoonshotOptions{InventItem: true})
	cls := newTestClassify(t, s, shippedCoaching(t))
	res := classifyAndStore(t, cls, nil, coachItem(t, "r1", 0, session1))

	if res.Attempts != 1 || s.Counters().Completions != 1 {
		t.Errorf("attempts %d, completions %d: want phase, summary and extraction in one call", res.Attempts, s.Counters().Completions)
	}
	req := chatBodies(t, s)[0]
	if req.ResponseFormat == nil || req.ResponseFormat.Type != "json_schema" {
		t.Fatalf("response_format = %+v, want json_schema", req.ResponseFormat)
	}
	props := req.ResponseFormat.JSONSchema.Schema["properties"].(map[string]any)
	for _, k := range []string{"phase", "summary", "homework", "scores"} {
		if props[k] == nil {
			t.Errorf("the schema lacks %q: %v", k, props)
		}
	}
	if props["followups"] != nil {
		t.Error("followups asked with no open item")
	}
	ex := res.Coaching
	if ex == nil {
		t.Fatal("no coaching extraction")
	}
	if ex.Dropped != 1 {
		t.Errorf("dropped_ungrounded = %d, want 1 (the emulator's invented item)", ex.Dropped)
	}
	if len(ex.Homework) != 1 {
		t.Fatalf("homework = %+v, want the one grounded item", ex.Homework)
	}
	hw := ex.Homework[0]
	if hw.Due != "下周五之前" || hw.DueDate != "2026-05-08" || hw.Owner != "student" || !strings.Contains(hw.Evidence, "STAR") {
		t.Errorf("homework = %+v, want due 下周五之前 resolved to 2026-05-08", hw)
	}
	raw, _ := json.Marshal(res)
	if strings.Contains(string(raw), emulator.InventedQuote) {
		t.Errorf("the invented quote is kept in the classification: %s", raw)
	}
	if ex.Phase != "面试模拟" || len(ex.Scores) != 5 {
		t.Fatalf("phase %q scores %+v, want the 5 criteria of 面试模拟", ex.Phase, ex.Scores)
	}
	for _, sc := range ex.Scores {
		if sc.Score < 1 || sc.Score > 5 || !coach.NewQuotes(strings.Join(session1, "\n")).Found(sc.Evidence) {
			t.Errorf("score %+v out of 1–5 or not quoted", sc)
		}
	}
}

func TestCoachJSONModeCarriesTheSchemaInThePrompt(t *testing.T) {
	s := moonshotServer(t, emulator.MoonshotOptions{InventItem: true, ModelSpecs: []emulator.ModelSpec{{ID: "no-schema-1", Context: 32768, NoJSONSchema: true}}})
	cls := newTestClassify(t, s, "model: no-schema-1\n"+shippedCoaching(t))
	res := classifyAndStore(t, cls, nil, coachItem(t, "r1", 0, session1))
	reqs := chatBodies(t, s)
	last := reqs[len(reqs)-1]
	if last.ResponseFormat == nil || last.ResponseFormat.Type != "json_object" || !strings.Contains(last.Messages[0].Content, "<schema>") {
		t.Fatalf("after the refusal: response_format %+v; want json_object with the schema in the system prompt", last.ResponseFormat)
	}
	if res.Coaching == nil || len(res.Coaching.Homework) != 1 || res.Coaching.Homework[0].DueDate != "2026-05-08" || res.Coaching.Dropped != 1 {
		t.Errorf("coaching = %+v", res.Coaching)
	}
}

func TestCoachScoreOutOfRangeAskedOnceThenFlagged(t *testing.T) {
	for _, tt := range []struct {
		bad      int
		attempts int
		review   bool
	}{{1, 2, false}, {2, 2, true}} {
		t.Run(fmt.Sprint(tt.bad), func(t *testing.T) {
			s := moonshotServer(t, emulator.MoonshotOptions{ScoresOutOfRange: tt.bad})
			cls := newTestClassify(t, s, shippedCoaching(t))
			res := classifyAndStore(t, cls, nil, coachItem(t, "r1", 0, session1))
			if res.Attempts != tt.attempts || res.NeedsReview != tt.review {
				t.Fatalf("attempts %d needs_review %v (%s), want %d %v", res.Attempts, res.NeedsReview, res.Reason, tt.attempts, tt.review)
			}
			want := 5
			if tt.review {
				want = 4 // the out-of-range score is not stored
				if res.Coaching.OutOfRange != 1 {
					t.Errorf("out_of_range = %d, want 1", res.Coaching.OutOfRange)
				}
			}
			if len(res.Coaching.Scores) != want {
				t.Errorf("%d scores, want %d", len(res.Coaching.Scores), want)
			}
		})
	}
}

func TestCoachLedgerSecondSessionClosesTheItem(t *testing.T) {
	t.Parallel() // its own servers, database and files
	dsn := storetest.DB(t)
	s := moonshotServer(t, emulator.MoonshotOptions{})
	cls := newTestClassify(t, s, "ledger_dsn: '"+dsn+"'\n"+shippedCoaching(t))
	t.Cleanup(func() { cls.Close() })
	up := newTestUpsert(t, "dsn: '"+dsn+"'")
	db := upsertTestPool(t, dsn)

	classifyAndStore(t, cls, up, coachItem(t, "r1", 0, session1))
	items := ledger(t, db)
	if len(items) != 1 || items[0] != "stu_li|student|2026-05-08|open|" {
		t.Fatalf("after session 1: %q", items)
	}
	var scores int
	if err := db.QueryRow(`SELECT COUNT(*) FROM scorecards WHERE recording_id = 'r1' AND score BETWEEN 1 AND 5`).Scan(&scores); err != nil || scores != 5 {
		t.Fatalf("scorecards of r1: %d, %v; want 5", scores, err)
	}

	res := classifyAndStore(t, cls, up, coachItem(t, "r2", 7, session2))
	reqs := chatBodies(t, s)
	if !strings.Contains(reqs[len(reqs)-1].Messages[0].Content, "STAR 结构的项目经历") {
		t.Error("the open item is not in the second session's prompt")
	}
	if len(res.Coaching.Followups) != 1 || res.Coaching.Followups[0].Status != "done" {
		t.Fatalf("followups = %+v, want the item done", res.Coaching.Followups)
	}
	want := []string{"stu_li|student|2026-05-08|done|r2"}
	if got := ledger(t, db); !slices.Equal(got, want) {
		t.Fatalf("after session 2: %q, want %q", got, want)
	}

	// Reruns of either session change nothing.
	classifyAndStore(t, cls, up, coachItem(t, "r1", 0, session1))
	classifyAndStore(t, cls, up, coachItem(t, "r2", 7, session2))
	if got := ledger(t, db); !slices.Equal(got, want) {
		t.Fatalf("after reruns: %q, want %q", got, want)
	}
}

func ledger(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT student_id, owner, COALESCE(DATE_FORMAT(due_date, '%Y-%m-%d'), ''), status, COALESCE(closed_in, '')
		FROM action_items ORDER BY recording_id, id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a, b, c, d, e string
		if err := rows.Scan(&a, &b, &c, &d, &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.Join([]string{a, b, c, d, e}, "|"))
	}
	return out
}
