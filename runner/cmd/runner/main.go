// Command runner runs meetpipe's YAML pipelines: `runner run pipelines/meeting.yaml --since 24h`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"meetpipe/runner"
	_ "meetpipe/steps" // registers the built-in steps
)

const usage = `runner — declarative pipelines for Tencent Meeting recordings

usage:
  runner run FILE [flags]        run a pipeline (--since 24h, --dry-run, --explain, …)
  runner validate FILE           check a pipeline; every problem as file:line:col
  runner doctor FILE [--spend]   check what the pipeline will touch: credentials, services, database, tools
  runner steps [NAME]            list the steps, or document one
  runner schema                  JSON Schema for pipeline files (for editors)
  runner status [flags]          what the database holds: counts, runs, failures, students
  runner migrate [flags]         apply the SQL migrations in sql/
  runner deploy|undeploy [flags] install under /opt/meetpipe with a nightly timer or crontab line, or remove it
  runner emulate SERVICE [flags] run an emulator: tencent, asr, moonshot, wecom
  runner demo [flags]            run pipelines/meeting.yaml on the bundled meetings against the emulators
  runner report [FILE] [flags]   HTML report and workbook from the database; --send posts and mails a digest
  runner version

Run 'runner COMMAND -h' for the flags of a command.
Exit codes: 0 all good, 1 some items failed, 2 configuration or usage error.
`

// version is set by the build (-ldflags "-X main.version=…").
var version = "dev"

func main() {
	os.Exit(cli(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// command is the one signature every command has. What it returns decides the exit code, in exitCode.
type command func(ctx context.Context, args []string, stdout, stderr io.Writer) error

var commands = map[string]command{
	"run":      cmdRun,
	"validate": cmdValidate,
	"doctor":   cmdDoctor,
	"steps":    cmdSteps,
	"schema":   cmdSchema,
	"status":   cmdStatus,
	"migrate":  cmdMigrate,
	"deploy":   cmdDeploy,
	"undeploy": cmdUndeploy,
	"emulate":  cmdEmulate,
	"demo":     cmdDemo,
	"report":   cmdReport,
	"version":  cmdVersion,
	"help":     cmdHelp,

	"notify-failure": cmdNotifyFailure,
}

// usageError marks a bad flag, argument or configuration: exit 2.
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

// reported marks a failure the command has already printed (findings, a run's summary, flag errors with
// their usage); main adds nothing but the exit code.
type reported struct{ code int }

func (r reported) Error() string { return fmt.Sprintf("exit %d", r.code) }

// errFailed is the common case of reported: some work failed and the output says which.
var errFailed = reported{1}

func cli(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	name := args[0]
	switch name {
	case "--version":
		name = "version"
	case "-h", "--help":
		name = "help"
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "runner: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	err := cmd(ctx, args[1:], stdout, stderr)
	code := exitCode(err)
	var r reported
	var ds *runner.Diagnostics
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp), errors.As(err, &r):
	case errors.As(err, &ds):
		fmt.Fprintln(stderr, err) // file:line:col lines speak for themselves
	default:
		fmt.Fprintln(stderr, "runner:", err)
	}
	return code
}

// exitCode is the one mapping from a command's error to the exit code: 0 all good (and -h), 1 some work
// failed, 2 a configuration or usage error.
func exitCode(err error) int {
	var r reported
	var ue usageError
	var ds *runner.Diagnostics
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &r):
		return r.code
	case errors.As(err, &ue), errors.As(err, &ds):
		return 2
	}
	return 1
}

func cmdVersion(_ context.Context, _ []string, stdout, _ io.Writer) error {
	_, err := fmt.Fprintln(stdout, "runner", version)
	return err
}

func cmdHelp(_ context.Context, _ []string, stdout, _ io.Writer) error {
	_, err := fmt.Fprint(stdout, usage)
	return err
}

// parseArgs parses flags that may come before or after positional arguments.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// listFlag collects repeated or comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
