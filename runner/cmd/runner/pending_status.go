package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"meetpipe/runner/internal/state"
)

// stateDirFrom is the state folder the shipped pipeline uses under env (the environment over .env).
func stateDirFrom(env map[string]string) string {
	if d := env["MEETPIPE_STATE_DIR"]; d != "" {
		return d
	}
	return "./var/meeting"
}

// pendingItem is one pending recording as runner status shows it.
type pendingItem struct {
	ID      string    `json:"id"`
	Reason  string    `json:"reason"`
	Problem bool      `json:"problem"` // pending for a problem (the run failed), not merely not ready yet
	Since   time.Time `json:"since"`
	Age     string    `json:"age"`
}

// readPending reads the pending list of a state directory without taking its lock (a run may hold it).
// A directory that does not exist has none.
func readPending(dir string, now time.Time) ([]pendingItem, error) {
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		return []pendingItem{}, nil
	}
	st, err := state.Open(dir, true)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	list, err := st.Pending()
	if err != nil {
		return nil, fmt.Errorf("pending list of %s: %w", dir, err)
	}
	out := make([]pendingItem, 0, len(list))
	for _, p := range list {
		out = append(out, pendingItem{ID: p.ID, Reason: p.Reason, Problem: p.Problem, Since: p.FirstSeen,
			Age: now.Sub(p.FirstSeen).Round(time.Minute).String()})
	}
	return out, nil
}

// writePending prints the pending recordings with reason and age, problems first.
func writePending(w io.Writer, dir string, items []pendingItem) {
	fmt.Fprintf(w, "\npending recordings (%s): %d\n", dir, len(items))
	if len(items) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  item\tkind\tage\treason")
	for _, pass := range []bool{true, false} {
		for _, p := range items {
			if p.Problem != pass {
				continue
			}
			kind := "not ready"
			if p.Problem {
				kind = "PROBLEM"
			}
			reason, _, _ := strings.Cut(p.Reason, "\n")
			if r := []rune(reason); len(r) > 120 {
				reason = string(r[:119]) + "…"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", p.ID, kind, p.Age, reason)
		}
	}
	tw.Flush()
}
