package logging

import (
	"bytes"
	"io"
	"log/slog"
	"sync"
)

// newJournalHandler writes logfmt lines without a time (journald stamps each entry) behind the priority
// prefix of sd-daemon(3): <3> error, <4> warning, <6> info, <7> debug.
func newJournalHandler(w io.Writer, level slog.Level) slog.Handler {
	jw := &journalWriter{w: w}
	return slog.NewTextHandler(jw, &slog.HandlerOptions{Level: level, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})
}

// journalWriter turns the text handler's leading "level=X " into the priority prefix. The handler writes
// one whole line per Write.
type journalWriter struct {
	mu sync.Mutex
	w  io.Writer
}

var journalPriorities = []struct {
	level  string
	prefix string
}{
	{"level=ERROR", "<3>"}, {"level=WARN", "<4>"}, {"level=INFO", "<6>"}, {"level=DEBUG", "<7>"},
}

func (j *journalWriter) Write(p []byte) (int, error) {
	line := p
	prefix := "<6>"
	for _, lp := range journalPriorities {
		if bytes.HasPrefix(line, []byte(lp.level)) {
			prefix = lp.prefix
			rest := line[len(lp.level):]
			// ERROR+2 and the like keep their offset; the plain name is dropped for the prefix.
			if len(rest) > 0 && rest[0] == ' ' {
				line = rest[1:]
			}
			break
		}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, err := j.w.Write(append([]byte(prefix), line...)); err != nil {
		return 0, err
	}
	return len(p), nil
}
