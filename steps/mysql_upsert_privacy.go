package steps

import (
	"context"
	"errors"
	"time"

	"meetpipe/runner/step"
	"meetpipe/steps/store"

	"github.com/go-sql-driver/mysql"
)

// Forget erases one student from the database (runner forget): see store.Forget.
func (s *mysqlUpsert) Forget(ctx context.Context, o step.ForgetOptions) (step.Forgotten, error) {
	db, err := s.open(ctx)
	if err != nil {
		return step.Forgotten{}, store.Scrub(err, s.secrets...)
	}
	res, err := store.Forget(ctx, db, o.Student, o.Actor, o.Now, o.DryRun)
	if err != nil {
		return step.Forgotten{}, store.Scrub(err, s.secrets...)
	}
	return step.Forgotten{Where: "mysql " + s.cfg.Describe(), Rows: res.Rows, Recordings: res.Recordings, Shared: res.Shared,
		Aliases: append(res.SourceIDs, res.Names...)}, nil
}

// Retain blanks old transcripts and deletes old run history in the database (retention:). A dry run
// only counts, without migrating.
func (s *mysqlUpsert) Retain(ctx context.Context, o step.RetainOptions) ([]step.Expired, error) {
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
	var out []step.Expired
	where := "mysql " + s.cfg.Describe()
	if res.Transcripts > 0 {
		out = append(out, step.Expired{Where: where, What: "transcripts", Count: res.Transcripts})
	}
	if res.Runs > 0 {
		out = append(out, step.Expired{Where: where, What: "run history", Count: res.Runs})
	}
	return out, nil
}

var (
	_ step.Forgetter = (*mysqlUpsert)(nil)
	_ step.Retainer  = (*mysqlUpsert)(nil)
)

// Admit refuses a listed recording whose students were all erased (runner forget), before it is
// downloaded, transcribed or sent to the model. It only reads (no migration): a database without the
// tombstone table has erased nobody.
func (s *mysqlUpsert) Admit(ctx context.Context, in *step.Item) (bool, string, error) {
	rec, err := recordingOf(in, s.resolve)
	if err != nil || len(rec.Students) == 0 {
		return true, "", nil // the step reports a bad item itself
	}
	s.mu.Lock()
	db, quiet := s.db, time.Now().Before(s.admitQuiet)
	s.mu.Unlock()
	if db == nil || quiet {
		return true, "", nil
	}
	had := len(rec.Students)
	dropped, err := store.DropTombstoned(ctx, db, &rec)
	if err != nil {
		var me *mysql.MySQLError
		if errors.As(err, &me) && me.Number == 1146 {
			return true, "", nil
		}
		// An unreachable server would cost every item a connect timeout: ask again in a minute.
		s.mu.Lock()
		s.admitQuiet = time.Now().Add(time.Minute)
		s.mu.Unlock()
		return true, "", store.Scrub(err, s.secrets...)
	}
	if dropped == had {
		return false, "every student of the recording was erased (runner forget)", nil
	}
	return true, "", nil
}

var _ step.Admitter = (*mysqlUpsert)(nil)
