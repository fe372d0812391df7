package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"meetpipe/plugins"
	"meetpipe/plugins/wecom_notify/emulator"
	"meetpipe/runner"
	"meetpipe/runner/step"
	"meetpipe/steps/steptest"

	"gopkg.in/yaml.v3"
)

const key = "robot-key-0123456789"

// pluginDir is a plugins folder holding wecom_notify built from this package and its real manifest.
var pluginDir string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "wecom_notify")
		if err != nil {
			panic(err)
		}
		defer os.RemoveAll(dir)
		pd := filepath.Join(dir, "wecom_notify")
		build := exec.Command("go", "build", "-o", filepath.Join(pd, "wecom_notify"), ".")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
			return 1
		}
		man, err := os.ReadFile(plugins.ManifestFile)
		if err != nil {
			panic(err)
		}
		if err := os.WriteFile(filepath.Join(pd, plugins.ManifestFile), man, 0o644); err != nil {
			panic(err)
		}
		pluginDir = dir
		return m.Run()
	}())
}

// newStep builds the wecom_notify step as a pipeline would, with extra `with:` lines.
func newStep(t *testing.T, with string) step.Step {
	t.Helper()
	reg := step.NewRegistry()
	if err := plugins.Load(pluginDir, reg); err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.Lookup("wecom_notify"); !ok {
		t.Fatal("wecom_notify not loaded")
	}
	impl, _ := steptest.BuildWith(t, "wecom_notify", with, steptest.Options{Registry: reg, StepID: "notify"})
	return impl.(step.Step)
}

