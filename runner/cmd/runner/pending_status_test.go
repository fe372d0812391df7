package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meetpipe/runner/internal/state"
	"meetpipe/runner/step"
)

// runner status shows each pending recording with its kind, age and reason, problems first.
func TestStatusListsPendingRecordings(t *testing.T) {
	dir := t.TempDir()
	st, err := state.Open(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 8, 3, 0, 0, 0, time.UTC)
	st.PutPending([]step.Pending{
		{ID: "rec-transcoding", Reason: "transcoding (state 2)", FirstSeen: now.Add(-2 * time.Hour), LastSeen: now},
		{ID: "rec-stuck", Reason: "participants not read (permanent): HTTP 400 error 500133", Problem: true, FirstSeen: now.Add(-50 * time.Hour), LastSeen: now},
	})
	st.Close()
	items, err := readPending(dir, now)
	if err != nil || len(items) != 2 {
		t.Fatalf("%+v %v", items, err)
	}
	var b bytes.Buffer
	writePending(&b, dir, items)
	out := b.String()
	stuck, ready := strings.Index(out, "rec-stuck"), strings.Index(out, "rec-transcoding")
	if stuck < 0 || ready < stuck || !strings.Contains(out, "PROBLEM") || !strings.Contains(out, "50h0m0s") ||
		!strings.Contains(out, "500133") || !strings.Contains(out, "not ready") {
		t.Errorf("status pending section:\n%s", out)
	}
	if items, err := readPending(filepath.Join(dir, "nope"), now); err != nil || len(items) != 0 {
		t.Errorf("missing state dir: %v %v", items, err)
	}
}
