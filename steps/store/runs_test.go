package store

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// One item with an id longer than the column must not cost the run its end or the other failures.
func TestFinishRunSurvivesOneBadItem(t *testing.T) {
	t.Parallel() // its own database
	ctx := context.Background()
	db := openTest(t)
	started := time.Date(2026, 11, 3, 3, 0, 0, 0, time.UTC)
	run := Run{ID: "run-long", Pipeline: "meeting", Started: started}
	if err := StartRun(ctx, db, run); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("9", 100)
	long2 := strings.Repeat("9", 99) + "8"
	end := RunEnd{Finished: started.Add(time.Hour), Status: "failed", Items: 4, Failed: 3, Failures: []Failure{
		{Item: long, Step: "mysql_upsert", Kind: "permanent", Error: "recordings.id = too long"},
		{Item: long2, Step: strings.Repeat("s", 300), Kind: "permanent", Error: strings.Repeat("错", 5000)},
		{Item: "rec-ok", Step: "kimi_asr", Kind: "transient", Error: "HTTP 503"},
	}}
	if err := FinishRun(ctx, db, run, end); err != nil {
		t.Fatalf("FinishRun: %v", err)
	}
	rep, err := Status(ctx, db, StatusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 1 || rep.Runs[0].Status != "failed" || rep.Runs[0].Unfinished {
		t.Fatalf("runs = %+v", rep.Runs)
	}
	if len(rep.Failures) != 3 {
		t.Fatalf("want 3 failed items, got %+v", rep.Failures)
	}
	ids := map[string]bool{}
	for _, f := range rep.Failures {
		ids[f.Item] = true
		if len([]rune(f.Item)) > 64 {
			t.Errorf("id %q is over its column", f.Item)
		}
	}
	if !ids["rec-ok"] || len(ids) != 3 {
		t.Fatalf("two long ids sharing a prefix must stay two rows: %v", ids)
	}
	for id := range ids {
		if id != "rec-ok" && !strings.Contains(id, "…") {
			t.Errorf("cut id %q has no marker", id)
		}
	}
}

// A run whose end was never recorded is shown as such, not as a run that is fine.
func TestStatusShowsUnfinishedRun(t *testing.T) {
	t.Parallel() // its own database
	ctx := context.Background()
	db := openTest(t)
	if err := StartRun(ctx, db, Run{ID: "run-dead", Pipeline: "meeting", Started: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	rep, err := Status(ctx, db, StatusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 1 || !rep.Runs[0].Unfinished {
		t.Fatalf("runs = %+v", rep.Runs)
	}
	var out bytes.Buffer
	if err := rep.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "running?") || !strings.Contains(out.String(), "no recorded end") {
		t.Fatalf("status does not show the unfinished run:\n%s", out.String())
	}
}
