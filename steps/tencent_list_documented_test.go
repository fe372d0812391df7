package steps

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"meetpipe/runner"
	"meetpipe/runner/step"
	"meetpipe/steps/tencent"
	"meetpipe/steps/tencent/emulator"
)

// documentedFixture is an enterprise as Tencent documents it: every meeting has ended (so
// /v1/meetings/{id} no longer answers them), an assistant created one meeting for a teacher, a guest
// student comes back to a second meeting (with another uuid there, and her name typed in full width),
// and a weekly meeting has two recorded occurrences whose attendees differ.
func documentedFixture() *emulator.Fixture {
	day := func(d int, m int) time.Time {
		return tencentBase.Add(time.Duration(d)*24*time.Hour + time.Duration(m)*time.Minute)
	}
	sess := func(d, from, to int, sub string) []emulator.Session {
		return []emulator.Session{{Join: day(d, from), Left: day(d, to), SubMeetingID: sub}}
	}
	rec := func(id string, d int) emulator.Record {
		return emulator.Record{ID: id, Start: day(d, 0), State: 3, Files: []emulator.File{{ID: id + "-f", Start: day(d, 0), End: day(d, 60), Size: 100}}}
	}
	return &emulator.Fixture{
		Admins: []string{"admin"},
		Meetings: []emulator.Meeting{
			{
				MeetingID: "9000000000000000001", MeetingCode: "900000001", Subject: "简历优化", Host: "teacher_001",
				Creator: "assistant_he", Start: day(0, 0), End: day(0, 60),
				Participants: []emulator.Person{
					{UserID: "assistant_he", UUID: "u-he", Name: "何助教", Role: 1, Sessions: sess(0, 0, 5, "")},
					{UserID: "teacher_001", UUID: "u-t1", Name: "周老师", Role: 2, Sessions: sess(0, 0, 60, "")},
					{UUID: "g-li-1", Name: "李 同学", Role: 0, Sessions: sess(0, 2, 58, "")},
				},
				Records: []emulator.Record{rec("rec-assist", 0)},
			},
			{
				MeetingID: "9000000000000000002", MeetingCode: "900000002", Subject: "项目深挖", Host: "teacher_001",
				Start: day(1, 0), End: day(1, 60),
				Participants: []emulator.Person{
					{UserID: "teacher_001", UUID: "u-t1", Name: "周老师", Role: 3, Sessions: sess(1, 0, 60, "")},
					{UUID: "g-li-2", Name: "　李　同学 ", Role: 0, Sessions: sess(1, 1, 50, "")},
				},
				Records: []emulator.Record{rec("rec-again", 1)},
			},
			{
				MeetingID: "9000000000000000003", MeetingCode: "900000003", Subject: "每周面试模拟", Host: "teacher_002",
				Recurring: true, Start: day(0, 0), End: day(7, 60),
				SubMeetings: []emulator.SubMeeting{{ID: "sub-1", Start: day(0, 0), End: day(0, 60)}, {ID: "sub-2", Start: day(7, 0), End: day(7, 60)}},
				Participants: []emulator.Person{
					{UserID: "teacher_002", UUID: "u-t2", Name: "吴老师", Role: 3, Sessions: append(sess(0, 0, 60, "sub-1"), sess(7, 0, 60, "sub-2")...)},
					{UserID: "stu_week1", UUID: "u-w1", Name: "第一周", Role: 0, Sessions: sess(0, 3, 50, "sub-1")},
					{UserID: "stu_week2", UUID: "u-w2", Name: "第二周", Role: 0, Sessions: sess(7, 3, 50, "sub-2")},
				},
				Records: []emulator.Record{rec("rec-week-1", 0), rec("rec-week-2", 7)},
			},
		},
	}
}

// captured is what a test step saw of each item.
type captured struct {
	mu    sync.Mutex
	items map[string]map[string]json.RawMessage
}

