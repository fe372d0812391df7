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

	"meetpipe/plugins"
	"meetpipe/runner"
	"meetpipe/runner/internal/logging"
	"meetpipe/runner/internal/state"
	"meetpipe/runner/step"
)

type loadFlags struct {
	envFile, stateDir, plugins string
	noEnv                      bool // no env file was read
}

func (l *loadFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.envFile, "env-file", "", envFileHelp)
	fs.StringVar(&l.stateDir, "state-dir", "", "override the pipeline's state_dir")
	fs.StringVar(&l.plugins, "plugins", "", "folder of exec plugins (default: plugins/ beside the pipeline's folder, if present)")
}

// load reads the env file, sets slog's default to a scrubbing logger on stderr (LOG_LEVEL), registers
// plugins and loads the pipeline: the commands other than run log nothing of their own, but what
// constructors log while loading keeps its level and fields, and no secret.
func (l *loadFlags) load(file string, dry bool, now time.Time, stderr io.Writer) (*runner.Pipeline, map[string]string, error) {
	env, err := l.env()
	if err != nil {
		return nil, nil, err
	}
	secrets := &step.Secrets{}
	// Without a status line or a file, the logger holds nothing to close.
	if _, _, _, err := newLog(stderr, logSetup{level: env["LOG_LEVEL"], secrets: secrets}); err != nil {
		return nil, nil, usageError{err}
	}
	p, err := l.loadWith(file, env, dry, now, secrets)
	return p, env, err
}

// env is the process environment over the env file.
func (l *loadFlags) env() (map[string]string, error) {
	dot, missing, err := readEnvFile(l.envFile)
	if err != nil {
		return nil, err
	}
	l.noEnv = missing
	return runner.Environ(dot), nil
}

// loadWith registers plugins and loads the pipeline; secrets, when given, collects its secret values (the
// logger made before the load scrubs them).
func (l *loadFlags) loadWith(file string, env map[string]string, dry bool, now time.Time, secrets *step.Secrets) (*runner.Pipeline, error) {
	reg, err := registry(l.plugins, file)
	if err != nil {
		return nil, usageError{err}
	}
	p, err := runner.Load(file, runner.LoadOptions{Registry: reg, Env: env, DryRun: dry, Now: now, StateDir: l.stateDir, Secrets: secrets})
	if err != nil && l.noEnv {
		err = noEnvError(err)
	}
	return p, err
}

