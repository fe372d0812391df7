package steps

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"meetpipe/runner"
	"meetpipe/runner/step"
	"meetpipe/steps/roster"
	"meetpipe/steps/store"
	"meetpipe/steps/talk"
	"meetpipe/steps/tencent"

	"github.com/go-sql-driver/mysql"
)

type mysqlUpsertConfig struct {
	DSN             string        `yaml:"dsn" secret:"true" spaces:"allowed" doc:"go-sql-driver DSN, user:pass@tcp(host:3306)/db (DB_DSN); when set, host, port, user, password and database are not used"`
	Host            string        `yaml:"host" doc:"server host (DB_HOST)"`
	Port            int           `yaml:"port" min:"1" max:"65535" doc:"server port (DB_PORT)"`
	User            string        `yaml:"user" doc:"user (DB_USER)"`
	Password        string        `yaml:"password" secret:"true" spaces:"allowed" doc:"password (DB_PASS)"`
	Database        string        `yaml:"database" doc:"database name (DB_NAME)"`
	TLS             string        `yaml:"tls" enum:"false,true,skip-verify,preferred" doc:"TLS to the server: false, true (verified), skip-verify, preferred (TLS when the server offers it); empty keeps the DSN's tls parameter, else false"`
	Migrate         bool          `yaml:"migrate" doc:"apply the sql/ migrations the database lacks before the first write (as runner migrate does)"`
	RecordRuns      bool          `yaml:"record_runs" doc:"record each run in pipeline_runs and its failed items in item_failures, for runner status"`
	MaxOpen         int           `yaml:"max_open" min:"1" max:"256" doc:"connections in the pool; set it at least to the step's concurrency"`
	MaxIdle         int           `yaml:"max_idle" min:"0" max:"256" doc:"idle connections kept in the pool (default max_open)"`
	ConnMaxLifetime time.Duration `yaml:"conn_max_lifetime" min:"1s" max:"24h" doc:"a connection older than this is closed and replaced (below the server's wait_timeout)"`
	ConnectTimeout  time.Duration `yaml:"connect_timeout" min:"1s" max:"10m" doc:"limit on establishing a connection"`
	ReadTimeout     time.Duration `yaml:"read_timeout" min:"1s" max:"1h" doc:"limit on one read from the server"`
	WriteTimeout    time.Duration `yaml:"write_timeout" min:"1s" max:"1h" doc:"limit on one write to the server"`
	LockWait        time.Duration `yaml:"lock_wait" min:"1s" max:"1h" doc:"innodb_lock_wait_timeout of the session (whole seconds)"`
	LockRetries     int           `yaml:"lock_retries" min:"0" max:"100" doc:"times a transaction that lost a lock race (deadlock 1213, lock wait timeout 1205) is run again at once, before the step's retry policy takes over"`
	Warnings        []warningRule `yaml:"warnings" memo:"-" doc:"rules over each student's view, evaluated at the run's now() by runner report and runner status --warnings (not by runs)"`
	Roster          string        `yaml:"roster" doc:"optional roster file (.csv or .yaml) mapping guests' names and aliases, and userids, to canonical student ids"`
}

// SettingDetails is what `runner steps mysql_upsert` prints under a setting, beyond its doc.
func (mysqlUpsertConfig) SettingDetails() map[string]string {
	return map[string]string{
		"warnings": "when and message see the student's days_since_last, phase, days_in_phase, sessions_in_phase, " +
			"open_items, overdue_items, last_scores, last_score, score_phase, score_trend, scored_in_phase, teacher_share, " +
			"sessions, teacher, name and id.",
		"roster": ".csv has the columns id,name,aliases,userid with aliases separated by |; .yaml is a list of " +
			"{id, name, aliases, userid}. A guest it does not know keeps its name:<name> id and flags the recording " +
			"needs_review. Edits apply to every stored recording at the next run, with no step re-run.",
	}
}

