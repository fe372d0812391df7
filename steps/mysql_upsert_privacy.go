package steps

import (
	"context"
	"time"

	"meetpipe/runner"
	"meetpipe/steps/store"
)

// Forget erases one student from the database (runner forget): see store.Forget.
func (s *mysqlUpsert) Forget(ctx context.Context, o runner.ForgetOptions) (runner.Forgotten, error) {
	db, err := s.open(ctx)
	if err != nil {
		return runner.Forgotten{}, store.Scrub(err, s.secrets...)
	}
	res, err := store.Forget(ctx, db, o.Student, o.Actor, o.Now, o.DryRun)
	if err != nil {
		return runner.Forgotten{}, store.Scrub(err, s.secrets...)
	}
	return runner.Forgotten{Where: "mysql " + s.cfg.Describe(), Rows: res.Rows, Recordings: res.Recordings, Shared: res.Shared,
		Aliases: append(res.SourceIDs, res.Names...)}, nil
}

// Retain blanks old transcripts and deletes old run history in the database (retention:). A dry run
// only counts, without migrating.
func (s *mysqlUpsert) Retain(ctx context.Context, o runner.RetainOptions) ([]runner.Expired, error) {
	var tr, runs time.Time
	if o.Policy.Transcripts >= 0 {
		tr = o.Now.Add(-o.Policy.Transcripts)
	}
	if o.Policy.RunHistory >= 0 {
		runs = o.Now.Add(-o.Policy.RunHistory)
	}
	if tr.IsZero() && runs.IsZero() {
		return nil, nil
	}
	db := s.db
	if !o.DryRun {
		var err error
		if db, err = s.open(ctx); err != nil {
			return nil, store.Scrub(err, s.secrets...)
		}
	}
	res, err := store.Retain(ctx, db, tr, runs, "meetpipe retention", o.DryRun)
	if err != nil {
		return nil, store.Scrub(err, s.secrets...)
	}
	var out []runner.Expired
	where := "mysql " + s.cfg.Describe()
	if res.Transcripts > 0 {
		out = append(out, runner.Expired{Where: where, What: "transcripts", Count: res.Transcripts})
	}
	if res.Runs > 0 {
		out = append(out, runner.Expired{Where: where, What: "run history", Count: res.Runs})
	}
	return out, nil
}

var (
	_ runner.Forgetter = (*mysqlUpsert)(nil)
	_ runner.Retainer  = (*mysqlUpsert)(nil)
)
