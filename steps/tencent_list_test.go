package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"meetpipe/runner"
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

func tencentNode(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Content[0]
}

type tencentSink struct {
	items    map[string]*runner.Item
	order    []string
	notReady map[string]string
}

func (s *tencentSink) Emit(_ context.Context, id string, f runner.Fields) error {
	it, err := runner.NewItem(id, f)
	if err != nil {
		return err
	}
	s.items[id] = it
	s.order = append(s.order, id)
	return nil
}

func (s *tencentSink) NotReady(id string, _ any, reason string) { s.notReady[id] = reason }

func TestTencentListSpec(t *testing.T) {
	def, ok := runner.Builtins.Lookup("tencent_list")
	if !ok {
		t.Fatal("tencent_list is not registered")
	}
	sp := def.Spec
	if !sp.Source || sp.SideEffects || !slices.Equal(sp.Volatile, []string{"files.url"}) {
		t.Errorf("source %v side effects %v volatile %v", sp.Source, sp.SideEffects, sp.Volatile)
	}
	var names []string
	for _, w := range sp.Writes {
		names = append(names, w.Name)
	}
	want := []string{"id", "meeting_id", "meeting_code", "subject", "host_userid", "start", "end", "duration_min", "state",
		"files", "participants", "teacher_id", "student_ids"}
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
	secret := map[string]bool{}
	for _, s := range sp.Settings {
		secret[s.Name] = s.Secret
	}
	if !secret["secret_id"] || !secret["secret_key"] || secret["enterprise_id"] {
		t.Errorf("secret settings: %v", secret)
	}
}

func TestTencentListThroughDefinition(t *testing.T) {
	s := emulator.New(emulator.Options{Fixture: tencentFixture(), SecretID: "AKID_x", SecretKey: "SK_x", AppID: "corp-1"})
	t.Cleanup(s.Close)
	def, _ := runner.Builtins.Lookup("tencent_list")
	window := runner.Window{Since: tencentBase.Add(-time.Hour), Until: tencentBase.Add(time.Hour)}
	tests := []struct {
		name        string
		with        string
		emitted     []string
		students    []string
		notReady    []string
		participant bool
	}{
		{
			name: "per teacher, whitelist in the seed's JSON format, default students rule",
			with: `mode: per_teacher
teachers: '["teacher_001","teacher_002"]'`,
			emitted: []string{"rec-00001"}, students: []string{"ext:u-ext", "stu_brief"}, notReady: []string{"rec-00002"},
		},
		{
			name: "corp, comma-separated whitelist, custom students rule",
			with: `mode: corp
operator_id: admin
teachers: teacher_001, teacher_002
students: p.seconds >= 600 && p.userid != teacher_id && host_userid == "teacher_001"`,
			emitted: []string{"rec-00001"}, students: []string{"ext:u-ext"}, notReady: []string{"rec-00002"},
		},
		{
			name:    "corp, everyone",
			with:    "mode: corp\noperator_id: admin",
			emitted: []string{"rec-00001", "rec-00003"}, students: []string{"ext:u-ext", "stu_brief"}, notReady: []string{"rec-00002"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := fmt.Sprintf("secret_id: AKID_x\nsecret_key: SK_x\nenterprise_id: corp-1\nbase_url: %s\nbackoff: 1ms\nrequests_per_second: 1000\ncorp_records_per_minute: 10000\n%s\n", s.URL(), tt.with)
			b := &runner.Build{StateDir: t.TempDir()}
			impl, cfg, err := def.New(tencentNode(t, src), b)
			if err != nil {
				t.Fatal(err)
			}
			if c := fmt.Sprintf("%+v", cfg); strings.Contains(c, "SK_x") || strings.Contains(c, "AKID_x") {
				t.Errorf("effective config keeps secrets: %s", c)
			}
			src0, ok := impl.(runner.Source)
			if !ok {
				t.Fatalf("%T is not a runner.Source", impl)
			}
			if _, ok := impl.(runner.Hinter); !ok {
				t.Errorf("%T does not give hints for pending items", impl)
			}
			out := &tencentSink{items: map[string]*runner.Item{}, notReady: map[string]string{}}
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
			if len(files) != 2 || files[0].FileID != "file-00001-a" || !strings.HasPrefix(files[0].URL, s.URL()+"/media/") {
				t.Errorf("files %+v", files)
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

// The filter a pipeline writes against the listing compiles against the fields tencent_list declares.
func TestTencentListFieldsInExpressions(t *testing.T) {
	e := runner.NewExpr(`p.role in [0, 4] && p.name != "" && p.join < p.left && p.seconds > 0 && p.uuid != "" && p.userid != teacher_id`)
	b := &runner.Build{}
	if _, err := b.CompileBool(&e, map[string]any{"p": tencent.Participant{}, "teacher_id": ""}); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(tencent.File{FileID: "f", URL: "u"})
	if !strings.Contains(string(raw), `"file_id":"f"`) || !strings.Contains(string(raw), `"url":"u"`) {
		t.Errorf("file JSON %s", raw)
	}
}

func TestTencentListConfigErrors(t *testing.T) {
	def, _ := runner.Builtins.Lookup("tencent_list")
	base := "secret_id: a\nsecret_key: b\nenterprise_id: c\n"
	tests := []struct{ name, with, want string }{
		{"corp without operator", "mode: corp", "operator_id"},
		{"per teacher without teachers", "mode: per_teacher", "teachers"},
		{"unknown mode", "mode: everything\noperator_id: a", ""}, // the engine's diagnostics say why
		{"bad teachers list", "operator_id: a\nteachers: '[\"a\",'", "teachers"},
		{"bad students rule", "operator_id: a\nstudents: p.nope == 1", "nope"},
		{"page size", "operator_id: a\npage_size: 50", "page_size"},
		{"base url", "operator_id: a\nbase_url: ftp://x", "http"},
		{"missing secret", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := base + tt.with
			if tt.name == "missing secret" {
				src = "enterprise_id: c\noperator_id: a"
			}
			_, _, err := def.New(tencentNode(t, src), &runner.Build{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}
