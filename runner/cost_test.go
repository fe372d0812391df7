package runner

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"meetpipe/runner/step"
)

type openCfg struct {
	Fail   string `yaml:"fail" enum:",config,other"`
	Tokens int64  `yaml:"tokens"`
}

// openStep checks its environment at Open and reports a cost per item processed in the run; in a dry
// run it estimates the same per item.
type openStep struct {
	cfg    openCfg
	b      *step.Build
	opened *atomic.Int64
}

// items is the run's count of processed items: kept in the run scope, not on the step.
func (s *openStep) items(ctx context.Context) *atomic.Int64 {
	return step.RunValue(ctx, s, func() *atomic.Int64 { return new(atomic.Int64) })
}

func (s *openStep) Open(ctx context.Context) error {
	s.opened.Add(1)
	switch s.cfg.Fail {
	case "config":
		return s.b.Errorf(nil, "opened: model %q is not available; usable: a, b", "x")
	case "other":
		return errors.New("cannot reach the service")
	}
	return nil
}

func (s *openStep) Process(ctx context.Context, in *step.Item) (step.Fields, error) {
	s.items(ctx).Add(1)
	return nil, nil
}

func (s *openStep) Cost(ctx context.Context) step.Cost {
	n := s.items(ctx).Load()
	return step.Cost{Units: map[string]int64{"tokens": s.cfg.Tokens * n}, Money: 0.5 * float64(n), Currency: "CNY", Estimate: s.b.DryRun}
}

func openHarness(t *testing.T) (*harness, *atomic.Int64) {
	h := newHarness(t)
	var opened atomic.Int64
	h.reg.Register(step.Define(step.Spec{Name: "opened", Version: "1", Reads: []string{"n"}}, openCfg{}, func(cfg openCfg, b *step.Build) (any, error) {
		return &openStep{cfg: cfg, b: b, opened: &opened}, nil
	}))
	return h, &opened
}

func TestOpenerStopsTheRunBeforeAnyItem(t *testing.T) {
	for _, tt := range []struct {
		fail   string
		config bool
	}{{"config", true}, {"other", false}} {
		h, opened := openHarness(t)
		p := h.load("steps:\n  - uses: nums\n    with: {count: 3}\n  - uses: opened\n    with: {fail: " + tt.fail + "}\n")
		sum, err, _ := h.run(p, RunOptions{})
		var d step.Diagnostic
		if err == nil || errors.As(err, &d) != tt.config || (sum == nil) != tt.config || opened.Load() != 1 {
			t.Fatalf("%s: summary %+v, err %v", tt.fail, sum, err)
		}
		if !tt.config && sum.Status != "failed" {
			t.Errorf("status %q", sum.Status)
		}
		if h.listed.Load() != 0 {
			t.Errorf("%s: %d items listed after a failed open", tt.fail, h.listed.Load())
		}
	}
}

func TestCostReporterInSummary(t *testing.T) {
	h, opened := openHarness(t)
	p := h.load("steps:\n  - uses: nums\n    with: {count: 3}\n  - id: model\n    uses: opened\n    with: {tokens: 100}\n")
	sum, err, _ := h.run(p, RunOptions{})
	if err != nil || opened.Load() != 1 {
		t.Fatal(err)
	}
	c := sum.Costs["model"]
	if c.Units["tokens"] != 300 || c.Money != 1.5 || c.Currency != "CNY" || c.Estimate {
		t.Errorf("cost %+v", c)
	}
	if got := costLine(c); got != "tokens=300 ≈ 1.5000 CNY" {
		t.Errorf("cost line %q", got)
	}
	h2, _ := openHarness(t)
	p = h2.load("steps:\n  - uses: nums\n    with: {count: 3}\n  - id: model\n    uses: opened\n    with: {tokens: 100}\n")
	sum, err, rep := h2.run(p, RunOptions{DryRun: true})
	if err != nil || !strings.Contains(rep, "cost model: tokens=300 ≈ 1.5000 CNY") {
		t.Errorf("dry run: %v\n%s", err, rep)
	}
	_ = sum
}

// TestCostIsPerRun: one loaded Pipeline run twice reports each run's own cost; what the step kept in the
// first run's scope does not carry over.
func TestCostIsPerRun(t *testing.T) {
	h, _ := openHarness(t)
	p := h.load("steps:\n  - uses: nums\n    with: {count: 3}\n  - id: model\n    uses: opened\n    with: {tokens: 100}\n")
	for i := range 2 {
		sum, err, _ := h.run(p, RunOptions{Force: []string{"model"}})
		if err != nil {
			t.Fatal(err)
		}
		if c := sum.Costs["model"]; c.Units["tokens"] != 300 {
			t.Errorf("run %d: cost %+v, want this run's 300 tokens", i+1, c)
		}
	}
}

// estStep has side effects, so a dry run only estimates it: 100 tokens an item.
type estStep struct{ estimates *atomic.Int64 }

func (s *estStep) Process(ctx context.Context, in *step.Item) (step.Fields, error) { return nil, nil }
func (s *estStep) Estimate(in *step.Item) string                                   { return "100 tokens" }
func (s *estStep) EstimateCost(in *step.Item) step.Cost {
	s.estimates.Add(1)
	return step.Cost{Units: map[string]int64{"tokens": 100}}
}

// TestDryRunSumsEstimates: the dry run's cost line is the engine's sum of the pure per-item estimates.
func TestDryRunSumsEstimates(t *testing.T) {
	h := newHarness(t)
	var n atomic.Int64
	h.reg.Register(step.Define(step.Spec{Name: "est", Version: "1", SideEffects: true}, struct{}{}, func(_ struct{}, b *step.Build) (any, error) {
		return &estStep{estimates: &n}, nil
	}))
	p := h.load("steps:\n  - uses: nums\n    with: {count: 3}\n  - id: paid\n    uses: est\n")
	sum, err, rep := h.run(p, RunOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if c := sum.Costs["paid"]; c.Units["tokens"] != 300 || !c.Estimate || n.Load() != 3 || !strings.Contains(rep, "cost paid: ~ tokens=300") {
		t.Errorf("cost %+v after %d estimates; report:\n%s", c, n.Load(), rep)
	}
}
