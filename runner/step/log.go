package step

import (
	"context"
	"log/slog"
)

// WithLogger returns ctx carrying l.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

// Logger returns the logger of ctx, with the run, item and step attributes; slog.Default() outside a run.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// loggerKey carries the run's logger in a context.
type loggerKey struct{}
