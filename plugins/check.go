package plugins

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"

	"meetpipe/runner/step"
)

// CheckInput is what a plugin's check command reads on stdin. It prints its findings on stdout as JSON
// objects {"status": "ok"|"warn"|"fail", "subject", "detail", "remedy"}, one per line or as one array, and
// exits 0; a non-zero exit without findings is one failed finding with the end of its stderr.
type CheckInput struct {
	Settings  map[string]any `json:"settings"`
	Spend     bool           `json:"spend"`
	Preflight bool           `json:"preflight"`
}

// checkedStep is a plugin step whose manifest declares a check.
type checkedStep struct {
	*execStep
}

// Check runs the manifest's check command.
func (s checkedStep) Check(ctx context.Context, o step.CheckOptions) []step.Finding {
	name := s.m.Name
	argv := append([]string(nil), s.m.Check...)
	if strings.Contains(argv[0], "/") {
		argv[0] = filepath.Join(s.m.Dir, argv[0])
	}
	stdin, err := json.Marshal(CheckInput{Settings: s.settings, Spend: o.Spend, Preflight: o.Preflight})
	if err != nil {
		return []step.Finding{step.Fail("plugin "+name, err.Error(), "fix the plugin's settings")}
	}
	stdout := &capped{max: maxOutput}
	stderr := &capped{max: 64 << 10}
	cmd := s.command(ctx, argv, stdin, stdout, stderr)
	runErr := cmd.Run()
	if cmd.Process != nil {
		_ = killGroup(cmd.Process)
	}
	fs, decErr := decodeFindings(stdout.Bytes())
	for i := range fs {
		fs[i].Subject, fs[i].Detail, fs[i].Remedy = s.scrub(fs[i].Subject), s.scrub(fs[i].Detail), s.scrub(fs[i].Remedy)
	}
	tail := strings.TrimSpace(s.scrub(stderr.String()))
	if len(tail) > 300 {
		tail = "…" + tail[len(tail)-300:]
	}
	switch {
	case runErr != nil && errors.Is(runErr, exec.ErrNotFound), runErr != nil && cmd.ProcessState == nil:
		return []step.Finding{step.Fail("plugin "+name+" check", fmt.Sprintf("start %s: %v", s.m.Check[0], runErr),
			"build or install the plugin (`just build`)")}
	case decErr != nil:
		return []step.Finding{step.Fail("plugin "+name+" check", decErr.Error(), "fix the plugin's check command: it must print JSON findings")}
	case len(fs) > 0:
		return fs
	case runErr != nil:
		return []step.Finding{step.Fail("plugin "+name, fmt.Sprintf("check %v: %s", runErr, tail), "see the plugin's README for its settings")}
	}
	return []step.Finding{step.OK("plugin "+name, "check passed")}
}

// decodeFindings reads JSON findings, one object per line or one array.
func decodeFindings(b []byte) ([]step.Finding, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, nil
	}
	var out []step.Finding
	if b[0] == '[' {
		if err := json.Unmarshal(b, &out); err != nil {
			return nil, fmt.Errorf("check output is not a JSON array of findings: %v", err)
		}
	} else {
		dec := json.NewDecoder(bytes.NewReader(b))
		for {
			var f step.Finding
			if err := dec.Decode(&f); err == io.EOF {
				break
			} else if err != nil {
				return nil, fmt.Errorf("check output is not JSON findings: %v", err)
			}
			out = append(out, f)
		}
	}
	for i, f := range out {
		switch f.Status {
		case step.StatusOK, step.StatusWarn, step.StatusFail:
		default:
			return nil, fmt.Errorf("finding %d: status %q is not ok, warn or fail", i+1, f.Status)
		}
		if f.Subject == "" {
			return nil, fmt.Errorf("finding %d has no subject", i+1)
		}
	}
	return out, nil
}
