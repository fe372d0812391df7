package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"meetpipe/runner"
)

type loadFlags struct {
	envFile, stateDir, plugins string
}

func (l *loadFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.envFile, "env-file", ".env", "read variables from this file (the environment wins)")
	fs.StringVar(&l.stateDir, "state-dir", "", "override the pipeline's state_dir")
	fs.StringVar(&l.plugins, "plugins", "", "folder of exec plugins (default: plugins/ beside the pipeline's folder, if present)")
}

// load reads the env file, registers plugins and loads the pipeline.
func (l *loadFlags) load(file string, dry bool, now time.Time) (*runner.Pipeline, map[string]string, error) {
	dot, err := runner.ReadDotEnv(l.envFile)
	if err != nil {
		return nil, nil, usageError{err}
	}
	env := runner.Environ(dot)
	reg, err := registry(l.plugins, file)
	if err != nil {
		return nil, nil, usageError{err}
	}
	p, err := runner.Load(file, runner.LoadOptions{Registry: reg, Env: env, DryRun: dry, Now: now, StateDir: l.stateDir})
	return p, env, err
}

// registry returns the built-in steps plus the exec plugins found in dir.
func registry(dir, pipeline string) (*runner.Registry, error) {
	reg := runner.Builtins.Clone()
	if dir == "" {
		dir = filepath.Join(filepath.Dir(filepath.Dir(pipeline)), "plugins")
		if _, err := os.Stat(dir); err != nil {
			return reg, nil
		}
	}
	if err := loadPlugins(dir, reg); err != nil {
		return nil, err
	}
	return reg, nil
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		lf                  loadFlags
		since, until        string
		dry, explain        bool
		from, output        string
		force, only         listFlag
		logLevel, logFormat string
		logFile             string
		grace               time.Duration
		noPreflight         bool
	)
	lf.register(fs)
	fs.StringVar(&since, "since", "24h", "start of the window: a duration back from --until (24h, 7d) or a time (2026-11-01T00:00:00+08:00)")
	fs.StringVar(&until, "until", "", "end of the window (default now): a time, or a duration back from now")
	fs.BoolVar(&dry, "dry-run", false, "only list and evaluate rules; print what would happen; write nothing")
	fs.BoolVar(&explain, "explain", false, "print, per item, why each step runs or is served from the memo")
	fs.StringVar(&from, "from", "", "run this step and every later one even when memoized")
	fs.Var(&force, "force", "run these steps even when memoized (repeat or comma-separate)")
	fs.Var(&only, "only", "process only these item ids (repeat or comma-separate)")
	fs.StringVar(&output, "output", "text", "dry-run and explain output: text or json")
	fs.StringVar(&logLevel, "log-level", "", "debug, info, warn or error (default $LOG_LEVEL or info)")
	fs.StringVar(&logFormat, "log-format", "auto", "auto (colours on a terminal, else JSON), text or json")
	fs.StringVar(&logFile, "log-file", "", "also append JSON logs to this file (default: the pipeline's log_file)")
	fs.DurationVar(&grace, "grace", 0, "after SIGINT/SIGTERM, how long in-flight work may finish (default: the pipeline's grace, 30s)")
	fs.BoolVar(&noPreflight, "no-preflight", false, "skip the checks of database, state_dir, tools and models before the run")
	pos, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "runner run: want exactly one pipeline file")
		return 2
	}
	if output != "text" && output != "json" {
		fmt.Fprintln(stderr, "runner run: --output must be text or json")
		return 2
	}
	if grace < 0 || grace > runner.MaxWait {
		fmt.Fprintf(stderr, "runner run: --grace %s: want a duration from 0s to %s\n", grace, runner.MaxWait)
		return 2
	}
	now := time.Now()
	u, s, err := window(since, until, now)
	if err != nil {
		fmt.Fprintln(stderr, "runner run:", err)
		return 2
	}
	p, env, err := lf.load(pos[0], dry, u)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	defer p.Close()
	// Before anything is downloaded or paid for: a sink that cannot take the results stops the run here.
	if !dry && !noPreflight && !preflight(ctx, p, u.Sub(s), stderr) {
		return 2
	}

	if logLevel == "" {
		logLevel = env["LOG_LEVEL"]
	}
	if logFile == "" {
		logFile = p.LogFile
	}
	if dry {
		logFile = "" // a dry run writes nothing, not even a log line to a file
	}
	var term *runner.Terminal
	tty := false
	var logOut io.Writer = stderr
	if f, ok := stderr.(*os.File); ok && isTerminal(f) {
		tty = true
		if logFormat == "auto" || logFormat == "text" {
			term = runner.NewTerminal(stderr)
			defer term.Close()
			logOut = term
		}
	}
	log, closeLog, err := runner.NewLogger(runner.LogOptions{Level: logLevel, Format: logFormat, Out: logOut, TTY: tty, File: logFile, Secrets: p.Secrets})
	if err != nil {
		fmt.Fprintln(stderr, "runner run:", err)
		return 2
	}
	defer closeLog()
	// Steps that log through slog's default get the same handler: format, file and secret scrubbing.
	slog.SetDefault(log)

	// First signal: stop taking items and let in-flight work finish within the grace period.
	// Second signal: cancel everything now.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // restore default handling: a second signal kills the process
	}()

	o := runner.RunOptions{Since: s, Until: u, DryRun: dry, Explain: explain, From: from, Force: force, Only: only,
		JSON: output == "json", Logger: log, Progress: term, Grace: grace}
	if dry || explain {
		o.Report = stdout
		if f, ok := stdout.(*os.File); ok && term != nil && isTerminal(f) {
			o.Report = term.Writer(stdout) // the report and the status line share the screen
		}
	}
	sum, err := p.Run(ctx, o)
	if err != nil {
		if errors.Is(err, runner.ErrLocked) {
			fmt.Fprintln(stderr, "runner run:", err)
			return 1
		}
		if sum == nil {
			fmt.Fprintln(stderr, "runner run:", p.Secrets.Scrub(err.Error()))
			return 2
		}
		fmt.Fprintln(stderr, p.Secrets.Scrub(err.Error()))
		return 1
	}
	return 0
}

