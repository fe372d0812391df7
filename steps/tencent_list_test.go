package steps

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"meetpipe/runner"
	"meetpipe/runner/step"
	"meetpipe/steps/steptest"
	"meetpipe/steps/tencent"
	"meetpipe/steps/tencent/emulator"
)

var tencentBase = time.Date(2025, 5, 6, 9, 0, 0, 0, time.UTC)

func tencentFixture() *emulator.Fixture {
	at := func(m int) time.Time { return tencentBase.Add(time.Duration(m) * time.Minute) }
	meeting := func(id, host string, people []emulator.Person, state int) emulator.Meeting {
		return emulator.Meeting{
			MeetingID: "17396264376501" + id, MeetingCode: "1182" + id, Subject: "模拟面试 " + id, Host: host,
			Start: at(0), End: at(60), Participants: people,
			Records: []emulator.Record{{ID: "rec-" + id, Start: at(0), State: state, Files: []emulator.File{
				{ID: "file-" + id + "-a", Start: at(0), End: at(30), Size: 100},
				{ID: "file-" + id + "-b", Start: at(30), End: at(60), Size: 200},
			}}},
		}
	}
	person := func(userid, uuid, name string, role, from, to int) emulator.Person {
		return emulator.Person{UserID: userid, UUID: uuid, Name: name, Role: role, Sessions: []emulator.Session{{Join: at(from), Left: at(to)}}}
	}
	return &emulator.Fixture{
		Admins: []string{"admin"},
		Meetings: []emulator.Meeting{
			meeting("00001", "teacher_001", []emulator.Person{
				person("teacher_001", "u-t1", "周老师", 3, 0, 60),
				person("", "u-ext", "外部同学", 0, 5, 58),
				person("stu_brief", "u-b", "来去匆匆", 0, 10, 12),
			}, 3),
			meeting("00002", "teacher_002", []emulator.Person{person("teacher_002", "u-t2", "吴老师", 3, 0, 60)}, 2),
			meeting("00003", "someone_else", nil, 3),
		},
	}
}

type tencentSink struct {
	items    map[string]*step.Item
	order    []string
	notReady map[string]string
}

func (s *tencentSink) Emit(_ context.Context, id string, f step.Fields) error {
	it, err := step.NewItem(id, f)
	if err != nil {
		return err
	}
	s.items[id] = it
	s.order = append(s.order, id)
	return nil
}

func (s *tencentSink) NotReady(id string, _ any, reason string) { s.notReady[id] = reason }

func TestTencentListSpec(t *testing.T) {
	def, ok := step.Builtins.Lookup("tencent_list")
	if !ok {
		t.Fatal("tencent_list is not registered")
	}
	sp := def.Spec
	if !sp.Source || sp.SideEffects || !slices.Equal(sp.Volatile, []string{"download_urls", "audio_urls"}) || !slices.Equal(sp.Lazy, []string{"download_urls", "audio_urls"}) {
		t.Errorf("source %v side effects %v volatile %v lazy %v", sp.Source, sp.SideEffects, sp.Volatile, sp.Lazy)
	}
	var names []string
	for _, w := range sp.Writes {
		names = append(names, w.Name)
	}
	want := []string{"id", "meeting_id", "meeting_code", "subject", "host_userid", "creator_userid", "start", "end", "duration_min", "state",
		"files", "participants", "teacher_id", "needs_review", "review_reason", "student_ids", "download_urls", "audio_urls"}
	if !slices.Equal(names, want) {
		t.Errorf("writes %v, want %v", names, want)
	}
	// Every written field's sample is the type its JSON decodes back into.
	doc := tencent.Recording{}
	rt := reflect.TypeOf(doc)
	for _, w := range sp.Writes {
		for i := range rt.NumField() {
			if tag, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ","); tag == w.Name && rt.Field(i).Type != reflect.TypeOf(w.Sample) {
				t.Errorf("field %s: sample %T, item type %s", w.Name, w.Sample, rt.Field(i).Type)
			}
		}
	}
	if w := sp.Writes[len(sp.Writes)-1]; reflect.TypeOf(w.Sample) != reflect.TypeOf(map[string]string{}) || w.Doc == "" {
		t.Errorf("download_urls: sample %T, doc %q", w.Sample, w.Doc)
	}
	secret := map[string]bool{}
	defaults := map[string]any{}
	for _, s := range sp.Settings {
		secret[s.Name] = s.Secret
		defaults[s.Name] = s.Default
	}
	if fmt.Sprint(defaults["cache"]) != "true" || fmt.Sprint(defaults["participants_cache_after"]) != "2h0m0s" {
		t.Errorf("cache defaults: cache %v, participants_cache_after %v", defaults["cache"], defaults["participants_cache_after"])
	}
	if !secret["secret_id"] || !secret["secret_key"] || secret["enterprise_id"] {
		t.Errorf("secret settings: %v", secret)
	}
}