// captureRegistry is Builtins plus a step that records the fields tencent_list wrote.
func captureRegistry(c *captured) *step.Registry {
	reg := step.Builtins.Clone()
	fields := []string{"host_userid", "creator_userid", "teacher_id", "student_ids", "participants"}
	reg.Register(step.Define(step.Spec{Name: "test_capture", Version: "1", Reads: fields}, struct{}{},
		func(struct{}, *step.Build) (any, error) {
			return stepFunc(func(_ context.Context, in *step.Item) (step.Fields, error) {
				m := map[string]json.RawMessage{}
				for _, f := range fields {
					m[f] = in.Raw(f)
				}
				c.mu.Lock()
				c.items[in.ID()] = m
				c.mu.Unlock()
				return nil, nil
			}), nil
		}))
	return reg
}

type stepFunc func(context.Context, *step.Item) (step.Fields, error)

func (f stepFunc) Process(ctx context.Context, in *step.Item) (step.Fields, error) {
	return f(ctx, in)
}

// runDocumented runs tencent_list (with the given extra settings) and the capture step over the
// fixture's two weeks.
func runDocumented(t *testing.T, s *emulator.Server, state, with string, c *captured) (*step.Summary, error) {
	t.Helper()
	src := tencentPipeline("documented", state, s, "      retries: 1\n"+with) + `
  - uses: test_capture
`
	p, err := runner.LoadBytes("documented.yaml", []byte(src), runner.LoadOptions{Env: map[string]string{}, Registry: captureRegistry(c)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	return p.Run(context.Background(), runner.RunOptions{Logger: slog.New(slog.DiscardHandler),
		Since: tencentBase.Add(-time.Hour), Until: tencentBase.Add(9 * 24 * time.Hour)})
}

func field[T any](t *testing.T, c *captured, id, name string) T {
	t.Helper()
	var v T
	raw := c.items[id][name]
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("item %s field %s %s: %v (items: %v)", id, name, raw, err, c.items)
	}
	return v
}

// Against the emulator in its documented mode: ended meetings (no /v1/meetings/{id} answer), recurring
// occurrences matched by start time, creator ≠ host, a guest in two meetings with two uuids.
func TestTencentListAsDocumented(t *testing.T) {
	t.Parallel() // its own servers and files
	s := emulator.New(emulator.Options{Fixture: documentedFixture(), SecretID: "AKID_x", SecretKey: "SK_x", AppID: "corp-1"})
	t.Cleanup(s.Close)

	t.Run("corp mode", func(t *testing.T) {
		s.Reset()
		c := &captured{items: map[string]map[string]json.RawMessage{}}
		sum, err := runDocumented(t, s, t.TempDir(), "      operator_id: admin", c)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Done != 4 || sum.NotReady != 0 || sum.Stuck != 0 {
			t.Fatalf("summary %+v: want all 4 recordings done", sum)
		}
		// The assistant created it; the teacher hosted it and is its teacher; the assistant is staff.
		if h, cr := field[string](t, c, "rec-assist", "host_userid"), field[string](t, c, "rec-assist", "creator_userid"); h != "teacher_001" || cr != "assistant_he" {
			t.Errorf("host %q creator %q, want teacher_001 and assistant_he", h, cr)
		}
		if got := field[[]string](t, c, "rec-assist", "student_ids"); !slices.Equal(got, []string{"name:李 同学"}) {
			t.Errorf("students of the assistant's meeting %v", got)
		}
		// The returning guest has another uuid in the second meeting but the same id.
		p1 := field[[]tencent.Participant](t, c, "rec-assist", "participants")
		p2 := field[[]tencent.Participant](t, c, "rec-again", "participants")
		u1, u2 := p1[len(p1)-1].UUID, p2[len(p2)-1].UUID
		if u1 == "" || u1 == u2 {
			t.Errorf("guest uuids %q and %q: want one per meeting", u1, u2)
		}
		if got := field[[]string](t, c, "rec-again", "student_ids"); !slices.Equal(got, []string{"name:李 同学"}) {
			t.Errorf("the returning guest is %v, want name:李 同学 again", got)
		}
		// Each weekly recording gets its own occurrence's attendees.
		if a, b := field[[]string](t, c, "rec-week-1", "student_ids"), field[[]string](t, c, "rec-week-2", "student_ids"); !slices.Equal(a, []string{"stu_week1"}) || !slices.Equal(b, []string{"stu_week2"}) {
			t.Errorf("weekly students %v and %v", a, b)
		}
		subs := map[string]bool{}
		for _, r := range s.Requests(emulator.EndpointParticipants) {
			if i := strings.Index(r.URI, "sub_meeting_id="); i >= 0 {
				subs[strings.SplitN(r.URI[i+len("sub_meeting_id="):], "&", 2)[0]] = true
			}
		}
		if !subs["sub-1"] || !subs["sub-2"] {
			t.Errorf("participants asked for sub-meetings %v, want sub-1 and sub-2", subs)
		}
		if n := s.Count(emulator.EndpointCorpMeetings); n != 1 {
			t.Errorf("%d ended-meeting pages, want 1 for the window", n)
		}
	})

	t.Run("per teacher: /v1/records lists a meeting for its creator only", func(t *testing.T) {
		s.Reset()
		c := &captured{items: map[string]map[string]json.RawMessage{}}
		sum, err := runDocumented(t, s, t.TempDir(), "      mode: per_teacher\n      teachers: teacher_001,teacher_002", c)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := c.items["rec-assist"]; ok || sum.Done != 3 {
			t.Errorf("the assistant's meeting was listed for the teacher (done %d)", sum.Done)
		}
		if s.Count(emulator.EndpointHistory) == 0 || s.Count(emulator.EndpointMeeting) != 0 {
			t.Errorf("history %d, meeting %d calls: want the ended meetings from /v1/history/meetings", s.Count(emulator.EndpointHistory), s.Count(emulator.EndpointMeeting))
		}
		c = &captured{items: map[string]map[string]json.RawMessage{}}
		if _, err := runDocumented(t, s, t.TempDir(), "      mode: per_teacher\n      teachers: teacher_001,teacher_002,assistant_he", c); err != nil {
			t.Fatal(err)
		}
		if h := field[string](t, c, "rec-assist", "host_userid"); h != "teacher_001" {
			t.Errorf("with the assistant as an operator the meeting is listed under %q, want its host", h)
		}
	})

	t.Run("participants failing for good: exit 1 naming the recording, kept pending", func(t *testing.T) {
		s.Reset()
		s.FailNext(emulator.EndpointParticipants, 1, emulator.ErrorFault(400, tencent.CodeNoPermission, "no permission"))
		state := t.TempDir()
		c := &captured{items: map[string]map[string]json.RawMessage{}}
		sum, err := runDocumented(t, s, state, "      operator_id: admin", c)
		if err == nil || sum == nil || sum.Stuck != 1 || sum.Done != 3 {
			t.Fatalf("summary %+v, err %v: want 3 done, 1 stuck and an error", sum, err)
		}
		if !strings.Contains(err.Error(), "rec-assist") && !strings.Contains(err.Error(), "rec-week-1") {
			t.Errorf("error does not name the recording: %v", err)
		}
		if !strings.Contains(err.Error(), "permission") {
			t.Errorf("error does not give the reason: %v", err)
		}
		b, _ := os.ReadFile(filepath.Join(state, "pending.json"))
		if !bytes.Contains(b, []byte(`"problem": true`)) && !bytes.Contains(b, []byte(`"problem":true`)) {
			t.Errorf("pending.json does not keep the stuck recording as a problem: %s", b)
		}
		// The next run reads it and stores it.
		c = &captured{items: map[string]map[string]json.RawMessage{}}
		sum, err = runDocumented(t, s, state, "      operator_id: admin", c)
		if err != nil || sum.Stuck != 0 {
			t.Fatalf("rerun: %+v %v", sum, err)
		}
	})
}
