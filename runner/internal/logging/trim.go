package logging

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"strings"
	"time"
)

// TrimLog drops the lines of a log file written before cutoff (JSON lines by their "time", text lines by
// a leading RFC 3339 time); a line without a time goes with the line before it. The file is rewritten in
// place, so a writer that holds it open in append mode goes on appending to it.
func TrimLog(path string, cutoff time.Time, dryRun bool) (int, error) {
	drop := false
	return FilterLines(path, dryRun, func(line []byte) bool {
		if t, ok := lineTime(line); ok {
			drop = t.Before(cutoff)
		}
		return drop
	})
}

// FilterLines rewrites path in place without the lines drop says go, and reports how many went.
func FilterLines(path string, dryRun bool, drop func(line []byte) bool) (int, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var kept bytes.Buffer
	dropped := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if drop(line) {
			dropped++
			continue
		}
		kept.Write(line)
		kept.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if dropped == 0 || dryRun {
		return dropped, nil
	}
	return dropped, os.WriteFile(path, kept.Bytes(), 0o640)
}

func lineTime(line []byte) (time.Time, bool) {
	if bytes.HasPrefix(line, []byte("{")) {
		var v struct {
			Time time.Time `json:"time"`
		}
		if json.Unmarshal(line, &v) == nil && !v.Time.IsZero() {
			return v.Time, true
		}
		return time.Time{}, false
	}
	first, _, _ := strings.Cut(string(line), " ")
	for _, layout := range []string{time.RFC3339Nano, "time=" + time.RFC3339Nano} {
		if t, err := time.Parse(layout, first); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
