package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/user"
	"slices"
	"strings"
	"time"

	"meetpipe/runner/redact"
)

// cmdForget erases students on request (PIPL art. 47): `runner forget FILE STUDENT_ID…`.
func cmdForget(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("forget", stderr)
	var lf loadFlags
	lf.register(fs)
	dry := fs.Bool("dry-run", false, "show what would be erased; change nothing")
	by := fs.String("by", "", "who asks, for the erasure log (default: the OS user@host)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) < 2 {
		return usageError{errors.New("forget: want a pipeline file and at least one student id")}
	}
	actor := *by
	if actor == "" {
		actor = operator()
	}
	p, _, err := lf.load(pos[0], true, time.Now(), stderr)
	if err != nil {
		return err
	}
	defer p.Close()
	reps, err := p.Forget(ctx, pos[1:], actor, time.Now(), *dry)
	verb := "erased"
	if *dry {
		verb = "would erase"
	}
	for _, r := range reps {
		fmt.Fprintf(stdout, "student %s: %s\n", printableID(r.Student), verb)
		for _, s := range r.Stores {
			fmt.Fprintf(stdout, "  %s: %d recording(s) deleted (theirs alone), %d kept without them\n", s.Where, s.Recordings, s.Shared)
			for _, t := range slices.Sorted(maps.Keys(s.Rows)) {
				if s.Rows[t] > 0 {
					fmt.Fprintf(stdout, "    %-28s %d row(s)\n", t, s.Rows[t])
				}
			}
		}
		fmt.Fprintf(stdout, "  state_dir: %d item(s) of memo, %d pending entr(ies), %d other file(s); log_file: %d line(s)\n",
			r.State.Items, r.State.Pending, r.State.Files, r.LogLines)
	}
	if err != nil {
		return fmt.Errorf("forget: %s", p.Secrets.Scrub(err.Error()))
	}
	if *dry {
		fmt.Fprintln(stdout, "dry run: nothing was changed")
	}
	return nil
}

// operator names who runs a command, for the erasure log: user@host.
func operator() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host
}

// printableID keeps an id on one line.
func printableID(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// redactingWriter passes whole writes through scrub. The text and JSON writers of status write whole
// lines or documents, so a number is never split between two writes.
type redactingWriter struct {
	w     io.Writer
	scrub func(string) string
}

func (r *redactingWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(r.w, r.scrub(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// redactData passes every string of v (a pointer to exported data, such as the report's) through the
// pipeline's redaction, so that rows stored before redaction was on print redacted as well.
func redactData(red *redact.Redactor, v any) error {
	if red == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("redact: %w", err)
	}
	out, counts, err := red.JSON(b)
	if err != nil || counts == nil {
		return err
	}
	return json.Unmarshal(out, v)
}
