package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

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