func TestTencentListThroughDefinition(t *testing.T) {
	s := emulator.New(emulator.Options{Fixture: tencentFixture(), SecretID: "AKID_x", SecretKey: "SK_x", AppID: "corp-1"})
	t.Cleanup(s.Close)
	window := step.Window{Since: tencentBase.Add(-time.Hour), Until: tencentBase.Add(time.Hour)}
	tests := []struct {
		name        string
		with        string
		emitted     []string
		students    []string
		notReady    []string
		participant bool
	}{
		{
			name: "per teacher, whitelist as a JSON array, default students rule",
			with: `mode: per_teacher
teachers: '["teacher_001","teacher_002"]'`,
			emitted: []string{"rec-00001"}, students: []string{"name:外部同学", "stu_brief"}, notReady: []string{"rec-00002"},
		},
		{
			name: "corp, comma-separated whitelist, custom students rule",
			with: `mode: corp
operator_id: admin
teachers: teacher_001, teacher_002
students: p.seconds >= 600 && p.userid != teacher_id && host_userid == "teacher_001"`,
			// rec-00003 has no participant with a host role and a creator off the whitelist: passed on
			// flagged needs_review rather than dropped unseen.
			emitted: []string{"rec-00001", "rec-00003"}, students: []string{"name:外部同学"}, notReady: []string{"rec-00002"},
		},
		{
			name:    "corp, everyone",
			with:    "mode: corp\noperator_id: admin",
			emitted: []string{"rec-00001", "rec-00003"}, students: []string{"name:外部同学", "stu_brief"}, notReady: []string{"rec-00002"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := fmt.Sprintf("secret_id: AKID_x\nsecret_key: SK_x\nenterprise_id: corp-1\nbase_url: %s\nbackoff: 1ms\nrequests_per_second: 1000\ncorp_records_per_minute: 10000\n%s\n", s.URL(), tt.with)
			impl, cfg := steptest.Build(t, "tencent_list", src)
			if c := fmt.Sprintf("%+v", cfg); strings.Contains(c, "SK_x") || strings.Contains(c, "AKID_x") {
				t.Errorf("effective config keeps secrets: %s", c)
			}
			src0, ok := impl.(step.Source)
			if !ok {
				t.Fatalf("%T is not a runner.Source", impl)
			}
			if _, ok := impl.(step.Hinter); !ok {
				t.Errorf("%T does not give hints for pending items", impl)
			}
			out := &tencentSink{items: map[string]*step.Item{}, notReady: map[string]string{}}
			if err := src0.List(context.Background(), window, out); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(out.order, tt.emitted) {
				t.Fatalf("emitted %v, want %v (not ready %v)", out.order, tt.emitted, out.notReady)
			}
			if got := slices.Sorted(func(y func(string) bool) {
				for k := range out.notReady {
					y(k)
				}
			}); !slices.Equal(got, tt.notReady) {
				t.Errorf("not ready %v, want %v", got, tt.notReady)
			}
			var students []string
			var files []tencent.File
			it := out.items["rec-00001"]
			if err := it.Get("student_ids", &students); err != nil {
				t.Fatal(err)
			}
			if err := it.Get("files", &files); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(students, tt.students) {
				t.Errorf("students %v, want %v", students, tt.students)
			}
			if len(files) != 2 || files[0].FileID != "file-00001-a" {
				t.Errorf("files %+v", files)
			}
			// The download addresses are resolved on demand.
			res, ok := impl.(step.Resolver)
			if !ok {
				t.Fatalf("%T cannot resolve download_urls", impl)
			}
			f, err := res.Resolve(context.Background(), it)
			if err != nil {
				t.Fatal(err)
			}
			lazy, _ := step.NewItem("x", f)
			var urls map[string]string
			if err := lazy.Get("download_urls", &urls); err != nil || len(urls) != 2 || !strings.HasPrefix(urls["file-00001-b"], s.URL()+"/media/") {
				t.Errorf("download_urls %v (%v)", urls, err)
			}
			var dur int
			var start time.Time
			it.Get("duration_min", &dur)
			it.Get("start", &start)
			if dur != 60 || !start.Equal(tencentBase) {
				t.Errorf("duration %d start %v", dur, start)
			}
		})
	}
}

