package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"meetpipe/runner/internal/demo"
	"meetpipe/steps/store/storetest"
)

// A night whose preflight finds the database missing stores nothing and exits 1 (the environment's
// fault, not the configuration's), keeping its window; the next night, whose own --since starts after every
// recording, lists that window too and stores every recording.
func TestPreflightFailedNightIsListedByTheNext(t *testing.T) {
	dsn := storetest.DB(t)
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DBName += "_missing"
	e := newE2E(t, cfg.FormatDSN(), 1, demo.ServerOptions{})
	code, _, stderr := e.run()
	if code != 1 || !strings.Contains(stderr, "preflight failed") || !strings.Contains(stderr, "is kept: the next run lists it too") {
		t.Fatalf("night 1: exit %d, want 1:\n%s", code, stderr)
	}
	if n := len(e.srv.Tencent.Requests("")); n != 0 {
		t.Fatalf("night 1 listed (%d Tencent requests) though its preflight failed", n)
	}
	b, err := os.ReadFile(filepath.Join(e.dir, "state", "uncovered.json"))
	if err != nil || !strings.Contains(string(b), demo.Since.Format(time.RFC3339)) {
		t.Fatalf("uncovered.json %v: %s", err, b)
	}

	// Night 2: the database is back; its own window is the day after the recordings.
	e.setEnv(t, "DB_DSN", dsn)
	code, _, stderr = e.run("--since", demo.Until.Format(time.RFC3339), "--until", demo.Until.Add(24*time.Hour).Format(time.RFC3339))
	if code != 0 {
		t.Fatalf("night 2: exit %d:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "listing also the window(s) earlier runs could not list") {
		t.Errorf("night 2 does not say it lists the kept window:\n%s", stderr)
	}
	assertDB(t, openDB(t, dsn), demo.Expected(1))
	b, _ = os.ReadFile(filepath.Join(e.dir, "state", "uncovered.json"))
	var left []any
	if err := json.Unmarshal(b, &left); err != nil || len(left) != 0 {
		t.Errorf("after a complete listing uncovered.json is %s (%v), want []", b, err)
	}
	// The run's history says which window it listed besides its own.
	runs, _ := filepath.Glob(filepath.Join(e.dir, "state", "runs", "*.json"))
	found := false
	for _, r := range runs {
		rb, _ := os.ReadFile(r)
		found = found || strings.Contains(string(rb), `"backfill":[{"since":"`+demo.Since.Format(time.RFC3339))
	}
	if !found {
		t.Errorf("no run in the history records the backfilled window %s", demo.Since.Format(time.RFC3339))
	}
}
