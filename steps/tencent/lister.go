package tencent

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sync"
	"time"
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
	// taught by one of them, or flagged needs_review, are reported. The host is known only from the
	// participants (the corp listing names the creator), so every finished recording costs its
	// participant calls.
	Teachers []string
	// Whitelist is the teacher whitelist (default Teachers): a recording that nothing says who hosted
	// keeps its creator as teacher only when the creator is on it, and is flagged needs_review otherwise.
	Whitelist []string
	PageSize  int // default and maximum 20
	// MaxPages bounds the pages followed for one window and operator (default 1000): a safety net against
	// a listing whose total_page never ends.
	MaxPages int
	// MaxEndedPages bounds the pages of one span's ended-meeting listing (default DefaultMaxEndedPages).
	MaxEndedPages int
	// RecordType is query_record_type (0 all, 1 cloud, 2 uploaded).
	RecordType int
	// SkipParticipants leaves participants, teacher fallback and student_ids empty (saves requests).
	SkipParticipants bool
	// SkipMeetingDetails skips the ended-meeting listings and /v1/meetings/{id}: every meeting is then
	// read as one-off, and a recurring meeting's participants cannot be read (no sub_meeting_id).
	SkipMeetingDetails bool
	// Students picks the students among a recording's participants; nil means IsStudent.
	Students func(p Participant, teacherID, creator string) (bool, error)
	// Secret, when set, is told every signed URL so that log handlers can scrub it.
	Secret func(string)
	// Cache, when set, keeps the participants and meeting details of settled recordings for later runs.
	Cache *Cache
	// CacheAfter is how long after its end a finished recording is settled: nobody joins any more, so
	// its participants are final (default 2h).
	CacheAfter time.Duration
	// Retries is how many times a request of the listing (a page, a meeting's details or participants)
	// is tried again when it fails transiently (default 1; -1: none). The engine retries what has an
	// item (download addresses); a listing has none yet, so this is the only retry of its calls.
	Retries int
	// Backoff is the first wait between tries, doubled each time up to MaxBackoff (defaults 1s, 15s);
	// a server's Retry-After waits longer.
	Backoff, MaxBackoff time.Duration
	Logger              *slog.Logger
	Now                 func() time.Time
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
			return nil, settingErr("operator_id,mode", "tencent: mode corp needs operator_id (an admin userid)")
		}
	case ModePerTeacher:
		if len(cfg.Teachers) == 0 {
			return nil, settingErr("teachers,mode", "tencent: mode per_teacher needs teachers")
		}
	default:
		return nil, settingErr("mode", "tencent: unknown mode %q (want %s or %s)", cfg.Mode, ModeCorp, ModePerTeacher)
	}
	if cfg.Whitelist == nil {
		cfg.Whitelist = cfg.Teachers
	}
	if cfg.PageSize <= 0 || cfg.PageSize > MaxPageSize {
		cfg.PageSize = MaxPageSize
	}
	if cfg.MaxPages <= 0 {
		cfg.MaxPages = 1000
	}
	if cfg.MaxEndedPages <= 0 {
		cfg.MaxEndedPages = DefaultMaxEndedPages
	}
	if cfg.Students == nil {
		cfg.Students = func(p Participant, teacher, creator string) (bool, error) { return IsStudent(p, teacher, creator), nil }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CacheAfter <= 0 {
		cfg.CacheAfter = DefaultCacheAfter
	}
	switch {
	case cfg.Retries == 0:
		cfg.Retries = 1
	case cfg.Retries < 0:
		cfg.Retries = 0
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 15 * time.Second
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.Backoff)
	return &Lister{c: c, cfg: cfg, log: cfg.Logger, listed: map[string]listed{}}, nil
}

// Close releases the client's idle connections.
func (l *Lister) Close() error { return l.c.Close() }

// hint is what a not-ready recording is remembered by, so that a later run can find it again after it
// has left the window: the listings can only be searched by time, so its start and who can see it.
// Operator is who lists it: its creator (/v1/records lists a meeting for its creator only, 1095/51189)
// or the corp admin. Creator is set by hints written since the creator is known for sure; an older
// hint may name the host as operator, so a re-check that misses it asks the other teachers too.
type hint struct {
	MediaStartMs int64  `json:"media_start_ms"`
	Host         string `json:"host,omitempty"`
	Creator      string `json:"creator,omitempty"`
	MeetingID    string `json:"meeting_id,omitempty"`
	Operator     string `json:"operator,omitempty"`
}

