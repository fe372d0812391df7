package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"meetpipe/runner/internal/state"
	"meetpipe/runner/step"
)

// lessonSource lists lessons out of start order, as a paging API may, and one not ready yet; its Spec
// names the fields that label an item and the one that orders them.
type lessonSource struct{}

func (lessonSource) List(ctx context.Context, w step.Window, out step.Emitter) error {
	base := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for _, l := range []struct {
		id      string
		hour    int
		teacher string
	}{{"late", 5, "t2"}, {"early", 1, "t1"}, {"middle", 3, "t1"}} {
		f := step.Fields{"start": base.Add(time.Duration(l.hour) * time.Hour), "teacher_id": l.teacher,
			"student_ids": []string{"s1", "s2"}, "subject": "数学 " + l.id}
		if err := out.Emit(ctx, l.id, f); err != nil {
			return err
		}
	}
	out.NotReady("transcoding", nil, "转码中")
	return nil
}

// pricedStep has side effects and a price: a dry run estimates 100 tokens and 0.25 CNY an item.
type pricedStep struct{}

func (pricedStep) Process(ctx context.Context, in *step.Item) (step.Fields, error) { return nil, nil }
func (pricedStep) EstimateCost(in *step.Item) step.Cost {
	return step.Cost{Units: map[string]int64{"tokens": 100}, Money: 0.25, Currency: "CNY"}
}

func lessonHarness(t *testing.T) *Pipeline {
	h := newHarness(t)
	h.reg.Register(step.Define(step.Spec{Name: "lessons", Source: true, Version: "1",
		Writes: []step.Field{{Name: "start", Sample: time.Time{}}, {Name: "teacher_id", Sample: ""},
			{Name: "student_ids", Sample: []string{}}, {Name: "subject", Sample: ""}},
		Label: []string{"start", "teacher_id", "student_ids", "subject"}, OrderBy: "start"}, struct{}{}, func(_ struct{}, b *step.Build) (any, error) { return lessonSource{}, nil }))
	h.reg.Register(step.Define(step.Spec{Name: "priced", Version: "1", SideEffects: true}, struct{}{},
		func(_ struct{}, b *step.Build) (any, error) { return pricedStep{}, nil }))
	return h.load("steps:\n  - uses: lessons\n  - id: asr\n    uses: priced\n")
}

// TestDryRunListsInStartOrderWithCountsAndMoney: the dry run's lines come in the source's order with its
// labels, then the priced step's cost and a counts line with the money.
func TestDryRunListsInStartOrderWithCountsAndMoney(t *testing.T) {
	p := lessonHarness(t)
	var rep strings.Builder
	if _, err := p.Run(context.Background(), RunOptions{DryRun: true, Report: &rep, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}); err != nil {
		t.Fatal(err)
	}
	var items []string
	for _, l := range strings.Split(strings.TrimSpace(rep.String()), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[1] == "would-process" {
			items = append(items, l)
		}
	}
	if len(items) != 3 || !strings.HasPrefix(items[0], "early") || !strings.HasPrefix(items[1], "middle") || !strings.HasPrefix(items[2], "late") {
		t.Fatalf("items not in start order:\n%s", rep.String())
	}
	if !strings.Contains(items[0], "2026-12-01 10:00 UTC t1 s1,s2 数学 early") {
		t.Errorf("labels missing in %q", items[0])
	}
	if !strings.Contains(rep.String(), "cost asr: ~ tokens=300 ≈ 0.7500 CNY") {
		t.Errorf("no priced cost line:\n%s", rep.String())
	}
	lines := strings.Split(strings.TrimSpace(rep.String()), "\n")
	if last := lines[len(lines)-1]; last != "4 items: 1 not-ready, 3 would-process; 0 step(s) from the memo; ≈ 0.7500 CNY" {
		t.Errorf("counts line %q", last)
	}
}

// TestDryRunJSONSortedWithCounts: --output json keeps one object per item, in order, then a counts object.
func TestDryRunJSONSortedWithCounts(t *testing.T) {
	p := lessonHarness(t)
	var rep strings.Builder
	if _, err := p.Run(context.Background(), RunOptions{DryRun: true, JSON: true, Report: &rep, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(rep.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("want 4 items and a counts object:\n%s", rep.String())
	}
	var got []string
	for _, l := range lines[:4] {
		var e reportEntry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		got = append(got, e.Item+":"+string(e.Labels["teacher_id"]))
	}
	if fmt.Sprint(got) != `[early:"t1" middle:"t1" late:"t2" transcoding:]` {
		t.Errorf("order %v", got)
	}
	var c reportCounts
	if err := json.Unmarshal([]byte(lines[4]), &c); err != nil || c.Counts["would-process"] != 3 || c.Costs["asr"].Money != 0.75 {
		t.Errorf("counts %q: %+v %v", lines[4], c, err)
	}
}

// TestPendingIsThePendingList: the run's pending count is what state_dir's pending list holds (what
// `runner report` counts as 待处理): not-ready and stuck items included, and earlier entries a later run
// did not list again.
func TestPendingIsThePendingList(t *testing.T) {
	h := newHarness(t)
	for i, count := range []int{5, 2} { // the second run lists only rec000, rec001: the rest carry over
		p := h.load(fmt.Sprintf("steps:\n  - uses: nums\n    with: {count: %d, not_ready: 1, stuck: 1}\n  - uses: double\n", count))
		sum, _, _ := h.run(p, RunOptions{})
		list, err := state.ReadPending(h.dir)
		if err != nil {
			t.Fatal(err)
		}
		if sum == nil || sum.Pending != len(list) || len(list) < 2 {
			t.Fatalf("run %d: summary pending %+v, the pending list %d: %v", i+1, sum, len(list), list)
		}
	}
}

// TestDryRunReportIsBounded: past reportCap entries the report stops holding them, says so, and still
// prints every item and the counts.
func TestDryRunReportIsBounded(t *testing.T) {
	h := newHarness(t)
	h.reg.Register(step.Define(step.Spec{Name: "many", Source: true, Version: "1", Writes: []step.Field{{Name: "n", Sample: 0}}, OrderBy: "n"}, struct{}{}, func(_ struct{}, b *step.Build) (any, error) { return manySource(reportCap + 2), nil }))
	p := h.load("steps:\n  - uses: many\n")
	_, err, rep := h.run(p, RunOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(rep), "\n")
	items := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "rec") {
			items++
		}
	}
	if !strings.Contains(rep, fmt.Sprintf("# more than %d items", reportCap)) || items != reportCap+2 ||
		!strings.HasPrefix(lines[len(lines)-1], fmt.Sprintf("%d items: %d ", reportCap+2, reportCap+2)) ||
		!strings.HasPrefix(lines[1], "rec00002") { // the held ones sorted: the two last listed come after

		t.Errorf("%d item lines, last %q", items, lines[len(lines)-1])
	}
}

// manySource lists n items, the last first.
type manySource int

func (m manySource) List(ctx context.Context, w step.Window, out step.Emitter) error {
	for i := int(m) - 1; i >= 0; i-- {
		if err := out.Emit(ctx, fmt.Sprintf("rec%05d", i), step.Fields{"n": i}); err != nil {
			return err
		}
	}
	return nil
}
