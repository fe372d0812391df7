package main

import (
	"context"
	"errors"
	"io"

	"meetpipe/runner"
)

// These commands are wired to their packages as those land.

func loadPlugins(dir string, reg *runner.Registry) error { return nil }

func cmdStatus(ctx context.Context, args []string, stdout io.Writer) error {
	return errors.New("status: not built yet")
}

func cmdMigrate(ctx context.Context, args []string, stdout io.Writer) error {
	return errors.New("migrate: not built yet")
}

func cmdEmulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("emulate: not built yet")
}
