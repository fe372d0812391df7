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

// usageError marks errors that exit with 2.
type usageError struct{ error }

func cli(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "run":
		return cmdRun(ctx, args[1:], stdout, stderr)
	case "validate":
		return cmdValidate(args[1:], stdout, stderr)
	case "doctor":
		return cmdDoctor(ctx, args[1:], stdout, stderr)
	case "steps":
		err = cmdSteps(args[1:], stdout)
	case "schema":
		err = cmdSchema(args[1:], stdout)
	case "status":
		err = cmdStatus(ctx, args[1:], stdout)
	case "migrate":
		err = cmdMigrate(ctx, args[1:], stdout)
	case "deploy":
		err = cmdDeploy(ctx, args[1:], stdout, stderr)
	case "undeploy":
		err = cmdUndeploy(ctx, args[1:], stdout, stderr)
	case "emulate":
		err = cmdEmulate(ctx, args[1:], stdout, stderr)
	case "demo":
		err = cmdDemo(ctx, args[1:], stdout, stderr)
	case "report":
		err = cmdReport(ctx, args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "runner", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "runner: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "runner:", err)
		var ue usageError
		var ds *runner.Diagnostics
		if errors.As(err, &ue) || errors.As(err, &ds) {
			return 2
		}
		return 1
	}
	return 0
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
