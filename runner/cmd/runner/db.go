package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"meetpipe/runner"
	"meetpipe/runner/step"
	"meetpipe/steps/store"
)

type dbFlags struct {
	envFile, dsn string
}

func (f *dbFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.envFile, "env-file", "", "read DB_* variables from this file (the environment wins); default "+
		".env when present, and a named file must exist")
	fs.StringVar(&f.dsn, "dsn", "", "database DSN (default $DB_DSN, or DB_HOST, DB_PORT, DB_USER, DB_PASS, DB_NAME)")
}

// open connects with --dsn or the DB_* settings (store.ConfigFromEnv); the password is scrubbed from any error.
func (f *dbFlags) open(ctx context.Context) (*sql.DB, *step.Secrets, error) {
	dot, _, err := readEnvFile(f.envFile)
	if err != nil {
		return nil, nil, err
	}
	env := runner.Environ(dot)
	cfg, err := store.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		return nil, nil, usageError{err}
	}
	if f.dsn != "" {
		cfg.DSN = f.dsn
	}
	sec := &step.Secrets{}
	for _, s := range cfg.Secrets() {
		sec.Add(s)
	}
	db, err := store.Open(ctx, cfg)
	if err != nil {
		return nil, sec, dbError(err, sec)
	}
	return db, sec, nil
}

// dbError scrubs err and classifies it: a database down or unreachable is the environment (exit 1); a
// refused login, an unknown database, missing tables or a malformed DSN are configuration (exit 2).
func dbError(err error, sec *step.Secrets) error {
	scrubbed := errors.New(sec.Scrub(err.Error()))
	if store.Environment(err) || !store.Temporary(err) {
		return usageError{scrubbed}
	}
	return scrubbed
}

func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("status", stderr)
	var df dbFlags
	df.register(fs)
	output := fs.String("output", "text", "text or json")
	runs := fs.Int("runs", 10, "how many recent runs")
	failures := fs.Int("failures", 20, "how many failed items")
	students := fs.Int("students", 10, "how many of the most active students")
	stateDir := fs.String("state-dir", "", "the pipeline's state_dir, for its pending recordings (default: "+
		"MEETPIPE_STATE_DIR of the environment or --env-file, else ./var/meeting)")
	var wf warningFlags
	wf.register(fs) // --pipeline: the warnings' rules, and the redact: patterns every line passes through
	pipeline := &wf.pipeline
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if *stateDir == "" {
		env, err := (&loadFlags{envFile: df.envFile}).env()
		if err != nil {
			return fmt.Errorf("status: %w", err)
		}
		*stateDir = stateDirFrom(env)
	}
	// What status prints passes through the pipeline's redaction, like logs and reports: stored text is
	// redacted at the door, and rows stored before redaction was on must not print either.
	if _, err := os.Stat(*pipeline); err == nil {
		red, err := runner.LoadRedactor(*pipeline)
		if err != nil {
			return usageError{err}
		}
		if red != nil {
			stdout = &redactingWriter{w: stdout, scrub: red.Scrub}
		}
	}
	if wf.on {
		return statusWarnings(ctx, wf, df.envFile, *output, stdout, stderr)
	}
	if *output != "text" && *output != "json" {
		return usageError{fmt.Errorf("status: --output must be text or json")}
	}
	db, sec, err := df.open(ctx)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	defer db.Close()
	rep, err := store.Status(ctx, db, store.StatusOptions{Runs: *runs, Failures: *failures, Students: *students})
	if err != nil {
		if store.Environment(err) {
			return fmt.Errorf("status: %w (run `runner migrate` for missing tables)", dbError(err, sec))
		}
		return fmt.Errorf("status: %w", dbError(err, sec))
	}
	pending, err := readPending(*stateDir, time.Now())
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			*store.Report
			Pending []pendingItem `json:"pending"`
		}{rep, pending})
	}
	if err := rep.WriteText(stdout); err != nil {
		return err
	}
	writePending(stdout, *stateDir, pending)
	return nil
}

func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("migrate", stderr)
	var df dbFlags
	df.register(fs)
	if err := noArgs(fs, args); err != nil {
		return err
	}
	db, sec, err := df.open(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer db.Close()
	applied, err := store.Migrate(ctx, db)
	if err != nil {
		return fmt.Errorf("migrate: %w", dbError(err, sec))
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "schema is up to date")
		return nil
	}
	fmt.Fprintf(stdout, "applied %d migration(s): %s\n", len(applied), strings.Join(applied, ", "))
	return nil
}

// noArgs parses flags of a command that takes no positional argument; a bad flag or a stray argument is a
// usage error (exit 2).
func noArgs(fs *flag.FlagSet, args []string) error {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) > 0 {
		return usageError{fmt.Errorf("%s: unexpected argument %q", fs.Name(), pos[0])}
	}
	return nil
}

// flagError makes a flag parse error exit 2; the flag package has printed it with the usage to the flag
// set's output. -h stays flag.ErrHelp (exit 0).
func flagError(err error) error {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return reported{2}
}

// newFlags is a flag set that reports to stderr and leaves the exit code to main.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	setUsage(fs)
	return fs
}