func meeting(t *testing.T, summary string) *step.Item {
	t.Helper()
	it, err := step.NewItem("rec-42", step.Fields{
		"subject":      "模拟面试 第3轮",
		"teacher_id":   "teacher_001",
		"student_ids":  []string{"stu_a", "stu_b"},
		"phase":        "面试模拟",
		"summary":      summary,
		"duration_min": 45,
		"start":        time.Date(2025, 3, 1, 12, 30, 0, 0, time.UTC),
		"files":        []string{"not read"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return it
}

var logMu sync.Mutex

// captureLog sends the default logger to a buffer for the test.
func captureLog(t *testing.T) *bytes.Buffer {
	t.Helper()
	logMu.Lock()
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(old); logMu.Unlock() })
	return &buf
}

func TestSendsMarkdown(t *testing.T) {
	emu := emulator.New(emulator.Options{Key: key})
	t.Cleanup(emu.Close)
	log := captureLog(t)
	s := newStep(t, "{key: "+key+", base_url: '"+emu.URL()+"'}")

	out, err := s.Process(context.Background(), meeting(t, "练习了**系统设计**，表达清晰。"))
	if err != nil {
		t.Fatal(err)
	}
	msgs := emu.Messages()
	if len(msgs) != 1 || msgs[0].MsgType != "markdown" {
		t.Fatalf("messages = %+v, want one markdown message", msgs)
	}
	want := "### 模拟面试 第3轮\n" +
		"> 老师：teacher_001\n" +
		"> 学生：stu_a、stu_b\n" +
		"> 阶段：<font color=\"info\">面试模拟</font>\n" +
		"> 时间：2025-03-01 20:30，45 分钟\n\n" +
		"练习了**系统设计**，表达清晰。"
	if msgs[0].Content != want {
		t.Errorf("content =\n%s\nwant\n%s", msgs[0].Content, want)
	}
	var n notified
	if err := json.Unmarshal(out["notified"].(json.RawMessage), &n); err != nil {
		t.Fatal(err)
	}
	if n.Errcode != 0 || n.Bytes != len(want) || n.Truncated || n.At == "" {
		t.Errorf("notified = %+v", n)
	}
	if strings.Contains(log.String(), key) {
		t.Errorf("the log shows the key:\n%s", log)
	}
	if !strings.Contains(log.String(), "sent") {
		t.Errorf("the plugin's stderr did not reach the log:\n%s", log)
	}
}

func TestCutsLongSummary(t *testing.T) {
	emu := emulator.New(emulator.Options{Key: key})
	t.Cleanup(emu.Close)
	s := newStep(t, "{key: "+key+", base_url: '"+emu.URL()+"'}")

	long := strings.Repeat("面试表现良好😀", 400) // ~8.8 KB of 3- and 4-byte characters
	out, err := s.Process(context.Background(), meeting(t, long))
	if err != nil {
		t.Fatal(err)
	}
	msgs := emu.Messages()
	if len(msgs) != 1 {
		t.Fatalf("got %d messages (answers 40058: %d)", len(msgs), emu.Answers(emulator.ErrTooLong))
	}
	c := msgs[0].Content
	if len(c) > 4096 || len(c) < 4090 || !utf8.ValidString(c) || !strings.HasSuffix(c, "…") {
		t.Errorf("content is %d bytes, valid UTF-8 %v, ends %q", len(c), utf8.ValidString(c), c[len(c)-8:])
	}
	var n notified
	if err := json.Unmarshal(out["notified"].(json.RawMessage), &n); err != nil || !n.Truncated {
		t.Errorf("notified = %+v, %v; want truncated", n, err)
	}
}

func TestTooFrequentIsTransient(t *testing.T) {
	emu := emulator.New(emulator.Options{Key: key})
	t.Cleanup(emu.Close)
	s := newStep(t, "{key: "+key+", base_url: '"+emu.URL()+"'}")

	emu.FailNext(1, emulator.ErrTooFrequent)
	_, err := s.Process(context.Background(), meeting(t, "x"))
	kind, after := step.Classify(err)
	if kind != step.KindTransient || after != time.Minute {
		t.Fatalf("err = %v (%v, %v), want transient with a minute's wait", err, kind, after)
	}
	if !strings.Contains(err.Error(), "45009") || strings.Contains(err.Error(), key) {
		t.Errorf("err = %v, want errcode 45009 and no key", err)
	}
	if len(emu.Messages()) != 0 {
		t.Fatal("a refused message was recorded")
	}
	// The engine retries after the minute asked for; a fresh step does not wait for the hold that the
	// 45009 put on the step's limiter.
	s = newStep(t, "{key: "+key+", base_url: '"+emu.URL()+"'}")
	if _, err := s.Process(context.Background(), meeting(t, "x")); err != nil {
		t.Fatal(err)
	}
	if len(emu.Messages()) != 1 || emu.Answers(emulator.ErrTooFrequent) != 1 {
		t.Errorf("messages %d, 45009 answers %d", len(emu.Messages()), emu.Answers(emulator.ErrTooFrequent))
	}
}

func TestRobotRateLimit(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	emu := emulator.New(emulator.Options{Key: key, Now: clock})
	t.Cleanup(emu.Close)

	send := func() int {
		var stdout, stderr bytes.Buffer
		in := `{"item_id":"r","settings":{"key":"` + key + `","base_url":"` + emu.URL() +
			`","template":"{{.summary}}"},"fields":{"summary":"hi"}}`
		return run(strings.NewReader(in), &stdout, &stderr, nil)
	}
	for i := range 20 {
		if code := send(); code != exitOK {
			t.Fatalf("message %d: exit %d", i+1, code)
		}
	}
	if code := send(); code != exitTempFail {
		t.Fatalf("21st message in a minute: exit %d, want %d", code, exitTempFail)
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if code := send(); code != exitOK {
		t.Fatalf("a minute later: exit %d", code)
	}
	if got := len(emu.Messages()); got != 21 {
		t.Errorf("robot took %d messages, want 21", got)
	}
}

func TestFailures(t *testing.T) {
	closed := emulator.New(emulator.Options{Key: key})
	closed.Close()
	tests := []struct {
		name  string
		setup func(*emulator.Server)
		key   string
		url   string
		kind  step.Kind
		want  string
	}{
		{name: "wrong key", key: "wrong-key-98765", kind: step.KindPermanent, want: "93000"},
		{name: "system busy", setup: func(e *emulator.Server) { e.FailNext(1, emulator.ErrSystemBusy) },
			kind: step.KindTransient, want: "errcode -1"},
		{name: "bad gateway", setup: func(e *emulator.Server) { e.FailHTTP(1, 502) },
			kind: step.KindTransient, want: "HTTP 502"},
		{name: "unreachable", url: closed.URL(), kind: step.KindTransient, want: "connect"},
		{name: "empty key", key: `""`, kind: step.KindPermanent, want: "key is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emu := emulator.New(emulator.Options{Key: key})
			t.Cleanup(emu.Close)
			if tt.setup != nil {
				tt.setup(emu)
			}
			k, u := cmp(tt.key, key), cmp(tt.url, emu.URL())
			log := captureLog(t)
			s := newStep(t, "{key: "+k+", base_url: '"+u+"'}")
			_, err := s.Process(context.Background(), meeting(t, "x"))
			if kind, _ := step.Classify(err); err == nil || kind != tt.kind {
				t.Fatalf("err = %v (%v), want %v", err, kind, tt.kind)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q in it", err, tt.want)
			}
			if k != `""` && strings.Contains(err.Error()+log.String(), k) {
				t.Errorf("the key shows:\n%v\n%s", err, log)
			}
			if len(emu.Messages()) != 0 {
				t.Errorf("a message was sent")
			}
		})
	}
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestCut(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"short", "abc", 10, "abc"},
		{"exact", "abcdefghij", 10, "abcdefghij"},
		{"ascii", "abcdefghijk", 10, "abcdefg…"},
		{"cjk boundary", "一二三四五", 10, "一二…"}, // 6 bytes + 3 = 9: the 3rd character would not fit
		{"cjk exact", "一二三四五", 15, "一二三四五"},  // 15 bytes, no cut
		{"emoji", "a😀😀😀", 11, "a😀…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cut(tt.in, tt.max)
			if got != tt.want || len(got) > tt.max || !utf8.ValidString(got) {
				t.Errorf("cut(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
		})
	}
}

func TestRenderMissingFields(t *testing.T) {
	m, err := plugins.ReadManifest(plugins.ManifestFile)
	if err != nil {
		t.Fatal(err)
	}
	var tmpl string
	for _, s := range m.Settings {
		if s.Name == "template" {
			tmpl = s.Default.(string)
		}
	}
	got, err := render(tmpl, map[string]any{"summary": "只有摘要"}, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(got, "<no value>") || !strings.Contains(got, "（无）") || !strings.Contains(got, "只有摘要") {
		t.Errorf("render with missing fields =\n%s", got)
	}
}

func TestBadInput(t *testing.T) {
	tests := map[string]string{
		"not json":     `hello`,
		"bad template": `{"settings":{"key":"k","template":"{{.x"}}`,
		"bad timezone": `{"settings":{"key":"k","template":"x","timezone":"Mars/Base"}}`,
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := run(strings.NewReader(in), io.Discard, &stderr, nil); code != exitUsage {
				t.Errorf("exit %d, want %d; stderr %s", code, exitUsage, stderr.String())
			}
		})
	}
}

