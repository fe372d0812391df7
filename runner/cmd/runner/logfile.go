package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"meetpipe/runner/internal/logging"
	"meetpipe/runner/internal/term"
	"meetpipe/runner/step"
)

// logSetup says how a command logs; newLog is the one place a command's logger is made.
type logSetup struct {
	level, format string // LOG_LEVEL or --log-level; auto (""), text or json
	// status: the command draws a status line (a run): on a terminal, with colours, the log then goes
	// through a runner.Terminal that keeps the line below it.
	status  bool
	tee     io.Writer // also JSON lines here (the log file the pipeline names, which joins late)
	secrets *step.Secrets
}

// newLog makes a command's logger on stderr: secrets scrubbed, colours on a terminal, journald's levels
// under systemd, JSON otherwise. It is made before the pipeline loads, so that what constructors log has
// the command's level, format and scrubbing, and it becomes slog's default, so that steps logging through
// slog get the same handler. done closes what it opened; tm is nil without a status line.
func newLog(stderr io.Writer, o logSetup) (log *slog.Logger, tm *term.Terminal, done func(), err error) {
	tty, journal := false, false
	if f, ok := stderr.(*os.File); ok {
		tty = isTerminal(f)
		journal = !tty && onJournal(f)
	}
	out := stderr
	if tty && o.status && (o.format == "" || o.format == "auto" || o.format == "text") {
		tm = term.NewTerminal(stderr)
		out = tm
	}
	log, closeLog, err := logging.NewLogger(logging.LogOptions{Level: o.level, Format: o.format, Out: out, TTY: tty,
		Journal: journal, Tee: o.tee, Secrets: o.secrets})
	if err != nil {
		if tm != nil {
			tm.Close()
		}
		return nil, nil, nil, err
	}
	slog.SetDefault(log)
	return log, tm, func() {
		closeLog()
		if tm != nil {
			tm.Close()
		}
	}, nil
}

// lateFile is the run's log file, which the pipeline names (log_file) but the logger must exist before the
// pipeline loads, so that constructors log through it. Lines written before Open are kept and written
// first; Discard drops them (a dry run writes no file).
type lateFile struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	f    *os.File
	done bool // opened or discarded: no more buffering
}

// maxEarly bounds what load may log before the file is known.
const maxEarly = 1 << 20

func (l *lateFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.f != nil:
		return l.f.Write(p)
	case !l.done && l.buf.Len()+len(p) <= maxEarly:
		l.buf.Write(p)
	}
	return len(p), nil
}

// Open appends to path, starting with the lines logged so far; "" discards.
func (l *lateFile) Open(path string) error {
	if path == "" {
		l.Discard()
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	if _, err := l.buf.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("log file: %w", err)
	}
	l.f, l.done = f, true
	return nil
}

func (l *lateFile) Discard() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Reset()
	l.done = true
}

func (l *lateFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done = true
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

var _ io.WriteCloser = (*lateFile)(nil)