// A rerun of the same window asks only for the listing pages; a dry run reads the cache but never writes
// it; cache: false always asks.
func TestTencentListCache(t *testing.T) {
	s := emulator.New(emulator.Options{Fixture: tencentFixture(), SecretID: "AKID_x", SecretKey: "SK_x", AppID: "corp-1"})
	t.Cleanup(s.Close)
	window := step.Window{Since: tencentBase.Add(-time.Hour), Until: tencentBase.Add(time.Hour)}
	follow := func() int {
		return s.Count(emulator.EndpointAddresses) + s.Count(emulator.EndpointParticipants) + s.Count(emulator.EndpointMeeting)
	}
	list := func(t *testing.T, state string, dry bool, with string) *tencentSink {
		t.Helper()
		src := fmt.Sprintf("secret_id: AKID_x\nsecret_key: SK_x\nenterprise_id: corp-1\nbase_url: %s\nbackoff: 1ms\nrequests_per_second: 1000\ncorp_records_per_minute: 10000\noperator_id: admin\n%s", s.URL(), with)
		impl, _ := steptest.BuildWith(t, "tencent_list", src, steptest.Options{StateDir: state, DryRun: dry})
		out := &tencentSink{items: map[string]*step.Item{}, notReady: map[string]string{}}
		if err := impl.(step.Source).List(context.Background(), window, out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	digest := func(dir string) string {
		var b strings.Builder
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil {
				info, _ := d.Info()
				data, _ := os.ReadFile(p)
				fmt.Fprintf(&b, "%s %s %x\n", p, info.ModTime(), data)
			}
			return nil
		})
		return b.String()
	}

	state := t.TempDir()
	t.Run("dry run on a cold cache writes nothing", func(t *testing.T) {
		list(t, state, true, "")
		if entries, err := os.ReadDir(state); err != nil || len(entries) != 0 {
			t.Fatalf("a dry run wrote into state_dir: %v %v", entries, err)
		}
	})
	t.Run("rerun costs only the listing", func(t *testing.T) {
		first := list(t, state, false, "")
		if _, err := os.Stat(filepath.Join(state, "tencent-cache")); err != nil {
			t.Fatal(err)
		}
		s.Reset()
		second := list(t, state, false, "")
		if n := follow(); n != 0 || s.Count(emulator.EndpointCorpRecords) != 1 {
			t.Errorf("rerun made %d follow-up calls and %d listing pages; want 0 and 1", n, s.Count(emulator.EndpointCorpRecords))
		}
		if !slices.Equal(first.order, second.order) {
			t.Fatalf("emitted %v then %v", first.order, second.order)
		}
		for _, id := range first.order {
			for _, f := range []string{"participants", "student_ids", "teacher_id", "files"} {
				if a, b := string(first.items[id].Raw(f)), string(second.items[id].Raw(f)); a != b {
					t.Errorf("%s %s: %s from the API, %s from the cache", id, f, a, b)
				}
			}
		}
	})
	t.Run("dry run on a warm cache reads it and changes nothing", func(t *testing.T) {
		before := digest(state)
		s.Reset()
		list(t, state, true, "")
		if n := follow(); n != 0 {
			t.Errorf("%d follow-up calls", n)
		}
		if digest(state) != before {
			t.Error("the dry run changed state_dir")
		}
	})
	t.Run("cache: false", func(t *testing.T) {
		s.Reset()
		list(t, state, false, "cache: false")
		if s.Count(emulator.EndpointParticipants) != 2 {
			t.Errorf("%d participants calls, want 2 (the cache is off)", s.Count(emulator.EndpointParticipants))
		}
	})
	t.Run("participants_cache_after", func(t *testing.T) {
		fresh := t.TempDir()
		age := time.Since(tencentBase.Add(time.Hour)) + time.Hour // longer than the recordings' age
		list(t, fresh, false, fmt.Sprintf("participants_cache_after: %s", age.Round(time.Hour)))
		if _, err := os.Stat(filepath.Join(fresh, "tencent-cache")); !os.IsNotExist(err) {
			t.Errorf("recordings younger than participants_cache_after were cached: %v", err)
		}
	})
}

