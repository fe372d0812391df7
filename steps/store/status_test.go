package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestStatusReport(t *testing.T) {
	t.Parallel() // its own database
	ctx := context.Background()
	db := openTest(t)
	s := &Recordings{DB: db}
	started := time.Date(2026, 11, 3, 3, 0, 0, 0, time.UTC)

	if err := StartRun(ctx, db, Run{ID: "run-1", Pipeline: "meeting", Host: "cron1", Since: started.Add(-24 * time.Hour),
		Until: started, Started: started}); err != nil {
		t.Fatal(err)
	}
	// Starting the same run twice (a resumed run) changes nothing.
	if err := StartRun(ctx, db, Run{ID: "run-1", Pipeline: "meeting", Started: started}); err != nil {
		t.Fatal(err)
	}
	upsert(t, s, rec("1", 0, "简历优化", "alice:1800", "bob:600"))
	upsert(t, s, rec("2", 1, "简历优化", "alice:1200"))
	r3 := rec("3", 2, "面试模拟", "alice:60", "ext:WMabc:3000")
	r3.NeedsReview = true
	upsert(t, s, r3)
	r4 := rec("4", 3, "", "bob:60")
	r4.Summary = ""
	upsert(t, s, r4)
	end := RunEnd{Finished: started.Add(10 * time.Minute), Status: "failed", Items: 7, Done: 4, Skipped: 1,
		Failed: 1, Pending: 1, Memo: 3, Ran: 20, Steps: map[string]int{"kimi_asr": 4},
		Failures: []Failure{
			{Item: "5", Step: "kimi_asr", Kind: "permanent", Error: "kimi_asr: 413 audio too large (limit 25 MB)\nmore"},
			{Item: "6", Step: "kimi_classify", Kind: "deferred", Error: "quota exhausted"},
			{Item: "1", Step: "mysql_upsert", Kind: "transient", Error: "server gone"},
		}}
	if err := FinishRun(ctx, db, Run{ID: "run-1", Pipeline: "meeting", Started: started}, end); err != nil {
		t.Fatal(err)
	}
	// Item 1 is stored again later: it is no longer failed.
	upsert(t, s, rec("1", 0, "简历优化", "alice:1800", "bob:600"))
	// A second run in which item 5 fails again counts the runs.
	// Its start was never recorded (server down then): the end creates the row.
	run2 := Run{ID: "run-2", Pipeline: "meeting", Started: started.Add(time.Hour)}
	FinishRun(ctx, db, run2, RunEnd{Finished: started.Add(61 * time.Minute), Status: "failed", Items: 1, Failed: 1,
		Failures: []Failure{{Item: "5", Step: "kimi_asr", Kind: "permanent", Error: "413 again"}}})
	FinishRun(ctx, db, run2, RunEnd{Finished: started.Add(61 * time.Minute), Status: "failed", Items: 1, Failed: 1,
		Failures: []Failure{{Item: "5", Step: "kimi_asr", Kind: "permanent", Error: "413 again"}}})

	rep, err := Status(ctx, db, StatusOptions{Students: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Recordings != 4 || rep.NeedsReview != 1 {
		t.Errorf("recordings %d needs_review %d, want 4 and 1", rep.Recordings, rep.NeedsReview)
	}
	wantCounts := func(name string, got []Count, want string) {
		var parts []string
		for _, c := range got {
			parts = append(parts, c.Name+"="+itoa(c.Count))
		}
		if strings.Join(parts, " ") != want {
			t.Errorf("%s = %s, want %s", name, strings.Join(parts, " "), want)
		}
	}
	wantCounts("by status", rep.ByStatus, "done=3 failed=1 partial=1 pending=1")
	wantCounts("by phase", rep.ByPhase, "简历优化=2 (none)=1 面试模拟=1")
	if len(rep.Runs) != 2 || rep.Runs[0].ID != "run-2" || rep.Runs[1].Done != 4 || rep.Runs[1].Host != "cron1" ||
		rep.Runs[1].Finished == nil || rep.Runs[1].Since == nil {
		t.Errorf("runs = %+v", rep.Runs)
	}
	if len(rep.Failures) != 2 || rep.Failures[0].Item != "5" || rep.Failures[0].Failures != 2 ||
		rep.Failures[0].Error != "413 again" || rep.Failures[1].Item != "6" {
		t.Errorf("failures = %+v", rep.Failures)
	}
	if len(rep.TopStudents) != 2 || rep.TopStudents[0].ID != "alice" || rep.TopStudents[0].Recordings != 3 ||
		rep.TopStudents[0].Minutes != 51 || rep.TopStudents[0].Name != "同学alice" || rep.TopStudents[1].ID != "bob" {
		t.Errorf("top students = %+v", rep.TopStudents)
	}

	var buf bytes.Buffer
	if err := rep.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	t.Log("\n" + out)
	for _, want := range []string{"recordings: 4 (needs review: 1)", "简历优化", "run-2", "413 again", "同学alice"} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
	// Columns line up on a terminal: in the phase table, the counts end in the same cell.
	var ends []int
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "  简历优化") || strings.HasPrefix(line, "  (none)") || strings.HasPrefix(line, "  phase") {
			ends = append(ends, displayWidth(line))
		}
	}
	if len(ends) != 3 || ends[0] != ends[1] || ends[1] != ends[2] {
		t.Errorf("phase table rows end at cells %v, want three equal:\n%s", ends, out)
	}

	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	json.Unmarshal(b, &back)
	for _, key := range []string{"schema", "recordings", "by_status", "by_phase", "runs", "failures", "top_students"} {
		if _, ok := back[key]; !ok {
			t.Errorf("JSON report lacks %q: %s", key, b)
		}
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestStatusOfAnEmptyDatabase(t *testing.T) {
	t.Parallel() // its own database
	db := openEmpty(t)
	if _, err := Status(context.Background(), db, StatusOptions{}); !errors.Is(err, ErrNotMigrated) {
		t.Fatalf("status of an empty database: %v, want ErrNotMigrated", err)
	}
}
