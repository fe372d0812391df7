package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meetpipe/runner/internal/logging"
	"meetpipe/runner/step"
)

// What is logged while the pipeline loads, before its log_file is known, reaches the file first, scrubbed of
// secrets found during the load; a dry run's discarded file gets nothing.
func TestLateLogFile(t *testing.T) {
	dir := t.TempDir()
	var out strings.Builder
	sec := &step.Secrets{}
	file := &lateFile{}
	log, closeLog, err := logging.NewLogger(logging.LogOptions{Format: "json", Out: &out, Tee: file, Secrets: sec})
	if err != nil {
		t.Fatal(err)
	}
	defer closeLog()
	sec.Add("key-SECRET-42")
	log.Warn("while loading", "with", "key-SECRET-42")
	path := filepath.Join(dir, "logs", "run.log")
	if err := file.Open(path); err != nil {
		t.Fatal(err)
	}
	log.Info("during the run")
	if err := file.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"level":"WARN"`) || !strings.Contains(lines[0], "while loading") ||
		!strings.Contains(lines[1], "during the run") || strings.Contains(string(b), "key-SECRET-42") {
		t.Fatalf("log file:\n%s", b)
	}

	dry := &lateFile{}
	dlog := slog.New(slog.NewJSONHandler(dry, nil))
	dlog.Info("before")
	dry.Discard()
	dlog.Info("after")
	if dry.buf.Len() != 0 || dry.f != nil {
		t.Fatalf("a discarded late file kept %q", dry.buf.String())
	}
}
