package step

import (
	"strings"
	"sync"
)

// Secrets holds values that must never be printed. Everything the runner writes for people (logs, errors,
// dry-run and explain output, run history) passes through Scrub.
type Secrets struct {
	mu     sync.RWMutex
	values []string
	rep    *strings.Replacer
	redact func(string) string // the pipeline's redaction patterns: personal numbers are never printed either
}

// SetRedactor makes Scrub also replace what f replaces (the pipeline's `redact:` patterns).
func (s *Secrets) SetRedactor(f func(string) string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.redact = f
	s.mu.Unlock()
}

// Add registers a value. Very short values are ignored: scrubbing "1" from every log line would make
// logs unreadable and protect nothing.
func (s *Secrets) Add(v string) {
	if s == nil || len(v) < 4 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.values {
		if e == v {
			return
		}
	}
	s.values = append(s.values, v)
	pairs := make([]string, 0, 2*len(s.values))
	for _, e := range s.values {
		pairs = append(pairs, e, "***")
	}
	s.rep = strings.NewReplacer(pairs...)
}

// Scrub replaces every registered value in str, and every personal number the redactor finds.
func (s *Secrets) Scrub(str string) string {
	if s == nil {
		return str
	}
	s.mu.RLock()
	rep, red := s.rep, s.redact
	s.mu.RUnlock()
	if rep != nil {
		str = rep.Replace(str)
	}
	if red != nil {
		str = red(str)
	}
	return str
}
