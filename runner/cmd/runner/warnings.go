package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"meetpipe/runner"
	"meetpipe/runner/internal/report"
	"meetpipe/steps"
	"meetpipe/steps/coach"
	"meetpipe/steps/store"
)

// warningFlags are `runner status --warnings`: the rules come from the pipeline's mysql_upsert warnings:.
type warningFlags struct {
	on           bool
	pipeline     string
	since, until string
	timezone     string
	plugins      string
}

func (w *warningFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&w.on, "warnings", false, "print the students' warnings (the rules of the pipeline's mysql_upsert warnings:) at --until, and exit")
	fs.StringVar(&w.pipeline, "pipeline", "pipelines/meeting.yaml", "the pipeline whose redact: patterns the output "+
		"passes through (if the file exists) and, with --warnings, whose rules apply")
	fs.StringVar(&w.until, "until", "", "with --warnings: evaluate at this time, the rules' now() (default now)")
	fs.StringVar(&w.since, "since", "7d", "with --warnings: mark as new the warnings that did not fire this long before --until")
	fs.StringVar(&w.timezone, "timezone", "Asia/Shanghai", "with --warnings: show times in this zone")
}

func statusWarnings(ctx context.Context, w warningFlags, envFile, output string, stdout, stderr io.Writer) error {
	loc, err := time.LoadLocation(w.timezone)
	if err != nil {
		return usageError{fmt.Errorf("status: --timezone: %w", err)}
	}
	u, s, err := window(w.since, w.until, time.Now())
	if err != nil {
		return usageError{fmt.Errorf("status: %w", err)}
	}
	lf := loadFlags{envFile: envFile, plugins: w.plugins}
	p, env, err := lf.load(w.pipeline, true, u, stderr)
	if err != nil {
		return err
	}
	defer p.Close()
	sec := p.Secrets
	dbc, err := dbConfigOf(p, env)
	if err != nil {
		return usageError{fmt.Errorf("status: %w", err)}
	}
	for _, v := range dbc.Secrets() {
		sec.Add(v)
	}
	db, err := store.Open(ctx, dbc)
	if err != nil {
		return fmt.Errorf("status: %s", sec.Scrub(err.Error()))
	}
	defer db.Close()
	_, ws, err := steps.Warnings(ctx, p, db, s, u)
	if err != nil {
		return fmt.Errorf("status: warnings: %s", sec.Scrub(err.Error()))
	}
	if output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if ws == nil {
			ws = []coach.Warning{}
		}
		return enc.Encode(struct {
			At       time.Time       `json:"at"`
			Warnings []coach.Warning `json:"warnings"`
		}{u.UTC(), ws})
	}
	writeWarnings(stdout, ws, u.In(loc))
	return nil
}

// writeWarnings prints one line a warning: student, teacher, rule, message; new ones marked.
func writeWarnings(out io.Writer, ws []coach.Warning, at time.Time) {
	fmt.Fprintf(out, "warnings at %s: %d\n", at.Format("2006-01-02 15:04 MST"), len(ws))
	for _, w := range ws {
		mark := " "
		if w.New {
			mark = "*"
		}
		teacher := w.Teacher
		if teacher == "" {
			teacher = "-"
		}
		fmt.Fprintf(out, "%s %-16s %-14s %-12s %s\n", mark, w.Student, teacher, w.Rule, w.Message)
	}
	if len(ws) > 0 {
		fmt.Fprintln(out, "(* new since --since)")
	}
}

// loadCoaching reads the student board, homework, scores and warnings of the report; nil for a database
// the coaching migration has not reached.
func loadCoaching(ctx context.Context, p *runner.Pipeline, db *sql.DB, since, until time.Time) (*report.Coaching, error) {
	views, ws, err := steps.Warnings(ctx, p, db, since, until)
	if store.MissingTable(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("warnings: %w", err)
	}
	hw, sc, err := store.LoadCoachDetail(ctx, db, until)
	if store.MissingTable(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return report.BuildCoaching(views, ws, hw, sc), nil
}
