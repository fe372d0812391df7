package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"meetpipe/runner"
	"meetpipe/runner/finding"
	"meetpipe/runner/step"
)

// cmdDoctor checks everything a pipeline will touch and prints one line per finding. Exit 0 when nothing
// failed, 1 otherwise, 2 when the pipeline does not load.
func cmdDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("doctor", stderr)
	var (
		lf     loadFlags
		spend  bool
		asJSON bool
		since  string
		limit  time.Duration
	)
	lf.register(fs)
	fs.BoolVar(&spend, "spend", false, "also make calls that cost a little (a one-second transcription of silence)")
	output := fs.String("output", "text", "text or json (the findings as a JSON array)")
	fs.BoolVar(&asJSON, "json", false, "deprecated: use --output json")
	fs.StringVar(&since, "since", "26h", "the window of a nightly run, for the disk-space estimate")
	fs.DurationVar(&limit, "timeout", step.DefaultCheckDeadline, "how long all the checks together may take (they run at once)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagError(err)
	}
	switch {
	case *output != "text" && *output != "json":
		return usageError{fmt.Errorf("doctor: --output %q: want text or json", *output)}
	case asJSON:
		fmt.Fprintln(stderr, "doctor: --json is deprecated; use --output json")
		*output = "json"
	}
	asJSON = *output == "json"
	if len(pos) != 1 {
		return usageError{errors.New("doctor: want exactly one pipeline file")}
	}
	win, err := step.ParseDuration(since)
	if err != nil || win <= 0 {
		return usageError{fmt.Errorf("doctor: --since %q is not a duration such as 26h", since)}
	}
	if limit <= 0 || limit > 10*time.Minute {
		return usageError{fmt.Errorf("doctor: --timeout %s: want a duration from 1s to 10m", limit)}
	}
	p, _, err := lf.load(pos[0], false, time.Now(), stderr)
	if err != nil {
		return usageError{err}
	}
	defer p.Close()
	found, err := placeholderFindings(lf.envFile)
	if err != nil {
		return usageError{fmt.Errorf("doctor: %w", err)}
	}
	found = append(found, p.Check(ctx, step.CheckOptions{Spend: spend, Window: win, Deadline: limit})...)
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if found == nil {
			found = []runner.StepFinding{}
		}
		enc.Encode(found) //nolint:errcheck // stdout gone
	} else {
		color := false
		if f, ok := stdout.(*os.File); ok {
			color = isTerminal(f) && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
		}
		writeFindingsColor(stdout, found, color)
		fmt.Fprintln(stdout, findingCounts(found))
	}
	if runner.Failed(found) {
		return errFailed // the findings say what failed
	}
	return nil
}

// writeFindings prints one line per finding: status, the thing checked, what was found, and the remedy.
func writeFindings(w io.Writer, fs []runner.StepFinding) { writeFindingsColor(w, fs, false) }

// writeFindingsColor colours each line by its status (green ok, yellow warn, red fail) when color is set.
func writeFindingsColor(w io.Writer, fs []runner.StepFinding, color bool) {
	for _, f := range fs {
		line := findingLine(f)
		if color {
			code := map[finding.Status]string{step.StatusOK: "32", step.StatusWarn: "33", step.StatusFail: "31"}[f.Status]
			if code != "" {
				line = "\x1b[" + code + "m" + line + "\x1b[0m"
			}
		}
		fmt.Fprintln(w, line)
	}
}

// findingCounts is doctor's last line: how many checks passed, warned and failed.
func findingCounts(fs []runner.StepFinding) string {
	n := map[finding.Status]int{}
	for _, f := range fs {
		n[f.Status]++
	}
	return fmt.Sprintf("doctor: %d ok, %d warn, %d fail", n[step.StatusOK], n[step.StatusWarn], n[step.StatusFail])
}

// placeholderFindings fails each setting of the env file that still holds a placeholder of .env.example
// (your_secret_id, http://your-asr-host:8000/v1), naming it and not its value.
func placeholderFindings(envFile string) ([]runner.StepFinding, error) {
	keys, err := placeholdersIn(envFile)
	if err != nil {
		return nil, err
	}
	var out []runner.StepFinding
	for _, k := range keys {
		if v, set := os.LookupEnv(k); set && !isPlaceholder(v) {
			continue // the environment wins over the file
		}
		out = append(out, runner.StepFinding{Finding: step.Fail("setting "+k, "still the template's placeholder", "fill it in "+envFile)})
	}
	return out, nil
}

func findingLine(f runner.StepFinding) string {
	s := fmt.Sprintf("%-4s  ", f.Status)
	if f.Step != "" {
		s += f.Step + ": "
	}
	s += f.Subject
	if f.Detail != "" {
		s += ": " + f.Detail
	}
	if f.Remedy != "" && f.Status != step.StatusOK {
		s += " — " + f.Remedy
	}
	return s
}

// preflight runs the cheap checks of the steps that write or spend. It prints failed findings and reports
// whether the run may start, and whether a failure is the configuration's (exit 2) rather than a service
// that is down (exit 1).
func preflight(ctx context.Context, p *runner.Pipeline, window time.Duration, stderr io.Writer) (ok, config bool) {
	var failed []runner.StepFinding
	for _, f := range p.Check(ctx, step.CheckOptions{Preflight: true, Window: window}) {
		if f.Status == step.StatusFail {
			failed = append(failed, f)
			config = config || f.Config
		}
	}
	if len(failed) == 0 {
		return true, false
	}
	fmt.Fprintln(stderr, "runner run: preflight failed; nothing was downloaded, transcribed or stored (--no-preflight skips this check):")
	writeFindings(stderr, failed)
	return false, config
}
