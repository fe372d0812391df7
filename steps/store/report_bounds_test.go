package store

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A report reads at most MaxRecordings recordings, the most recent, says how many it left out, and cuts
// long summaries: an 86 MB page is nobody's report.
func TestLoadReportIsBounded(t *testing.T) {
	t.Parallel() // its own database
	ctx := context.Background()
	db := openTest(t)
	s := &Recordings{DB: db}
	for i, id := range []string{"1", "2", "3", "4"} {
		r := rec(id, i, "简历优化", "alice:600")
		r.Summary = strings.Repeat("长", 5000)
		upsert(t, s, r)
	}
	d, err := LoadReport(ctx, db, ReportOptions{Since: t0.Add(-time.Hour), Until: t0.Add(5 * 24 * time.Hour), MaxRecordings: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Recordings) != 2 || d.Recordings[0].ID != "3" || d.Recordings[1].ID != "4" || d.Omitted != 2 {
		t.Fatalf("kept %d recordings (%+v), omitted %d; want 3 and 4, 2 omitted", len(d.Recordings), d.Recordings, d.Omitted)
	}
	if n := len([]rune(d.Recordings[0].Summary)); n != maxReportSummary {
		t.Errorf("summary of %d characters, want it cut at %d", n, maxReportSummary)
	}
	if len(d.Recordings[1].Students) != 1 {
		t.Errorf("the kept recording lost its students: %+v", d.Recordings[1])
	}
}

// A database never migrated is named as such, so that the report can say what to run.
func TestLoadReportWithoutTables(t *testing.T) {
	t.Parallel() // its own database
	db := openEmpty(t)
	_, err := LoadReport(context.Background(), db, ReportOptions{Since: t0, Until: t0.Add(time.Hour)})
	if err == nil || !NoSchema(err) {
		t.Fatalf("report on an empty database: %v", err)
	}
}
