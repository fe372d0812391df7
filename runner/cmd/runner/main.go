// Command runner runs meetpipe's YAML pipelines: `runner run pipelines/meeting.yaml --since 24h`.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"meetpipe/runner/step"
	_ "meetpipe/steps" // registers the built-in steps
)

const usage = `runner — declarative pipelines for Tencent Meeting recordings

usage:
  runner run FILE [flags]        run a pipeline (--since 24h, --dry-run, --explain, …)
  runner serve FILE [flags]      Tencent webhook receiver + the nightly catch-up, as one service
  runner validate FILE           check a pipeline; every problem as file:line:col
  runner doctor FILE [--spend]   check what the pipeline will touch: credentials, services, database, tools
  runner steps [NAME]            list the steps, or document one
  runner schema                  JSON Schema for pipeline files (for editors)
  runner status [flags]          what the database holds: counts, runs, failures, students
  runner migrate [flags]         apply the SQL migrations in sql/
  runner deploy|undeploy [flags] install under /opt/meetpipe with a nightly timer or crontab line, or remove it
  runner report [FILE] [flags]   HTML report and workbook from the database; --send posts and mails a digest
  runner forget FILE ID… [--dry-run] erase students from the database and state_dir, for good
  runner version

In the development build (bin/runner-dev: just build-dev; just demo builds and runs it):
  runner emulate SERVICE [flags] run an emulator: tencent, asr, moonshot, wecom
  runner demo [flags]            run pipelines/meeting.yaml on the bundled meetings against the emulators

Run 'runner COMMAND -h' (or 'runner help COMMAND') for a command's flags and examples.
Machine-readable output: --output json (run --dry-run/--explain, doctor, status, version).
`

// version and commit are set by the build (`just build`: -ldflags "-X main.version=… -X main.commit=…");
// a plain `go build` falls back to what the Go toolchain stamped (module version, vcs.revision).
var (
	version = "dev"
	commit  = ""
)

func main() {
	os.Exit(cli(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// command is the one signature every command has. What it returns decides the exit code, in exitCode.
type command func(ctx context.Context, args []string, stdout, stderr io.Writer) error

var commands = map[string]command{
	"run":      cmdRun,
	"serve":    cmdServe,
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
	"forget":   cmdForget,
	"version":  cmdVersion,

	"notify-failure": cmdNotifyFailure,
}

// help documents the other commands, so it joins the table after it is built (no initialization cycle).
func init() { commands["help"] = cmdHelp }

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
		if s := suggest(name, commandNames()); s != "" {
			fmt.Fprintf(stderr, "runner: unknown command %q; did you mean %q?\n", args[0], s)
			return 2
		}
		fmt.Fprintf(stderr, "runner: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	cmdErr := stderr
	if wantsHelp(args[1:]) && name != "emulate" {
		cmdErr = stdout // asked-for help is output, not an error
	}
	err := cmd(ctx, args[1:], stdout, cmdErr)
	code := exitCode(err)
	var r reported
	var ds *step.Diagnostics
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
	var ds *step.Diagnostics
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

// buildInfo is the version, the commit (with "-dirty" for a modified tree) and the Go release.
type buildInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Go      string `json:"go"`
}

func currentBuild() buildInfo {
	b := buildInfo{Version: version, Commit: commit, Go: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		var rev string
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if b.Commit == "" && rev != "" {
			b.Commit = rev
			if dirty {
				b.Commit += "-dirty"
			}
		}
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	return b
}

func cmdVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", stderr)
	output := fs.String("output", "text", "text or json")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	b := currentBuild()
	switch *output {
	case "json":
		return json.NewEncoder(stdout).Encode(b)
	case "text":
		_, err := fmt.Fprintf(stdout, "runner %s (commit %s, %s)\n", b.Version, b.Commit, b.Go)
		return err
	}
	return usageError{fmt.Errorf("version: --output %q: want text or json", *output)}
}

func cmdHelp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && wantsHelp(args[:1]) {
		writeCommandHelp(stdout, nil, commandDocs["help"])
		return nil
	}
	if len(args) == 0 {
		_, err := fmt.Fprint(stdout, usage+"\n"+exitCodes)
		return err
	}
	cmd, ok := commands[args[0]]
	if !ok || args[0] == "help" {
		if !ok {
			if s := suggest(args[0], commandNames()); s != "" {
				return usageError{fmt.Errorf("help: no command %q; did you mean %q?", args[0], s)}
			}
			return usageError{fmt.Errorf("help: no command %q", args[0])}
		}
		writeCommandHelp(stdout, nil, commandDocs["help"])
		return nil
	}
	return cmd(ctx, []string{"-h"}, stdout, stdout)
}

// parseArgs parses flags that may come before or after positional arguments.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		// The full help only when asked for; a mistake gets its error, a suggestion and a pointer.
		full := fs.Usage
		fs.Usage = func() {}
		err := fs.Parse(args)
		fs.Usage = full
		if errors.Is(err, flag.ErrHelp) {
			full()
		} else if err != nil {
			suggestFlag(fs, err)
			fmt.Fprintf(fs.Output(), "run 'runner %s -h' for its flags and examples\n", fs.Name())
		}
		if err != nil {
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
