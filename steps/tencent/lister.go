package tencent

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"meetpipe/runner"
)

// DefaultCacheAfter is ListerConfig.CacheAfter's default.
const DefaultCacheAfter = 2 * time.Hour

// Listing modes.
const (
	// ModeCorp lists the whole enterprise with /v1/corp/records (operator must be an admin; 10 calls/min).
	ModeCorp = "corp"
	// ModePerTeacher lists /v1/records once per teacher, with the teacher as operator.
	ModePerTeacher = "per_teacher"
)

// ListerConfig configures a Lister.
type ListerConfig struct {
	Mode string // ModeCorp (default) or ModePerTeacher
	// Operator is the admin userid used as operator_id in corp mode.
	Operator string
	// Teachers are the operators in per_teacher mode. In corp mode, when not empty, only recordings
	// hosted by one of them are reported (the others would cost participant calls for nothing).
	Teachers []string
	PageSize int // default and maximum 20
	// MaxPages bounds the pages followed for one window and operator (default 1000): a safety net against
	// a listing whose total_page never ends.
	MaxPages int
	// RecordType is query_record_type (0 all, 1 cloud, 2 uploaded).
	RecordType int
	// SkipParticipants leaves participants, teacher fallback and student_ids empty (saves requests).
	SkipParticipants bool
	// SkipMeetingDetails saves one request per meeting by not looking up whether it is recurring; then no
	// sub_meeting_id is sent and a recurring meeting's participants may be incomplete.
	SkipMeetingDetails bool
	// Students picks the students among a recording's participants; nil means IsStudent.
	Students func(p Participant, teacherID, hostUserID string) (bool, error)
	// Secret, when set, is told every signed URL so that log handlers can scrub it.
	Secret func(string)
	// Cache, when set, keeps the participants and meeting details of settled recordings for later runs.
	Cache *Cache
	// CacheAfter is how long after its end a finished recording is settled: nobody joins any more, so
	// its participants are final (default 2h).
	CacheAfter time.Duration
	Logger     *slog.Logger
	Now        func() time.Time
}

// Lister is the tencent_list source: it lists the recordings of a window and of the pending set, and
// emits every finished one with its files and participants. Download addresses are a lazy field
// (Resolve): fetched only for recordings a later step is about to download.
type Lister struct {
	c   *Client
	cfg ListerConfig
	log *slog.Logger

	mu     sync.Mutex
	listed map[string]listed // by meeting_record_id, for Resolve
}

// listed is what Resolve needs to remember of a recording emitted by this process's listing.
type listed struct {
	operator string
	// addrs are the download addresses the corp listing itself carried, used when /v1/addresses lacks
	// a file.
	addrs map[string]string
}

