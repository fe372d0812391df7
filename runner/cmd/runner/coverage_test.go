package main

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"meetpipe/runner/internal/demo"
	"meetpipe/steps/store/storetest"
	tencentemu "meetpipe/steps/tencent/emulator"

	"github.com/go-sql-driver/mysql"
)

// A night whose preflight finds the database missing stores nothing and exits 1 (the environment's
// fault, not the configuration's), keeping its window; the next night, whose own --since starts after every
// recording, lists that window too and stores every recording.
func TestPreflightFailedNightIsListedByTheNext(t *testing.T) {
	t.Parallel() // its own database, emulators and state
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

// hungServer accepts connections and never answers, as a service stuck behind a firewall rule does.
func hungServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return "http://" + ln.Addr().String()
}

// Doctor against services that hang (Tencent, the ASR server, Moonshot) answers within its one deadline,
// each hung service failing with "no answer" or a timeout, not after the sum of their timeouts; and
// against an HTML page or `{}` with HTTP 200, Tencent's check fails.
func TestDoctorHungAndHTML200(t *testing.T) {
	t.Parallel() // its own database, emulators and state
	dsn := storetest.DB(t)
	e := newE2E(t, dsn, 1, demo.ServerOptions{})

	for _, k := range []tencentemu.FaultKind{tencentemu.FaultPortal, tencentemu.FaultEmpty} {
		e.srv.Tencent.FailNext(tencentemu.EndpointCorpRecords, 1, tencentemu.Fault{Kind: k})
		code, out := e.doctor()
		if code != 1 || !strings.Contains(out, "fail  tencent_list: Tencent corp listing as admin: GET /v1/corp/records: HTTP 200 but not a listing answer") {
			t.Errorf("HTTP 200 %s: exit %d:\n%s", k, code, out)
		}
	}

	hung := hungServer(t)
	e.setEnv(t, "TQM_BASE_URL", hung)
	e.setEnv(t, "ASR_BASE_URL", hung+"/v1")
	e.setEnv(t, "KIMI_BASE_URL", hung+"/v1")
	begin := time.Now()
	code, out := e.doctor("--timeout", "3s")
	took := time.Since(begin)
	if code != 1 {
		t.Fatalf("hung services: exit %d:\n%s", code, out)
	}
	for _, step := range []string{"tencent_list", "kimi_asr", "kimi_classify"} {
		found := false
		for _, l := range strings.Split(out, "\n") {
			found = found || strings.HasPrefix(l, "fail  "+step+": ")
		}
		if !found {
			t.Errorf("no failed finding for %s:\n%s", step, out)
		}
	}
	// One deadline for all: three services hanging in turn would take three timeouts (45 s each before).
	if took > 30*time.Second {
		t.Errorf("doctor took %s with a 3s deadline:\n%s", took, out)
	}
}