// Through the engine: a test source of meetings, then wecom_notify as in pipelines/meeting.yaml.

type meetingSource struct{ n int }

func (m meetingSource) List(ctx context.Context, w step.Window, out step.Emitter) error {
	for i := range m.n {
		err := out.Emit(ctx, fmt.Sprintf("rec%03d", i), step.Fields{
			"subject": fmt.Sprintf("模拟面试 %d", i), "teacher_id": "teacher_001", "student_ids": []string{"stu_a"},
			"phase": "面试模拟", "summary": "很好", "duration_min": 30 + i,
			"start": time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)})
		if err != nil {
			return err
		}
	}
	return nil
}

type sourceCfg struct {
	Count int `yaml:"count"`
}

const notifyPipeline = `
name: notify
steps:
  - uses: meetings
    with: {count: 3}
  - uses: wecom_notify
    if: env.WECOM_WEBHOOK_KEY != ""
    with:
      key: ${WECOM_WEBHOOK_KEY:-}
      base_url: ${WECOM_BASE_URL}
      throttle_wait: 20ms
    retry: {attempts: 3, backoff: 1ms}
`

// runPipeline runs notifyPipeline with env over state, logging into log.
func runPipeline(t *testing.T, state string, env map[string]string, dry bool, log io.Writer) *step.Summary {
	t.Helper()
	reg := step.NewRegistry()
	reg.Register(step.Define(step.Spec{Name: "meetings", Source: true, Version: "1", Writes: []step.Field{
		{Name: "subject", Sample: ""}, {Name: "teacher_id", Sample: ""}, {Name: "student_ids", Sample: []string{}},
		{Name: "phase", Sample: ""}, {Name: "summary", Sample: ""}, {Name: "duration_min", Sample: 0},
		{Name: "start", Sample: time.Time{}}}},
		sourceCfg{}, func(c sourceCfg, b *step.Build) (any, error) { return meetingSource{c.Count}, nil }))
	if err := plugins.Load(pluginDir, reg); err != nil {
		t.Fatal(err)
	}
	p, err := runner.LoadBytes("notify.yaml", []byte(notifyPipeline), runner.LoadOptions{Registry: reg, Env: env,
		StateDir: state, DryRun: dry})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	logger := jsonLog(log, p.Secrets)
	sum, err := p.Run(context.Background(), runner.RunOptions{DryRun: dry, Logger: logger, Report: io.Discard})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return sum
}

