package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"meetpipe/runner/internal/state"
	"meetpipe/runner/internal/term"
	"meetpipe/runner/step"
)

type harness struct {
	t       *testing.T
	dir     string
	calls   *calls
	listed  atomic.Int64
	pending []step.Pending
	reg     *step.Registry
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), calls: &calls{n: map[string]int{}}}
	h.reg = testRegistry(h.calls, &h.listed, &h.pending)
	return h
}

func (h *harness) load(yml string) *Pipeline {
	h.t.Helper()
	p, err := LoadBytes("test.yaml", []byte(yml), LoadOptions{Registry: h.reg, Env: map[string]string{"TOKEN": "tok-SECRET-123"}, StateDir: h.dir})
	if err != nil {
		h.t.Fatalf("load: %v", err)
	}
	h.t.Cleanup(func() { p.Close() })
	return p
}

func (h *harness) run(p *Pipeline, o RunOptions) (*step.Summary, error, string) {
	h.t.Helper()
	var rep bytes.Buffer
	o.Report = &rep
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	sum, err := p.Run(context.Background(), o)
	return sum, err, rep.String()
}

const basic = `
steps:
  - uses: nums
    with: {count: 4, token: "${TOKEN}"}
  - uses: double
    concurrency: 2
  - uses: sink
`

// A run that could not start says so by its error's type, which the CLI maps to exit 2; a run whose
// items failed has a summary and no StartError.
func TestRunStartError(t *testing.T) {
	h := newHarness(t)
	p := h.load(basic)
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for name, o := range map[string]RunOptions{
		"empty window": {Since: t0, Until: t0},
		"unknown from": {From: "no_such_step"},
	} {
		sum, err, _ := h.run(p, o)
		var se *StartError
		if sum != nil || !errors.As(err, &se) {
			t.Errorf("%s: summary %v, err %T %v; want no summary and a *StartError", name, sum, err, err)
		}
	}
	failing := h.load(`
steps:
  - uses: nums
  - uses: flaky
    with: {fail_times: 9, kind: permanent}
`)
	sum, err, _ := h.run(failing, RunOptions{})
	var se *StartError
	if sum == nil || err == nil || errors.As(err, &se) {
		t.Errorf("failed items: summary %v, err %T %v; want a summary and a plain error", sum, err, err)
	}
}

