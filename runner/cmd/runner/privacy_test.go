package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meetpipe/runner"
	"meetpipe/steps/store"
	"meetpipe/steps/store/storetest"
)

// runner status prints stored text through the pipeline's redact: patterns: a failure stored before
// redaction was on must not print its phone number.
func TestStatusPrintsRedactedText(t *testing.T) {
	t.Parallel() // its own database and state
	dsn := storetest.DB(t)
	db := openDB(t, dsn)
	ctx := context.Background()
	if _, err := store.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if _, err := db.Exec(`INSERT INTO item_failures (item_id, run_id, step, kind, error, first_failed_at, last_failed_at)
		VALUES ('1964787070499246104', 'r1', 'kimi_classify', 'permanent', 'bad answer: 学生电话 138-0013-8000', ?, ?)`, now, now); err != nil {
		t.Fatal(err)
	}
	pipeline := filepath.Join(repoRoot(t), "pipelines", "meeting.yaml")
	// An empty env file: a named one must exist, and the status must not read this checkout's .env.
	envFile := filepath.Join(t.TempDir(), "empty.env")
	if err := os.WriteFile(envFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"text", "json"} {
		var out, errOut bytes.Buffer
		code := cli(ctx, []string{"status", "--dsn", dsn, "--env-file", envFile,
			"--state-dir", t.TempDir(), "--pipeline", pipeline, "--output", format}, &out, &errOut)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", format, code, errOut.String())
		}
		if strings.Contains(out.String(), "0013") || !strings.Contains(out.String(), "[手机号]") {
			t.Fatalf("%s output:\n%s", format, out.String())
		}
		if !strings.Contains(out.String(), "1964787070499246104") {
			t.Fatalf("%s: the item id was redacted too:\n%s", format, out.String())
		}
	}
}

// The report's data passes through redaction whole, its other values intact.
func TestReportDataRedacted(t *testing.T) {
	red, err := runner.LoadRedactor(filepath.Join(repoRoot(t), "pipelines", "meeting.yaml"))
	if err != nil || red == nil {
		t.Fatal(red, err)
	}
	start := time.Date(2026, 11, 5, 2, 0, 0, 0, time.UTC)
	data := &store.ReportData{Recordings: []store.ReportRecording{{ID: "1964787070499246104", Start: start, Minutes: 30,
		Summary: "学生留了身份证 110101199001010015 和邮箱 li@example.com", Students: []store.ReportAttendee{{ID: "stu_li", Name: "李同学", Minutes: 30}}}}}
	if err := redactData(red, data); err != nil {
		t.Fatal(err)
	}
	r := data.Recordings[0]
	if r.Summary != "学生留了身份证 [身份证号] 和邮箱 [邮箱]" || !r.Start.Equal(start) || r.ID != "1964787070499246104" || r.Students[0].Name != "李同学" {
		t.Fatalf("%+v", r)
	}
}
