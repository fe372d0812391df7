package runner

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"meetpipe/runner/internal/state"
	"meetpipe/runner/step"
)

// TestTargetsRunOnlyNamedItems: a run with targets (a push event's recordings) hands them to the source
// with their hints, admits only them, and keeps in the pending list those it could not settle.
func TestTargetsRunOnlyNamedItems(t *testing.T) {
	dir := t.TempDir()
	c := &calls{n: map[string]int{}}
	var seen []step.Pending
	reg := testRegistry(c, new(atomic.Int64), &seen)
	p, err := LoadBytes("t.yaml", []byte(`
steps:
  - uses: nums
    with: {count: 3, not_ready: 1}
  - uses: double
`), LoadOptions{Registry: reg, Env: map[string]string{}, StateDir: filepath.Join(dir, "state")})
	if err != nil {
		t.Fatal(err)
	}
	targets := []step.Pending{
		{ID: "rec000", Hint: json.RawMessage(`{"where":"a"}`)},
		{ID: "rec002", Hint: json.RawMessage(`{"where":"b"}`)}, // not ready at the source
		{ID: "gone", Hint: json.RawMessage(`{"where":"c"}`)},   // never listed
	}
	sum, err := p.Run(context.Background(), RunOptions{Targets: targets, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if sum.Done != 1 || sum.Items != 1 || c.n["double"] != 1 {
		t.Fatalf("summary %+v, double ran %d times; want rec000 alone processed (rec001 is not a target)", sum, c.n["double"])
	}
	var ids []string
	for _, pp := range seen {
		ids = append(ids, pp.ID+" "+string(pp.Hint))
	}
	slices.Sort(ids)
	if want := []string{`gone {"where":"c"}`, `rec000 {"where":"a"}`, `rec002 {"where":"b"}`}; !slices.Equal(ids, want) {
		t.Fatalf("the source was asked for %v, want %v", ids, want)
	}
	st, err := state.Open(filepath.Join(dir, "state"), true)
	if err != nil {
		t.Fatal(err)
	}
	list, _, err := st.LoadPending()
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, pp := range list {
		left = append(left, pp.ID)
	}
	slices.Sort(left)
	if !slices.Equal(left, []string{"gone", "rec002"}) {
		t.Fatalf("pending after the run: %v, want the targets not settled (gone, rec002)", left)
	}
}