// NewLister checks cfg and returns a Lister over c.
func NewLister(c *Client, cfg ListerConfig) (*Lister, error) {
	if cfg.Mode == "" {
		cfg.Mode = ModeCorp
	}
	switch cfg.Mode {
	case ModeCorp:
		if cfg.Operator == "" {
			return nil, fmt.Errorf("tencent: mode corp needs operator_id (an admin userid)")
		}
	case ModePerTeacher:
		if len(cfg.Teachers) == 0 {
			return nil, fmt.Errorf("tencent: mode per_teacher needs teachers")
		}
	default:
		return nil, fmt.Errorf("tencent: unknown mode %q (want %s or %s)", cfg.Mode, ModeCorp, ModePerTeacher)
	}
	if cfg.PageSize <= 0 || cfg.PageSize > MaxPageSize {
		cfg.PageSize = MaxPageSize
	}
	if cfg.MaxPages <= 0 {
		cfg.MaxPages = 1000
	}
	if cfg.Students == nil {
		cfg.Students = func(p Participant, teacher, _ string) (bool, error) { return IsStudent(p, teacher), nil }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CacheAfter <= 0 {
		cfg.CacheAfter = DefaultCacheAfter
	}
	return &Lister{c: c, cfg: cfg, log: cfg.Logger, listed: map[string]listed{}}, nil
}

// Close releases the client's idle connections.
func (l *Lister) Close() error { return l.c.Close() }

// hint is what a not-ready recording is remembered by, so that a later run can find it again after it
// has left the window: the listings can only be searched by time, so its start and who can see it.
type hint struct {
	MediaStartMs int64  `json:"media_start_ms"`
	Host         string `json:"host,omitempty"`
	MeetingID    string `json:"meeting_id,omitempty"`
	Operator     string `json:"operator,omitempty"`
}

// recheckMargin is how far around a pending recording's start its re-check looks.
const recheckMargin = 2 * time.Minute

// run is the state of one List call.
type run struct {
	l        *Lister
	out      runner.Emitter
	seen     map[string]bool
	meetings map[string]*lookup
	failed   []error
	only     map[string]bool // when set, recordings outside it are ignored (a pending re-check)
}

// List emits every finished recording in w and in w.Pending, and reports recordings still being recorded
// or transcoded with NotReady. A recording whose participants cannot be read is reported not ready too,
// so that the next run tries again; the error returned then names the permanent failures.
func (l *Lister) List(ctx context.Context, w runner.Window, out runner.Emitter) error {
	until := w.Until
	if until.IsZero() {
		until = l.cfg.Now()
	}
	since := w.Since
	if since.IsZero() {
		since = until.Add(-24 * time.Hour)
	}
	if until.Before(since) {
		return runner.Permanentf("tencent: window %s..%s ends before it starts", since.Format(time.RFC3339), until.Format(time.RFC3339))
	}
	r := &run{l: l, out: out, seen: map[string]bool{}, meetings: map[string]*lookup{}}
	for _, span := range SplitWindow(since, until) {
		for _, op := range l.operators() {
			if err := r.listSpan(ctx, op, span[0], span[1]); err != nil {
				return err
			}
		}
	}
	if err := r.recheck(ctx, w.Pending); err != nil {
		return err
	}
	return r.result()
}

func (l *Lister) operators() []string {
	if l.cfg.Mode == ModePerTeacher {
		return l.cfg.Teachers
	}
	return []string{l.cfg.Operator}
}

// SplitWindow cuts [since, until] into consecutive spans of at most MaxWindow. Adjacent spans share their
// boundary second (the service's bounds are inclusive), so the caller de-duplicates.
func SplitWindow(since, until time.Time) [][2]time.Time {
	var out [][2]time.Time
	for s := since; ; {
		e := s.Add(MaxWindow)
		if !e.Before(until) {
			return append(out, [2]time.Time{s, until})
		}
		out = append(out, [2]time.Time{s, e})
		s = e
	}
}

// listSpan follows the pages of one span for one operator.
func (r *run) listSpan(ctx context.Context, op string, since, until time.Time) error {
	l := r.l
	for page := 1; ; page++ {
		if page > l.cfg.MaxPages {
			return runner.Permanentf("tencent: listing %s..%s for %s passed max_pages=%d; raise it or shorten the window",
				since.Format(time.RFC3339), until.Format(time.RFC3339), op, l.cfg.MaxPages)
		}
		q := RecordsQuery{Operator: op, Start: since, End: until, Page: page, PageSize: l.cfg.PageSize, RecordType: l.cfg.RecordType}
		var p *RecordsPage
		var err error
		if l.cfg.Mode == ModeCorp {
			p, err = l.c.CorpRecords(ctx, q)
		} else {
			p, err = l.c.Records(ctx, q)
		}
		if err != nil {
			return err
		}
		for _, rec := range p.Records {
			if err := r.handle(ctx, rec, op); err != nil {
				return err
			}
		}
		if page >= p.TotalPage || len(p.Records) == 0 {
			return nil
		}
	}
}

// handle reports one listed recording: emitted when done, not ready otherwise.
func (r *run) handle(ctx context.Context, rec Record, op string) error {
	l := r.l
	id := rec.MeetingRecordID
	if id == "" || r.seen[id] || (r.only != nil && !r.only[id]) {
		return nil
	}
	if l.cfg.Mode == ModeCorp && len(l.cfg.Teachers) > 0 && !slices.Contains(l.cfg.Teachers, rec.HostUserID) {
		return nil
	}
	r.seen[id] = true
	h := hint{MediaStartMs: rec.MediaStart.UnixMilli(), Host: rec.HostUserID, MeetingID: rec.MeetingID, Operator: op}
	if rec.MediaStart.IsZero() {
		h.MediaStartMs = 0
	}
	if rec.State != StateDone {
		reason := fmt.Sprintf("state %d", rec.State)
		switch rec.State {
		case StateRecording:
			reason = "still recording (state 1)"
		case StateTranscoding:
			reason = "transcoding (state 2)"
		}
		l.log.LogAttrs(ctx, slog.LevelDebug, "recording not ready", slog.String("item", id), slog.String("reason", reason))
		r.out.NotReady(id, h, reason)
		return nil
	}
	doc, err := l.enrich(ctx, rec, op, r.meetings)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		kind, _ := runner.Classify(err)
		l.log.LogAttrs(ctx, slog.LevelWarn, "recording left pending", slog.String("item", id),
			slog.String("kind", kind.String()), slog.String("error", err.Error()))
		r.out.NotReady(id, h, err.Error())
		if kind == runner.KindPermanent {
			r.failed = append(r.failed, fmt.Errorf("recording %s: %w", id, err))
		}
		return nil
	}
	f, err := doc.Fields()
	if err != nil {
		return err
	}
	// Before Emit: the engine may resolve the item's addresses while the listing goes on.
	l.remember(id, op, rec.Files)
	return r.out.Emit(ctx, id, f)
}