// recheckMargin is how far around a pending recording's start its re-check looks.
const recheckMargin = 2 * time.Minute

// run is the state of one List call.
type run struct {
	l        *Lister
	out      Sink
	seen     map[string]bool
	meetings map[string]*lookup
	ended    map[string]*endedIndex // by operator and span: the ended meetings of a listing span
	span     [2]time.Time           // the span being listed
	only     map[string]bool        // when set, recordings outside it are ignored (a pending re-check)
}

// List emits every finished recording in w and in w.Pending, and reports recordings still being recorded
// or transcoded with NotReady. A recording whose participants cannot be read is left pending for that
// problem (Sink.Stuck), so that the next run tries again and this run does not look green; it is
// never emitted with its students missing.
func (l *Lister) List(ctx context.Context, w Window, out Sink) error {
	until := w.Until
	if until.IsZero() {
		until = l.cfg.Now()
	}
	since := w.Since
	if since.IsZero() {
		since = until.Add(-24 * time.Hour)
	}
	if until.Before(since) {
		return permanentf("tencent: window %s..%s ends before it starts", since.Format(time.RFC3339), until.Format(time.RFC3339))
	}
	r := &run{l: l, out: out, seen: map[string]bool{}, meetings: map[string]*lookup{}, ended: map[string]*endedIndex{}}
	if w.Targeted {
		return r.targeted(ctx, w.Pending)
	}
	for _, span := range SplitWindow(since, until) {
		for _, op := range l.operators() {
			if err := r.listSpan(ctx, op, span[0], span[1]); err != nil {
				return err
			}
		}
	}
	return r.recheck(ctx, w.Pending)
}

// recordsPath and endedPath name the listing endpoints of the mode, for logs.
func (l *Lister) recordsPath() string {
	if l.cfg.Mode == ModeCorp {
		return "/v1/corp/records"
	}
	return "/v1/records"
}

