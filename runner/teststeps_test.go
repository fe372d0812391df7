package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"meetpipe/runner/step"
)

// Test steps: a source of N numbered items, a doubler, a flaky step and a sink counting calls.

type srcCfg struct {
	Count    int    `yaml:"count" min:"0" max:"1000" doc:"items to emit"`
	NotReady int    `yaml:"not_ready" doc:"ids ≥ count-not_ready are reported not ready"`
	Stuck    int    `yaml:"stuck" doc:"the stuck ids before those are reported stuck (pending for a problem)"`
	Token    string `yaml:"token" secret:"true"`
	Reason   string `yaml:"reason" doc:"not-ready reason (default transcoding)"`
	Prefix   string `yaml:"prefix" doc:"prepended to every id"`
}

type numSource struct {
	cfg     srcCfg
	listed  *atomic.Int64
	pending *[]step.Pending
}

func (s *numSource) List(ctx context.Context, w step.Window, out step.Emitter) error {
	if s.pending != nil {
		*s.pending = w.Pending
	}
	for i := range s.cfg.Count {
		id := s.cfg.Prefix + fmt.Sprintf("rec%03d", i)
		if i >= s.cfg.Count-s.cfg.NotReady {
			reason := s.cfg.Reason
			if reason == "" {
				reason = "transcoding"
			}
			out.NotReady(id, map[string]int{"i": i}, reason)
			continue
		}
		if i >= s.cfg.Count-s.cfg.NotReady-s.cfg.Stuck {
			step.ReportStuck(out, id, map[string]int{"i": i}, "participants unreadable: no permission")
			continue
		}
		s.listed.Add(1)
		if err := out.Emit(ctx, id, step.Fields{"n": i, "subject": fmt.Sprintf("会议 %d", i), "url": "https://x/" + id + "?sign=SECRETSIG"}); err != nil {
			return err
		}
	}
	return nil
}

func (s *numSource) Hint(in *step.Item) any { return map[string]string{"id": in.ID()} }

type doubleCfg struct {
	Factor int `yaml:"factor"`
}

type calls struct {
	mu sync.Mutex
	n  map[string]int // step → calls
}

func (c *calls) inc(step string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[step]++
	return c.n[step]
}

func (c *calls) get(step string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[step]
}

type stepFunc func(ctx context.Context, in *step.Item) (step.Fields, error)

func (f stepFunc) Process(ctx context.Context, in *step.Item) (step.Fields, error) {
	return f(ctx, in)
}

type verifyStep struct {
	stepFunc
	dir string
}

func (v verifyStep) Verify(ctx context.Context, out *step.Item) error {
	var path string
	if err := out.Get("file", &path); err != nil {
		return err
	}
	_, err := os.Stat(path)
	return err
}

type flakyCfg struct {
	FailTimes int           `yaml:"fail_times"`
	Kind      string        `yaml:"kind" enum:"transient,permanent,deferred,after,environment,client_environment"`
	After     time.Duration `yaml:"after"`
	FailOnly  int           `yaml:"fail_only" doc:"only item n fails; -1 all"`
	Sleep     time.Duration `yaml:"sleep"`
}

