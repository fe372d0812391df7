package tencent

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"testing"
	"time"

	"meetpipe/steps/tencent/emulator"
	"meetpipe/steps/tencent/webhook"
)

// pushedOf reads what the emulator would push for a record, through the receiver's own parser.
func pushedOf(t *testing.T, s *emulator.Server, record string) Pushed {
	t.Helper()
	ev, err := s.RecordingEvent(webhook.RecordingCompleted, record)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(ev)
	pe, err := webhook.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	m := pe.Payload[0].Meeting
	return Pushed{MeetingID: m.MeetingID, Creator: m.CreatorUserID, Start: m.Start, End: m.End, FileIDs: pe.RecordFileIDs()}
}

func TestLocateThenListTargeted(t *testing.T) {
	const rec = "1964787070499246080"
	t.Run("per teacher: /v1/records?meeting_id as the creator", func(t *testing.T) {
		s, c := newEnv(t, emulator.Options{})
		l := newLister(t, c, ListerConfig{Mode: ModePerTeacher, Teachers: []string{"teacher_wang", "teacher_li"}})
		ts, err := l.Locate(context.Background(), pushedOf(t, s, rec))
		if err != nil {
			t.Fatal(err)
		}
		if len(ts) != 1 || ts[0].ID != rec {
			t.Fatalf("targets %+v, want %s", ts, rec)
		}
		reqs := s.Requests(emulator.EndpointRecords)
		if len(reqs) != 1 {
			t.Fatalf("%d /v1/records calls", len(reqs))
		}
		u, _ := url.Parse(reqs[0].URI)
		if q := u.Query(); q.Get("meeting_id") != "1739626437650178888" || q.Get("operator_id") != "teacher_wang" {
			t.Fatalf("lookup %s: want meeting_id and the creator as operator", reqs[0].URI)
		}
		// The engine then lists the target alone.
		out := newSink()
		w := Window{Since: time.Now().Add(-time.Hour), Until: time.Now(), Targeted: true, Pending: []Pending{{ID: ts[0].ID, Hint: ts[0].Hint}}}
		if err := l.List(context.Background(), w, out); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(out.order, []string{rec}) {
			t.Fatalf("targeted listing emitted %v, want only %s", out.order, rec)
		}
	})
	t.Run("corp: the admin's listing when the creator is unknown", func(t *testing.T) {
		s, c := newEnv(t, emulator.Options{})
		l := newLister(t, c, ListerConfig{})
		p := pushedOf(t, s, rec)
		p.Creator = ""
		ts, err := l.Locate(context.Background(), p)
		if err != nil || len(ts) != 1 || ts[0].ID != rec {
			t.Fatalf("targets %+v, %v", ts, err)
		}
		if s.Count(emulator.EndpointCorpRecords) != 1 || s.Count(emulator.EndpointRecords) != 0 {
			t.Fatalf("corp %d, records %d calls", s.Count(emulator.EndpointCorpRecords), s.Count(emulator.EndpointRecords))
		}
	})
	t.Run("corp: the targeted listing spends no corp call", func(t *testing.T) {
		s, c := newEnv(t, emulator.Options{})
		l := newLister(t, c, ListerConfig{})
		ts, err := l.Locate(context.Background(), pushedOf(t, s, rec))
		if err != nil || len(ts) != 1 {
			t.Fatalf("targets %+v, %v", ts, err)
		}
		out := newSink()
		w := Window{Targeted: true, Pending: []Pending{{ID: ts[0].ID, Hint: ts[0].Hint}}}
		if err := l.List(context.Background(), w, out); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(out.order, []string{rec}) || s.Count(emulator.EndpointCorpRecords) != 0 {
			t.Fatalf("emitted %v with %d corp listings; want %s through /v1/records alone (10/min on corp)", out.order, s.Count(emulator.EndpointCorpRecords), rec)
		}
		if r := out.recording(t, rec); r.CreatorUserID != "teacher_wang" || r.HostUserID != "teacher_wang" {
			t.Fatalf("creator %q host %q", r.CreatorUserID, r.HostUserID)
		}
	})
	t.Run("another file id finds nothing", func(t *testing.T) {
		s, c := newEnv(t, emulator.Options{})
		l := newLister(t, c, ListerConfig{})
		p := pushedOf(t, s, rec)
		p.FileIDs = []string{"no-such-file"}
		if ts, err := l.Locate(context.Background(), p); err != nil || len(ts) != 0 {
			t.Fatalf("targets %+v, %v; want none", ts, err)
		}
	})
}

func TestSTSRequestAndHeader(t *testing.T) {
	token := ""
	s, c := newEnv(t, emulator.Options{}, func(cfg *Config) { cfg.STSToken = func() string { return token } })
	if _, err := c.RequestSTSToken(context.Background(), "teacher_wang", 24); err == nil {
		t.Fatal("a non-admin operator got an STS token")
	} else if te := (*Error)(nil); !errors.As(err, &te) || te.kind != kindPermanent {
		t.Fatalf("non-admin: %v, want a permanent error", err)
	}
	id, err := c.RequestSTSToken(context.Background(), "admin", 24)
	if err != nil || id == "" || s.STSRequests() != 1 {
		t.Fatalf("STS request: id %q, %v, %d issued", id, err, s.STSRequests())
	}
	// The header goes on data-sensitive paths only, and only when a token is stored.
	token = "sts_abc"
	noop := func([]byte) error { return nil }
	c.Get(context.Background(), "/v1/addresses/1234", url.Values{}, noop)                                             //nolint:errcheck // only the header matters
	c.Get(context.Background(), "/v1/records", url.Values{"operator_id": {"admin"}, "operator_id_type": {"1"}}, noop) //nolint:errcheck // idem
	for _, r := range s.Requests("") {
		got := r.Header.Get("STS-Token")
		switch r.URI[:len("/v1/addresses/")] {
		case "/v1/addresses/":
			if got != "sts_abc" {
				t.Errorf("%s: STS-Token %q, want the stored token", r.URI, got)
			}
		default:
			if got != "" {
				t.Errorf("%s: STS-Token sent on a call that does not need it", r.URI)
			}
		}
	}
}