// registry returns the built-in steps plus the exec plugins found in dir.
func registry(dir, pipeline string) (*step.Registry, error) {
	reg := step.Builtins.Clone()
	if dir == "" {
		dir = filepath.Join(filepath.Dir(filepath.Dir(pipeline)), "plugins")
		if _, err := os.Stat(dir); err != nil {
			return reg, nil
		}
	}
	if err := plugins.Load(dir, reg); err != nil {
		return nil, err
	}
	return reg, nil
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", stderr)
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
		return flagError(err)
	}
	if len(pos) != 1 {
		return usageError{errors.New("run: want exactly one pipeline file")}
	}
	if output != "text" && output != "json" {
		return usageError{errors.New("run: --output must be text or json")}
	}
	if grace < 0 || grace > runner.MaxWait {
		return usageError{fmt.Errorf("run: --grace %s: want a duration from 0s to %s", grace, runner.MaxWait)}
	}
	now := time.Now()
	u, s, err := window(since, until, now)
	if err != nil {
		return usageError{fmt.Errorf("run: %w", err)}
	}
	env, err := lf.env()
	if err != nil {
		return err
	}

	// The logger exists before the pipeline loads (newLog); the log file, which the pipeline names, joins
	// once it is known.
	if logLevel == "" {
		logLevel = env["LOG_LEVEL"]
	}
	secrets := &step.Secrets{}
	file := &lateFile{}
	defer file.Close()
	log, tm, closeLog, err := newLog(stderr, logSetup{level: logLevel, format: logFormat, status: true, tee: file, secrets: secrets})
	if err != nil {
		return usageError{fmt.Errorf("run: %w", err)}
	}
	defer closeLog()

	p, err := lf.loadWith(pos[0], env, dry, u, secrets)
	if err != nil {
		return usageError{err}
	}
	defer p.Close()
	if logFile == "" {
		logFile = p.LogFile
	}
	if dry {
		logFile = "" // a dry run writes nothing, not even a log line to a file
	}
	if err := file.Open(logFile); err != nil {
		return usageError{fmt.Errorf("run: %w", err)}
	}
	// Before anything is downloaded or paid for: a sink that cannot take the results stops the run here.
	// A failed preflight keeps the window, so that the next run lists it too. A service down (a database or
	// server, a full disk) is the environment's: exit 1; a refused key or an unknown model is the
	// configuration's: exit 2.
	if !dry && !noPreflight {
		if ok, config := preflight(ctx, p, u.Sub(s), stderr); !ok {
			if len(only) == 0 {
				if err := p.KeepWindow(s, u); err != nil {
					fmt.Fprintf(stderr, "runner run: the window %s..%s could not be kept for the next run: %s\n",
						s.Format(time.RFC3339), u.Format(time.RFC3339), p.Secrets.Scrub(err.Error()))
				} else {
					fmt.Fprintf(stderr, "runner run: the window %s..%s is kept: the next run lists it too, whatever its --since\n",
						s.Format(time.RFC3339), u.Format(time.RFC3339))
				}
			}
			if config {
				return reported{2}
			}
			return reported{1}
		}
	}

	// First signal: stop taking items and let in-flight work finish within the grace period.
	// Second signal: cancel everything now.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // restore default handling: a second signal kills the process
	}()

	o := runner.RunOptions{Since: s, Until: u, DryRun: dry, Explain: explain, From: from, Force: force, Only: only,
		JSON: output == "json", Logger: log, Progress: tm, Grace: grace}
	if dry || explain {
		o.Report = stdout
		if f, ok := stdout.(*os.File); ok && tm != nil && isTerminal(f) {
			o.Report = tm.Writer(stdout) // the report and the status line share the screen
		}
	}
	sum, err := p.Run(ctx, o)
	logSummaryAbove(log, logLevel, sum)
	var start *runner.StartError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, state.ErrLocked):
		return fmt.Errorf("run: %w", err) // another run holds the state: exit 1, try later
	case errors.As(err, &start):
		return usageError{fmt.Errorf("run: %s", p.Secrets.Scrub(err.Error()))} // it could not start
	}
	return errors.New(p.Secrets.Scrub(err.Error())) // some items failed; the summary says which
}

// logSummaryAbove repeats the engine's "run finished" line (logged at info) at the chosen level when that
// is above info: a run at --log-level warn still ends with its one-line summary.
func logSummaryAbove(log *slog.Logger, level string, sum *step.Summary) {
	lvl, err := logging.ParseLevel(level)
	if err != nil || lvl <= slog.LevelInfo || sum == nil {
		return
	}
	log.Log(context.Background(), lvl, "run finished", "status", sum.Status, "items", sum.Items, "done", sum.Done,
		"skipped", sum.Skipped, "failed", sum.Failed, "pending", sum.Pending, "deferred", sum.Deferred, "not_ready", sum.NotReady, "stuck", sum.Stuck,
		"ran", sum.Ran, "memo", sum.Memo)
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
	if d, err := step.ParseDuration(v); err == nil {
		return ref.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration (24h, 7d) nor a time (2026-11-01T00:00:00+08:00)", v)
}

func cmdValidate(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("validate", stderr)
	var lf loadFlags
	lf.register(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) == 0 {
		return usageError{errors.New("validate: want one or more pipeline files")}
	}
	var bad error
	for _, f := range pos {
		// Loaded as `run` loads it (not as a dry run, which may lack keys): what run refuses, validate
		// refuses with the same message. Loading opens nothing either way.
		p, _, err := lf.load(f, false, time.Now(), stderr)
		if err != nil {
			fmt.Fprintln(stderr, err) // every file's problems, not only the first file's
			bad = reported{2}
			continue
		}
		fmt.Fprintf(stdout, "%s: ok (%d steps: %v)\n", f, len(p.Stages()), p.Stages())
		p.Close()
	}
	return bad
}
