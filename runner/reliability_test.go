package runner

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"meetpipe/runner/internal/state"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// A damaged pending.json must never be read as "nothing pending": the not-ready recordings it names
// would be forgotten once the window moves on.
func TestPendingSurvivesCorruption(t *testing.T) {
	for name, damage := range map[string]string{"empty": "", "truncated": `[{"id":"rec0`, "not a list": `{"a":1}`, "null": "null"} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			p := h.load("steps:\n  - uses: nums\n    with: {count: 3, not_ready: 2}\n  - uses: double\n")
			if _, err, _ := h.run(p, RunOptions{}); err != nil {
				t.Fatal(err)
			}
			main := filepath.Join(h.dir, "pending.json")
			writeFile(t, main, damage)
			if _, err, _ := h.run(p, RunOptions{}); err != nil {
				t.Fatalf("run over a damaged list with a good backup: %v", err)
			}
			offered := map[string]bool{}
			for _, p := range h.pending {
				offered[p.ID] = true
			}
			if !offered["rec001"] || !offered["rec002"] {
				t.Fatalf("source was offered %+v, want the 2 not-ready items from the backup", h.pending)
			}
			// Both generations damaged: stop, and say how to proceed.
			writeFile(t, main, damage)
			writeFile(t, main+".bak", damage)
			sum, err, _ := h.run(p, RunOptions{})
			if sum != nil || !errors.Is(err, state.ErrPendingCorrupt) || !strings.Contains(err.Error(), "remove both") {
				t.Fatalf("want a stop with ErrPendingCorrupt, got %+v %v", sum, err)
			}
			if b, _ := os.ReadFile(main); string(b) != damage {
				t.Fatalf("the damaged list was overwritten: %q", b)
			}
		})
	}
}

// A not-ready reason quoting a remote error that echoes a credential is scrubbed before pending.json.
func TestNotReadyReasonScrubbed(t *testing.T) {
	h := newHarness(t)
	p := h.load("steps:\n  - uses: nums\n    with: {count: 2, not_ready: 1, token: \"${TOKEN}\", reason: \"HTTP 500: bad signature for key ${TOKEN}\"}\n  - uses: double\n")
	if _, err, _ := h.run(p, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(h.dir, "pending.json"))
	if err != nil || !strings.Contains(string(b), "bad signature") || strings.Contains(string(b), "tok-SECRET-123") {
		t.Fatalf("pending.json: %s %v", b, err)
	}
}

// A fault of the environment (a rejected key) condemns no item: they all stay pending, the run stops
// early and fails, and the run after the fix does the work.
// The step may mark the error (Environmental) or return a client's error that says so itself.
func TestEnvironmentalFailureDefersAndStops(t *testing.T) {
	for _, kind := range []string{"environment", "client_environment"} {
		t.Run(kind, func(t *testing.T) { testEnvironmentalFailure(t, kind) })
	}
}

func testEnvironmentalFailure(t *testing.T, kind string) {
	h := newHarness(t)
	p := h.load("steps:\n  - uses: nums\n    with: {count: 6}\n  - uses: flaky\n    with: {fail_times: 99, kind: " + kind + "}\n")
	sum, err, _ := h.run(p, RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "environment, not the items") || sum.Status != "failed" {
		t.Fatalf("want a failed run naming the environment: %+v %v", sum, err)
	}
	if sum.Failed != 0 || sum.Pending != 6 || h.calls.get("flaky") > 2 {
		t.Fatalf("items must stay pending and the run stop early: %+v, flaky called %d times", sum, h.calls.get("flaky"))
	}
	st, _ := state.Open(h.dir, true)
	pend, _ := st.Pending()
	if len(pend) != 6 {
		t.Fatalf("pending.json holds %d items, want 6: %+v", len(pend), pend)
	}
	fixed := h.load("steps:\n  - uses: nums\n    with: {count: 0}\n  - uses: flaky\n")
	_ = fixed
	sum, err, _ = h.run(fixed, RunOptions{})
	if err != nil || len(h.pending) != 6 {
		t.Fatalf("after the fix: %+v %v; source offered %d pending", sum, err, len(h.pending))
	}
}

// An id with a line break or NUL from a remote API must not forge lines of the text dry run.
func TestDryRunEscapesControlCharacters(t *testing.T) {
	h := newHarness(t)
	p := h.load("steps:\n  - uses: nums\n    with: {count: 1, prefix: \"x\\nrec999 would-process\\0\\e[31m\"}\n  - uses: double\n")
	_, err, rep := h.run(p, RunOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(rep), "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "rec999") || strings.ContainsAny(l, "\x00\x1b") {
			t.Errorf("forged or raw line %q in:\n%s", l, rep)
		}
	}
	if !strings.Contains(rep, `x\nrec999 would-process\x00\x1b[31mrec000`) {
		t.Errorf("id not shown escaped:\n%s", rep)
	}
}

// A stop while items wait on a slow limiter ends the run within the grace period, not when the limiter
// would let them go (here two minutes later); the waiting items stay pending.
func TestStopWhileWaitingOnLimiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		p := h.load("limiters:\n  slow: {rpm: 1}\nsteps:\n  - uses: nums\n    with: {count: 3}\n  - uses: limited\n    limiter: slow\n    concurrency: 3\n")
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			for h.calls.get("limited") == 0 {
				time.Sleep(5 * time.Millisecond)
			}
			time.Sleep(50 * time.Millisecond)
			cancel()
		}()
		start := time.Now()
		sum, _ := p.Run(ctx, RunOptions{Grace: 200 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		// The first item passes at once, the stop comes 50ms later, the grace period ends 200ms after it.
		if took := time.Since(start); took > 260*time.Millisecond {
			t.Fatalf("the run took %v after a stop", took)
		}
		if sum == nil || sum.Done != 1 || sum.Pending != 2 {
			t.Fatalf("summary %+v, want 1 done and 2 pending", sum)
		}
	})
}