func init() {
	step.Register(step.Spec{
		Name: "mysql_upsert",
		Summary: "write each recording to MySQL (recordings, recording_students, recording_speakers) and keep student_stats exact, in one " +
			"transaction per item; running it again changes nothing. Signed download URLs are never stored. Also " +
			"records runs (pipeline_runs, item_failures) for runner status. Erased students (runner forget) are not stored " +
			"again: their tombstones are consulted when a recording is listed and when it is written",
		Version: "1",
		Reads: []string{"meeting_id", "meeting_code", "subject", "teacher_id", "student_ids", "participants", "start",
			"end", "duration_min", "files", "transcript", "phase", "summary", "classification", "needs_review",
			"transcript_source", "talk"},
		Writes: []step.Field{{Name: "stored", Sample: store.Stored{},
			Doc: "action (inserted, updated, unchanged; forgotten when every student was erased by runner forget), " +
				"status (done, or partial without transcript or summary), students, at"}},
		SideEffects: true,
	}, mysqlUpsertConfig{Host: "127.0.0.1", Port: 3306, User: "root", Migrate: true, RecordRuns: true, MaxOpen: 4,
		ConnMaxLifetime: 5 * time.Minute, ConnectTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second,
		WriteTimeout: 60 * time.Second, LockWait: 20 * time.Second, LockRetries: 3},
		newMysqlUpsert)
}

type mysqlUpsert struct {
	cfg     store.Config
	secrets []string
	migrate bool
	runs    bool
	retries int
	roster  *roster.Roster // nil: none configured
	applied bool           // the roster was applied to the stored links
	rules   []compiledWarning

	mu         sync.Mutex
	db         *sql.DB
	ready      bool      // migrations applied (or not wanted)
	admitQuiet time.Time // Admit does not ask the server before this (it failed to answer)
}

func newMysqlUpsert(cfg mysqlUpsertConfig, b *step.Build) (any, error) {
	sc := store.Config{DSN: cfg.DSN, Host: cfg.Host, Port: cfg.Port, User: cfg.User, Password: cfg.Password,
		Database: cfg.Database, TLS: cfg.TLS, MaxOpen: cfg.MaxOpen, MaxIdle: cfg.MaxIdle,
		ConnMaxLifetime: cfg.ConnMaxLifetime, ConnectTimeout: cfg.ConnectTimeout, ReadTimeout: cfg.ReadTimeout,
		WriteTimeout: cfg.WriteTimeout, LockWait: cfg.LockWait}
	for _, s := range sc.Secrets() {
		b.Secret(s)
	}
	if cfg.DSN == "" && cfg.Database == "" {
		return nil, b.ErrorAt("dsn,database", "mysql_upsert: set dsn (DB_DSN) or database (DB_NAME) with host, port, user and password")
	}
	// New checks the configuration without connecting: a dry run and validate never touch the server.
	db, err := store.New(sc)
	if err != nil {
		return nil, b.ErrorAt("dsn,tls,host", "mysql_upsert: %v", err)
	}
	var ros *roster.Roster
	if cfg.Roster != "" {
		// Relative to the working directory, like state_dir and log_file.
		if ros, err = roster.Load(cfg.Roster); err != nil {
			return nil, b.ErrorAt("roster", "mysql_upsert: %v", err)
		}
	}
	rules, err := compileWarnings(cfg.Warnings, b)
	if err != nil {
		return nil, err
	}
	return &mysqlUpsert{cfg: sc, secrets: sc.Secrets(), migrate: cfg.Migrate, runs: cfg.RecordRuns,
		retries: cfg.LockRetries, db: db, roster: ros, rules: rules}, nil
}

// StoreConfigOf returns the database of the pipeline's first mysql_upsert step as the step decoded it
// (defaults included), for commands beside a run that read what it stored (the report, status
// --warnings); ok is false when no step stores. Its secrets are in it: scrub what is printed.
func StoreConfigOf(p *runner.Pipeline) (c store.Config, ok bool) {
	impl, _ := p.StepImpl("mysql_upsert")
	if s, built := impl.(*mysqlUpsert); built {
		return s.cfg, true
	}
	return store.Config{}, false
}

