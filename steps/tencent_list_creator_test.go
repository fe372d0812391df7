package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"meetpipe/runner"
	"meetpipe/runner/step"
	"meetpipe/steps/steptest"
	"meetpipe/steps/tencent"
	"meetpipe/steps/tencent/emulator"
)

// An assistant (a listing operator) creates a meeting that teacher_001 hosts. Its first download fails;
// a later run, whose window no longer covers it, finds it through the pending list and stores it. The
// re-check, the addresses and the participants are asked as its creator: /v1/records lists a meeting for
// its creator only (1095/51189) and /v1/addresses refuses its host with 9042 (1095/51174).
func TestAssistantMeetingFailedDownloadStoredByLaterRun(t *testing.T) {
	t.Parallel() // its own servers and files
	s := emulator.New(emulator.Options{Fixture: documentedFixture(), SecretID: "AKID_x", SecretKey: "SK_x", AppID: "corp-1"})
	t.Cleanup(s.Close)
	state := t.TempDir()
	src := tencentPipeline("assist", state, s, "      mode: per_teacher\n      teachers: teacher_001,assistant_he\n      retries: -1\n") + `
  - uses: aria2_download
    with: { connections: 1, max_tries: 1 }
`
	run := func(since, until time.Time) (*step.Summary, error) {
		t.Helper()
		p, err := runner.LoadBytes("assist.yaml", []byte(src), runner.LoadOptions{Env: map[string]string{}})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		return p.Run(context.Background(), runner.RunOptions{Logger: slog.New(slog.DiscardHandler), Since: since, Until: until})
	}

	// First run: only rec-assist is in the window (day 0); every media request fails for good.
	s.FailNext(emulator.EndpointMedia, 50, emulator.Fault{Kind: emulator.FaultExpired})
	sum, err := run(tencentBase.Add(-time.Hour), tencentBase.Add(2*time.Hour))
	if err == nil || sum == nil || sum.Done != 0 || sum.Failed+sum.Deferred != 1 {
		t.Fatalf("first run: %+v, %v: want rec-assist failed", sum, err)
	}

	// A week later: the window holds only rec-week-2's day, which neither operator created.
	s.Reset()
	sum, err = run(tencentBase.Add(7*24*time.Hour-time.Hour), tencentBase.Add(7*24*time.Hour+2*time.Hour))
	if err != nil || sum.Done != 1 || sum.Steps["aria2_download"] != 1 {
		t.Fatalf("later run: %+v, %v: want rec-assist found again and downloaded", sum, err)
	}
	for _, ep := range []string{emulator.EndpointRecords, emulator.EndpointAddresses, emulator.EndpointParticipants} {
		for _, r := range s.Requests(ep) {
			if strings.Contains(r.URI, "operator_id=teacher_001") && ep != emulator.EndpointRecords {
				t.Errorf("%s asked as the host: %s", ep, r.URI)
			}
			if r.Code != 0 {
				t.Errorf("%s answered %d: %s", ep, r.Code, r.URI)
			}
		}
	}
	var asCreator bool
	for _, r := range s.Requests(emulator.EndpointRecords) {
		asCreator = asCreator || strings.Contains(r.URI, "operator_id=assistant_he")
	}
	if !asCreator {
		t.Error("the re-check did not list as the meeting's creator")
	}
}

// The emulator answers /v1/addresses as documented: the creator and an admin read them, the host gets
// 9042 (权限受限或鉴权失败, 1095/43704).
func TestEmulatorAddressesOnlyForCreatorOrAdmin(t *testing.T) {
	s := emulator.New(emulator.Options{Fixture: documentedFixture(), SecretID: "AKID_x", SecretKey: "SK_x", AppID: "corp-1"})
	t.Cleanup(s.Close)
	c, err := tencent.NewClient(tencent.Config{BaseURL: s.URL(), SecretID: "AKID_x", SecretKey: "SK_x", EnterpriseID: "corp-1",
		RequestsPerSecond: -1, CorpRecordsPerMinute: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for op, want := range map[string]int64{"assistant_he": 0, "admin": 0, "teacher_001": 9042} {
		_, err := c.Addresses(context.Background(), "rec-assist", op)
		var ae *tencent.APIError
		switch {
		case want == 0 && err != nil:
			t.Errorf("%s: %v", op, err)
		case want != 0 && (!asAPIError(err, &ae) || !ae.HasCode(want)):
			t.Errorf("%s: %v, want %d", op, err, want)
		case want != 0 && !strings.Contains(fmt.Sprint(err), "权限受限或鉴权失败"):
			t.Errorf("%s: %v: want the documented text", op, err)
		}
	}
}

func asAPIError(err error, ae **tencent.APIError) bool { return errors.As(err, ae) }

// `runner doctor` through the step: the whitelist (TEACHER_WHITELIST, typed with a full-width comma) is
// looked up at Tencent and the unknown userid is named.
func TestTencentListDoctorNamesUnknownTeacher(t *testing.T) {
	s := emulator.New(emulator.Options{Fixture: documentedFixture(), SecretID: "AKID_x", SecretKey: "SK_x", AppID: "corp-1"})
	t.Cleanup(s.Close)
	src := fmt.Sprintf("secret_id: AKID_x\nsecret_key: SK_x\nenterprise_id: corp-1\nbase_url: %s\nrequests_per_second: 1000\n"+
		"corp_records_per_minute: 10000\nmode: corp\noperator_id: admin\nwhitelist: 'teacher_001， teacher_0O2'\n", s.URL())
	impl, _ := steptest.Build(t, "tencent_list", src)
	fs := impl.(step.Checker).Check(context.Background(), step.CheckOptions{})
	var got step.Finding
	for _, f := range fs {
		if f.Subject == "teacher whitelist" {
			got = f
		}
	}
	if got.Status != "fail" || !strings.Contains(got.Detail, `"teacher_0O2"`) || strings.Contains(got.Detail, `"teacher_001"`) {
		t.Errorf("whitelist finding %+v (all: %+v): want teacher_0O2 named, teacher_001 not", got, fs)
	}
	if n := s.Count(emulator.EndpointUser); n != 2 {
		t.Errorf("%d user look-ups, want 2", n)
	}
}

// Corp mode with participants skipped, through the engine: the corp listing names only the creator, so
// no recording gets its creator as host; a whitelisted creator is the teacher, another is nobody's.
func TestCorpSkipParticipantsNeverStoresCreatorAsHost(t *testing.T) {
	s := emulator.New(emulator.Options{Fixture: documentedFixture(), SecretID: "AKID_x", SecretKey: "SK_x", AppID: "corp-1"})
	t.Cleanup(s.Close)
	c := &captured{items: map[string]map[string]json.RawMessage{}}
	sum, err := runDocumented(t, s, t.TempDir(), "      operator_id: admin\n      participants: false\n      whitelist: teacher_002", c)
	if err != nil || sum.Done != 4 {
		t.Fatalf("summary %+v, %v", sum, err)
	}
	for id := range c.items {
		if h := field[string](t, c, id, "host_userid"); h != "" {
			t.Errorf("%s: host %q, want none (nothing says who hosted)", id, h)
		}
	}
	if got := field[string](t, c, "rec-week-1", "teacher_id"); got != "teacher_002" {
		t.Errorf("whitelisted creator's recording: teacher %q", got)
	}
	if got := field[string](t, c, "rec-assist", "teacher_id"); got != "" {
		t.Errorf("the assistant's recording was credited to %q", got)
	}
	if s.Count(emulator.EndpointParticipants) != 0 {
		t.Errorf("%d participant calls with participants: false", s.Count(emulator.EndpointParticipants))
	}
}
