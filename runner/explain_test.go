package runner

import (
	"strings"
	"testing"
)

// false on what the dry run knows must show as skipped, not as would-run.
func TestDryRunPreviewHonoursIf(t *testing.T) {
	h := newHarness(t)
	p := h.load(`
steps:
  - uses: nums
    with: {count: 3}
    filter: n != 1
  - uses: touch
  - uses: double
    if: n > 0
  - uses: sink
    if: file != ""
`)
	_, err, rep := h.run(p, RunOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	blocks := map[string]string{}
	for _, b := range strings.Split(rep, "\nrec")[0:] {
		b = strings.TrimPrefix(b, "rec")
		blocks["rec"+b[:3]] = b
	}
	if !strings.Contains(blocks["rec001"], "filter of step nums: n 1 == 1") {
		t.Errorf("rec001 should be filtered with its value:\n%s", rep)
	}
	if !strings.Contains(blocks["rec000"], "double           skip      if false: n 0 <= 0") {
		t.Errorf("rec000: double's if: is false; it must not be would-run:\n%s", blocks["rec000"])
	}
	if !strings.Contains(blocks["rec002"], "double           would-run") {
		t.Errorf("rec002: double's if: is true; it would run:\n%s", blocks["rec002"])
	}
	if !strings.Contains(blocks["rec002"], "sink             may-run") || !strings.Contains(blocks["rec002"], "[file]") {
		t.Errorf("rec002: sink's if: depends on touch's output; it is undecided:\n%s", blocks["rec002"])
	}
	if strings.Count(rep, "would-run") != 3 { // touch ×2, double for rec002
		t.Errorf("want 3 would-run lines:\n%s", rep)
	}
}