// open returns the pool once the schema is ready: the first caller applies the migrations, and a failure
// (server down) is tried again by the next caller.
func (s *mysqlUpsert) open(ctx context.Context) (*sql.DB, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil, errors.New("mysql_upsert: closed")
	}
	if s.ready || !s.migrate {
		return s.db, s.applyRoster(ctx)
	}
	applied, err := store.Migrate(ctx, s.db)
	if err != nil {
		err = fmt.Errorf("migrate %s: %w", s.cfg.Describe(), err)
		if !store.Temporary(err) && !step.IsCanceled(ctx, err) {
			// An edited migration, a user without CREATE, a table of another shape: every item would fail
			// the same way, and none of them is at fault.
			err = step.Environmental(store.Scrub(err, s.secrets...))
		}
		return nil, err
	}
	if len(applied) > 0 {
		step.Logger(ctx).Info("schema migrated", "database", s.cfg.Describe(), "applied", strings.Join(applied, ","))
	}
	s.ready = true
	return s.db, s.applyRoster(ctx)
}

// applyRoster re-keys the stored links to the roster once per process (s.mu held): an edited roster
// moves a merged or renamed student's rows, and a removed one brings back the name ids.
func (s *mysqlUpsert) applyRoster(ctx context.Context) error {
	if s.applied {
		return nil
	}
	n, err := store.ApplyRoster(ctx, s.db, s.resolve)
	if err != nil {
		return s.classify(ctx, err)
	}
	s.applied = true
	if n > 0 {
		step.Logger(ctx).Info("roster applied to stored recordings", "recordings", n, "roster", s.roster.Hash())
	}
	return nil
}

// resolve maps a source id to its canonical id; a guest (name: or ext: id) the configured roster does
// not know is unmatched. Without a roster every id is its own and nobody is flagged.
func (s *mysqlUpsert) resolve(src string) (string, bool) {
	if s.roster == nil {
		return src, false
	}
	id, ok := s.roster.Resolve(src)
	guest := strings.HasPrefix(src, roster.NamePrefix) || strings.HasPrefix(src, "ext:")
	return id, guest && !ok
}

// Process writes the item's recording in one transaction.
func (s *mysqlUpsert) Process(ctx context.Context, in *step.Item) (step.Fields, error) {
	rec, err := recordingOf(in, s.resolve)
	if err != nil {
		return nil, step.Permanent(err)
	}
	db, err := s.open(ctx)
	if err != nil {
		if step.IsEnvironmental(err) {
			return nil, err
		}
		return nil, s.classify(ctx, err)
	}
	// A student erased by `runner forget` is not stored again; a recording that was theirs alone is not
	// stored at all.
	had := len(rec.Students)
	dropped, err := store.DropTombstoned(ctx, db, &rec)
	if err != nil {
		return nil, s.classify(ctx, err)
	}
	if dropped > 0 && had > 0 && len(rec.Students) == 0 {
		step.Logger(ctx).Info("recording not stored: its students were erased", "item", rec.ID, "erased", dropped)
		return step.Fields{"stored": store.Stored{Action: "forgotten", At: time.Now().UTC().Truncate(time.Millisecond)}}, nil
	}
	res, err := (&store.Recordings{DB: db, LockRetries: s.retries}).Upsert(ctx, rec)
	if err != nil {
		return nil, s.classify(ctx, err)
	}
	if err := saveCoaching(ctx, db, rec, in); err != nil {
		return nil, s.classify(ctx, err)
	}
	step.Logger(ctx).Debug("recording stored", "item", rec.ID, "action", res.Action, "status", res.Status,
		"students", res.Students, "attempts", res.Attempts)
	return step.Fields{"stored": store.Stored{Action: res.Action, Status: res.Status, Students: res.Students,
		At: time.Now().UTC().Truncate(time.Millisecond)}}, nil
}

// classify marks err for the engine's retry policy, with the password scrubbed from its text: the server
// or the network failing is transient; the server refusing a value or a statement is permanent.
func (s *mysqlUpsert) classify(ctx context.Context, err error) error {
	err = store.Scrub(err, s.secrets...)
	var ve *store.ValueError
	var me *mysql.MySQLError
	switch {
	case step.IsCanceled(ctx, err):
		return err
	case store.Temporary(err):
		return step.Transient(err)
	case errors.As(err, &ve):
		return step.Permanent(err)
	case errors.As(err, &me) && (me.Number == 1146 || me.Number == 1054):
		return step.Environmental(fmt.Errorf("%w (the schema is missing or old: run `runner migrate` or set migrate: true)", err))
	case store.Environment(err):
		// The login, the grants or the schema are wrong, not the recording: it stays pending.
		return step.Environmental(err)
	case errors.As(err, &me):
		return step.Permanent(err)
	}
	return step.Transient(err)
}

