// Package logging makes the run's logger: text, JSON or journald lines, with every secret scrubbed, and
// trims old lines from a log file.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"meetpipe/runner/step"

	"github.com/lmittmann/tint"
)

// LogOptions configure the run's logger.
type LogOptions struct {
	Level  string // debug, info, warn, error (LOG_LEVEL)
	Format string // auto (tint on a terminal, else JSON), text, json
	Out    io.Writer
	TTY    bool // Out is a terminal
	// Journal: Out is journald's stream (JOURNAL_STREAM): format auto writes plain lines with sd-daemon
	// priority prefixes ("<3>"), which journald stores as the entry's level.
	Journal bool
	File    string // also append JSON lines here (logs/record_worker.log, the Python pipeline's file); "" none
	// Tee also gets JSON lines, like File: for a log file known only once the pipeline has loaded, when
	// the logger must exist before (the CLI's late file).
	Tee     io.Writer
	Secrets *step.Secrets
}

// ParseLevel accepts the usual names in any case (LOG_LEVEL=INFO, as the Python pipeline's .env spells it).
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if s == "" {
		return slog.LevelInfo, nil
	}
	if strings.EqualFold(s, "warning") {
		s = "warn"
	}
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// NewLogger builds the logger every run uses: secrets scrubbed from every message and attribute, colours
// on a terminal, JSON for machines, and an optional JSON log file. The returned func closes the file.
func NewLogger(o LogOptions) (*slog.Logger, func() error, error) {
	level, err := ParseLevel(o.Level)
	if err != nil {
		return nil, nil, err
	}
	var h slog.Handler
	switch o.Format {
	case "", "auto":
		if o.Journal && !o.TTY {
			h = newJournalHandler(o.Out, level)
			break
		}
		if o.TTY {
			h = tint.NewHandler(o.Out, &tint.Options{Level: level, TimeFormat: time.TimeOnly})
		} else {
			h = slog.NewJSONHandler(o.Out, &slog.HandlerOptions{Level: level})
		}
	case "text":
		h = tint.NewHandler(o.Out, &tint.Options{Level: level, TimeFormat: time.TimeOnly, NoColor: !o.TTY})
	case "json":
		h = slog.NewJSONHandler(o.Out, &slog.HandlerOptions{Level: level})
	default:
		return nil, nil, fmt.Errorf("log format %q: want auto, text or json", o.Format)
	}
	closer := func() error { return nil }
	if o.File != "" {
		if err := os.MkdirAll(filepath.Dir(o.File), 0o750); err != nil {
			return nil, nil, fmt.Errorf("log file: %w", err)
		}
		f, err := os.OpenFile(o.File, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return nil, nil, fmt.Errorf("log file: %w", err)
		}
		h = fanout{h, slog.NewJSONHandler(f, &slog.HandlerOptions{Level: level})}
		closer = f.Close
	}
	if o.Tee != nil {
		h = fanout{h, slog.NewJSONHandler(o.Tee, &slog.HandlerOptions{Level: level})}
	}
	return slog.New(&scrubber{h: h, s: o.Secrets}), closer, nil
}

// scrubber removes secret values from everything a handler is given.
type scrubber struct {
	h slog.Handler
	s *step.Secrets
}

func (x *scrubber) Enabled(ctx context.Context, l slog.Level) bool { return x.h.Enabled(ctx, l) }

func (x *scrubber) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, x.s.Scrub(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(x.attr(a))
		return true
	})
	return x.h.Handle(ctx, out)
}

func (x *scrubber) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, x.s.Scrub(v.String()))
	case slog.KindGroup:
		g := v.Group()
		as := make([]any, len(g))
		for i, e := range g {
			as[i] = x.attr(e)
		}
		return slog.Group(a.Key, as...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, x.s.Scrub(err.Error()))
		}
		return slog.String(a.Key, x.s.Scrub(fmt.Sprint(v.Any())))
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func (x *scrubber) WithAttrs(as []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(as))
	for i, a := range as {
		clean[i] = x.attr(a)
	}
	return &scrubber{h: x.h.WithAttrs(clean), s: x.s}
}

func (x *scrubber) WithGroup(name string) slog.Handler {
	return &scrubber{h: x.h.WithGroup(name), s: x.s}
}

type fanout []slog.Handler

func (f fanout) Enabled(ctx context.Context, l slog.Level) bool {
	for _, h := range f {
		if h.Enabled(ctx, l) {
			return true
		}
	}
	return false
}

func (f fanout) Handle(ctx context.Context, r slog.Record) error {
	var first error
	for _, h := range f {
		if h.Enabled(ctx, r.Level) {
			if err := h.Handle(ctx, r.Clone()); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

func (f fanout) WithAttrs(as []slog.Attr) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithAttrs(as)
	}
	return out
}

func (f fanout) WithGroup(name string) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithGroup(name)
	}
	return out
}
