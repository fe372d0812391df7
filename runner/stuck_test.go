package runner

import (
	"strings"
	"testing"
)

// An item the source leaves pending for a problem fails the run (an error naming it and the reason),
// stays pending with Problem set, and is offered again; a merely not-ready item does neither.
func TestStuckFailsTheRunAndStaysPending(t *testing.T) {
	h := newHarness(t)
	p := h.load(`
steps:
  - uses: nums
    with: {count: 4, not_ready: 1, stuck: 1}
  - uses: double
`)
	sum, err, _ := h.run(p, RunOptions{})
	if err == nil || sum == nil || sum.Stuck != 1 || sum.NotReady != 1 || sum.Done != 2 || sum.Status != "pending" {
		t.Fatalf("summary %+v, err %v: want 2 done, 1 not ready, 1 stuck, status pending and an error", sum, err)
	}
	if !strings.Contains(err.Error(), "rec002") || !strings.Contains(err.Error(), "no permission") || strings.Contains(err.Error(), "rec003") {
		t.Errorf("error %q: want the stuck item and its reason, not the not-ready one", err)
	}
	if _, _, _ = h.run(p, RunOptions{}); len(h.pending) != 2 {
		t.Fatalf("pending offered again: %+v", h.pending)
	}
	for _, pe := range h.pending {
		if pe.Problem != (pe.ID == "rec002") {
			t.Errorf("pending %s problem=%v", pe.ID, pe.Problem)
		}
	}
}
