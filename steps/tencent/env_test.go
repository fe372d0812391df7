package tencent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"testing"
	"time"

	"meetpipe/steps/tencent/emulator"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// base is well over 90 days in the past, so that participants are found only when the client sends a
// join-time window (the service's default is recent joins only).
var base = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

// newEnv starts an emulator and a client for it with no client-side rate limits.
func newEnv(t *testing.T, o emulator.Options, tweak ...func(*Config)) (*emulator.Server, *Client) {
	t.Helper()
	if o.Fixture == nil {
		o.Fixture = coachingFixture()
	}
	s := emulator.New(o)
	t.Cleanup(s.Close)
	cfg := Config{
		BaseURL: s.URL(), SecretID: emulator.DefaultSecretID, SecretKey: emulator.DefaultSecretKey,
		EnterpriseID:      emulator.DefaultAppID,
		RequestsPerSecond: -1, CorpRecordsPerMinute: -1, Timeout: 5 * time.Second, Logger: quiet,
	}
	for _, f := range tweak {
		f(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return s, c
}

func session(from, to time.Duration) emulator.Session {
	return emulator.Session{Join: base.Add(from), Left: base.Add(to)}
}

// coachingFixture is one day of a coaching enterprise: a finished session with two files, rejoins and
// an external student; a recording still running and one transcoding; a meeting of a non-teacher; and a
// recurring meeting.
func coachingFixture() *emulator.Fixture {
	return &emulator.Fixture{
		Admins: []string{"admin"},
		Meetings: []emulator.Meeting{
			{
				MeetingID: "1739626437650178888", MeetingCode: "118280844", Subject: "简历优化 1v1", Host: "teacher_wang",
				Start: base, End: base.Add(time.Hour),
				Participants: []emulator.Person{
					{UserID: "teacher_wang", UUID: "WMteacher", Name: "王老师", Role: 3, Sessions: []emulator.Session{session(0, time.Hour)}},
					{UUID: "WMabc123", Name: "李同学", Role: 0, InstanceID: 4, Sessions: []emulator.Session{
						session(time.Minute, 20*time.Minute), session(25*time.Minute, 59*time.Minute)}},
					{UserID: "stu_zhang", UUID: "WMzhang", Name: "张同学", Role: 0, Sessions: []emulator.Session{
						session(2*time.Minute, 50*time.Minute), session(10*time.Minute, 30*time.Minute)}}, // two devices
					{UserID: "assistant_he", UUID: "WMhe", Name: "何助教", Role: 6, Sessions: []emulator.Session{session(0, time.Hour)}},
				},
				Records: []emulator.Record{{ID: "1964787070499246080", Start: base.Add(123 * time.Millisecond), State: 3, Files: []emulator.File{
					{ID: "1964787070499246081", Start: base.Add(4 * time.Second), End: base.Add(30 * time.Minute), Size: 40_000},
					{ID: "1964787070499246082", Start: base.Add(31 * time.Minute), End: base.Add(60 * time.Minute), Size: 30_000},
				}}},
			},
			{
				MeetingID: "1739626437650179000", MeetingCode: "118280845", Subject: "项目深挖", Host: "teacher_li",
				Start: base.Add(2 * time.Hour), End: base.Add(3 * time.Hour),
				Participants: []emulator.Person{
					{UserID: "teacher_li", UUID: "WMli", Name: "李老师", Role: 1, Sessions: []emulator.Session{session(2*time.Hour, 3*time.Hour)}},
					{UserID: "stu_sun", UUID: "WMsun", Name: "孙同学", Role: 0, Sessions: []emulator.Session{session(2*time.Hour, 3*time.Hour)}},
				},
				Records: []emulator.Record{
					{ID: "rec-recording", Start: base.Add(2 * time.Hour), State: 1},
					{ID: "rec-transcoding", Start: base.Add(2*time.Hour + time.Minute), State: 2, Files: []emulator.File{
						{ID: "file-transcoded", Start: base.Add(2 * time.Hour), End: base.Add(3 * time.Hour), Size: 1000}}},
				},
			},
			{
				MeetingID: "1739626437650179111", MeetingCode: "118280846", Subject: "销售周会", Host: "sales_zhao",
				Start: base.Add(4 * time.Hour), End: base.Add(5 * time.Hour),
				Records: []emulator.Record{{ID: "rec-sales", Start: base.Add(4 * time.Hour), State: 3, Files: []emulator.File{
					{ID: "file-sales", Start: base.Add(4 * time.Hour), End: base.Add(5 * time.Hour), Size: 10}}}},
			},
			{
				MeetingID: "1739626437650179222", MeetingCode: "118280847", Subject: "每周面试模拟", Host: "teacher_wang", Recurring: true,
				Start: base.Add(-7 * 24 * time.Hour), End: base.Add(30 * 24 * time.Hour),
				SubMeetings: []emulator.SubMeeting{
					{ID: "sub-1", Start: base.Add(-7*24*time.Hour + 6*time.Hour), End: base.Add(-7*24*time.Hour + 7*time.Hour)},
					{ID: "sub-2", Start: base.Add(6 * time.Hour), End: base.Add(7 * time.Hour)},
				},
				Participants: []emulator.Person{
					{UserID: "teacher_wang", UUID: "WMteacher2", Name: "王老师", Role: 3, Sessions: []emulator.Session{
						{Join: base.Add(-7*24*time.Hour + 6*time.Hour), Left: base.Add(-7*24*time.Hour + 7*time.Hour), SubMeetingID: "sub-1"},
						{Join: base.Add(6 * time.Hour), Left: base.Add(7 * time.Hour), SubMeetingID: "sub-2"}}},
					{UserID: "stu_old", UUID: "WMold", Name: "旧同学", Sessions: []emulator.Session{
						{Join: base.Add(-7*24*time.Hour + 6*time.Hour), Left: base.Add(-7*24*time.Hour + 7*time.Hour), SubMeetingID: "sub-1"}}},
					{UserID: "stu_new", UUID: "WMnew", Name: "新同学", Sessions: []emulator.Session{
						{Join: base.Add(6 * time.Hour), Left: base.Add(7 * time.Hour), SubMeetingID: "sub-2"}}},
				},
				Records: []emulator.Record{{ID: "rec-weekly-2", Start: base.Add(6 * time.Hour), State: 3, Files: []emulator.File{
					{ID: "file-weekly-2", Start: base.Add(6 * time.Hour), End: base.Add(7 * time.Hour), Size: 10}}}},
			},
		},
	}
}

// item is an item as the engine keeps it, fields as JSON: what Resolve and Hint read, and what Emit's
// fields become.
type item struct {
	id string
	f  map[string]json.RawMessage
}

func newItem(id string, f map[string]any) (*item, error) {
	it := &item{id: id, f: map[string]json.RawMessage{}}
	for k, v := range f {
		b, ok := v.(json.RawMessage)
		if !ok {
			var err error
			if b, err = json.Marshal(v); err != nil {
				return nil, fmt.Errorf("field %s: %w", k, err)
			}
		}
		it.f[k] = b
	}
	return it, nil
}

func (it *item) ID() string           { return it.id }
func (it *item) Has(name string) bool { _, ok := it.f[name]; return ok }
func (it *item) Names() []string      { return slices.Sorted(maps.Keys(it.f)) }
func (it *item) Get(name string, v any) error {
	raw, ok := it.f[name]
	if !ok {
		return fmt.Errorf("item %s has no field %q", it.id, name)
	}
	return json.Unmarshal(raw, v)
}

// slot is a limiter of one concurrent request, as the engine's limiter: with concurrency 1.
type slot struct{ ch chan struct{} }

func newSlot() *slot { return &slot{ch: make(chan struct{}, 1)} }

func (s *slot) Acquire(ctx context.Context) (func(), error) {
	select {
	case s.ch <- struct{}{}:
		return func() { <-s.ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
func (s *slot) Hold(time.Duration) {}

func (it *item) Raw(name string) json.RawMessage { return it.f[name] }