// RunStarted records the run in pipeline_runs (migrating first, as for a write).
func (s *mysqlUpsert) RunStarted(ctx context.Context, r step.RunInfo) error {
	if r.DryRun || !s.runs {
		return nil
	}
	db, err := s.open(ctx)
	if err != nil {
		return store.Scrub(err, s.secrets...)
	}
	host, _ := os.Hostname()
	return store.Scrub(store.StartRun(ctx, db, store.Run{ID: r.ID, Pipeline: r.Pipeline, Host: host,
		Since: r.Since, Until: r.Until, Started: r.Started}), s.secrets...)
}

// RunFinished records how the run ended and its failed items.
func (s *mysqlUpsert) RunFinished(ctx context.Context, r step.RunInfo, sum step.Summary) error {
	if r.DryRun || !s.runs {
		return nil
	}
	db, err := s.open(ctx)
	if err != nil {
		return store.Scrub(err, s.secrets...)
	}
	end := store.RunEnd{Finished: sum.Finished, Status: string(sum.Status), Items: sum.Items, Done: sum.Done,
		Skipped: sum.Skipped, Failed: sum.Failed, Pending: sum.Pending, Memo: sum.Memo, Ran: sum.Ran, Steps: sum.Steps}
	if end.Finished.IsZero() {
		end.Finished = time.Now()
	}
	for _, f := range sum.Failures {
		end.Failures = append(end.Failures, store.Failure{Item: f.Item, Step: f.Step, Kind: f.Kind, Error: f.Error})
	}
	host, _ := os.Hostname()
	run := store.Run{ID: r.ID, Pipeline: r.Pipeline, Host: host, Since: r.Since, Until: r.Until, Started: r.Started}
	return store.Scrub(store.FinishRun(ctx, db, run, end), s.secrets...)
}

// Close closes the pool.
func (s *mysqlUpsert) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	return err
}

// upsertTranscript is what mysql_upsert needs of kimi_asr's transcript; segments are stored as given.
type upsertTranscript struct {
	Text     string          `json:"text"`
	Segments json.RawMessage `json:"segments"`
}