func TestRunMemo(t *testing.T) {
	h := newHarness(t)
	p := h.load(basic)
	sum, err, _ := h.run(p, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Done != 4 || sum.Ran != 8 || h.calls.get("double") != 4 || h.calls.get("sink") != 4 {
		t.Fatalf("first run: %+v calls %v", sum, h.calls.n)
	}
	sum, err, _ = h.run(p, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Ran != 0 || sum.Memo != 8 || h.calls.get("double") != 4 {
		t.Fatalf("rerun must be served from memo: %+v calls %v", sum, h.calls.n)
	}
	// A configuration change re-runs that step; the sink's input is unchanged only if the output is.
	p2 := h.load(strings.Replace(basic, "- uses: double", "- uses: double\n    with: {factor: 3}", 1))
	sum, err, _ = h.run(p2, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h.calls.get("double") != 8 || h.calls.get("sink") != 7 { // n=0 doubles to 0 either way
		t.Fatalf("after config change: %+v calls %v", sum, h.calls.n)
	}
	// Forcing a step runs it although memoized.
	if _, err, _ := h.run(p2, RunOptions{Force: []string{"sink"}}); err != nil {
		t.Fatal(err)
	}
	if h.calls.get("sink") != 11 || h.calls.get("double") != 8 {
		t.Fatalf("force: calls %v", h.calls.n)
	}
}

func TestStateHasNoSecretsOrVolatile(t *testing.T) {
	h := newHarness(t)
	p := h.load(basic)
	if _, err, _ := h.run(p, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	filepath.Walk(h.dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, _ := os.ReadFile(path)
		if bytes.Contains(b, []byte("SECRET")) {
			t.Errorf("%s contains a secret: %s", path, b)
		}
		return nil
	})
}

func TestRetryAndIsolation(t *testing.T) {
	h := newHarness(t)
	p := h.load(`
steps:
  - uses: nums
    with: {count: 3}
  - uses: flaky
    with: {fail_times: 2}
    retry: {attempts: 3, backoff: 1ms}
  - id: perm
    uses: flaky
    with: {fail_times: 9, kind: permanent, fail_only: 1}
    retry: {attempts: 5, backoff: 1ms}
`)
	sum, err, _ := h.run(p, RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "item rec001: step perm") {
		t.Fatalf("want the permanent failure of rec001 reported, got %v", err)
	}
	if sum.Done != 2 || sum.Failed != 1 {
		t.Fatalf("summary %+v", sum)
	}
	// 3 items × 3 attempts on flaky, then perm: 3 items, rec001 once (permanent, not retried).
	if got := h.calls.get("flaky"); got != 9+3 {
		t.Fatalf("flaky calls = %d, want 12", got)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		p := h.load(`
steps:
  - uses: nums
    with: {count: 1}
  - uses: flaky
    with: {fail_times: 1, kind: after, after: 300ms}
    retry: {attempts: 2, backoff: 1ms}
`)
		start := time.Now()
		if _, err, _ := h.run(p, RunOptions{}); err != nil {
			t.Fatal(err)
		}
		// The bubble's clock moves only when every goroutine waits: the run takes the server's 300ms and
		// not a moment of real time.
		if d := time.Since(start); d < 300*time.Millisecond || d > 310*time.Millisecond {
			t.Fatalf("retry came after %v, want the server's 300ms", d)
		}
	})
}

func TestDeferredStaysPending(t *testing.T) {
	h := newHarness(t)
	p := h.load(`
steps:
  - uses: nums
    with: {count: 2}
  - uses: flaky
    with: {fail_times: 1, kind: deferred}
    retry: {attempts: 5, backoff: 1ms}
`)
	sum, err, _ := h.run(p, RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "left for the next run") || sum.Status != "pending" {
		t.Fatalf("deferred items must be reported (exit 1): %v %+v", err, sum)
	}
	if sum.Pending != 2 || sum.Failed != 0 || h.calls.get("flaky") != 2 {
		t.Fatalf("deferred must not be retried now nor fail: %+v calls %v", sum, h.calls.n)
	}
	st, _ := state.Open(h.dir, true)
	pend, _ := st.Pending()
	var hint map[string]string
	if len(pend) == 2 {
		json.Unmarshal(pend[0].Hint, &hint)
	}
	if len(pend) != 2 || hint["id"] != "rec000" {
		t.Fatalf("pending = %+v", pend)
	}
	// The next run offers them to the source again and they complete.
	sum, err, _ = h.run(p, RunOptions{})
	if err != nil || sum.Done != 2 || len(h.pending) != 2 {
		t.Fatalf("second run: %+v %v, source saw pending %v", sum, err, h.pending)
	}
	pend, _ = st.Pending()
	if len(pend) != 0 {
		t.Fatalf("pending after success = %+v", pend)
	}
}

func TestNotReadyRemembered(t *testing.T) {
	h := newHarness(t)
	p := h.load(`
steps:
  - uses: nums
    with: {count: 3, not_ready: 1}
  - uses: double
`)
	sum, err, rep := h.run(p, RunOptions{Explain: true})
	if err != nil || sum.Done != 2 || sum.NotReady != 1 || sum.Deferred != 0 || sum.Pending != 1 { // not ready: on the pending list
		t.Fatalf("%+v %v", sum, err)
	}
	if !strings.Contains(rep, "rec002") || !strings.Contains(rep, "not-ready") || !strings.Contains(rep, "transcoding") {
		t.Fatalf("explain must show the not-ready item:\n%s", rep)
	}
	if _, _, _ = h.run(p, RunOptions{}); len(h.pending) != 1 || h.pending[0].ID != "rec002" || h.pending[0].Reason != "transcoding" {
		t.Fatalf("source must be offered the not-ready item again: %+v", h.pending)
	}
}

func TestFilterAndIf(t *testing.T) {
	h := newHarness(t)
	p := h.load(`
steps:
  - uses: nums
    with: {count: 4}
    filter: n != 1
  - uses: double
    if: n < 3
  - uses: sink
    if: double > 0
`)
	sum, err, rep := h.run(p, RunOptions{Explain: true})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Skipped != 1 || h.calls.get("double") != 2 {
		t.Fatalf("%+v calls %v", sum, h.calls.n)
	}
	if !strings.Contains(rep, "filter of step nums: n 1 == 1") {
		t.Fatalf("explain lacks the filter reason:\n%s", rep)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	h := newHarness(t)
	p := h.load(basic)
	var out bytes.Buffer
	sum, err := p.Run(context.Background(), RunOptions{DryRun: true, Report: &out, JSON: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if h.calls.get("sink") != 0 {
		t.Fatal("a dry run called a side-effecting step")
	}
	if h.calls.get("double") != 4 {
		t.Fatalf("side-effect-free steps run for real in a dry run: %v", h.calls.n)
	}
	entries, _ := os.ReadDir(h.dir)
	if len(entries) != 0 {
		t.Fatalf("dry run created %v", entries)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 || sum.Items != 4 {
		t.Fatalf("want 4 report lines and the counts, got %q", out.String())
	}
	var e reportEntry
	if err := json.Unmarshal([]byte(lines[0]), &e); err != nil || e.Decision != "would-process" {
		t.Fatalf("line %q: %v", lines[0], err)
	}
	if last := e.Steps[len(e.Steps)-1]; last.Step != "sink" || last.Action != "would-run" {
		t.Fatalf("steps %+v", e.Steps)
	}
}

func TestVerifyRewinds(t *testing.T) {
	h := newHarness(t)
	yml := `
steps:
  - uses: nums
    with: {count: 2}
  - uses: touch
  - uses: double
    with: {factor: %d}
`
	p := h.load(strings.Replace(yml, "%d", "2", 1))
	if _, err, _ := h.run(p, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(h.dir, "files", "rec000"))
	// double's config changes, so it must run; touch is memoized but its file for rec000 is gone.
	p = h.load(strings.Replace(yml, "%d", "3", 1))
	sum, err, rep := h.run(p, RunOptions{Explain: true})
	if err != nil {
		t.Fatal(err)
	}
	if h.calls.get("touch") != 3 || h.calls.get("double") != 4 {
		t.Fatalf("calls %v: touch must re-run for rec000 only", h.calls.n)
	}
	// Counted once, as it happened: touch served for rec001 only, run for rec000; double run for both.
	if sum.Memo != 1 || sum.Ran != 3 || sum.Steps["touch"] != 1 || sum.Steps["double"] != 2 {
		t.Fatalf("summary %+v", sum)
	}
	if strings.Count(rep, "memoized output was gone") != 1 || strings.Count(rep, "touch            memo") != 1 {
		t.Fatalf("report:\n%s", rep)
	}
}

func TestResumeAfterCrash(t *testing.T) {
	h := newHarness(t)
	yml := `
steps:
  - uses: nums
    with: {count: 3}
  - uses: double
  - uses: %s
`
	p := h.load(strings.Replace(yml, "%s", "crash\n    retry: 1", 1))
	h.run(p, RunOptions{})
	if h.calls.get("double") != 3 {
		t.Fatal(h.calls.n)
	}
	// The "crash" step never finished: nothing after double is marked done, double is not redone.
	p = h.load(strings.Replace(yml, "%s", "sink", 1))
	sum, err, _ := h.run(p, RunOptions{})
	if err != nil || h.calls.get("double") != 3 || h.calls.get("sink") != 3 || sum.Done != 3 {
		t.Fatalf("%+v %v calls %v", sum, err, h.calls.n)
	}
}

func TestCancelLeavesPending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		p := h.load(`
grace: 10ms
steps:
  - uses: nums
    with: {count: 5}
  - uses: flaky
    with: {sleep: 5s}
`)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		sum, err := p.Run(ctx, RunOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		// Cancelled at 100ms with a 10ms grace: the 5s steps are cut off at 110ms.
		if took := time.Since(start); err == nil || took < 110*time.Millisecond || took > 120*time.Millisecond {
			t.Fatalf("run must stop when the grace period ends: %v after %v", err, took)
		}
		if sum.Done != 0 || sum.Failed != 0 {
			t.Fatalf("%+v", sum)
		}
		st, _ := state.Open(h.dir, true)
		pend, _ := st.Pending()
		if len(pend) == 0 {
			t.Fatal("interrupted items must stay pending")
		}
	})
}

func TestLock(t *testing.T) {
	dir := t.TempDir()
	a, err := state.Open(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := state.Open(dir, false); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("second open: %v", err)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		var cur, peak atomic.Int64
		h.reg.Register(step.Define(step.Spec{Name: "slow", Version: "1", Reads: []string{"n"}, Writes: []step.Field{{Name: "slow", Sample: 0}}}, struct{}{}, func(_ struct{}, b *step.Build) (any, error) {
			return stepFunc(func(ctx context.Context, in *step.Item) (step.Fields, error) {
				c := cur.Add(1)
				for {
					p := peak.Load()
					if c <= p || peak.CompareAndSwap(p, c) {
						break
					}
				}
				time.Sleep(20 * time.Millisecond)
				cur.Add(-1)
				return step.Fields{"slow": 1}, nil
			}), nil
		}))
		p := h.load(`
steps:
  - uses: nums
    with: {count: 12}
  - uses: slow
    concurrency: 3
`)
		if _, err, _ := h.run(p, RunOptions{}); err != nil {
			t.Fatal(err)
		}
		if peak.Load() != 3 {
			t.Fatalf("peak concurrency %d, want 3", peak.Load())
		}
	})
}

func treeDigest(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		b, _ := os.ReadFile(path)
		out[path] = info.Mode().String() + info.ModTime().String() + string(b)
		return nil
	})
	return out
}

func TestDryRunChangesNoByte(t *testing.T) {
	h := newHarness(t)
	p := h.load(basic)
	if _, err, _ := h.run(p, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	before := treeDigest(t, h.dir)
	sinks := h.calls.get("sink")
	// A changed configuration makes the sink's step "would run" in the dry run.
	p2 := h.load(strings.Replace(basic, "- uses: double", "- uses: double\n    with: {factor: 5}", 1))
	_, err, rep := h.run(p2, RunOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	after := treeDigest(t, h.dir)
	if len(before) != len(after) {
		t.Fatalf("dry run changed the tree: %d → %d entries", len(before), len(after))
	}
	for k, v := range before {
		if after[k] != v {
			t.Fatalf("dry run changed %s", k)
		}
	}
	if h.calls.get("sink") != sinks {
		t.Fatal("dry run called a side-effecting step")
	}
	if !strings.Contains(rep, "would-run") || !strings.Contains(rep, "memo") {
		t.Fatalf("report:\n%s", rep)
	}
}

func TestSharedLimiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		var cur, peak atomic.Int64
		var starts []time.Time
		var mu sync.Mutex
		h.reg.Register(step.Define(step.Spec{Name: "remote", Version: "1", Reads: []string{"n"}, Writes: []step.Field{{Name: "remote", Sample: 0}}}, struct{}{}, func(_ struct{}, b *step.Build) (any, error) {
			lim, _ := b.Limiter()
			return stepFunc(func(ctx context.Context, in *step.Item) (step.Fields, error) {
				release, err := lim.Acquire(ctx)
				if err != nil {
					return nil, err
				}
				defer release()
				mu.Lock()
				starts = append(starts, time.Now())
				mu.Unlock()
				c := cur.Add(1)
				for p := peak.Load(); c > p && !peak.CompareAndSwap(p, c); p = peak.Load() {
				}
				time.Sleep(120 * time.Millisecond)
				cur.Add(-1)
				return step.Fields{"remote": 1}, nil
			}), nil
		}))
		p := h.load(`
limiters:
  svc: {concurrency: 2, rpm: 1200}
steps:
  - uses: nums
    with: {count: 6}
  - uses: remote
    id: a
    concurrency: 4
    limiter: svc
  - uses: remote
    id: b
    concurrency: 4
    limiter: svc
`)
		if _, err, _ := h.run(p, RunOptions{}); err != nil {
			t.Fatal(err)
		}
		if peak.Load() != 2 {
			t.Fatalf("two steps sharing a limiter of 2 reached %d in flight", peak.Load())
		}
		sort.Slice(starts, func(i, j int) bool { return starts[i].Before(starts[j]) })
		for i := 1; i < len(starts); i++ {
			if gap := starts[i].Sub(starts[i-1]); gap < 50*time.Millisecond {
				t.Fatalf("starts %d and %d only %v apart at 1200 rpm (50ms)", i-1, i, gap)
			}
		}
	})
}

