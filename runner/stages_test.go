package runner

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"meetpipe/runner/internal/state"
	"meetpipe/runner/step"
	"regexp"
	"sort"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

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
