package steps

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"meetpipe/runner"
	"meetpipe/runner/step"
	"meetpipe/steps/kimi/emulator"
)

// TestKimiClassifyRunsAreApart: one loaded Pipeline run several times. The quota stop of one run does
// not stop the next, and each run's cost line counts that run's tokens only.
func TestKimiClassifyRunsAreApart(t *testing.T) {
	t.Parallel() // its own servers and files
	srv := moonshotServer(t, emulator.MoonshotOptions{})
	p, _ := classifyPipeline(t, srv, t.TempDir(), "", false)
	defer p.Close()
	run := func(o runner.RunOptions) *step.Summary {
		t.Helper()
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		sum, _ := p.Run(context.Background(), o) // a run with pending items returns an error too
		if sum == nil {
			t.Fatal("no summary")
		}
		return sum
	}

	srv.Inject(emulator.FaultQuota)
	first := run(runner.RunOptions{})
	if first.Pending == 0 {
		t.Fatalf("the quota stopped nothing: %+v", first)
	}
	chats := srv.Counters().Chat
	second := run(runner.RunOptions{})
	if second.Pending != 0 || second.Done != 3 || srv.Counters().Chat == chats {
		t.Fatalf("the next run of the same Pipeline: %+v, %d chats; the first run's stop carried over", second, srv.Counters().Chat-chats)
	}

	forced := runner.RunOptions{Force: []string{"classify"}}
	a, b := run(forced).Costs["classify"], run(forced).Costs["classify"]
	if a.Units["prompt_tokens"] == 0 || a.Units["prompt_tokens"] != b.Units["prompt_tokens"] {
		t.Errorf("two runs of the same three items cost %v then %v prompt tokens; want the same, each its own",
			a.Units["prompt_tokens"], b.Units["prompt_tokens"])
	}
}

// TestKimiClassifyEstimateIsPure: estimating changes no counter, in a dry run or out of one; two dry runs
// of the same Pipeline estimate the same.
func TestKimiClassifyEstimateIsPure(t *testing.T) {
	srv := moonshotServer(t, emulator.MoonshotOptions{})
	stp := newTestClassify(t, srv, "price_per_mtok_input: 12")
	ctx := step.WithRunScope(context.Background())
	it := transcriptItem(t, "rec1", "周会", "我们来聊简历。")
	for range 3 {
		if stp.Estimate(it) == "" || stp.EstimateCost(it).Units["prompt_tokens"] == 0 {
			t.Fatal("no estimate")
		}
	}
	if c := stp.Cost(ctx); len(c.Units) != 0 || c.Money != 0 {
		t.Errorf("after three estimates the run's cost is %+v, want none", c)
	}

	p, _ := classifyPipeline(t, srv, t.TempDir(), "price_per_mtok_input: 12", true)
	defer p.Close()
	var costs [2]step.Cost
	for i := range costs {
		sum, err := p.Run(context.Background(), runner.RunOptions{DryRun: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		costs[i] = sum.Costs["classify"]
	}
	if costs[0].Units["prompt_tokens"] == 0 || costs[0].Units["prompt_tokens"] != costs[1].Units["prompt_tokens"] || costs[0].Money != costs[1].Money {
		t.Errorf("two dry runs estimate %+v then %+v; want the same", costs[0], costs[1])
	}
	if got := srv.Counters(); got.Chat != 0 {
		t.Errorf("estimates called the model: %+v", got)
	}
}