// A step learns whether the operator named a limiter for it, not by guessing from the limiter's name: a
// limiter may well be called "unlimited".
func TestBuildLimiterNamed(t *testing.T) {
	h := newHarness(t)
	type got struct {
		name  string
		named bool
	}
	seen := map[string]got{}
	h.reg.Register(step.Define(step.Spec{Name: "probe", Version: "1", Reads: []string{"n"}, Writes: []step.Field{{Name: "probe", Sample: 0}}}, struct{}{}, func(_ struct{}, b *step.Build) (any, error) {
		lim, named := b.Limiter()
		seen[b.StepID] = got{lim.Name(), named}
		return stepFunc(func(context.Context, *step.Item) (step.Fields, error) { return step.Fields{"probe": 1}, nil }), nil
	}))
	h.load(`
limiters:
  unlimited: {concurrency: 1}
steps:
  - uses: nums
  - uses: probe
    id: limited
    limiter: unlimited
  - uses: probe
    id: free
`)
	if seen["limited"] != (got{"unlimited", true}) || seen["free"].named || seen["free"].name == "" {
		t.Errorf("limiters seen by the steps: %+v", seen)
	}
}

func TestLimiterHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := step.NewLimiter("x", 0, 0)
		l.Hold(150 * time.Millisecond)
		start := time.Now()
		release, err := l.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		release()
		if d := time.Since(start); d != 150*time.Millisecond {
			t.Fatalf("Acquire returned after %v, want the 150ms of Hold", d)
		}
	})
}

