package main

import (
	"strings"
	"testing"

	"meetpipe/runner/internal/demo"
	"meetpipe/steps/store/storetest"
)

// TestRubricEditRescoresFromStoredTranscripts renames a criterion of the shipped 面试模拟 rubric: the next
// run asks the model again from the memoized transcripts (no download, no ASR) and the scorecards follow.
func TestRubricEditRescoresFromStoredTranscripts(t *testing.T) {
	t.Parallel() // its own database, emulators and state
	dsn := storetest.DB(t)
	e := newE2E(t, dsn, 1, demo.ServerOptions{})
	db := openDB(t, dsn)
	if code, _, stderr := e.run(); code != 0 {
		t.Fatalf("first run exited %d:\n%s", code, stderr)
	}
	count := func(criterion string) int {
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM scorecards WHERE criterion = ?`, criterion).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	scored := count("表达")
	if scored == 0 {
		t.Fatal("the first run stored no 表达 score")
	}

	// The dry run of the edit says what it would spend, extraction included, and calls nothing.
	e.editPipeline(t, "            - name: 表达\n", "            - name: 表达清晰\n")
	before := e.counts()
	code, out, stderr := e.run("--dry-run")
	if code != 0 || !strings.Contains(out+stderr, "extraction in the same call") {
		t.Errorf("dry run exited %d without the extraction's estimate:\n%s\n%s", code, out, stderr)
	}
	if c := e.counts(); c != before {
		t.Fatalf("the dry run called services: %+v → %+v", before, c)
	}

	code, out, stderr = e.run("--explain", "--output", "json")
	if code != 0 {
		t.Fatalf("run after the edit exited %d:\n%s", code, stderr)
	}
	c := e.counts()
	if c.asr != before.asr || c.bytes != before.bytes || c.chat <= before.chat {
		t.Fatalf("calls after the rubric edit: %+v, before %+v: want model calls only", c, before)
	}
	for item, steps := range explainActions(t, out) {
		for step, action := range steps {
			if action == "run" && step != "kimi_classify" && step != "mysql_upsert" && step != "wecom_notify" {
				t.Errorf("after a rubric edit %s ran on %s", step, item)
			}
		}
		if steps["kimi_asr"] == "run" || steps["aria2_download"] == "run" {
			t.Errorf("%s: %v", item, steps)
		}
	}
	if got, renamed := count("表达"), count("表达清晰"); got != 0 || renamed != scored {
		t.Errorf("scorecards after the edit: 表达 %d, 表达清晰 %d; want 0 and %d", got, renamed, scored)
	}
}
