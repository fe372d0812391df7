//go:build dev

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"meetpipe/runner"
	"meetpipe/runner/internal/demo"
	"meetpipe/steps/store"
)

// cmdDemo runs pipelines/meeting.yaml, unchanged, on the bundled meetings: it starts the emulators, writes
// an env file that points the pipeline at them, runs this very binary on it, and prints what MySQL holds.
// It is in the development build only (devonly.go).
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	dir := fs.String("dir", "var/demo", "folder for the demo's media, fixtures, state and logs")
	pipeline := fs.String("pipeline", "pipelines/meeting.yaml", "the pipeline to run")
	explain := fs.Bool("explain", false, "print, per recording, why each step ran (default: a short summary)")
	verbose := fs.Bool("verbose", false, "print the run's log at info level (default: warnings and errors only)")
	var df dbFlags
	df.register(fs)
	if _, err := parseArgs(fs, args); err != nil {
		return flagError(err)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	dot, _, err := readEnvFile(df.envFile)
	if err != nil {
		return err
	}
	penv := runner.Environ(dot)
	dbc, err := store.ConfigFromEnv(func(k string) string { return penv[k] })
	if err != nil {
		return usageError{err}
	}
	if df.dsn != "" {
		dbc.DSN = df.dsn
	}
	if dbc.DSN == "" && dbc.Database == "" {
		dbc.Database = "meetpipe_demo"
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	if err := demo.EnsureDatabase(ctx, dbc); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "== generating the demo meetings (espeak-ng Mandarin, muxed to MP4 by ffmpeg) …")
	data, err := demo.Build(abs)
	if err != nil {
		return err
	}
	srv, err := demo.StartServers(data, demo.ServerOptions{})
	if err != nil {
		return err
	}
	defer srv.Close()
	env := srv.Env(dbc, filepath.Join(abs, "state"))
	envFile := filepath.Join(abs, "demo.env")
	if err := demo.WriteEnvFile(envFile, env); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "== emulators: tencent %s · asr %s · moonshot %s\n", srv.Tencent.URL(), srv.ASR.URL(), srv.Moonshot.URL())
	runArgs := []string{"run", *pipeline, "--env-file", envFile, "--since", demo.Since.Format(time.RFC3339),
		"--until", demo.Until.Format(time.RFC3339)}
	if *explain {
		runArgs = append(runArgs, "--explain")
	}
	if !*verbose {
		runArgs = append(runArgs, "--log-level", "warn") // the summary below says what the info lines would
	}

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "== runner doctor %s --env-file %s\n", *pipeline, envFile)
	doctor := exec.CommandContext(ctx, exe, "doctor", *pipeline, "--env-file", envFile)
	doctor.Stdout, doctor.Stderr = stdout, stderr
	_ = doctor.Run() // a failure is printed; the run's preflight stops on it
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "== running: runner %s\n\n", strings.Join(runArgs, " "))

	cmd := exec.CommandContext(ctx, exe, runArgs...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	runErr := cmd.Run()
	var exit *exec.ExitError
	if runErr != nil && !errors.As(runErr, &exit) {
		return fmt.Errorf("run the pipeline: %w", runErr)
	}

	db, err := store.Open(ctx, dbc)
	if err != nil {
		return fmt.Errorf("open the demo database: %w", err)
	}
	defer db.Close()
	if err := demo.PrintResults(ctx, db, stdout); err != nil {
		return err
	}
	c := srv.ASR.Counters()
	mc := srv.Moonshot.Counters()
	fmt.Fprintf(stdout, "\nremote calls in this run: tencent API %d · asr %d · moonshot %d · media bytes %d\n",
		len(srv.Tencent.Requests("")), c.Requests, mc.Chat, srv.Tencent.BytesServed())
	fmt.Fprintln(stdout, "run `just demo` again: every step is then served from the memo (no download, ASR or model call).")
	fmt.Fprintf(stdout, "draw it for the coaching team: %s report %s --env-file %s --since %s --until %s --out %s\n",
		exe, *pipeline, envFile, demo.Since.Format(time.RFC3339), demo.Until.Format(time.RFC3339), filepath.Join(abs, "report.html"))
	if runErr != nil {
		return fmt.Errorf("the pipeline run reported failures (%v)", runErr)
	}
	return nil
}
