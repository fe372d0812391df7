package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"meetpipe/runner/disk"
	"meetpipe/runner/internal/state"
	"meetpipe/runner/step"
)

// StepFinding is a Finding with the step it is about ("" for the pipeline itself).
type StepFinding struct {
	Step string `json:"step,omitempty"`
	step.Finding
}

// checkGrace is how long a check may take to return after the deadline before it is reported unanswered.
const checkGrace = 2 * time.Second

// Check runs the checks of the pipeline (state_dir) and of every step that implements Checker, all at once
// under one deadline (o.Deadline), and returns their findings in the steps' order. A step whose checks
// have not returned by then fails with "no answer". With o.Preflight only the steps with side effects are
// checked. Secrets are scrubbed from every finding.
func (p *Pipeline) Check(ctx context.Context, o step.CheckOptions) []StepFinding {
	o.StateDir = p.StateDir
	if o.Window <= 0 {
		o.Window = 24 * time.Hour
	}
	if o.Deadline <= 0 {
		o.Deadline = step.DefaultCheckDeadline
	}
	o.RecentItems = recentItems(p.StateDir, o.Window)
	var out []StepFinding
	for _, f := range checkStateDir(p.StateDir) {
		out = append(out, StepFinding{Finding: f})
	}
	cctx, cancel := context.WithTimeout(ctx, o.Deadline)
	defer cancel()
	type pending struct {
		id  string
		res chan []step.Finding
	}
	var started []pending
	for _, s := range p.stages {
		c, ok := s.impl.(step.Checker)
		if !ok || (o.Preflight && !s.spec.SideEffects) {
			continue
		}
		res := make(chan []step.Finding, 1) // buffered: a check answering after the deadline does not block
		go func() { res <- c.Check(cctx, o) }()
		started = append(started, pending{s.id, res})
	}
	var late <-chan time.Time
	for _, st := range started {
		var fs []step.Finding
		select {
		case fs = <-st.res:
		case <-cctx.Done():
			if late == nil {
				late = time.After(checkGrace)
			}
			select {
			case fs = <-st.res:
			case <-late:
				fs = []step.Finding{step.Fail("checks", fmt.Sprintf("no answer within %s", o.Deadline),
					"a service this step uses hangs: check that it is up and reachable from this machine")}
			}
		}
		for _, f := range fs {
			f.Subject, f.Detail, f.Remedy = p.Secrets.Scrub(f.Subject), p.Secrets.Scrub(f.Detail), p.Secrets.Scrub(f.Remedy)
			out = append(out, StepFinding{Step: st.id, Finding: f})
		}
	}
	return out
}

// Failed reports whether any finding failed.
func Failed(fs []StepFinding) bool {
	for _, f := range fs {
		if f.Status == step.StatusFail {
			return true
		}
	}
	return false
}

// checkStateDir checks that state_dir can be written (or created) and reports its free space.
func checkStateDir(dir string) []step.Finding {
	const subject = "state_dir"
	abs, err := filepath.Abs(dir)
	if err != nil {
		return []step.Finding{step.Fail(subject, err.Error(), "set state_dir to a path this user can write")}
	}
	// The nearest existing folder: a state_dir that does not exist yet is created by the first run.
	at := abs
	for {
		if _, err := os.Stat(at); err == nil || !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			break
		}
		parent := filepath.Dir(at)
		if parent == at {
			break
		}
		at = parent
	}
	if st, err := os.Stat(at); err != nil {
		return []step.Finding{step.Fail(subject, fmt.Sprintf("%s: %v", abs, err), "set state_dir to a path this user can write")}
	} else if !st.IsDir() {
		return []step.Finding{step.Fail(subject, at+" is not a folder", "set state_dir to a folder, or move the file "+at+" out of its way")}
	}
	f, err := os.CreateTemp(at, ".doctor-*")
	if err != nil {
		return []step.Finding{step.Fail(subject, fmt.Sprintf("%s is not writable: %v", at, err),
			fmt.Sprintf("give this user write access to %s (chown or chmod) or set MEETPIPE_STATE_DIR elsewhere", at))}
	}
	f.Close()
	os.Remove(f.Name())
	detail := abs + " writable"
	if at != abs {
		detail = abs + " will be created in " + at
	}
	if free, ok := disk.Free(at); ok {
		detail += fmt.Sprintf(", %s free", disk.Human(free))
	}
	return []step.Finding{step.OK(subject, detail)}
}

// recentItems is the most items one of the last runs recorded in state_dir saw, scaled from its window to
// window (a run of a 7-day backlog says little about a night).
func recentItems(dir string, window time.Duration) int {
	entries, err := os.ReadDir(filepath.Join(dir, "runs"))
	if err != nil {
		return 0
	}
	if len(entries) > 14 {
		entries = entries[len(entries)-14:] // run ids sort by time
	}
	most := 0
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, "runs", e.Name()))
		if err != nil {
			continue
		}
		var r state.RunRecord
		if json.Unmarshal(b, &r) != nil || r.DryRun || r.Summary.Items == 0 {
			continue
		}
		n := r.Summary.Items
		if span := r.Until.Sub(r.Since); span > 0 && window > 0 {
			n = int(math.Ceil(float64(n) * float64(window) / float64(span)))
		}
		most = max(most, n)
	}
	return most
}