// storedFile is a files[] element without its signed URL: a credential valid for 6 hours is never stored.
type storedFile struct {
	FileID string    `json:"file_id"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Size   int64     `json:"size"`
}

// recordingOf decodes the item into the row to store. Fields other than meeting_id and start may be
// absent (a step skipped by `if:`) and are then stored as NULL.
func recordingOf(in *step.Item, resolve store.Resolver) (store.Recording, error) {
	r := store.Recording{ID: in.ID()}
	var (
		studentIDs   []string
		participants []tencent.Participant
		files        []tencent.File
		transcript   upsertTranscript
		duration     *float64
		review       bool
		cls          struct {
			NeedsReview bool `json:"needs_review"`
		}
		tk *talk.Record
	)
	for _, f := range []struct {
		name string
		v    any
	}{
		{"meeting_id", &r.MeetingID}, {"meeting_code", &r.MeetingCode}, {"subject", &r.Subject},
		{"teacher_id", &r.TeacherID}, {"student_ids", &studentIDs}, {"participants", &participants},
		{"start", &r.Start}, {"end", &r.End}, {"duration_min", &duration}, {"files", &files},
		{"transcript", &transcript}, {"phase", &r.Phase}, {"summary", &r.Summary},
		{"classification", &r.Classification}, {"needs_review", &review},
		{"transcript_source", &r.TranscriptSource}, {"talk", &tk},
	} {
		if raw := in.Raw(f.name); len(raw) == 0 || string(raw) == "null" {
			continue
		}
		if err := in.Get(f.name, f.v); err != nil {
			return r, err
		}
	}
	if len(r.Classification) > 0 && string(r.Classification) != "null" {
		if err := json.Unmarshal(r.Classification, &cls); err != nil {
			return r, fmt.Errorf("item %s field \"classification\": %w", r.ID, err)
		}
	}
	// A later step (kimi_classify) writes needs_review again; the listing's reason (nobody known to have
	// hosted, creator not whitelisted) must survive it.
	var listed string
	if raw := in.Raw("review_reason"); len(raw) > 0 {
		json.Unmarshal(raw, &listed) //nolint:errcheck // not a string: no reason
	}
	r.NeedsReview = review || cls.NeedsReview || listed != ""
	// The engine's redaction counts (runner.RedactionsField), when the pipeline redacts.
	if raw := in.Raw(step.RedactionsField); len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &r.Redactions); err != nil {
			return r, fmt.Errorf("item %s field %q: %w", r.ID, step.RedactionsField, err)
		}
	}
	r.Transcript, r.Segments = transcript.Text, transcript.Segments
	if duration != nil {
		d := int(math.Round(*duration))
		r.DurationMin = &d
	}
	if len(files) > 0 {
		kept := make([]storedFile, len(files))
		for i, f := range files {
			kept[i] = storedFile{FileID: f.FileID, Start: f.Start, End: f.End, Size: f.Size}
		}
		b, err := json.Marshal(kept)
		if err != nil {
			return r, err
		}
		r.Files = b
	}
	if strings.TrimSpace(r.Transcript) == "" {
		r.TranscriptSource = "" // the source of a transcript that is not there
	}
	if tk != nil {
		b, err := json.Marshal(tk)
		if err != nil {
			return r, err
		}
		r.Talk, r.TalkOffTarget, r.Speakers = b, tk.OffTarget, speakerRows(*tk, resolve)
	}
	r.Sources = attendance(studentIDs, participants, resolve)
	r.Students = store.Merge(r.Sources)
	for _, s := range r.Sources {
		r.NeedsReview = r.NeedsReview || s.Unmatched // a guest the roster does not know: runner status names them
	}
	return r, nil
}

// speakerRows are the rows of recording_speakers: a student's id goes through the roster like
// recording_students'.
func speakerRows(tk talk.Record, resolve store.Resolver) []store.SpeakerRow {
	out := make([]store.SpeakerRow, 0, len(tk.Speakers))
	for _, sp := range tk.Speakers {
		id := sp.StudentID
		if sp.Role != talk.RoleStudent {
			id = ""
		} else if resolve != nil && id != "" {
			id, _ = resolve(id)
		}
		out = append(out, store.SpeakerRow{Key: sp.Key, Role: sp.Role, StudentID: id, Source: tk.Source, TalkMS: sp.TalkMS,
			Share: sp.Share, Questions: sp.Questions, Turns: sp.Turns, LongestMonologueMS: sp.LongestMonologueMS, Chars: sp.Chars})
	}
	return out
}

// attendance pairs each student id with the participant it names (by tencent's rule: userid, else
// "ext:"+uuid), summing the seconds of every participant with that id. A student with no participant
// row attended 0 seconds; participants who are not students (the teacher) are left out.
func attendance(ids []string, participants []tencent.Participant, resolve store.Resolver) []store.Source {
	byID := map[string]*store.Source{}
	var out []*store.Source
	for _, id := range ids {
		if id == "" || byID[id] != nil {
			continue
		}
		a := &store.Source{SourceID: id, StudentID: id}
		if resolve != nil {
			a.StudentID, a.Unmatched = resolve(id)
		}
		byID[id] = a
		out = append(out, a)
	}
	for _, p := range participants {
		if a := byID[p.StudentID()]; a != nil {
			a.Seconds += max(p.Seconds, 0)
			if a.Name == "" {
				a.Name = p.Name
			}
		}
	}
	list := make([]store.Source, len(out))
	for i, a := range out {
		list[i] = *a
	}
	return list
}

// Check connects and reports whether the user may write and migrate, and what the schema lacks.
func (s *mysqlUpsert) Check(ctx context.Context, o step.CheckOptions) []step.Finding {
	return store.Check(ctx, s.cfg, store.CheckOptions{Migrate: s.migrate, Preflight: o.Preflight})
}
