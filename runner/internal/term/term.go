// Package term draws a live progress line under the log lines of a terminal.
package term

import (
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/mattn/go-runewidth"
)

// Terminal is a writer for logs that keeps a live status line at the bottom of a terminal: each write
// clears the line, prints, and draws it again.
type Terminal struct {
	mu     sync.Mutex
	w      io.Writer
	status func() string
	shown  bool
	stop   chan struct{}
}

// NewTerminal starts redrawing the status line of w a few times a second.
func NewTerminal(w io.Writer) *Terminal {
	t := &Terminal{w: w, stop: make(chan struct{})}
	go func() {
		tk := time.NewTicker(250 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-tk.C:
				t.mu.Lock()
				t.draw()
				t.mu.Unlock()
			case <-t.stop:
				return
			}
		}
	}()
	return t
}

// SetStatus sets the function that renders the line (nil hides it).
func (t *Terminal) SetStatus(f func() string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.clear()
	t.status = f
	t.draw()
}

// Close stops the redraws and clears the line.
func (t *Terminal) Close() {
	close(t.stop)
	t.mu.Lock()
	t.clear()
	t.status = nil
	t.mu.Unlock()
}

func (t *Terminal) Write(p []byte) (int, error) { return t.writeTo(t.w, p) }

// Writer returns a writer to another stream of the same terminal (stdout beside stderr) that keeps the
// status line out of what it writes.
func (t *Terminal) Writer(w io.Writer) io.Writer {
	return writerFunc(func(p []byte) (int, error) { return t.writeTo(w, p) })
}

func (t *Terminal) writeTo(w io.Writer, p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.clear()
	n, err := w.Write(p)
	t.draw()
	return n, err
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func (t *Terminal) clear() {
	if t.shown {
		io.WriteString(t.w, "\r\033[K")
		t.shown = false
	}
}

func (t *Terminal) draw() {
	if t.status == nil {
		return
	}
	io.WriteString(t.w, "\r\033[K"+fitLine(t.status(), t.width()))
	t.shown = true
}

// width is the terminal's column count now (it may have been resized): the size the terminal reports, else
// $COLUMNS, else 80.
func (t *Terminal) width() int {
	if f, ok := t.w.(*os.File); ok {
		if n := termWidth(f); n > 0 {
			return n
		}
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	return 80
}

// fitLine cuts s to one column less than the width: a line that fills the last column makes some
// terminals wrap, and then "\r" returns to the wrapped row and every redraw leaves a line behind.
func fitLine(s string, width int) string {
	if width < 2 {
		return ""
	}
	return runewidth.Truncate(s, width-1, "…")
}