func TestTerminalKeepsStatusLine(t *testing.T) {
	var b bytes.Buffer
	term := term.NewTerminal(&syncBuf{b: &b})
	term.SetStatus(func() string { return "STATUS" })
	fmt.Fprintln(term, "log line")
	term.Close()
	out := b.String()
	if !strings.Contains(out, "\r\033[Klog line\n") || !strings.Contains(out, "STATUS") {
		t.Fatalf("%q", out)
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func TestMemoStableForStructuredOutputs(t *testing.T) {
	h := newHarness(t)
	h.reg.Register(step.Define(step.Spec{Name: "doc", Version: "1", Reads: []string{"n"}, Writes: []step.Field{{Name: "doc", Sample: map[string]any{}}}}, struct{}{}, func(_ struct{}, b *step.Build) (any, error) {
		return stepFunc(func(ctx context.Context, in *step.Item) (step.Fields, error) {
			h.calls.inc("doc")
			return step.Fields{"doc": map[string]any{"segments": []any{map[string]any{"t": 1, "x": "一"}}, "text": "ok"}}, nil
		}), nil
	}))
	type ruleCfg struct {
		When step.Expr `yaml:"when"`
	}
	h.reg.Register(step.Define(step.Spec{Name: "ruled", Version: "1", Reads: []string{"doc"}, Writes: []step.Field{{Name: "ruled", Sample: false}}}, ruleCfg{}, func(cfg ruleCfg, b *step.Build) (any, error) {
		prog, err := b.CompileBool(&cfg.When, nil)
		if err != nil {
			return nil, err
		}
		return stepFunc(func(ctx context.Context, in *step.Item) (step.Fields, error) {
			h.calls.inc("ruled")
			ok, err := prog.Bool(in, nil)
			return step.Fields{"ruled": ok}, err
		}), nil
	}))
	yml := `
steps:
  - uses: nums
    with: {count: 2}
  - uses: doc
  - uses: ruled
    with: {when: 'subject contains "1"'}
`
	p := h.load(yml)
	for range 2 {
		if _, err, _ := h.run(p, RunOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if h.calls.get("doc") != 2 || h.calls.get("ruled") != 2 {
		t.Fatalf("a structured output served from the memo must give the same key: %v", h.calls.n)
	}
	// subject is not in ruled's reads but its rule uses it: it is part of the key.
	if got := p.stages[2].exprReads; len(got) != 1 || got[0] != "subject" {
		t.Fatalf("exprReads = %v", got)
	}
}

type lazySource struct {
	*numSource
	resolved *atomic.Int64
}

func (l lazySource) Resolve(ctx context.Context, in *step.Item) (step.Fields, error) {
	l.resolved.Add(1)
	return step.Fields{"secret_url": "https://x/" + in.ID() + "?sign=SECRETSIG"}, nil
}

func TestLazyFieldsResolvedOnlyWhenNeeded(t *testing.T) {
	h := newHarness(t)
	var resolved atomic.Int64
	h.reg.Register(step.Define(step.Spec{Name: "lazynums", Source: true, Version: "1",
		Writes:   []step.Field{{Name: "n", Sample: 0}, {Name: "subject", Sample: ""}, {Name: "url", Sample: ""}, {Name: "secret_url", Sample: ""}},
		Volatile: []string{"url", "secret_url"}, Lazy: []string{"secret_url"}}, srcCfg{Count: 3}, func(cfg srcCfg, b *step.Build) (any, error) {
		return lazySource{&numSource{cfg: cfg, listed: &h.listed}, &resolved}, nil
	}))
	var seen atomic.Int64
	h.reg.Register(step.Define(step.Spec{Name: "fetch", Version: "1", SideEffects: true, Reads: []string{"n", "secret_url"}, Writes: []step.Field{{Name: "fetched", Sample: ""}}}, struct{}{}, func(_ struct{}, b *step.Build) (any, error) {
		return stepFunc(func(ctx context.Context, in *step.Item) (step.Fields, error) {
			var u string
			if err := in.Get("secret_url", &u); err != nil || !strings.Contains(u, in.ID()) {
				return nil, step.Permanent(fmt.Errorf("lazy field not resolved: %q %v", u, err))
			}
			seen.Add(1)
			return step.Fields{"fetched": "yes"}, nil
		}), nil
	}))
	p := h.load("steps:\n  - uses: lazynums\n  - uses: fetch\n  - uses: double\n")
	if _, err, _ := h.run(p, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if resolved.Load() != 3 || seen.Load() != 3 {
		t.Fatalf("resolved %d, fetched %d; want 3 and 3", resolved.Load(), seen.Load())
	}
	// Memoized: the source is not asked again.
	if _, err, _ := h.run(p, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if resolved.Load() != 3 {
		t.Fatalf("a memoized run resolved %d times", resolved.Load()-3)
	}
	if _, err := LoadBytes("t.yaml", []byte("steps:\n  - uses: lazynums\n    filter: secret_url != \"\"\n"), LoadOptions{Registry: h.reg, Env: map[string]string{}}); err == nil || !strings.Contains(err.Error(), "unknown name secret_url") {
		t.Fatalf("expressions must not read lazy fields: %v", err)
	}
}

// --explain says why a step came from the memo: the run that made it, when, and that the inputs match.
func TestExplainSaysWhyMemo(t *testing.T) {
	h := newHarness(t)
	p := h.load(basic)
	if _, err, _ := h.run(p, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err, rep := h.run(h.load(basic), RunOptions{Explain: true})
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`memo\s+same inputs as run \S+ at \d{4}-\d\d-\d\d \d\d:\d\d UTC \(key [0-9a-f]{1,12}\)`)
	if !re.MatchString(rep) {
		t.Fatalf("no memo reason in:\n%s", rep)
	}
}

// The design's central property: stages overlap. Item 0 is in step b while item 1 is in step a, each step
// with one worker. Each step holds its item until it sees the other step holding the other one; an
// executor that ran the steps one after the other would time out in one of them.
func TestTwoStagesInFlightAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		aHasOne, bHasZero := make(chan struct{}), make(chan struct{})
		hold := func(step string, n, want int, mine, other chan struct{}) error {
			if n != want {
				return nil
			}
			close(mine)
			select {
			case <-other:
				return nil
			case <-time.After(time.Minute): // fake time: passes at once when nothing else can move
				return fmt.Errorf("step %s held item %d for a minute and the other step never took its item", step, n)
			}
		}
		for _, id := range []string{"a", "b"} {
			h.reg.Register(step.Define(step.Spec{Name: "hold_" + id, Version: "1", Reads: []string{"n"}, Writes: []step.Field{{Name: "held_" + id, Sample: 0}}}, struct{}{}, func(_ struct{}, b *step.Build) (any, error) {
				return stepFunc(func(ctx context.Context, in *step.Item) (step.Fields, error) {
					var n int
					in.Get("n", &n)
					var err error
					if id == "a" {
						err = hold("a", n, 1, aHasOne, bHasZero)
					} else {
						err = hold("b", n, 0, bHasZero, aHasOne)
					}
					return step.Fields{"held_" + id: n}, step.Permanent(err)
				}), nil
			}))
		}
		p := h.load(`
steps:
  - uses: nums
    with: {count: 3}
  - uses: hold_a
  - uses: hold_b
`)
		sum, err, _ := h.run(p, RunOptions{})
		if err != nil || sum.Done != 3 || sum.Ran != 6 {
			t.Fatalf("summary %+v, err %v", sum, err)
		}
	})
}

// A loaded Pipeline leaves a run as it entered it: running it again gives what a freshly loaded one gives.
// The if: reads now(), so the second run also shows that each run sets the clock to its own window.
func TestOneLoadedPipelineRunsTwice(t *testing.T) {
	const yml = `
steps:
  - uses: nums
    with: {count: 4}
  - uses: double
    filter: n != 3
  - uses: sink
    if: now().Year() >= 2026
`
	first := RunOptions{Until: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), Explain: true}
	second := RunOptions{Until: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), Explain: true}

	once := newHarness(t)
	p := once.load(yml)
	once.run(p, first)
	sumA, errA, repA := once.run(p, second)

	fresh := newHarness(t)
	fresh.run(fresh.load(yml), first)
	sumB, errB, repB := fresh.run(fresh.load(yml), second)

	if errA != nil || errB != nil {
		t.Fatalf("errors: %v / %v", errA, errB)
	}
	sumA.Finished, sumB.Finished = time.Time{}, time.Time{}
	if fmt.Sprint(*sumA) != fmt.Sprint(*sumB) {
		t.Fatalf("run again: %+v\nfresh load: %+v", *sumA, *sumB)
	}
	// The memo's reason names the run that made the record and when: those differ between the harnesses.
	runAt := regexp.MustCompile(`same inputs as run \S+ at [^(]+`)
	repA, repB = runAt.ReplaceAllString(repA, "same inputs as RUN "), runAt.ReplaceAllString(repB, "same inputs as RUN ")
	if byItem(repA) != byItem(repB) {
		t.Fatalf("run again:\n%s\nfresh load:\n%s", repA, repB)
	}
	// The first run skipped the sink (2025); the second serves double from the memo (4 items) and runs the
	// sink for the three the filter kept.
	if sumA.Steps["sink"] != 3 || sumA.Memo != 4 || sumA.Skipped != 1 || once.calls.get("sink") != 3 {
		t.Fatalf("second run %+v, sink calls %d", *sumA, once.calls.get("sink"))
	}
	if !strings.Contains(repA, "sink             run") {
		t.Fatalf("report:\n%s", repA)
	}
}

// decide changes nothing: asked twice about the same item and step it answers the same, and nothing is
// counted or traced until the executor acts on the answer.
func TestDecideIsPure(t *testing.T) {
	h := newHarness(t)
	p := h.load(basic)
	if _, err, _ := h.run(p, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := state.Open(h.dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r, err := newRun(p, RunOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, st, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	it, _ := step.NewItem("rec001", step.Fields{"n": 1, "subject": "会议 1", "url": "https://x/rec001?sign=SECRETSIG"})
	w := &work{item: it, next: 1}
	d1, d2 := r.decide(p.stages[1], w), r.decide(p.stages[1], w)
	if d1.act != ActMemo || d2.act != ActMemo || d1.rec.Key != d2.rec.Key {
		t.Fatalf("decisions %+v / %+v", d1, d2)
	}
	if len(w.trace) != 0 || r.sum.Memo != 0 || r.prog[1].memo.Load() != 0 {
		t.Fatalf("decide counted or traced: %+v %+v", w.trace, r.sum)
	}
	r.stop.Store(true)
	if d := r.decide(p.stages[1], w); d.act != ActDefer || classified(d.err) != step.KindDeferred {
		t.Fatalf("after a stop: %+v", d)
	}
}

func classified(err error) step.Kind {
	k, _ := step.Classify(err)
	return k
}

// byItem puts a report's per-item blocks in id order: items finish in whatever order the stages let them.
func byItem(rep string) string {
	var blocks []string
	for _, line := range strings.Split(strings.TrimSpace(rep), "\n") {
		if !strings.HasPrefix(line, " ") || len(blocks) == 0 {
			blocks = append(blocks, "")
		}
		blocks[len(blocks)-1] += line + "\n"
	}
	sort.Strings(blocks)
	return strings.Join(blocks, "")
}

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

// fillDisk is a step that, on the item numbered at, fills the file system under dir (as another program
// writing there would) before answering.
type fillDisk struct {
	dir string
	at  int
	did atomic.Bool
}

func (f *fillDisk) Process(ctx context.Context, in *step.Item) (step.Fields, error) {
	var n int
	if err := in.Get("n", &n); err != nil {
		return nil, err
	}
	if n == f.at && f.did.CompareAndSwap(false, true) {
		fh, err := os.Create(filepath.Join(f.dir, "junk"))
		if err != nil {
			return nil, err
		}
		defer fh.Close()
		buf := make([]byte, 64<<10)
		for {
			if _, err := fh.Write(buf); err != nil {
				break
			}
		}
	}
	return step.Fields{"filled": n}, nil
}

// A disk under state_dir filling mid-run defers the item whose result cannot be kept (no item fails), stops
// the run, and the pending list is still written — from the space reserved for it — naming every item
// not done; once space is freed the next run, with a window that has moved on, finishes them all.
func TestStateDirFillingMidRun(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })

	h := newHarness(t)
	h.dir = dir
	fill := &fillDisk{dir: dir, at: 2}
	h.reg.Register(step.Define(step.Spec{Name: "fill", Version: "1", SideEffects: true, Reads: []string{"n"}, Writes: []step.Field{{Name: "filled", Sample: 0}}}, struct{}{}, func(struct{}, *step.Build) (any, error) { return fill, nil }))
	p := h.load("steps:\n  - uses: nums\n    with: {count: 6}\n  - uses: fill\n")
	sum, err, _ := h.run(p, RunOptions{})
	if err == nil || sum == nil || sum.Status != step.RunFailed || !strings.Contains(err.Error(), "disk full under state_dir") {
		t.Fatalf("run on a filling disk: %+v %v", sum, err)
	}
	if sum.Failed != 0 || sum.Done+sum.Pending != 6 || sum.PendingLost != "" {
		t.Fatalf("want no failed item and every undone one pending, kept: %+v", sum)
	}
	st, _ := state.Open(dir, true)
	pend, perr := st.Pending()
	if perr != nil || len(pend) != sum.Pending {
		t.Fatalf("pending.json names %d items (%v), the summary %d pending", len(pend), perr, sum.Pending)
	}
	if _, err := os.Stat(filepath.Join(dir, "junk")); err != nil {
		t.Fatal(err)
	}

	if _, err := os.Stat(filepath.Join(dir, "reserve")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the reserve was not used to write the pending list on the full disk: %v", err)
	}

	os.Remove(filepath.Join(dir, "junk"))
	sum, err, _ = h.run(p, RunOptions{})
	if err != nil || sum.Done != 6 || sum.Failed != 0 {
		t.Fatalf("after space was freed: %+v %v", sum, err)
	}
	if pend, _ := st.Pending(); len(pend) != 0 {
		t.Fatalf("still pending: %+v", pend)
	}
	if _, err := os.Stat(filepath.Join(dir, "reserve")); err != nil {
		t.Errorf("the reserve was not made again: %v", err)
	}
}

// A state_dir already full when the run starts (no reserve could be made) lists nothing and says so: the
// window cannot be recorded, so nothing is taken that could be forgotten.
func TestStateDirFullFromTheStart(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	(&fillDisk{dir: dir}).Process(context.Background(), mustItem(t))
	h := newHarness(t)
	h.dir = dir
	p := h.load("steps:\n  - uses: nums\n    with: {count: 3}\n  - uses: double\n")
	sum, err, _ := h.run(p, RunOptions{})
	if err == nil || sum == nil || sum.Status != step.RunFailed || !strings.Contains(err.Error(), "record the window before listing it") || h.listed.Load() != 0 {
		t.Fatalf("full from the start: %+v %v, %d listed", sum, err, h.listed.Load())
	}
}

func mustItem(t *testing.T) *step.Item {
	it, err := step.NewItem("x", step.Fields{"n": 0})
	if err != nil {
		t.Fatal(err)
	}
	return it
}