// testRegistry returns a registry of test steps that record their calls in c.
func testRegistry(c *calls, listed *atomic.Int64, pending *[]step.Pending) *step.Registry {
	reg := step.NewRegistry()
	reg.Register(step.Define(step.Spec{Name: "nums", Source: true, Version: "1",
		Writes:   []step.Field{{Name: "n", Sample: 0}, {Name: "subject", Sample: ""}, {Name: "url", Sample: ""}},
		Volatile: []string{"url"}}, srcCfg{Count: 3}, func(cfg srcCfg, b *step.Build) (any, error) {
		return &numSource{cfg: cfg, listed: listed, pending: pending}, nil
	}))
	reg.Register(step.Define(step.Spec{Name: "double", Version: "1", Reads: []string{"n"}, Writes: []step.Field{{Name: "double", Sample: 0}}}, doubleCfg{Factor: 2}, func(cfg doubleCfg, b *step.Build) (any, error) {
		return stepFunc(func(ctx context.Context, in *step.Item) (step.Fields, error) {
			c.inc("double")
			var n int
			if err := in.Get("n", &n); err != nil {
				return nil, err
			}
			return step.Fields{"double": n * cfg.Factor}, nil
		}), nil
	}))
	reg.Register(step.Define(step.Spec{Name: "touch", Version: "1", SideEffects: true, Reads: []string{"n"}, Writes: []step.Field{{Name: "file", Sample: ""}}}, struct{}{}, func(_ struct{}, b *step.Build) (any, error) {
		return verifyStep{stepFunc: func(ctx context.Context, in *step.Item) (step.Fields, error) {
			c.inc("touch")
			p := filepath.Join(b.StateDir, "files", in.ID())
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return nil, err
			}
			return step.Fields{"file": p}, os.WriteFile(p, []byte("x"), 0o644)
		}}, nil
	}))
	reg.Register(step.Define(step.Spec{Name: "flaky", Version: "1", SideEffects: true, Reads: []string{"n"}, Writes: []step.Field{{Name: "flaky", Sample: ""}}}, flakyCfg{Kind: "transient", FailOnly: -1}, func(cfg flakyCfg, b *step.Build) (any, error) {
		var mu sync.Mutex
		seen := map[string]int{}
		return stepFunc(func(ctx context.Context, in *step.Item) (step.Fields, error) {
			c.inc("flaky")
			var n int
			in.Get("n", &n)
			if cfg.Sleep > 0 {
				select {
				case <-time.After(cfg.Sleep):
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			mu.Lock()
			seen[in.ID()]++
			k := seen[in.ID()]
			mu.Unlock()
			if (cfg.FailOnly < 0 || cfg.FailOnly == n) && k <= cfg.FailTimes {
				err := fmt.Errorf("flaky failure %d", k)
				switch cfg.Kind {
				case "permanent":
					return nil, step.Permanent(err)
				case "deferred":
					return nil, step.Deferred(err)
				case "environment":
					return nil, step.Environmental(err)
				case "client_environment": // a client's own error type, wrapped, that says so by behaviour
					return nil, fmt.Errorf("call: %w", clientError{msg: err.Error(), env: true})
				case "after":
					return nil, step.RetryAfter(err, cfg.After)
				}
				return nil, err
			}
			return step.Fields{"flaky": "ok"}, nil
		}), nil
	}))
	reg.Register(step.Define(step.Spec{Name: "sink", Version: "1", SideEffects: true, Reads: []string{"double"}, Writes: []step.Field{{Name: "stored", Sample: false}}}, struct{}{}, func(_ struct{}, b *step.Build) (any, error) {
		return stepFunc(func(ctx context.Context, in *step.Item) (step.Fields, error) {
			c.inc("sink")
			return step.Fields{"stored": true}, nil
		}), nil
	}))
	reg.Register(step.Define(step.Spec{Name: "limited", Version: "1", SideEffects: true, Reads: []string{"n"}, Writes: []step.Field{{Name: "limited", Sample: false}}}, struct{}{}, func(_ struct{}, b *step.Build) (any, error) {
		lim, _ := b.Limiter()
		return stepFunc(func(ctx context.Context, in *step.Item) (step.Fields, error) {
			release, err := lim.Acquire(ctx)
			if err != nil {
				return nil, err
			}
			release()
			c.inc("limited")
			return step.Fields{"limited": true}, nil
		}), nil
	}))
	reg.Register(step.Define(step.Spec{Name: "crash", Version: "1", SideEffects: true, Reads: []string{"n"}, Writes: []step.Field{{Name: "crashed", Sample: false}}}, struct{}{}, func(_ struct{}, b *step.Build) (any, error) {
		return stepFunc(func(ctx context.Context, in *step.Item) (step.Fields, error) {
			c.inc("crash")
			return nil, errCrash
		}), nil
	}))
	return reg
}

var errCrash = errors.New("simulated crash")

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