// The filter a pipeline writes against the listing compiles against the fields tencent_list declares.
func TestTencentListFieldsInExpressions(t *testing.T) {
	e := step.NewExpr(`p.role in [0, 4] && p.name != "" && p.join < p.left && p.seconds > 0 && p.uuid != "" && p.userid != teacher_id`)
	b := &step.Build{}
	if _, err := b.CompileBool(&e, map[string]any{"p": tencent.Participant{}, "teacher_id": ""}); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(tencent.File{FileID: "f"})
	if !strings.Contains(string(raw), `"file_id":"f"`) || strings.Contains(string(raw), "url") {
		t.Errorf("file JSON %s", raw)
	}
}

func TestTencentListConfigErrors(t *testing.T) {
	base := "secret_id: a\nsecret_key: b\nenterprise_id: c\n"
	// pos: each problem at the value it is about, as with:LINE:COL (base is three lines).
	tests := []struct{ name, with, want, pos string }{
		{"corp without operator", "mode: corp", "operator_id", "with:4:7:"},
		{"per teacher without teachers", "mode: per_teacher", "teachers", "with:4:7:"},
		{"per teacher with empty teachers", "mode: per_teacher\nteachers: ''", "teachers", "with:5:11:"},
		{"per teacher with teachers naming nobody", "mode: per_teacher\nteachers: '[]'", "mode per_teacher needs teachers", "with:5:11:"},
		{"unknown mode", "mode: everything\noperator_id: a", "", "with:4:7:"}, // the engine's diagnostics say why
		{"bad teachers list", "operator_id: a\nteachers: '[\"a\",'", "teachers", "with:5:11:"},
		{"bad students rule", "operator_id: a\nstudents: p.nope == 1", "nope", "with:5:13:"},
		{"page size", "operator_id: a\npage_size: 50", "page_size: want 1..20, got 50", "with:5:12:"},
		{"record type", "operator_id: a\nrecord_type: 6", "record_type: want 0..5, got 6", "with:5:14:"},
		{"cache age", "operator_id: a\nparticipants_cache_after: -1h", "participants_cache_after", "with:5:27:"},
		// The spec's bound is the one check: what `runner schema` advertises is what the step takes.
		{"cache age zero", "operator_id: a\nparticipants_cache_after: 0s", "participants_cache_after: want 1s..", "with:5:27:"},
		{"base url", "operator_id: a\nbase_url: ftp://x", "http", "with:5:11:"},
		{"empty secret", "", "missing secret_id", "with:1:12:"},
		{"missing secret", "", `step tencent_list: missing required setting "secret_id"`, "with:1:1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := base + tt.with
			switch tt.name {
			case "missing secret":
				src = "enterprise_id: c\noperator_id: a"
			case "empty secret":
				src = "secret_id: ''\nsecret_key: b\nenterprise_id: c\noperator_id: a"
			}
			if err := steptest.Err(t, "tencent_list", src); !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), tt.pos) {
				t.Fatalf("got %v, want an error mentioning %q at %s", err, tt.want, tt.pos)
			}
		})
	}
}

