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

	"meetpipe/runner/finding"
)

// Statuses of a Finding.
const (
	StatusOK   = finding.StatusOK
	StatusWarn = finding.StatusWarn
	StatusFail = finding.StatusFail
)

// Finding is one result of a check: the leaf package's type, which the client packages produce without
// importing the engine.
type Finding = finding.Finding

// OK, Warn and Fail build findings (finding.OK, finding.Warn, finding.Fail).
func OK(subject, detail string) Finding           { return finding.OK(subject, detail) }
func Warn(subject, detail, remedy string) Finding { return finding.Warn(subject, detail, remedy) }
func Fail(subject, detail, remedy string) Finding { return finding.Fail(subject, detail, remedy) }

// CheckOptions say how far a check may go.
type CheckOptions struct {
	// Spend allows calls that cost money (a one-second transcription); without it checks are free.
	Spend bool
	// Preflight is set when a run checks before it starts: only cheap checks that decide whether the run
	// can do its job (a sink reachable and writable, a tool present), nothing slow.
	Preflight bool
	// Window is the span a nightly run covers (for estimates of disk space).
	Window time.Duration
	// RecentItems is the most items one of the recent runs in state_dir saw, scaled to Window (0: no
	// history).
	RecentItems int
	// StateDir is the pipeline's state_dir.
	StateDir string
	// Deadline bounds all the checks together (0: DefaultCheckDeadline).
	Deadline time.Duration
}

// StepFinding is a Finding with the step it is about ("" for the pipeline itself).
type StepFinding struct {
	Step string `json:"step,omitempty"`
	Finding
}

// DefaultCheckDeadline bounds all the checks together, so that services that hang cannot hold the
// doctor or a run's preflight for their sum of timeouts.
const DefaultCheckDeadline = 45 * time.Second

// checkGrace is how long a check may take to return after the deadline before it is reported unanswered.
const checkGrace = 2 * time.Second

// Check runs the checks of the pipeline (state_dir) and of every step that implements Checker, all at once
// under one deadline (o.Deadline), and returns their findings in the steps' order. A step whose checks
// have not returned by then fails with "no answer". With o.Preflight only the steps with side effects are
// checked. Secrets are scrubbed from every finding.
func (p *Pipeline) Check(ctx context.Context, o CheckOptions) []StepFinding {
	o.StateDir = p.StateDir
	if o.Window <= 0 {
		o.Window = 24 * time.Hour
	}
	if o.Deadline <= 0 {
		o.Deadline = DefaultCheckDeadline
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
		res chan []Finding
	}
	var started []pending
	for _, s := range p.stages {
		c, ok := s.impl.(Checker)
		if !ok || (o.Preflight && !s.spec.SideEffects) {
			continue
		}
		res := make(chan []Finding, 1) // buffered: a check answering after the deadline does not block
		go func() { res <- c.Check(cctx, o) }()
		started = append(started, pending{s.id, res})
	}
	var late <-chan time.Time
	for _, st := range started {
		var fs []Finding
		select {
		case fs = <-st.res:
		case <-cctx.Done():
			if late == nil {
				late = time.After(checkGrace)
			}
			select {
			case fs = <-st.res:
			case <-late:
				fs = []Finding{Fail("checks", fmt.Sprintf("no answer within %s", o.Deadline),
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
		if f.Status == StatusFail {
			return true
		}
	}
	return false
}

// checkStateDir checks that state_dir can be written (or created) and reports its free space.
func checkStateDir(dir string) []Finding {
	const subject = "state_dir"
	abs, err := filepath.Abs(dir)
	if err != nil {
		return []Finding{Fail(subject, err.Error(), "set state_dir to a path this user can write")}
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
		return []Finding{Fail(subject, fmt.Sprintf("%s: %v", abs, err), "set state_dir to a path this user can write")}
	} else if !st.IsDir() {
		return []Finding{Fail(subject, at+" is not a folder", "set state_dir to a folder, or move the file "+at+" out of its way")}
	}
	f, err := os.CreateTemp(at, ".doctor-*")
	if err != nil {
		return []Finding{Fail(subject, fmt.Sprintf("%s is not writable: %v", at, err),
			fmt.Sprintf("give this user write access to %s (chown or chmod) or set MEETPIPE_STATE_DIR elsewhere", at))}
	}
	f.Close()
	os.Remove(f.Name())
	detail := abs + " writable"
	if at != abs {
		detail = abs + " will be created in " + at
	}
	if free, ok := FreeBytes(at); ok {
		detail += fmt.Sprintf(", %s free", HumanBytes(free))
	}
	return []Finding{OK(subject, detail)}
}

// FreeBytes is the space available to this user on the file system holding path.
func FreeBytes(path string) (uint64, bool) {
	for {
		if free, err := freeBytes(path); err == nil {
			return free, true
		} else if !errors.Is(err, fs.ErrNotExist) {
			return 0, false
		}
		parent := filepath.Dir(path)
		if parent == path {
			return 0, false
		}
		path = parent
	}
}

// HumanBytes writes n in binary units: 1.5 GiB.
func HumanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
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
		var r RunRecord
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
