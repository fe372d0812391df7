package tencent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"meetpipe/steps/tencent/emulator"
)

// sink is a Sink that keeps what a source reports.
type sink struct {
	mu       sync.Mutex
	order    []string
	items    map[string]*item
	notReady map[string]notReady
	stuck    map[string]notReady
}

type notReady struct {
	hint   json.RawMessage
	reason string
}

func newSink() *sink {
	return &sink{items: map[string]*item{}, notReady: map[string]notReady{}, stuck: map[string]notReady{}}
}

// Stuck records an item left pending for a problem (Sink.Stuck).
func (s *sink) Stuck(id string, hint any, reason string) {
	b, _ := json.Marshal(hint)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stuck[id] = notReady{b, reason}
}

func (s *sink) Emit(_ context.Context, id string, f map[string]any) error {
	it, err := newItem(id, f)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.items[id]; dup {
		return fmt.Errorf("item %s emitted twice", id)
	}
	s.order = append(s.order, id)
	s.items[id] = it
	return nil
}

func (s *sink) NotReady(id string, hint any, reason string) {
	b, _ := json.Marshal(hint)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notReady[id] = notReady{b, reason}
}

// recording decodes an emitted item field by field, as later steps will.
func (s *sink) recording(t *testing.T, id string) Recording {
	t.Helper()
	it := s.items[id]
	if it == nil {
		t.Fatalf("item %s not emitted (emitted: %v, not ready: %v)", id, s.order, s.notReady)
	}
	want := []string{"creator_userid", "duration_min", "end", "files", "host_userid", "id", "meeting_code", "meeting_id", "needs_review", "participants",
		"review_reason", "start", "state", "student_ids", "subject", "teacher_id"}
	if got := it.Names(); !slices.Equal(got, want) {
		t.Fatalf("item fields %v, want %v", got, want)
	}
	var r Recording
	for _, f := range []struct {
		name string
		v    any
	}{{"id", &r.ID}, {"meeting_id", &r.MeetingID}, {"meeting_code", &r.MeetingCode}, {"subject", &r.Subject},
		{"host_userid", &r.HostUserID}, {"creator_userid", &r.CreatorUserID}, {"start", &r.Start}, {"end", &r.End}, {"duration_min", &r.DurationMin},
		{"state", &r.State}, {"files", &r.Files}, {"participants", &r.Participants}, {"teacher_id", &r.TeacherID},
		{"student_ids", &r.StudentIDs}, {"needs_review", &r.NeedsReview}, {"review_reason", &r.ReviewReason}} {
		if err := it.Get(f.name, f.v); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func newLister(t *testing.T, c *Client, cfg ListerConfig) *Lister {
	t.Helper()
	cfg.Logger = quiet
	if cfg.Backoff == 0 {
		cfg.Backoff, cfg.MaxBackoff = time.Millisecond, 4*time.Millisecond // fast listing retries
	}
	if cfg.Mode == "" {
		cfg.Mode, cfg.Operator = ModeCorp, "admin"
	}
	if cfg.RecordType == 0 {
		cfg.RecordType = 1
	}
	l, err := NewLister(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var day = Window{Since: base.Add(-time.Hour), Until: base.Add(23 * time.Hour)}

func TestListDay(t *testing.T) {
	for _, quirks := range []bool{false, true} {
		t.Run(fmt.Sprintf("quirks=%v", quirks), func(t *testing.T) {
			s, c := newEnv(t, emulator.Options{Quirks: quirks})
			out := newSink()
			var secrets []string
			l := newLister(t, c, ListerConfig{Secret: func(v string) { secrets = append(secrets, v) }})
			if err := l.List(context.Background(), day, out); err != nil {
				t.Fatal(err)
			}
			if n := s.Count(emulator.EndpointAddresses); n != 0 {
				t.Errorf("listing made %d address calls; addresses are resolved on demand", n)
			}
			if want := []string{"1964787070499246080", "rec-sales", "rec-weekly-2"}; !slices.Equal(out.order, want) {
				t.Errorf("emitted %v, want %v", out.order, want)
			}
			r := out.recording(t, "1964787070499246080")
			want := Recording{
				ID: "1964787070499246080", MeetingID: "1739626437650178888", MeetingCode: "118280844", Subject: "简历优化 1v1",
				HostUserID: "teacher_wang", CreatorUserID: "teacher_wang", Start: base.Add(123 * time.Millisecond), End: base.Add(time.Hour), DurationMin: 60, State: 3,
				Files: []File{
					{FileID: "1964787070499246081", Start: base.Add(4 * time.Second), End: base.Add(30 * time.Minute), Size: 40_000},
					{FileID: "1964787070499246082", Start: base.Add(31 * time.Minute), End: base.Add(time.Hour), Size: 30_000},
				},
				Participants: []Participant{
					{UserID: "teacher_wang", UUID: "WMteacher", Name: "王老师", Role: 3, Join: base, Left: base.Add(time.Hour), Seconds: 3600},
					{UserID: "assistant_he", UUID: "WMhe", Name: "何助教", Role: 6, Join: base, Left: base.Add(time.Hour), Seconds: 3600},
					{UUID: "WMabc123", Name: "李同学", Join: base.Add(time.Minute), Left: base.Add(59 * time.Minute), Seconds: (19 + 34) * 60},
					{UserID: "stu_zhang", UUID: "WMzhang", Name: "张同学", Join: base.Add(2 * time.Minute), Left: base.Add(50 * time.Minute), Seconds: 48 * 60},
				},
				TeacherID:  "teacher_wang",
				StudentIDs: []string{"name:李同学", "stu_zhang"},
			}
			// A uuid is valid for one meeting only: the emulator serves a per-meeting one, never the fixture's.
			for i := range r.Participants {
				if got := r.Participants[i].UUID; got == "" || got == want.Participants[i].UUID {
					t.Errorf("participant %d uuid %q: want a per-meeting uuid", i, got)
				}
				r.Participants[i].UUID, want.Participants[i].UUID = "", ""
			}
			if raw := string(out.items[r.ID].Raw("files")); strings.Contains(raw, "url") {
				t.Errorf("files carry addresses: %s", raw)
			}
			if !reflect.DeepEqual(r, want) {
				t.Errorf("recording\n got %+v\nwant %+v", r, want)
			}
			if r.Start.Location() != time.UTC {
				t.Errorf("start %v is not UTC", r.Start)
			}
			// Resolve fetches the addresses, which serve the right files.
			f, err := l.Resolve(context.Background(), out.items[r.ID])
			if err != nil {
				t.Fatal(err)
			}
			urls := downloadURLs(t, f)
			if len(urls) != len(want.Files) || s.Count(emulator.EndpointAddresses) != 1 {
				t.Fatalf("resolved %d addresses with %d calls, want %d with 1", len(urls), s.Count(emulator.EndpointAddresses), len(want.Files))
			}
			for i, file := range want.Files {
				u := urls[file.FileID]
				if !slices.Contains(secrets, u) {
					t.Errorf("address of file %d not registered as a secret", i)
				}
				resp, err := http.Get(u)
				if err != nil {
					t.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || n != want.Files[i].Size {
					t.Errorf("file %d: HTTP %d, %d bytes, want %d", i, resp.StatusCode, n, want.Files[i].Size)
				}
			}
			if len(out.notReady) != 2 || !strings.Contains(out.notReady["rec-recording"].reason, "recording") ||
				!strings.Contains(out.notReady["rec-transcoding"].reason, "transcoding") {
				t.Errorf("not ready: %v", out.notReady)
			}
			// Ended meetings are not answered by /v1/meetings/{id} (1095/42418): one page of the window's
			// ended meetings serves all three.
			if n, m := s.Count(emulator.EndpointCorpMeetings), s.Count(emulator.EndpointMeeting); n != 1 || m != 0 {
				t.Errorf("%d ended-meeting pages and %d meeting lookups, want 1 and 0", n, m)
			}
		})
	}
}

func TestListRecurringMeetingUsesSubMeeting(t *testing.T) {
	s, c := newEnv(t, emulator.Options{})
	out := newSink()
	if err := newLister(t, c, ListerConfig{}).List(context.Background(), day, out); err != nil {
		t.Fatal(err)
	}
	r := out.recording(t, "rec-weekly-2")
	if !slices.Equal(r.StudentIDs, []string{"stu_new"}) {
		t.Errorf("students %v, want only stu_new of sub-meeting 2", r.StudentIDs)
	}
	found := false
	for _, req := range s.Requests(emulator.EndpointParticipants) {
		found = found || strings.Contains(req.URI, "sub_meeting_id=sub-2")
	}
	if !found {
		t.Error("participants of the recurring meeting were not asked with sub_meeting_id=sub-2")
	}
}

func TestListTeacherFilterAndModes(t *testing.T) {
	t.Run("corp mode restricted to teachers", func(t *testing.T) {
		s, c := newEnv(t, emulator.Options{})
		out := newSink()
		l := newLister(t, c, ListerConfig{Teachers: []string{"teacher_wang", "teacher_li"}})
		if err := l.List(context.Background(), day, out); err != nil {
			t.Fatal(err)
		}
		// The sales meeting has no participant with a host role and a creator off the whitelist: it is
		// passed on flagged for review, not dropped and not credited to anyone.
		if !slices.Equal(out.order, []string{"1964787070499246080", "rec-sales", "rec-weekly-2"}) {
			t.Errorf("emitted %v", out.order)
		}
		if r := out.recording(t, "rec-sales"); !r.NeedsReview || r.TeacherID != "" || r.HostUserID != "" || !strings.Contains(r.ReviewReason, "sales_zhao") {
			t.Errorf("unhosted recording: %+v", r)
		}
		if s.Count(emulator.EndpointCorpRecords) != 1 || s.Count(emulator.EndpointRecords) != 0 {
			t.Errorf("corp %d records %d requests", s.Count(emulator.EndpointCorpRecords), s.Count(emulator.EndpointRecords))
		}
		// The listing names the creator, so the host (and whether a teacher holds the session) is known
		// only after the participants are read: the sales meeting costs its participants call too.
	})
	t.Run("per teacher", func(t *testing.T) {
		s, c := newEnv(t, emulator.Options{})
		out := newSink()
		l := newLister(t, c, ListerConfig{Mode: ModePerTeacher, Teachers: []string{"teacher_wang", "teacher_li"}})
		if err := l.List(context.Background(), day, out); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(out.order, []string{"1964787070499246080", "rec-weekly-2"}) || len(out.notReady) != 2 {
			t.Errorf("emitted %v, not ready %v", out.order, out.notReady)
		}
		var ops []string
		for _, req := range s.Requests(emulator.EndpointRecords) {
			_, rest, _ := strings.Cut(req.URI, "operator_id=")
			op, _, _ := strings.Cut(rest, "&")
			ops = append(ops, op)
		}
		if !slices.Equal(ops, []string{"teacher_wang", "teacher_li"}) || s.Count(emulator.EndpointCorpRecords) != 0 {
			t.Errorf("operators %v, want each teacher once and no corp listing", ops)
		}
		// The teacher is the operator for the follow-up calls too, addresses included.
		if _, err := l.Resolve(context.Background(), out.items["1964787070499246080"]); err != nil {
			t.Fatal(err)
		}
		for _, ep := range []string{emulator.EndpointParticipants, emulator.EndpointAddresses} {
			for _, req := range s.Requests(ep) {
				if !strings.Contains(req.URI, "operator_id=teacher_wang") {
					t.Errorf("%s asked as another operator: %s", ep, req.URI)
				}
			}
		}
	})
	t.Run("custom students rule", func(t *testing.T) {
		_, c := newEnv(t, emulator.Options{})
		out := newSink()
		l := newLister(t, c, ListerConfig{Students: func(p Participant, teacher, creator string) (bool, error) {
			return p.UserID != creator && p.Seconds >= 50*60, nil
		}})
		if err := l.List(context.Background(), day, out); err != nil {
			t.Fatal(err)
		}
		if got := out.recording(t, "1964787070499246080").StudentIDs; !slices.Equal(got, []string{"assistant_he", "name:李同学"}) {
			t.Errorf("students %v", got)
		}
	})
	// Corp mode with participants skipped: the listing names only the creator, so nobody is known to
	// have hosted. The creator is never stored as host; it is the teacher only when whitelisted.
	t.Run("participants skipped", func(t *testing.T) {
		s, c := newEnv(t, emulator.Options{})
		out := newSink()
		if err := newLister(t, c, ListerConfig{SkipParticipants: true, Whitelist: []string{"teacher_wang"}}).List(context.Background(), day, out); err != nil {
			t.Fatal(err)
		}
		r := out.recording(t, "1964787070499246080")
		if len(r.Participants) != 0 || r.TeacherID != "teacher_wang" || r.HostUserID != "" || r.NeedsReview || s.Count(emulator.EndpointParticipants) != 0 {
			t.Errorf("participants %v teacher %q host %q review %v, %d calls", r.Participants, r.TeacherID, r.HostUserID, r.NeedsReview, s.Count(emulator.EndpointParticipants))
		}
		for _, id := range out.order {
			if r := out.recording(t, id); r.HostUserID != "" || (r.TeacherID == "") != r.NeedsReview {
				t.Errorf("%s: host %q teacher %q review %v", id, r.HostUserID, r.TeacherID, r.NeedsReview)
			}
		}
		if r := out.recording(t, "rec-sales"); !r.NeedsReview || r.TeacherID != "" || !strings.Contains(r.ReviewReason, `"sales_zhao" is not a whitelisted teacher`) {
			t.Errorf("a non-whitelisted creator: %+v", r)
		}
	})
}

// manyFixture holds n finished recordings spread evenly over span from start, alternating two teachers,
// plus one recording exactly on each 31-day boundary.
func manyFixture(start time.Time, span time.Duration, n int) (*emulator.Fixture, []string) {
	fx := &emulator.Fixture{Admins: []string{"admin"}}
	var ids []string
	add := func(i int, at time.Time) {
		id := fmt.Sprintf("rec-%03d", i)
		host := []string{"teacher_wang", "teacher_li"}[i%2]
		fx.Meetings = append(fx.Meetings, emulator.Meeting{
			MeetingID: fmt.Sprintf("9%018d", i), MeetingCode: fmt.Sprintf("%09d", i), Subject: "session", Host: host,
			Start: at, End: at.Add(time.Hour),
			Participants: []emulator.Person{{UserID: host, UUID: "U" + host, Name: host, Role: 3, Sessions: []emulator.Session{{Join: at, Left: at.Add(time.Hour)}}}},
			Records: []emulator.Record{{ID: id, Start: at, State: 3, Files: []emulator.File{
				{ID: id + "-f1", Start: at, End: at.Add(30 * time.Minute), Size: 10},
				{ID: id + "-f2", Start: at.Add(30 * time.Minute), End: at.Add(time.Hour), Size: 10},
			}}},
		})
		ids = append(ids, id)
	}
	for i := range n {
		add(i, start.Add(time.Duration(i)*span/time.Duration(n)+time.Minute))
	}
	for i, b := 0, start.Add(MaxWindow); b.Before(start.Add(span)); i, b = i+1, b.Add(MaxWindow) {
		add(900+i, b)
	}
	slices.Sort(ids)
	return fx, ids
}

func TestListAcrossPagesAndWindows(t *testing.T) {
	const span = 70 * 24 * time.Hour
	start := base.Truncate(24 * time.Hour)
	fx, ids := manyFixture(start, span, 57)
	s, c := newEnv(t, emulator.Options{Fixture: fx})
	out := newSink()
	l := newLister(t, c, ListerConfig{SkipParticipants: true})
	if err := l.List(context.Background(), Window{Since: start, Until: start.Add(span)}, out); err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(slices.Values(out.order))
	if !slices.Equal(got, ids) {
		t.Fatalf("emitted %d recordings, want %d (each once)\n got %v\nwant %v", len(got), len(ids), got, ids)
	}
	// Three spans (31 + 31 + 8 days); each listed page by page; the boundary recordings are in two spans.
	spans := SplitWindow(start, start.Add(span))
	if len(spans) != 3 || spans[0][1] != start.Add(MaxWindow) || spans[2][1] != start.Add(span) {
		t.Fatalf("spans %v", spans)
	}
	wantPages := 0
	for _, sp := range spans {
		n := 0
		for _, m := range fx.Meetings {
			if at := m.Records[0].Start; !at.Before(sp[0]) && !at.After(sp[1]) {
				n++
			}
		}
		wantPages += max(1, (n+19)/20)
	}
	if got := s.Count(emulator.EndpointCorpRecords); got != wantPages || wantPages < 5 {
		t.Errorf("%d listing requests, want %d", got, wantPages)
	}
	for _, req := range s.Requests(emulator.EndpointCorpRecords) {
		if !strings.Contains(req.URI, "page_size=20") {
			t.Errorf("page size not 20: %s", req.URI)
		}
	}
	// Files keep their order.
	r := out.recording(t, "rec-010")
	if len(r.Files) != 2 || r.Files[0].FileID != "rec-010-f1" || r.Files[1].FileID != "rec-010-f2" {
		t.Errorf("files %+v", r.Files)
	}

	t.Run("max pages", func(t *testing.T) {
		_, c := newEnv(t, emulator.Options{Fixture: fx})
		l := newLister(t, c, ListerConfig{SkipParticipants: true, MaxPages: 1})
		err := l.List(context.Background(), Window{Since: start, Until: start.Add(span)}, newSink())
		if kind, _ := kindOf(err); err == nil || kind != kindPermanent || !strings.Contains(err.Error(), "max_pages") {
			t.Fatalf("got %v, want a permanent max_pages error", err)
		}
	})
}

func TestNotReadyThenPendingRecheck(t *testing.T) {
	s, c := newEnv(t, emulator.Options{})
	l := newLister(t, c, ListerConfig{Whitelist: []string{"teacher_li"}})
	first := newSink()
	if err := l.List(context.Background(), day, first); err != nil {
		t.Fatal(err)
	}
	if _, ok := first.items["rec-transcoding"]; ok {
		t.Fatal("a transcoding recording was emitted")
	}
	nr, ok := first.notReady["rec-transcoding"]
	if !ok {
		t.Fatalf("not ready: %v", first.notReady)
	}
	var h hint
	if err := json.Unmarshal(nr.hint, &h); err != nil || h.MediaStartMs != base.Add(2*time.Hour+time.Minute).UnixMilli() || h.Creator != "teacher_li" {
		t.Fatalf("hint %s: want the media start and creator", nr.hint)
	}

	// Transcoding finishes; a later run's window has moved on, the pending list brings it back.
	if err := s.SetState("rec-transcoding", 3); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRecord("rec-sales"); err != nil {
		t.Fatal(err)
	}
	s.Reset()
	later := Window{Since: base.Add(40 * 24 * time.Hour), Until: base.Add(41 * 24 * time.Hour), Pending: []Pending{
		{ID: "rec-transcoding", Hint: nr.hint},
		{ID: "rec-recording", Hint: first.notReady["rec-recording"].hint},
		{ID: "rec-sales", Hint: json.RawMessage(fmt.Sprintf(`{"media_start_ms":%d}`, base.Add(4*time.Hour).UnixMilli()))},
		{ID: "no-hint", Hint: json.RawMessage(`{}`)},
	}}
	second := newSink()
	if err := l.List(context.Background(), later, second); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(second.order, []string{"rec-transcoding"}) {
		t.Fatalf("emitted %v, want rec-transcoding", second.order)
	}
	r := second.recording(t, "rec-transcoding")
	if len(r.Files) != 1 || r.Files[0].FileID != "file-transcoded" || !slices.Equal(r.StudentIDs, []string{"stu_sun"}) || r.TeacherID != "teacher_li" {
		t.Errorf("recording %+v", r)
	}
	if got := second.notReady["rec-recording"].reason; !strings.Contains(got, "recording") {
		t.Errorf("still-recording entry: %q", got)
	}
	if got := second.notReady["rec-sales"].reason; !strings.Contains(got, "not listed") {
		t.Errorf("deleted entry: %q", got)
	}
	if _, ok := second.notReady["no-hint"]; ok {
		t.Error("an entry without a hint was re-reported")
	}
	// One listing for the window, one for the pending recordings (the two nearby ones and rec-sales, two
	// hours later, fit in one listing window).
	if got := s.Count(emulator.EndpointCorpRecords); got != 2 {
		t.Errorf("%d listing requests, want 2", got)
	}
}

// pendingAt is a pending entry for recording i of manyFixture(start, span, n), as a re-check finds it.
func pendingAt(start time.Time, span time.Duration, n, i int) Pending {
	at := start.Add(time.Duration(i)*span/time.Duration(n) + time.Minute)
	return Pending{ID: fmt.Sprintf("rec-%03d", i), Hint: json.RawMessage(fmt.Sprintf(`{"media_start_ms":%d}`, at.UnixMilli()))}
}

// Pending recordings days apart cost one /v1/corp/records call (10 a minute) for all those one listing
// window (31 days) holds, not one each.
func TestPendingRecheckBatchesCorpListings(t *testing.T) {
	const span = 70 * 24 * time.Hour
	start := base.Truncate(24 * time.Hour)
	fx, _ := manyFixture(start, span, 57) // a recording every 29.5 hours: 13 to 14 in 16 days
	s, c := newEnv(t, emulator.Options{Fixture: fx})
	l := newLister(t, c, ListerConfig{SkipParticipants: true})
	// Five pending recordings over 16 days, one 50 days later; the window has nothing.
	var pending []Pending
	var want []string
	for _, i := range []int{2, 5, 8, 11, 15, 55} {
		pending = append(pending, pendingAt(start, span, 57, i))
		want = append(want, fmt.Sprintf("rec-%03d", i))
	}
	out := newSink()
	w := Window{Since: start.Add(100 * 24 * time.Hour), Until: start.Add(101 * 24 * time.Hour), Pending: pending}
	if err := l.List(context.Background(), w, out); err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(slices.Values(out.order)); !slices.Equal(got, want) {
		t.Fatalf("emitted %v, want the pending %v only", got, want)
	}
	// The window, the five together (one page), the one 50 days later.
	reqs := s.Requests(emulator.EndpointCorpRecords)
	if len(reqs) != 3 {
		for _, r := range reqs {
			t.Log(r.URI)
		}
		t.Fatalf("%d /v1/corp/records calls for the window and 6 pending recordings, want 3", len(reqs))
	}

	t.Run("busy stretch", func(t *testing.T) {
		// 100 recordings in 20 days: the stretch between two pending recordings at its ends is 5 pages,
		// more than listing their two spans. Its first page finds the first; the second's span is listed alone.
		const span = 20 * 24 * time.Hour
		fx, _ := manyFixture(start, span, 100)
		s, c := newEnv(t, emulator.Options{Fixture: fx})
		l := newLister(t, c, ListerConfig{SkipParticipants: true})
		out := newSink()
		w := Window{Since: start.Add(100 * 24 * time.Hour), Until: start.Add(101 * 24 * time.Hour),
			Pending: []Pending{pendingAt(start, span, 100, 3), pendingAt(start, span, 100, 96)}}
		if err := l.List(context.Background(), w, out); err != nil {
			t.Fatal(err)
		}
		if got := slices.Sorted(slices.Values(out.order)); !slices.Equal(got, []string{"rec-003", "rec-096"}) {
			t.Fatalf("emitted %v, want rec-003 and rec-096", got)
		}
		reqs := s.Requests(emulator.EndpointCorpRecords)
		if len(reqs) != 3 || !strings.Contains(reqs[1].URI, "page=1&") || strings.Contains(reqs[2].URI, "page=2&") {
			for _, r := range reqs {
				t.Log(r.URI)
			}
			t.Fatalf("%d /v1/corp/records calls, want 3: the window, the stretch's first page, the second span", len(reqs))
		}
	})
}

func TestHintFromItem(t *testing.T) {
	_, c := newEnv(t, emulator.Options{})
	l := newLister(t, c, ListerConfig{Mode: ModePerTeacher, Teachers: []string{"teacher_li"}})
	it, _ := newItem("x", map[string]any{"start": base, "host_userid": "teacher_li", "meeting_id": "m"})
	b, _ := json.Marshal(l.Hint(it))
	var h hint
	json.Unmarshal(b, &h)
	if h != (hint{MediaStartMs: base.UnixMilli(), Host: "teacher_li", MeetingID: "m", Operator: "teacher_li"}) {
		t.Errorf("hint %+v", h)
	}
}

func TestListSurvivesFaults(t *testing.T) {
	want := newSink()
	_, c := newEnv(t, emulator.Options{})
	if err := newLister(t, c, ListerConfig{}).List(context.Background(), day, want); err != nil {
		t.Fatal(err)
	}
	s, c := newEnv(t, emulator.Options{FaultRate: 0.3, Seed: 7})
	got := newSink()
	if err := newLister(t, c, ListerConfig{Retries: 10}).List(context.Background(), day, got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.order, want.order) || len(got.notReady) != len(want.notReady) {
		t.Fatalf("with faults emitted %v / not ready %d, want %v / %d", got.order, len(got.notReady), want.order, len(want.notReady))
	}
	for _, id := range want.order {
		a, b := got.recording(t, id), want.recording(t, id)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s differs under faults", id)
		}
	}
	faults := 0
	for _, ep := range []string{emulator.EndpointCorpRecords, emulator.EndpointAddresses, emulator.EndpointParticipants, emulator.EndpointMeeting} {
		faults += s.Errors(ep)
	}
	if faults == 0 {
		t.Error("no fault was injected")
	}
}

func TestListEnrichmentFailureLeavesPending(t *testing.T) {
	s, c := newEnv(t, emulator.Options{})
	s.FailNext(emulator.EndpointParticipants, 1, emulator.ErrorFault(400, CodeNoPermission, "no permission"))
	out := newSink()
	// The listing goes on; the recording is left pending for a problem (the engine fails the run).
	if err := newLister(t, c, ListerConfig{}).List(context.Background(), day, out); err != nil {
		t.Fatal(err)
	}
	if _, ok := out.items["1964787070499246080"]; ok {
		t.Error("the recording whose participants failed was emitted")
	}
	if nr := out.stuck["1964787070499246080"]; !strings.Contains(nr.reason, "permission") || !strings.Contains(nr.reason, "permanent") {
		t.Errorf("not left pending with the reason: stuck %v, not ready %v", out.stuck, out.notReady)
	}
	if len(out.order) != 2 {
		t.Errorf("the other recordings were not emitted: %v", out.order)
	}
}

func TestListFailsWhenListingFails(t *testing.T) {
	s, c := newEnv(t, emulator.Options{})
	s.FailNext(emulator.EndpointCorpRecords, 5, emulator.Fault{Kind: emulator.FaultGateway})
	err := newLister(t, c, ListerConfig{Retries: 1}).List(context.Background(), day, newSink())
	if kind, _ := kindOf(err); err == nil || kind != kindTransient {
		t.Fatalf("got %v, want a transient error", err)
	}
	if n := s.Count(emulator.EndpointCorpRecords); n != 2 {
		t.Errorf("%d listing requests, want 2 (retries 1)", n)
	}
}

func TestNewListerChecksConfig(t *testing.T) {
	_, c := newEnv(t, emulator.Options{})
	for _, cfg := range []ListerConfig{{Mode: ModeCorp}, {Mode: ModePerTeacher}, {Mode: "both", Operator: "a"}} {
		if _, err := NewLister(c, cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}
