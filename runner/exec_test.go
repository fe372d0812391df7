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
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

type harness struct {
	t       *testing.T
	dir     string
	calls   *calls
	listed  atomic.Int64
	pending []Pending
	reg     *Registry
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

func (h *harness) run(p *Pipeline, o RunOptions) (*Summary, error, string) {
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
	st, _ := OpenState(h.dir, true)
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
		st, _ := OpenState(h.dir, true)
		pend, _ := st.Pending()
		if len(pend) == 0 {
			t.Fatal("interrupted items must stay pending")
		}
	})
}

func TestLock(t *testing.T) {
	dir := t.TempDir()
	a, err := OpenState(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := OpenState(dir, false); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("second open: %v", err)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		var cur, peak atomic.Int64
		h.reg.Register(Define(Spec{Name: "slow", Version: "1", Reads: []string{"n"}, Writes: []Field{{Name: "slow", Sample: 0}}},
			struct{}{}, func(_ struct{}, b *Build) (any, error) {
				return stepFunc(func(ctx context.Context, in *Item) (Fields, error) {
					c := cur.Add(1)
					for {
						p := peak.Load()
						if c <= p || peak.CompareAndSwap(p, c) {
							break
						}
					}
					time.Sleep(20 * time.Millisecond)
					cur.Add(-1)
					return Fields{"slow": 1}, nil
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
		h.reg.Register(Define(Spec{Name: "remote", Version: "1", Reads: []string{"n"}, Writes: []Field{{Name: "remote", Sample: 0}}},
			struct{}{}, func(_ struct{}, b *Build) (any, error) {
				lim := b.Limiter()
				return stepFunc(func(ctx context.Context, in *Item) (Fields, error) {
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
					return Fields{"remote": 1}, nil
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

func TestLimiterHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewLimiter("x", 0, 0)
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
	term := NewTerminal(&syncBuf{b: &b})
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
	h.reg.Register(Define(Spec{Name: "doc", Version: "1", Reads: []string{"n"}, Writes: []Field{{Name: "doc", Sample: map[string]any{}}}},
		struct{}{}, func(_ struct{}, b *Build) (any, error) {
			return stepFunc(func(ctx context.Context, in *Item) (Fields, error) {
				h.calls.inc("doc")
				return Fields{"doc": map[string]any{"segments": []any{map[string]any{"t": 1, "x": "一"}}, "text": "ok"}}, nil
			}), nil
		}))
	type ruleCfg struct {
		When Expr `yaml:"when"`
	}
	h.reg.Register(Define(Spec{Name: "ruled", Version: "1", Reads: []string{"doc"}, Writes: []Field{{Name: "ruled", Sample: false}}},
		ruleCfg{}, func(cfg ruleCfg, b *Build) (any, error) {
			prog, err := b.CompileBool(&cfg.When, nil)
			if err != nil {
				return nil, err
			}
			return stepFunc(func(ctx context.Context, in *Item) (Fields, error) {
				h.calls.inc("ruled")
				ok, err := prog.Bool(in, nil)
				return Fields{"ruled": ok}, err
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

func (l lazySource) Resolve(ctx context.Context, in *Item) (Fields, error) {
	l.resolved.Add(1)
	return Fields{"secret_url": "https://x/" + in.ID() + "?sign=SECRETSIG"}, nil
}

func TestLazyFieldsResolvedOnlyWhenNeeded(t *testing.T) {
	h := newHarness(t)
	var resolved atomic.Int64
	h.reg.Register(Define(Spec{Name: "lazynums", Source: true, Version: "1",
		Writes:   []Field{{Name: "n", Sample: 0}, {Name: "subject", Sample: ""}, {Name: "url", Sample: ""}, {Name: "secret_url", Sample: ""}},
		Volatile: []string{"url", "secret_url"}, Lazy: []string{"secret_url"}},
		srcCfg{Count: 3}, func(cfg srcCfg, b *Build) (any, error) {
			return lazySource{&numSource{cfg: cfg, listed: &h.listed}, &resolved}, nil
		}))
	var seen atomic.Int64
	h.reg.Register(Define(Spec{Name: "fetch", Version: "1", SideEffects: true, Reads: []string{"n", "secret_url"}, Writes: []Field{{Name: "fetched", Sample: ""}}},
		struct{}{}, func(_ struct{}, b *Build) (any, error) {
			return stepFunc(func(ctx context.Context, in *Item) (Fields, error) {
				var u string
				if err := in.Get("secret_url", &u); err != nil || !strings.Contains(u, in.ID()) {
					return nil, Permanent(fmt.Errorf("lazy field not resolved: %q %v", u, err))
				}
				seen.Add(1)
				return Fields{"fetched": "yes"}, nil
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