func TestPipelineRetriesAndMemo(t *testing.T) {
	emu := emulator.New(emulator.Options{Key: key})
	t.Cleanup(emu.Close)
	env := map[string]string{"WECOM_WEBHOOK_KEY": key, "WECOM_BASE_URL": emu.URL()}
	state := t.TempDir()
	var log bytes.Buffer

	// A dry run never calls the robot.
	runPipeline(t, t.TempDir(), env, true, &log)
	if emu.Requests() != 0 {
		t.Fatalf("a dry run sent %d requests", emu.Requests())
	}

	emu.FailNext(1, emulator.ErrTooFrequent)
	sum := runPipeline(t, state, env, false, &log)
	if sum.Done != 3 || len(emu.Messages()) != 3 || emu.Answers(emulator.ErrTooFrequent) != 1 || emu.Requests() != 4 {
		t.Fatalf("summary %+v; messages %d, 45009 answers %d, requests %d; want the refused one retried",
			sum, len(emu.Messages()), emu.Answers(emulator.ErrTooFrequent), emu.Requests())
	}
	// A rerun is served from the memo: no second message.
	sum = runPipeline(t, state, env, false, &log)
	if len(emu.Messages()) != 3 || emu.Requests() != 4 || sum.Memo < 3 {
		t.Fatalf("rerun: summary %+v, messages %d, requests %d", sum, len(emu.Messages()), emu.Requests())
	}
	if strings.Contains(log.String(), key) {
		t.Errorf("the log shows the key:\n%s", log.String())
	}
	filepath.Walk(state, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			if b, _ := os.ReadFile(path); bytes.Contains(b, []byte(key)) {
				t.Errorf("state file %s holds the key", path)
			}
		}
		return nil
	})
}

func TestPipelineOffWithoutKey(t *testing.T) {
	emu := emulator.New(emulator.Options{Key: key})
	t.Cleanup(emu.Close)
	sum := runPipeline(t, t.TempDir(), map[string]string{"WECOM_BASE_URL": emu.URL()}, false, io.Discard)
	if sum.Done != 3 || emu.Requests() != 0 {
		t.Fatalf("summary %+v, requests %d; want the step off and the items done", sum, emu.Requests())
	}
}