// recheck looks again for pending recordings not seen in the window: each is searched in a small span
// around its start, with the operator that found it.
func (r *run) recheck(ctx context.Context, pending []runner.Pending) error {
	l := r.l
	type want struct {
		p runner.Pending
		h hint
	}
	var wanted []want
	for _, p := range pending {
		if r.seen[p.ID] {
			continue
		}
		var h hint
		if err := json.Unmarshal(p.Hint, &h); err != nil || h.MediaStartMs == 0 {
			l.log.LogAttrs(ctx, slog.LevelWarn, "pending recording has no usable hint; dropped", slog.String("item", p.ID))
			continue
		}
		if h.Operator == "" || (l.cfg.Mode == ModeCorp && h.Operator != l.cfg.Operator) {
			h.Operator = l.operators()[0]
			if l.cfg.Mode == ModePerTeacher && slices.Contains(l.cfg.Teachers, h.Host) {
				h.Operator = h.Host
			}
		}
		wanted = append(wanted, want{p, h})
	}
	if len(wanted) == 0 {
		return nil
	}
	r.only = map[string]bool{}
	spans := map[string][][2]time.Time{}
	for _, w := range wanted {
		r.only[w.p.ID] = true
		t := time.UnixMilli(w.h.MediaStartMs).UTC()
		spans[w.h.Operator] = append(spans[w.h.Operator], [2]time.Time{t.Add(-recheckMargin), t.Add(recheckMargin)})
	}
	for _, op := range slices.Sorted(maps.Keys(spans)) {
		for _, s := range mergeSpans(spans[op]) {
			if err := r.listSpan(ctx, op, s[0], s[1]); err != nil {
				return err
			}
		}
	}
	r.only = nil
	for _, w := range wanted {
		if !r.seen[w.p.ID] {
			// Kept pending (the engine gives up after pending_max_age): a listing may lag, and a deleted
			// recording is not worth failing a run for.
			r.out.NotReady(w.p.ID, w.h, "not listed any more (deleted, or the listing lags)")
		}
	}
	return nil
}

// Hint tells the engine how to find an item again in a later run (an item that failed downstream and
// must be listed again, with fresh download addresses, after the window has moved on).
func (l *Lister) Hint(in *runner.Item) any {
	var h hint
	var start time.Time
	if in.Get("start", &start) == nil && !start.IsZero() {
		h.MediaStartMs = start.UnixMilli()
	}
	in.Get("host_userid", &h.Host)     //nolint:errcheck // optional
	in.Get("meeting_id", &h.MeetingID) //nolint:errcheck // optional
	if l.cfg.Mode == ModeCorp {
		h.Operator = l.cfg.Operator
	} else if slices.Contains(l.cfg.Teachers, h.Host) {
		h.Operator = h.Host
	}
	return h
}

// mergeSpans joins overlapping spans, keeping each within MaxWindow.
func mergeSpans(in [][2]time.Time) [][2]time.Time {
	slices.SortFunc(in, func(a, b [2]time.Time) int { return a[0].Compare(b[0]) })
	var out [][2]time.Time
	for _, s := range in {
		if n := len(out); n > 0 && !s[0].After(out[n-1][1]) && s[1].Sub(out[n-1][0]) <= MaxWindow {
			if s[1].After(out[n-1][1]) {
				out[n-1][1] = s[1]
			}
			continue
		}
		out = append(out, s)
	}
	return out
}

func (r *run) result() error {
	if len(r.failed) == 0 {
		return nil
	}
	return runner.Permanent(fmt.Errorf("tencent: %d recording(s) could not be read and were left pending: %w",
		len(r.failed), errors.Join(r.failed...)))
}

