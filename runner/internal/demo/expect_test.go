package demo

import (
	"strings"
	"testing"
)

// The expectations follow the definitions: one row per meeting the pipeline keeps, per copy, each copy
// under its own id; the filtered and still-transcoding meetings never appear.
func TestExpectedFollowsTheMeetings(t *testing.T) {
	kept := 0
	for _, m := range Meetings {
		if m.WantPhase != "" {
			kept++
		}
	}
	for _, copies := range []int{1, 3} {
		w := Expected(copies)
		if len(w.Recordings) != kept*copies {
			t.Fatalf("Expected(%d): %d recordings, want %d:\n%s", copies, len(w.Recordings), kept*copies, strings.Join(w.Recordings, "\n"))
		}
		seen := map[string]bool{}
		for _, r := range w.Recordings {
			id := strings.Fields(r)[0]
			if seen[id] {
				t.Errorf("Expected(%d): recording %s twice", copies, id)
			}
			seen[id] = true
		}
		for _, m := range Meetings {
			if m.WantPhase == "" && seen[m.Record] {
				t.Errorf("Expected(%d) holds %s, which the pipeline must not store", copies, m.Record)
			}
		}
	}
	if got := CopyID("1964787070499246101", 2); got != "1964787070499246301" {
		t.Errorf("CopyID = %s", got)
	}
}
