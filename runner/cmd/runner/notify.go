package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"meetpipe/runner/internal/report"
)

// cmdNotifyFailure is what the OnFailure= unit runs: it posts to the WeCom robot that a unit failed and
// where its log is. Without WECOM_WEBHOOK_KEY it says so and succeeds: the journal has the failure.
func cmdNotifyFailure(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("notify-failure", stderr)
	var df dbFlags // only its --env-file
	fs.StringVar(&df.envFile, "env-file", ".env", "read WECOM_WEBHOOK_KEY and WECOM_BASE_URL from this file (the environment wins)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) != 1 {
		return usageError{errors.New("notify-failure: want the failed unit's name (systemd passes %i)")}
	}
	env, err := (&loadFlags{envFile: df.envFile}).env()
	if err != nil {
		return fmt.Errorf("notify-failure: %w", err)
	}
	if env["WECOM_WEBHOOK_KEY"] == "" {
		fmt.Fprintln(stdout, "notify-failure: no WECOM_WEBHOOK_KEY; nothing sent")
		return nil
	}
	host, _ := os.Hostname()
	unit := pos[0]
	msg := fmt.Sprintf("**meetpipe: %s failed** on %s at %s\n> `journalctl -u %s -n 50` says why; recordings not stored stay pending for the next run.",
		unit, host, time.Now().Format("2006-01-02 15:04 MST"), unit)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := (report.WeCom{Key: env["WECOM_WEBHOOK_KEY"], BaseURL: env["WECOM_BASE_URL"]}).Send(ctx, msg); err != nil {
		return fmt.Errorf("notify-failure: %w", err)
	}
	fmt.Fprintln(stdout, "notify-failure: told the WeCom robot that", unit, "failed")
	return nil
}