// enrich turns a finished recording into the item document: files, merged participants, teacher and
// students.
func (l *Lister) enrich(ctx context.Context, rec Record, op string, meetings map[string]*lookup) (*Recording, error) {
	doc := &Recording{
		ID: rec.MeetingRecordID, MeetingID: rec.MeetingID, MeetingCode: rec.MeetingCode, Subject: rec.Subject,
		HostUserID: rec.HostUserID, Start: rec.MediaStart, State: rec.State,
		Files: make([]File, 0, len(rec.Files)), Participants: []Participant{}, StudentIDs: []string{},
	}
	for _, f := range rec.Files {
		if doc.Start.IsZero() || (!f.Start.IsZero() && f.Start.Before(doc.Start)) {
			doc.Start = f.Start
		}
		if f.End.After(doc.End) {
			doc.End = f.End
		}
	}
	if doc.End.Before(doc.Start) {
		doc.End = doc.Start
	}
	doc.DurationMin = int(math.Round(doc.End.Sub(doc.Start).Minutes()))

	for _, f := range rec.Files {
		doc.Files = append(doc.Files, File{FileID: f.ID, Start: f.Start, End: f.End, Size: f.Size})
	}

	if !l.cfg.SkipParticipants && rec.MeetingID != "" {
		// A settled recording's participants and meeting details are final: cached, read from the cache.
		now := l.cfg.Now()
		cache := l.cfg.Cache
		if doc.End.IsZero() || now.Sub(doc.End) <= l.cfg.CacheAfter {
			cache = nil
		}
		q := ParticipantsQuery{MeetingID: rec.MeetingID, SubMeetingID: rec.SubMeetingID, Operator: op}
		if q.SubMeetingID == "" && !l.cfg.SkipMeetingDetails && rec.MeetingType != 0 {
			info, err := l.meeting(ctx, rec.MeetingID, op, doc.End, cache, meetings)
			if err != nil {
				return nil, err
			}
			if info.MeetingType == 1 {
				q.SubMeetingID = pickSubMeeting(info, doc.Start)
			}
		}
		if !doc.Start.IsZero() {
			// Joins are filtered by time, and the service's default is the last 31 days only.
			q.Since = doc.Start.Add(-time.Hour)
			q.Until = doc.End.Add(24 * time.Hour)
			if q.Until.Sub(q.Since) > MaxWindow {
				q.Until = q.Since.Add(MaxWindow)
			}
		}
		rows, ok := []Attendance(nil), false
		if cache != nil {
			rows, ok = cache.Participants(ctx, q)
		}
		if !ok {
			var err error
			if rows, err = l.c.Participants(ctx, q); err != nil {
				return nil, err
			}
			if cache != nil {
				cache.PutParticipants(ctx, q, rows, now)
			}
		}
		doc.Participants = MergeAttendance(rows)
	}
	doc.TeacherID = TeacherID(rec.HostUserID, doc.Participants)
	seen := map[string]bool{}
	for _, p := range doc.Participants {
		ok, err := l.cfg.Students(p, doc.TeacherID, doc.HostUserID)
		if err != nil {
			return nil, runner.Permanent(fmt.Errorf("students rule on %s: %w", p.StudentID(), err))
		}
		if id := p.StudentID(); ok && !seen[id] {
			seen[id] = true
			doc.StudentIDs = append(doc.StudentIDs, id)
		}
	}
	return doc, nil
}

// meeting returns a meeting's details: looked up once per run, and for a settled recording (cache not
// nil) read from the cache when the cached answer is recent enough to know the recording's occurrence.
// What the cache gives is not shared with other recordings of the run, which may be later occurrences.
func (l *Lister) meeting(ctx context.Context, id, op string, end time.Time, cache *Cache, meetings map[string]*lookup) (*MeetingInfo, error) {
	m := meetings[id]
	if m == nil && cache != nil {
		if info, ok := cache.Meeting(ctx, id, end); ok {
			return info, nil
		}
	}
	if m == nil {
		info, err := l.c.Meeting(ctx, id, op)
		if err != nil {
			return nil, err
		}
		m = &lookup{info: info, fetched: l.cfg.Now()}
		meetings[id] = m
	}
	if cache != nil && !m.stored && !m.fetched.Before(end) {
		cache.PutMeeting(ctx, id, m.info, m.fetched)
		m.stored = true
	}
	return m.info, nil
}

// lookup is a meeting's details as looked up in this run.
type lookup struct {
	info    *MeetingInfo
	fetched time.Time
	stored  bool // in the cache
}

// pickSubMeeting chooses the occurrence of a recurring meeting that a recording starting at t belongs to:
// the one whose span holds t, else the one starting nearest to t, else the current one.
func pickSubMeeting(info *MeetingInfo, t time.Time) string {
	best, bestD := "", time.Duration(math.MaxInt64)
	for _, s := range info.SubMeetings {
		if !t.Before(s.Start) && (s.End.IsZero() || !t.After(s.End)) {
			return s.ID
		}
		d := t.Sub(s.Start)
		if d < 0 {
			d = -d
		}
		if d < bestD {
			best, bestD = s.ID, d
		}
	}
	return cmp.Or(best, info.CurrentSubMeetingID)
}

// Fields returns the item fields of the recording.
func (d *Recording) Fields() (runner.Fields, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	f := make(runner.Fields, len(raw))
	for k, v := range raw {
		f[k] = v
	}
	return f, nil
}