// window resolves --since and --until: each is a duration back from now (24h, 7d) or an RFC 3339 time.
func window(since, until string, now time.Time) (u, s time.Time, err error) {
	u = now
	if until != "" {
		if u, err = parseWhen(until, now); err != nil {
			return u, s, fmt.Errorf("--until: %w", err)
		}
	}
	if s, err = parseWhen(since, u); err != nil {
		return u, s, fmt.Errorf("--since: %w", err)
	}
	if !s.Before(u) {
		return u, s, fmt.Errorf("--since %s is not before --until %s", s.Format(time.RFC3339), u.Format(time.RFC3339))
	}
	return u, s, nil
}

func parseWhen(v string, ref time.Time) (time.Time, error) {
	if d, err := runner.ParseDuration(v); err == nil {
		return ref.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration (24h, 7d) nor a time (2026-11-01T00:00:00+08:00)", v)
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var lf loadFlags
	lf.register(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(pos) == 0 {
		fmt.Fprintln(stderr, "runner validate: want one or more pipeline files")
		return 2
	}
	code := 0
	for _, f := range pos {
		// Loaded as `run` loads it (not as a dry run, which may lack keys): what run refuses, validate
		// refuses with the same message. Loading opens nothing either way.
		p, _, err := lf.load(f, false, time.Now())
		if err != nil {
			fmt.Fprintln(stderr, err)
			code = 2
			continue
		}
		fmt.Fprintf(stdout, "%s: ok (%d steps: %v)\n", f, len(p.Stages()), p.Stages())
		p.Close()
	}
	return code
}
