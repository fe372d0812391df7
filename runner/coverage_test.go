package runner

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meetpipe/runner/step"
)

// spanSource records the windows it is asked to list and fails the listing while fail is set.
type spanSource struct {
	asked []step.Window
	fail  error
}

func (s *spanSource) List(ctx context.Context, w step.Window, out step.Emitter) error {
	s.asked = append(s.asked, w)
	if err := out.Emit(ctx, "a"+w.Since.Format("0102"), step.Fields{"n": 1}); err != nil {
		return err
	}
	return s.fail
}

func coverageHarness(t *testing.T) (*harness, *spanSource, *Pipeline) {
	h := newHarness(t)
	src := &spanSource{}
	h.reg.Register(step.Define(step.Spec{Name: "spans", Source: true, Version: "1", Writes: []step.Field{{Name: "n", Sample: 0}}}, struct{}{}, func(struct{}, *step.Build) (any, error) { return src, nil }))
	return h, src, h.load("pending_max_age: 10d\nsteps:\n  - uses: spans\n  - uses: double\n")
}

// A listing that fails half way (Tencent answering garbage) leaves its window for the next run, which
// lists it too although its own window has moved on; once listed completely, it is forgotten.
func TestFailedListingWindowIsListedByTheNextRun(t *testing.T) {
	h, src, p := coverageHarness(t)
	d1 := time.Now().Add(-48 * time.Hour).Truncate(time.Hour).UTC()
	src.fail = errors.New("invalid character '<' looking for beginning of value")
	sum, err, _ := h.run(p, RunOptions{Since: d1, Until: d1.Add(26 * time.Hour)})
	if err == nil || sum == nil || sum.Status != step.RunFailed || len(sum.Uncovered) != 1 || !sum.Uncovered[0].Since.Equal(d1) {
		t.Fatalf("night 1: %+v %v", sum, err)
	}
	// A second failed night joins its window to the first.
	d2 := d1.Add(24 * time.Hour)
	sum, err, _ = h.run(p, RunOptions{Since: d2, Until: d2.Add(26 * time.Hour)})
	if err == nil || len(src.asked) != 2 || !src.asked[1].Since.Equal(d1) || len(sum.Uncovered) != 1 ||
		!sum.Uncovered[0].Since.Equal(d1) || !sum.Uncovered[0].Until.Equal(d2.Add(26*time.Hour)) {
		t.Fatalf("night 2 asked %+v, uncovered %+v, %v", src.asked, sum.Uncovered, err)
	}
	src.fail = nil
	d3 := d2.Add(24 * time.Hour)
	sum, err, _ = h.run(p, RunOptions{Since: d3, Until: d3.Add(2 * time.Hour)})
	if err != nil || !src.asked[2].Since.Equal(d1) || len(sum.Backfill) != 1 || !sum.Backfill[0].Since.Equal(d1) ||
		!sum.Backfill[0].Until.Equal(d3) || len(sum.Uncovered) != 0 {
		t.Fatalf("night 3 asked %+v, summary %+v, %v", src.asked[2], sum, err)
	}
	sum, _, _ = h.run(p, RunOptions{Since: d3.Add(time.Hour), Until: d3.Add(3 * time.Hour)})
	if !src.asked[3].Since.Equal(d3.Add(time.Hour)) || len(sum.Backfill) != 0 {
		t.Fatalf("night 4 asked %+v, backfill %+v: the window was listed already", src.asked[3], sum.Backfill)
	}
}

// A kept window older than pending_max_age is given up, and the run says so; a dry run widens but writes
// nothing; `null` in the file is an error, not an empty list.
func TestUncoveredWindowBounds(t *testing.T) {
	h, src, p := coverageHarness(t)
	old := time.Now().Add(-20 * 24 * time.Hour).UTC()
	writeFile(t, filepath.Join(h.dir, "uncovered.json"), `[{"since":"`+old.Format(time.RFC3339)+`","until":"`+
		old.Add(time.Hour).Format(time.RFC3339)+`","asked":"`+old.Format(time.RFC3339)+`"}]`)
	now := time.Now().UTC()
	var logs strings.Builder
	sum, err, _ := h.run(p, RunOptions{Since: now.Add(-time.Hour), Until: now, Logger: textLogger(&logs)})
	if err != nil || len(sum.Backfill) != 0 || !src.asked[0].Since.Equal(now.Add(-time.Hour)) ||
		!strings.Contains(logs.String(), "longer ago than pending_max_age") {
		t.Fatalf("an expired window: asked %+v, summary %+v, %v\n%s", src.asked, sum, err, logs.String())
	}

	recent := now.Add(-3 * 24 * time.Hour)
	body := `[{"since":"` + recent.Format(time.RFC3339) + `","until":"` + recent.Add(time.Hour).Format(time.RFC3339) + `","asked":"` + recent.Format(time.RFC3339) + `"}]`
	writeFile(t, filepath.Join(h.dir, "uncovered.json"), body)
	if _, err, _ := h.run(p, RunOptions{Since: now.Add(-time.Hour), Until: now, DryRun: true}); err != nil || !src.asked[1].Since.Equal(recent.Truncate(time.Second)) {
		t.Fatalf("dry run: asked %+v, %v", src.asked[1], err)
	}
	if b, _ := os.ReadFile(filepath.Join(h.dir, "uncovered.json")); string(b) != body {
		t.Fatalf("a dry run wrote %s", b)
	}

	writeFile(t, filepath.Join(h.dir, "uncovered.json"), "null")
	os.Remove(filepath.Join(h.dir, "uncovered.json"+".bak"))
	if sum, err, _ := h.run(p, RunOptions{Since: now.Add(-time.Hour), Until: now}); sum != nil || err == nil || !strings.Contains(err.Error(), "null") {
		t.Fatalf("null uncovered.json: %+v %v", sum, err)
	}
}

func textLogger(w *strings.Builder) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