// tencentPipeline is the head of a test pipeline whose source is tencent_list against emulator s, with
// extra with: lines (indented six spaces) after the connection settings.
func tencentPipeline(name, state string, s *emulator.Server, with string) string {
	return fmt.Sprintf(`name: %s
state_dir: %s
steps:
  - uses: tencent_list
    with:
      secret_id: AKID_x
      secret_key: SK_x
      enterprise_id: corp-1
      base_url: %s
      backoff: 1ms
      requests_per_second: 1000
      corp_records_per_minute: 10000
%s`, name, state, s.URL(), strings.TrimSuffix(with, "\n"))
}

// Through the engine: a rerun of the same window, with the downloads memoized, asks Tencent for the
// listing page only (no addresses, participants or meeting details) and downloads nothing; a dry run on
// top of it changes nothing under state_dir.
func TestTencentListRerunThroughEngine(t *testing.T) {
	t.Parallel() // its own servers and files
	s := emulator.New(emulator.Options{Fixture: tencentFixture(), SecretID: "AKID_x", SecretKey: "SK_x", AppID: "corp-1"})
	t.Cleanup(s.Close)
	state := t.TempDir()
	src := tencentPipeline("lazy", state, s, "      operator_id: admin\n") + `
  - uses: aria2_download
    with: { connections: 1 }
`
	run := func(t *testing.T, dry bool) *step.Summary {
		t.Helper()
		p, err := runner.LoadBytes("lazy.yaml", []byte(src), runner.LoadOptions{Env: map[string]string{}, DryRun: dry})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		sum, err := p.Run(context.Background(), runner.RunOptions{DryRun: dry, Logger: slog.New(slog.DiscardHandler),
			Since: tencentBase.Add(-time.Hour), Until: tencentBase.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return sum
	}
	calls := func() map[string]int {
		out := map[string]int{}
		for _, ep := range []string{emulator.EndpointCorpRecords, emulator.EndpointAddresses, emulator.EndpointParticipants, emulator.EndpointMeeting, emulator.EndpointMedia} {
			out[ep] = s.Count(ep)
		}
		return out
	}

	first := run(t, false)
	if first.Done != 2 || first.Steps["aria2_download"] != 2 {
		t.Fatalf("first run: %+v", first)
	}
	if c := calls(); c[emulator.EndpointAddresses] != 2 || c[emulator.EndpointMedia] == 0 {
		t.Fatalf("first run calls %v: want one address call per downloaded recording", c)
	}
	s.Reset()
	second := run(t, false)
	if second.Done != 2 || second.Ran != 0 {
		t.Errorf("rerun: %+v, want everything memoized", second)
	}
	want := map[string]int{emulator.EndpointCorpRecords: 1}
	if c := calls(); !reflect.DeepEqual(c, mapWithout0(c, want)) {
		t.Errorf("rerun calls %v, want the listing page only", c)
	}

	before := treeOf(t, state)
	s.Reset()
	run(t, true)
	if treeOf(t, state) != before {
		t.Error("a dry run changed state_dir")
	}
	if c := calls(); !reflect.DeepEqual(c, mapWithout0(c, want)) {
		t.Errorf("dry run calls %v, want the listing page only", c)
	}
}

// mapWithout0 is want with c's other keys at 0, for comparing counters.
func mapWithout0(c, want map[string]int) map[string]int {
	out := map[string]int{}
	for k := range c {
		out[k] = want[k]
	}
	return out
}

func treeOf(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil {
			info, _ := d.Info()
			data := []byte{}
			if !d.IsDir() {
				data, _ = os.ReadFile(p)
			}
			fmt.Fprintf(&b, "%s %d %s %x\n", p, info.Size(), info.ModTime(), sha256.Sum256(data))
		}
		return nil
	})
	return b.String()
}

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