// The shipped pipeline's wecom_notify step is pointed at a test endpoint by WECOM_BASE_URL from .env.
func TestShippedPipelineTakesWecomBaseURL(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "pipelines", "meeting.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	var stp *yaml.Node
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "steps" {
			continue
		}
		for _, s := range root.Content[i+1].Content {
			for j := 0; j+1 < len(s.Content); j += 2 {
				if s.Content[j].Value == "uses" && s.Content[j+1].Value == "wecom_notify" {
					stp = s
				}
			}
		}
	}
	if stp == nil {
		t.Fatal("pipelines/meeting.yaml has no wecom_notify step")
	}
	b, err := yaml.Marshal(map[string]any{"name": "notify", "steps": []any{
		map[string]any{"uses": "meetings", "with": map[string]int{"count": 2}}, stp}})
	if err != nil {
		t.Fatal(err)
	}
	emu := emulator.New(emulator.Options{Key: key})
	t.Cleanup(emu.Close)
	dir := t.TempDir()
	envFile := filepath.Join(dir, ".env")
	if err := os.WriteFile(envFile, []byte("WECOM_WEBHOOK_KEY="+key+"\nWECOM_BASE_URL="+emu.URL()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dot, err := runner.ReadDotEnv(envFile)
	if err != nil {
		t.Fatal(err)
	}
	reg := step.NewRegistry()
	reg.Register(step.Define(step.Spec{Name: "meetings", Source: true, Version: "1", Writes: []step.Field{
		{Name: "subject", Sample: ""}, {Name: "teacher_id", Sample: ""}, {Name: "student_ids", Sample: []string{}},
		{Name: "phase", Sample: ""}, {Name: "summary", Sample: ""}, {Name: "duration_min", Sample: 0},
		{Name: "start", Sample: time.Time{}}}},
		sourceCfg{}, func(c sourceCfg, b *step.Build) (any, error) { return meetingSource{c.Count}, nil }))
	if err := plugins.Load(pluginDir, reg); err != nil {
		t.Fatal(err)
	}
	p, err := runner.LoadBytes("meeting.yaml", b, runner.LoadOptions{Registry: reg, Env: dot, StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sum, err := p.Run(context.Background(), runner.RunOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil || sum.Done != 2 || len(emu.Messages()) != 2 {
		t.Fatalf("run: %+v %v; the test endpoint got %d messages, want 2", sum, err, len(emu.Messages()))
	}
}

// A plugin setting's min and max from the manifest are enforced at load, with the place.
func TestManifestBoundsChecked(t *testing.T) {
	reg := step.NewRegistry()
	if err := plugins.Load(pluginDir, reg); err != nil {
		t.Fatal(err)
	}
	yml := "steps:\n  - uses: meetings\n  - uses: wecom_notify\n    with: {key: k, http_timeout: 10h}\n"
	reg.Register(step.Define(step.Spec{Name: "meetings", Source: true, Version: "1", Writes: []step.Field{
		{Name: "subject", Sample: ""}, {Name: "teacher_id", Sample: ""}, {Name: "student_ids", Sample: []string{}},
		{Name: "phase", Sample: ""}, {Name: "summary", Sample: ""}, {Name: "duration_min", Sample: 0},
		{Name: "start", Sample: time.Time{}}}},
		sourceCfg{}, func(c sourceCfg, b *step.Build) (any, error) { return meetingSource{c.Count}, nil }))
	_, err := runner.LoadBytes("p.yaml", []byte(yml), runner.LoadOptions{Registry: reg, Env: map[string]string{}, StateDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "p.yaml:4:34: http_timeout: want 1s..5m") {
		t.Fatalf("load: %v", err)
	}
}

// jsonLog is the JSON logger the CLI makes, reduced to what these tests read: every value the pipeline
// holds secret is scrubbed, as the host's logger scrubs it.
func jsonLog(w io.Writer, s *step.Secrets) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Value.Kind() == slog.KindString {
				a.Value = slog.StringValue(s.Scrub(a.Value.String()))
			}
			return a
		}}))
}
