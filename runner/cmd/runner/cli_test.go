package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meetpipe/runner/internal/state"
	"meetpipe/runner/step"
)

// A pipeline that needs no tool and no server to load: tencent_list pointed at a closed port.
const tinyPipeline = `name: tiny
state_dir: %STATE%
log_file: %LOG%
steps:
  - uses: tencent_list
    with: {secret_id: id, secret_key: key-SECRET-42, enterprise_id: "1", base_url: "http://127.0.0.1:9", teachers: t1, mode: per_teacher, retries: -1}
`

func tinyFixture(t *testing.T, extra string) (file, logFile, envFile string) {
	t.Helper()
	dir := t.TempDir()
	logFile = filepath.Join(dir, "logs", "run.log")
	src := strings.NewReplacer("%STATE%", filepath.Join(dir, "state"), "%LOG%", logFile).Replace(tinyPipeline) + extra
	file = filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	envFile = filepath.Join(dir, ".env")
	if err := os.WriteFile(envFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return file, logFile, envFile
}

func TestUsageErrorsExit2(t *testing.T) {
	file, _, envFile := tinyFixture(t, "")
	for _, args := range [][]string{
		{"status", "--no-such-flag"},
		{"status", "stray"},
		{"migrate", "--no-such-flag"},
		{"migrate", "stray"},
		{"steps", "--no-such-flag"},
		{"steps", "no_such_step"},
		{"schema", "stray"},
		{"run", file, "--env-file", envFile, "--grace", "-1s"},
		{"run", file, "--env-file", envFile, "--grace", "1000h"},
	} {
		var out, errOut bytes.Buffer
		if code := cli(context.Background(), args, &out, &errOut); code != 2 {
			t.Errorf("runner %s: exit %d, want 2:\n%s", strings.Join(args, " "), code, errOut.String())
		}
	}
}

func TestValidateRefusesHugeCounts(t *testing.T) {
	for name, c := range map[string]struct{ extra, want string }{
		"concurrency": {"  - uses: aria2_download\n    concurrency: 1000000000000\n", "p.yaml:8:18: concurrency: want an integer from 1 to 256"},
		"timeout 0":   {"  - uses: aria2_download\n    timeout: 0s\n", "p.yaml:8:14: timeout: want a duration"},
		"connections": {"  - uses: aria2_download\n    with: {connections: 17}\n", "p.yaml:8:25: connections: want 1..16"},
	} {
		t.Run(name, func(t *testing.T) {
			file, _, envFile := tinyFixture(t, c.extra)
			var out, errOut bytes.Buffer
			code := cli(context.Background(), []string{"validate", file, "--env-file", envFile}, &out, &errOut)
			if code != 2 || !strings.Contains(errOut.String(), c.want) {
				t.Fatalf("exit %d, want 2 and %q:\n%s", code, c.want, errOut.String())
			}
		})
	}
}

func TestDryRunWritesNoLogFile(t *testing.T) {
	file, logFile, envFile := tinyFixture(t, "")
	var out, errOut bytes.Buffer
	cli(context.Background(), []string{"run", file, "--env-file", envFile, "--dry-run", "--log-format", "json"}, &out, &errOut)
	if !strings.Contains(errOut.String(), "run started") {
		t.Fatalf("the dry run did not run:\n%s", errOut.String())
	}
	if _, err := os.Stat(logFile); err == nil {
		b, _ := os.ReadFile(logFile)
		t.Fatalf("a dry run wrote the log file:\n%s", b)
	}
}

// A pending list that neither pending.json nor its backup can give back stops the run with exit 2 and
// says how to proceed, instead of running as if nothing were pending.
func TestCorruptPendingExits2(t *testing.T) {
	file, _, envFile := tinyFixture(t, "")
	state := filepath.Join(filepath.Dir(file), "state")
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"pending.json", "pending.json.bak"} {
		if err := os.WriteFile(filepath.Join(state, f), []byte(`[{"id":"rec1","reas`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var out, errOut bytes.Buffer
	code := cli(context.Background(), []string{"run", file, "--env-file", envFile, "--log-format", "json"}, &out, &errOut)
	if code != 2 || !strings.Contains(errOut.String(), "pending list is corrupt") || !strings.Contains(errOut.String(), "remove both") {
		t.Fatalf("exit %d, want 2 with advice:\n%s", code, errOut.String())
	}
}

// Every command's error goes through exitCode, the one mapping: -h is 0, usage and configuration 2, failed
// work 1, whatever wraps them.
func TestExitCodeMapping(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{flag.ErrHelp, 0},
		{fmt.Errorf("steps: %w", flag.ErrHelp), 0},
		{usageError{errors.New("bad flag")}, 2},
		{fmt.Errorf("report: %w", usageError{errors.New("bad window")}), 2},
		{&step.Diagnostics{}, 2},
		{usageError{&step.Diagnostics{}}, 2},
		{reported{2}, 2},
		{errFailed, 1},
		{fmt.Errorf("doctor: %w", errFailed), 1},
		{errors.New("3 items failed"), 1},
		{state.ErrLocked, 1},
	} {
		if got := exitCode(c.err); got != c.want {
			t.Errorf("exitCode(%#v) = %d, want %d", c.err, got, c.want)
		}
	}
	for _, c := range []struct {
		args []string
		want int
	}{
		{nil, 2}, {[]string{"no-such-command"}, 2}, {[]string{"-h"}, 0}, {[]string{"version"}, 0},
		{[]string{"status", "-h"}, 0}, {[]string{"run", "-h"}, 0}, {[]string{"validate"}, 2},
		{[]string{"deploy", "--no-such-flag"}, 2}, {[]string{"demo", "--no-such-flag"}, 2},
	} {
		var out, errOut bytes.Buffer
		if code := cli(context.Background(), c.args, &out, &errOut); code != c.want {
			t.Errorf("runner %v: exit %d, want %d:\n%s", c.args, code, c.want, errOut.String())
		}
	}
}