func (l *Lister) endedPath() string {
	if l.cfg.Mode == ModeCorp {
		return "/v1/corp/meetings"
	}
	return "/v1/history/meetings"
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

// listSpan follows the pages of one span for one operator. It stops at the last page, at an empty or
// short page, and at a page that brings no recording not already seen in the span: a total_page that
// never ends (or a server repeating its last page) cannot keep the listing going.
func (r *run) listSpan(ctx context.Context, op string, since, until time.Time) error {
	_, err := r.listSpanUpTo(ctx, op, since, until, 0)
	return err
}

// listSpanUpTo is listSpan that gives up after the first page when the listing has more than budget
// pages (0: no budget); it reports whether it listed the whole span.
func (r *run) listSpanUpTo(ctx context.Context, op string, since, until time.Time, budget int) (bool, error) {
	l := r.l
	r.span = [2]time.Time{since, until}
	inSpan := map[string]bool{}
	for page := 1; ; page++ {
		if page > l.cfg.MaxPages {
			return false, permanentf("tencent: listing %s..%s for %s passed max_pages=%d; raise it or shorten the window",
				since.Format(time.RFC3339), until.Format(time.RFC3339), op, l.cfg.MaxPages)
		}
		q := RecordsQuery{Operator: op, Start: since, End: until, Page: page, PageSize: l.cfg.PageSize, RecordType: l.cfg.RecordType}
		var p *RecordsPage
		var err error
		err = l.again(ctx, l.recordsPath(), func() (err error) {
			if l.cfg.Mode == ModeCorp {
				p, err = l.c.CorpRecords(ctx, q)
			} else {
				p, err = l.c.Records(ctx, q)
			}
			return err
		})
		if err != nil {
			return false, err
		}
		fresh := 0
		for _, rec := range p.Records {
			if !inSpan[rec.MeetingRecordID] {
				inSpan[rec.MeetingRecordID] = true
				fresh++
			}
			if err := r.handle(ctx, rec, op); err != nil {
				return false, err
			}
		}
		if page >= p.TotalPage || len(p.Records) < l.cfg.PageSize {
			return true, nil
		}
		if budget > 0 && p.TotalPage > budget {
			return false, nil
		}
		if fresh == 0 {
			l.logger(ctx).LogAttrs(ctx, slog.LevelWarn, "tencent listing page brought nothing new; stopping",
				slog.String("operator", op), slog.Int("page", page), slog.Int("total_page", p.TotalPage))
			return true, nil
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
	r.seen[id] = true
	h := hint{MediaStartMs: rec.MediaStart.UnixMilli(), Host: rec.HostUserID, Creator: l.creatorOf(rec, op),
		MeetingID: rec.MeetingID, Operator: op}
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
		l.logger(ctx).LogAttrs(ctx, slog.LevelDebug, "recording not ready", slog.String("item", id), slog.String("reason", reason))
		r.out.NotReady(id, h, reason)
		return nil
	}
	doc, err := r.enrich(ctx, rec, op)
	if err != nil {
		if ctx.Err() != nil {
			// Stopped while reading its details: kept pending, or the next run's window may have moved on.
			r.out.NotReady(id, h, "interrupted while its participants were read")
			return ctx.Err()
		}
		kind, _ := kindOf(err)
		l.logger(ctx).LogAttrs(ctx, slog.LevelWarn, "recording left pending: its participants could not be read", slog.String("item", id),
			slog.String("kind", kind.String()), slog.String("error", err.Error()))
		r.out.Stuck(id, h, "participants not read ("+kind.String()+"): "+err.Error())
		return nil
	}
	if l.cfg.Mode == ModeCorp && len(l.cfg.Teachers) > 0 && !slices.Contains(l.cfg.Teachers, doc.TeacherID) && !doc.NeedsReview {
		l.logger(ctx).LogAttrs(ctx, slog.LevelDebug, "recording not hosted by a listed teacher", slog.String("item", id),
			slog.String("host", doc.HostUserID), slog.String("creator", doc.CreatorUserID))
		return nil
	}
	if doc.NeedsReview {
		l.logger(ctx).LogAttrs(ctx, slog.LevelWarn, "recording flagged for review: "+doc.ReviewReason, slog.String("item", id))
	}
	f, err := doc.Fields()
	if err != nil {
		return err
	}
	// Before Emit: the engine may resolve the item's addresses while the listing goes on.
	l.remember(id, op, rec.Files)
	return r.out.Emit(ctx, id, f)
}

// want is a pending recording a re-check looks for.
type want struct {
	p Pending
	h hint
}

// recheckOthers asks the other teachers for the per_teacher recordings a re-check missed whose hint does
// not name the creator: hints written before the creator was known for sure may name the host as
// operator, who cannot list a meeting an assistant created. Bounded: teachers × the missing spans.
func (r *run) recheckOthers(ctx context.Context, wanted []want) error {
	l := r.l
	if l.cfg.Mode != ModePerTeacher {
		return nil
	}
	spans := map[string][][2]time.Time{}
	for _, w := range wanted {
		if r.seen[w.p.ID] || w.h.Creator != "" {
			continue
		}
		t := time.UnixMilli(w.h.MediaStartMs).UTC()
		for _, op := range l.cfg.Teachers {
			if op != w.h.Operator {
				spans[op] = append(spans[op], [2]time.Time{t.Add(-recheckMargin), t.Add(recheckMargin)})
			}
		}
	}
	for _, op := range slices.Sorted(maps.Keys(spans)) {
		for _, s := range mergeSpans(spans[op]) {
			if err := r.listSpan(ctx, op, s[0], s[1]); err != nil {
				return err
			}
		}
	}
	return nil
}

// recheck looks again for pending recordings not seen in the window: each is searched in a small span
// around its start, with the operator that found it. In corp mode the spans that fit in one listing window
// are listed together (recheckGroup): /v1/corp/records allows 10 calls a minute.
func (r *run) recheck(ctx context.Context, pending []Pending) error {
	l := r.l
	var wanted []want
	for _, p := range pending {
		if r.seen[p.ID] {
			continue
		}
		var h hint
		if err := json.Unmarshal(p.Hint, &h); err != nil || h.MediaStartMs == 0 {
			l.logger(ctx).LogAttrs(ctx, slog.LevelWarn, "pending recording has no usable hint; dropped", slog.String("item", p.ID))
			continue
		}
		if l.cfg.Mode == ModeCorp {
			h.Operator = l.cfg.Operator
		} else if !slices.Contains(l.cfg.Teachers, h.Operator) {
			h.Operator = l.cfg.Teachers[0]
			if slices.Contains(l.cfg.Teachers, h.Creator) {
				h.Operator = h.Creator
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
		merged := mergeSpans(spans[op])
		if l.cfg.Mode != ModeCorp {
			for _, s := range merged {
				if err := r.listSpan(ctx, op, s[0], s[1]); err != nil {
					return err
				}
			}
			continue
		}
		for _, g := range groupSpans(merged) {
			if err := r.recheckGroup(ctx, op, g, wanted); err != nil {
				return err
			}
		}
	}
	if err := r.recheckOthers(ctx, wanted); err != nil {
		return err
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
func (l *Lister) Hint(in Item) any {
	var h hint
	var start time.Time
	if in.Get("start", &start) == nil && !start.IsZero() {
		h.MediaStartMs = start.UnixMilli()
	}
	in.Get("host_userid", &h.Host)       //nolint:errcheck // optional
	in.Get("meeting_id", &h.MeetingID)   //nolint:errcheck // optional
	in.Get("creator_userid", &h.Creator) //nolint:errcheck // optional
	h.Operator = l.operatorOf(in)
	return h
}

// recheckGroup re-checks the pending recordings of spans that fit in one listing window with one listing
// of the window that holds them all, paged. That costs no more calls than a listing per span while the
// window has no more pages than there are spans; when its first page says it has more (a busy stretch
// between the pending recordings), the spans still missing a recording are listed one by one, so a
// re-check costs at most one call more than it did span by span.
func (r *run) recheckGroup(ctx context.Context, op string, group [][2]time.Time, wanted []want) error {
	if len(group) == 1 {
		return r.listSpan(ctx, op, group[0][0], group[0][1])
	}
	done, err := r.listSpanUpTo(ctx, op, group[0][0], group[len(group)-1][1], len(group))
	if err != nil || done {
		return err
	}
	r.l.logger(ctx).LogAttrs(ctx, slog.LevelDebug, "pending re-check window has more pages than spans; listing each span",
		slog.String("operator", op), slog.Int("spans", len(group)))
	for _, s := range group {
		if slices.ContainsFunc(wanted, func(w want) bool {
			t := time.UnixMilli(w.h.MediaStartMs)
			return w.h.Operator == op && !r.seen[w.p.ID] && !t.Before(s[0]) && !t.After(s[1])
		}) {
			if err := r.listSpan(ctx, op, s[0], s[1]); err != nil {
				return err
			}
		}
	}
	return nil
}

// groupSpans cuts sorted, disjoint spans into runs whose whole stretch, from the first start to the
// last end, fits in one listing window (MaxWindow).
func groupSpans(spans [][2]time.Time) [][][2]time.Time {
	var out [][][2]time.Time
	for _, s := range spans {
		if n := len(out); n > 0 && s[1].Sub(out[n-1][0][0]) <= MaxWindow {
			out[n-1] = append(out[n-1], s)
			continue
		}
		out = append(out, [][2]time.Time{s})
	}
	return out
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

// enrich turns a finished recording into the item document: files, merged participants, host, creator
// and students.
func (r *run) enrich(ctx context.Context, rec Record, op string) (*Recording, error) {
	l := r.l
	doc := &Recording{
		ID: rec.MeetingRecordID, MeetingID: rec.MeetingID, MeetingCode: rec.MeetingCode, Subject: rec.Subject,
		HostUserID: rec.HostUserID, CreatorUserID: l.creatorOf(rec, op), Start: rec.MediaStart, State: rec.State,
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
		occ, err := r.occurrence(ctx, rec, op, doc, cache)
		if err != nil {
			return nil, err
		}
		if doc.CreatorUserID == "" {
			doc.CreatorUserID = occ.Creator
		}
		q := ParticipantsQuery{MeetingID: rec.MeetingID, SubMeetingID: occ.SubMeetingID, Operator: op}
		if q.SubMeetingID == "" && !doc.Start.IsZero() {
			// A one-off meeting's joins are read by time (the service's default is the last 31 days only).
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
			if err = l.again(ctx, "/v1/meetings/{id}/participants", func() (err error) {
				rows, err = l.c.Participants(ctx, q)
				return err
			}); err != nil {
				return nil, err
			}
			if cache != nil {
				cache.PutParticipants(ctx, q, rows, now)
			}
		}
		doc.Participants = MergeAttendance(rows)
	}
	if doc.HostUserID == "" {
		doc.HostUserID = HostID(doc.Participants)
	}
	doc.TeacherID = doc.HostUserID
	switch {
	case doc.TeacherID != "":
	case doc.CreatorUserID != "" && slices.Contains(l.cfg.Whitelist, doc.CreatorUserID):
		// Nothing says who hosted; a whitelisted teacher created it: theirs, as they scheduled it.
		doc.TeacherID = doc.CreatorUserID
	default:
		doc.NeedsReview = true
		doc.ReviewReason = fmt.Sprintf("no host known (no host_user_id, no participant with a host role) and the "+
			"creator %q is not a whitelisted teacher", doc.CreatorUserID)
	}
	seen := map[string]bool{}
	for _, p := range doc.Participants {
		ok, err := l.cfg.Students(p, doc.TeacherID, doc.CreatorUserID)
		if err != nil {
			return nil, permanent(fmt.Errorf("students rule on %s: %w", p.StudentID(), err))
		}
		if id := p.StudentID(); ok && !seen[id] {
			seen[id] = true
			doc.StudentIDs = append(doc.StudentIDs, id)
		}
	}
	return doc, nil
}

// creatorOf is who created a listed recording's meeting: in per_teacher mode the operator, since
// /v1/records lists only the operator's own meetings (1095/51189, 2026-01); in corp mode the listing's
// userid (1095/53224; tencent-meeting-api.md corrections 3 and 8).
func (l *Lister) creatorOf(rec Record, op string) string {
	if l.cfg.Mode == ModePerTeacher {
		return op
	}
	return rec.CreatorUserID
}

// occurrence is what the participants call needs of a recording's meeting: its sub_meeting_id when the
// meeting is recurring, and its creator.
type occurrence struct {
	SubMeetingID string `json:"sub_meeting_id,omitempty"`
	Creator      string `json:"creator,omitempty"`
}

// occurrence finds the meeting occurrence of a finished recording. /v1/meetings/{id} no longer answers
// for ended meetings (1095/42418), so the ended-meeting listing of the span (/v1/corp/meetings or
// /v1/history/meetings, fetched once per span, paged) is asked first and matched by the media start;
// /v1/meetings/{id} is the fallback for a meeting the listing lacks. Neither answering means a one-off
// meeting, read by its time window.
func (r *run) occurrence(ctx context.Context, rec Record, op string, doc *Recording, cache *Cache) (occurrence, error) {
	l := r.l
	if rec.SubMeetingID != "" || rec.MeetingType == 0 || l.cfg.SkipMeetingDetails {
		return occurrence{SubMeetingID: rec.SubMeetingID}, nil
	}
	if cache != nil {
		if o, ok := cache.Occurrence(ctx, rec.MeetingRecordID); ok {
			return o, nil
		}
	}
	var occ occurrence
	if m, ok := r.endedIndex(ctx, op).match(rec.MeetingID, doc.Start); ok {
		occ.Creator = m.Creator
		if m.MeetingType == 1 {
			occ.SubMeetingID = m.SubMeetingID
		}
	} else {
		info, err := l.meeting(ctx, rec.MeetingID, op, doc.End, cache, r.meetings)
		if err != nil {
			return occ, err
		}
		if info != nil && info.MeetingType == 1 {
			occ.SubMeetingID = pickSubMeeting(info, doc.Start)
		}
	}
	if cache != nil {
		cache.PutOccurrence(ctx, rec.MeetingRecordID, occ, l.cfg.Now())
	}
	return occ, nil
}

// endedIndex is the ended meetings of one listing span, by meeting id.
type endedIndex struct {
	byMeeting map[string][]EndedMeeting
}

// DefaultMaxEndedPages bounds one span's ended-meeting listing: 1000 pages of 20 are 20,000 meetings,
// twice what an enterprise with 10,000 meetings holds in a 31-day span plus its margin (about 32 days).
// At 100 calls/min for /v1/corp/meetings (1095/52492) that is at most ten minutes.
const DefaultMaxEndedPages = 1000

// endedMargin widens the ended-meeting query around the listing span: a meeting starts before its
// recording does and is listed by its own start.
const endedMargin = 24 * time.Hour

// endedIndex returns the ended meetings of the span being listed, fetching them on first use. A
// failure is logged and leaves the index empty: meeting details are optional enrichment, and the
// fallbacks still apply.
func (r *run) endedIndex(ctx context.Context, op string) *endedIndex {
	key := op + "\x00" + r.span[0].String() + "\x00" + r.span[1].String()
	if ix := r.ended[key]; ix != nil {
		return ix
	}
	l := r.l
	ix := &endedIndex{byMeeting: map[string][]EndedMeeting{}}
	r.ended[key] = ix
	q := EndedMeetingsQuery{Operator: op, Start: r.span[0].Add(-endedMargin), End: r.span[1].Add(time.Hour)}
	seen := map[string]bool{}
	for page := 1; ; page++ {
		if page > l.cfg.MaxEndedPages {
			// Not an error (the fallbacks apply), but never silent: a recurring meeting listed beyond the
			// cap is read without its sub_meeting_id unless /v1/meetings/{id} still answers for it.
			l.logger(ctx).LogAttrs(ctx, slog.LevelWarn, "ended-meeting listing stopped at its page cap; later meetings fall back to /v1/meetings/{id}",
				slog.String("path", l.endedPath()), slog.String("operator", op), slog.Int("pages", l.cfg.MaxEndedPages),
				slog.Int("meetings", len(seen)))
			return ix
		}
		q.Page = page
		var p *EndedMeetingsPage
		var err error
		err = l.again(ctx, l.endedPath(), func() (err error) {
			if l.cfg.Mode == ModeCorp {
				p, err = l.c.CorpMeetings(ctx, q)
			} else {
				p, err = l.c.HistoryMeetings(ctx, q)
			}
			return err
		})
		if err != nil {
			if ctx.Err() == nil {
				l.logger(ctx).LogAttrs(ctx, slog.LevelWarn, "ended meetings not listed; asking /v1/meetings per meeting",
					slog.String("operator", op), slog.String("error", err.Error()))
			}
			return ix
		}
		fresh := 0
		for _, m := range p.Meetings {
			k := m.MeetingID + "\x00" + m.SubMeetingID + "\x00" + m.Start.String()
			if seen[k] {
				continue
			}
			seen[k] = true
			fresh++
			ix.byMeeting[m.MeetingID] = append(ix.byMeeting[m.MeetingID], m)
		}
		if page >= p.TotalPage || len(p.Meetings) < endedPageSize || fresh == 0 {
			return ix
		}
	}
}

// matchSlack is how far a recording's media start may lie outside its occurrence's media-room span.
const matchSlack = 5 * time.Minute

// match picks the ended occurrence of meeting id that a recording starting at t belongs to: the one
// whose span holds t, else the one starting nearest to t.
func (ix *endedIndex) match(id string, t time.Time) (EndedMeeting, bool) {
	list := ix.byMeeting[id]
	if len(list) == 0 {
		return EndedMeeting{}, false
	}
	best, bestD := -1, time.Duration(math.MaxInt64)
	for i, m := range list {
		if !t.Before(m.Start.Add(-matchSlack)) && (m.End.IsZero() || !t.After(m.End.Add(matchSlack))) {
			return m, true
		}
		d := t.Sub(m.Start)
		if d < 0 {
			d = -d
		}
		if d < bestD {
			best, bestD = i, d
		}
	}
	return list[best], true
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
		var info *MeetingInfo
		err := l.again(ctx, "/v1/meetings/{id}", func() (err error) {
			info, err = l.c.Meeting(ctx, id, op)
			return err
		})
		if err != nil {
			return nil, err
		}
		if info == nil {
			// Ended and no longer answered: not an error (1095/42418); nothing to cache.
			meetings[id] = &lookup{fetched: l.cfg.Now(), stored: true}
			return nil, nil
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
func (d *Recording) Fields() (map[string]any, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	f := make(map[string]any, len(raw))
	for k, v := range raw {
		f[k] = v
	}
	return f, nil
}
