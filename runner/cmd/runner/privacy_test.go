package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meetpipe/steps/store"
	"meetpipe/steps/store/storetest"
)

// runner status prints stored text through the pipeline's redact: patterns: a failure stored before
// redaction was on must not print its phone number.
func TestStatusPrintsRedactedText(t *testing.T) {
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
	for _, format := range []string{"text", "json"} {
		var out, errOut bytes.Buffer
		code := cli(ctx, []string{"status", "--dsn", dsn, "--env-file", filepath.Join(t.TempDir(), "none.env"),
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
