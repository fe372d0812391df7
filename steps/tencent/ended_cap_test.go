package tencent

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"meetpipe/steps/tencent/emulator"
)

// The default cap of the ended-meeting listing covers a 31-day span (plus its margin) of an enterprise
// with 10,000 meetings a month.
func TestEndedPagesCoverTenThousandMeetings(t *testing.T) {
	span := MaxWindow + endedMargin + time.Hour
	meetings := 10000 * span.Hours() / (31 * 24)
	if float64(DefaultMaxEndedPages*endedPageSize) < meetings {
		t.Errorf("%d pages of %d hold fewer than the %.0f meetings of a span", DefaultMaxEndedPages, endedPageSize, meetings)
	}
}

// A listing that reaches the cap says so in the log instead of stopping without a word.
func TestEndedListingLogsItsCap(t *testing.T) {
	fx := &emulator.Fixture{Admins: []string{"admin"}}
	for i := range 45 {
		at := base.Add(time.Duration(i) * 10 * time.Minute)
		id := fmt.Sprintf("rec-%02d", i)
		fx.Meetings = append(fx.Meetings, emulator.Meeting{MeetingID: fmt.Sprintf("90000000000000001%02d", i), MeetingCode: "1", Subject: "s",
			Host: "teacher_wang", Start: at, End: at.Add(5 * time.Minute),
			Participants: []emulator.Person{{UserID: "teacher_wang", UUID: "u", Name: "t", Role: 3, Sessions: []emulator.Session{{Join: at, Left: at.Add(5 * time.Minute)}}}},
			Records:      []emulator.Record{{ID: id, Start: at, State: 3, Files: []emulator.File{{ID: id + "-f", Start: at, End: at.Add(5 * time.Minute), Size: 1}}}}})
	}
	for _, cap := range []int{2, 0} {
		s, c := newEnv(t, emulator.Options{Fixture: fx})
		var logs bytes.Buffer
		l := newLister(t, c, ListerConfig{MaxEndedPages: cap})
		l.log = slog.New(slog.NewTextHandler(&logs, nil))
		out := newSink()
		if err := l.List(context.Background(), Window{Since: base.Add(-time.Hour), Until: base.Add(9 * time.Hour)}, out); err != nil {
			t.Fatal(err)
		}
		capped := strings.Contains(logs.String(), "ended-meeting listing stopped at its page cap")
		if cap == 2 && (!capped || s.Count(emulator.EndpointCorpMeetings) != 2) {
			t.Errorf("cap 2: %d pages, log:\n%s", s.Count(emulator.EndpointCorpMeetings), logs.String())
		}
		if cap == 0 && (capped || s.Count(emulator.EndpointCorpMeetings) != 3) {
			t.Errorf("default cap: %d pages, log:\n%s", s.Count(emulator.EndpointCorpMeetings), logs.String())
		}
		if len(out.order) != 45 {
			t.Errorf("cap %d: %d recordings emitted, want 45", cap, len(out.order))
		}
	}
}
