package steps

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"meetpipe/runner"
	"meetpipe/runner/step"
	"meetpipe/steps/kimi"
	"meetpipe/steps/kimi/emulator"
	"meetpipe/steps/kimi/kimitest"
	"meetpipe/steps/media"
	"meetpipe/steps/steptest"
)

func moonshotServer(t *testing.T, o emulator.MoonshotOptions) *emulator.MoonshotServer {
	t.Helper()
	if o.APIKey == "" {
		o.APIKey = "sk-kimi"
	}
	s := emulator.NewMoonshot(o)
	t.Cleanup(s.Close)
	return s
}

func newTestClassify(t *testing.T, s *emulator.MoonshotServer, extra string) *kimiClassify {
	t.Helper()
	return openTestClassify(t, context.Background(), s, extra)
}

// openTestClassify opens the step in ctx's run, so that what Open learns (a rejected key) holds for the
// later calls made in the same ctx.
func openTestClassify(t *testing.T, ctx context.Context, s *emulator.MoonshotServer, extra string) *kimiClassify {
	t.Helper()
	stp := steptest.As[*kimiClassify](t, "kimi_classify", fmt.Sprintf("base_url: %s\napi_key: sk-kimi\ndefault_limit: {concurrency: 0, rpm: 0}\n%s", s.URL(), extra))
	// As the engine does at the start of a run; a rejected key is the test's business.
	if err := stp.Open(ctx); err != nil {
		t.Logf("open: %v", err)
	}
	return stp
}

func transcriptItem(t *testing.T, id, subject string, lines ...string) *step.Item {
	t.Helper()
	tr := kimi.Transcript{Segments: []kimi.Segment{}}
	for i, l := range lines {
		tr.Segments = append(tr.Segments, kimi.Segment{Start: float64(i * 10), End: float64(i*10 + 9), Text: l})
	}
	var texts []string
	for _, s := range tr.Segments {
		texts = append(texts, s.Text)
	}
	tr.Text = kimi.JoinText(texts)
	it, err := step.NewItem(id, step.Fields{"transcript": tr, "subject": subject, "duration_min": 45,
		"start": time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC), "teacher_id": "t1", "student_ids": []string{"s1"}})
	if err != nil {
		t.Fatal(err)
	}
	return it
}

// chatBodies decodes the requests the emulator received.
func chatBodies(t *testing.T, s *emulator.MoonshotServer) []kimi.ChatRequest {
	t.Helper()
	var out []kimi.ChatRequest
	for _, raw := range s.Requests() {
		var r kimi.ChatRequest
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// A step with no limiter named gets default_limit's own (the entry tier), and none when it is all zero.
func TestKimiClassifyDefaultLimit(t *testing.T) {
	for with, want := range map[string]string{
		"api_key: k": "kimi_classify.default_limit",
		"api_key: k\ndefault_limit: {concurrency: 0, rpm: 0}": "unlimited",
	} {
		if got := steptest.As[*kimiClassify](t, "kimi_classify", with).guard.lim.Name(); got != want {
			t.Errorf("%q: limiter %q, want %q", with, got, want)
		}
	}
}

func TestKimiClassifyLadder(t *testing.T) {
	fx := kimitest.LadderFixture()
	for _, tt := range kimitest.LadderCases() {
		t.Run(tt.Name, func(t *testing.T) {
			s := moonshotServer(t, emulator.MoonshotOptions{Fixture: fx})
			s.Inject(tt.Inject...)
			// The json_object ladder: json_schema would make these faults impossible (TestKimiClassifySchemaReasks).
			stp := newTestClassify(t, s, "summary_max: 30\njson_schema: false\nreasoning_tokens: 0")
			text := tt.Text
			if text == "" {
				text = "这个项目的难点是什么？"
			}
			out, err := stp.Process(context.Background(), transcriptItem(t, "rec1", "周会", text))
			if err != nil {
				t.Fatal(err)
			}
			c := out["classification"].(*kimi.Classification)
			if out["phase"] != tt.Phase || out["summary"] != tt.Summary || out["needs_review"] != tt.Review || c.NeedsReview != tt.Review {
				t.Errorf("phase %v summary %q needs_review %v", out["phase"], out["summary"], out["needs_review"])
			}
			if c.Rule != tt.Rule || c.Attempts != tt.Attempts || c.Model != "moonshot-v1-128k" || c.Tokens == 0 {
				t.Errorf("classification %+v", c)
			}
			if tt.Review && (c.Reason == "" || c.Raw == "") {
				t.Errorf("no reason or raw output for a review: %+v", c)
			}
			reqs := chatBodies(t, s)
			var got []int
			for _, r := range reqs {
				got = append(got, r.MaxCompletionTokens)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.MaxTokens) {
				t.Errorf("max_completion_tokens of the requests %v, want %v", got, tt.MaxTokens)
			}
			if tt.Reprompt != "" {
				last := reqs[len(reqs)-1].Messages
				if m := last[len(last)-1]; m.Role != "user" || !strings.Contains(m.Content, tt.Reprompt) {
					t.Errorf("re-prompt %+v, want it to contain %q", m, tt.Reprompt)
				}
			}
		})
	}
}

func TestKimiClassify429Kinds(t *testing.T) {
	ctx := step.WithRunScope(context.Background()) // one run: a stop holds for its later items
	tests := []struct {
		fault emulator.Fault
		kind  step.Kind
		after time.Duration
		again bool // a later item still calls the model
	}{
		{emulator.FaultRateLimit, step.KindTransient, time.Second, true},
		{emulator.FaultOverloaded, step.KindTransient, 0, true},
		{emulator.FaultServerError, step.KindTransient, 0, true},
		{emulator.FaultReset, step.KindTransient, 0, true},
		{emulator.FaultQuota, step.KindDeferred, 0, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.fault), func(t *testing.T) {
			s := moonshotServer(t, emulator.MoonshotOptions{})
			s.Inject(tt.fault)
			stp := newTestClassify(t, s, "")
			_, err := stp.Process(ctx, transcriptItem(t, "rec1", "周会", "我们来聊简历。"))
			if after := kimiKind(t, err, tt.kind); after != tt.after {
				t.Errorf("after %v, want %v", after, tt.after)
			}
			if tt.fault == emulator.FaultRateLimit {
				return // the limiter holds every caller for the second the server asked for
			}
			before := s.Counters().Chat
			_, err = stp.Process(ctx, transcriptItem(t, "rec2", "周会", "我们来聊项目。"))
			calls := s.Counters().Chat - before
			if tt.again {
				if err != nil || calls != 1 {
					t.Errorf("next item: %v, %d calls", err, calls)
				}
				return
			}
			kimiKind(t, err, step.KindDeferred)
			if calls != 0 || !strings.Contains(err.Error(), "quota") {
				t.Errorf("after the quota ran out: %d calls, %v", calls, err)
			}
		})
	}
	t.Run("401 names KIMI_API_KEY", func(t *testing.T) {
		s := moonshotServer(t, emulator.MoonshotOptions{APIKey: "sk-other"})
		stp := openTestClassify(t, ctx, s, "")
		_, err := stp.Process(ctx, transcriptItem(t, "rec1", "周会", "简历"))
		kimiEnv(t, err)
		if !strings.Contains(err.Error(), "KIMI_API_KEY") || strings.Contains(err.Error(), "sk-kimi") {
			t.Errorf("message: %v", err)
		}
		_, err = stp.Process(ctx, transcriptItem(t, "rec2", "周会", "项目"))
		kimiEnv(t, err)
		// The model check at the start of the run met the rejected key: no completion was tried.
		if got := s.Counters(); got.Chat != 0 || got.Unauthorized != 1 {
			t.Errorf("calls after a rejected key: %+v", got)
		}
	})
	t.Run("engine retry reuses answers already paid for", func(t *testing.T) {
		s := moonshotServer(t, emulator.MoonshotOptions{})
		s.Inject(emulator.FaultInvalidJSON, emulator.FaultOverloaded)
		stp := newTestClassify(t, s, "json_schema: false")
		it := transcriptItem(t, "rec1", "周会", "我们来聊简历。")
		_, err := stp.Process(ctx, it)
		kimiKind(t, err, step.KindTransient)
		out, err := stp.Process(ctx, it)
		if err != nil {
			t.Fatal(err)
		}
		c := out["classification"].(*kimi.Classification)
		if got := s.Counters(); got.Chat != 3 || c.Attempts != 2 || out["phase"] != "简历优化" {
			t.Errorf("calls %d, attempts %d, phase %v", got.Chat, c.Attempts, out["phase"])
		}
	})
}

func TestKimiClassifyContentFilter(t *testing.T) {
	s := moonshotServer(t, emulator.MoonshotOptions{})
	s.Inject(emulator.FaultContentFilter)
	out, err := newTestClassify(t, s, "").Process(context.Background(), transcriptItem(t, "rec1", "周会", "简历"))
	if err != nil {
		t.Fatal(err)
	}
	c := out["classification"].(*kimi.Classification)
	if out["phase"] != "其他" || out["needs_review"] != true || !strings.HasPrefix(c.Reason, "content_filter") {
		t.Errorf("%v %+v", out, c)
	}
}

func TestKimiClassifyEmptyTranscript(t *testing.T) {
	s := moonshotServer(t, emulator.MoonshotOptions{})
	out, err := newTestClassify(t, s, "").Process(context.Background(), transcriptItem(t, "rec1", "周会"))
	if err != nil {
		t.Fatal(err)
	}
	c := out["classification"].(*kimi.Classification)
	if out["phase"] != "其他" || c.Rule != "empty" || !c.NeedsReview || s.Counters().Chat != 0 {
		t.Errorf("%v %+v, %d calls", out, c, s.Counters().Chat)
	}
}

func TestKimiClassifyTokenBudget(t *testing.T) {
	t.Parallel() // its own servers and files
	ctx := context.Background()
	// 60 lines of 150 characters: ~9000 characters, over moonshot-v1-8k's budget.
	var lines []string
	for i := range 60 {
		lines = append(lines, fmt.Sprintf("第%02d句：", i)+strings.Repeat("我们讨论这个项目的技术方案和难点", 9))
	}
	t.Run("map-reduce over the budget", func(t *testing.T) {
		s := moonshotServer(t, emulator.MoonshotOptions{})
		stp := newTestClassify(t, s, "model: moonshot-v1-8k\npart_tokens: 2500")
		out, err := stp.Process(ctx, transcriptItem(t, "rec1", "周会", lines...))
		if err != nil {
			t.Fatal(err)
		}
		c := out["classification"].(*kimi.Classification)
		reqs := chatBodies(t, s)
		if c.Parts < 3 || c.Attempts != c.Parts+1 || len(reqs) != c.Attempts || out["phase"] != "项目深挖" {
			t.Fatalf("parts %d attempts %d requests %d phase %v", c.Parts, c.Attempts, len(reqs), out["phase"])
		}
		for i, r := range reqs[:c.Parts] {
			if !strings.Contains(r.Messages[0].Content, fmt.Sprintf("第 %d/%d 段", i+1, c.Parts)) {
				t.Errorf("map request %d: %q", i, r.Messages[0].Content)
			}
		}
		final := reqs[len(reqs)-1].Messages
		if !strings.Contains(final[1].Content, fmt.Sprintf("分成 %d 段后各段的摘要", c.Parts)) || !strings.Contains(final[1].Content, "【第 1/") {
			t.Errorf("reduce prompt: %q", final[1].Content)
		}
		if n := s.Counters().Estimates; n != 1 {
			t.Errorf("%d token estimates; the rune count is near the budget, so auto asks once", n)
		}
	})
	t.Run("model limit falls back to map-reduce", func(t *testing.T) {
		s := moonshotServer(t, emulator.MoonshotOptions{})
		// Not opened: the configured (wrong) window stands, as when GET /v1/models gives none.
		stp := steptest.As[*kimiClassify](t, "kimi_classify", fmt.Sprintf("base_url: %s\napi_key: sk-kimi\ndefault_limit: {concurrency: 0, rpm: 0}\n%s",
			s.URL(), "model: moonshot-v1-8k\ncontext_tokens: 200000\npart_tokens: 3000\ntoken_estimate: runes"))
		out, err := stp.Process(ctx, transcriptItem(t, "rec1", "周会", append(lines, lines[:30]...)...))
		if err != nil {
			t.Fatal(err)
		}
		c := out["classification"].(*kimi.Classification)
		// The first 400 names the real window (8192), which is learned; the prompt alone is still too long.
		if got := s.Counters(); got.BadRequests != 2 || c.Parts < 2 || out["needs_review"] != false {
			t.Errorf("counters %+v classification %+v", got, c)
		}
	})
	t.Run("estimate endpoint", func(t *testing.T) {
		s := moonshotServer(t, emulator.MoonshotOptions{})
		stp := newTestClassify(t, s, "token_estimate: api")
		if _, err := stp.Process(ctx, transcriptItem(t, "rec1", "周会", lines[:3]...)); err != nil {
			t.Fatal(err)
		}
		if got := s.Counters(); got.Estimates != 1 || got.Chat != 1 {
			t.Errorf("counters %+v", got)
		}
	})
}

func TestKimiClassifyConfig(t *testing.T) {
	key := func(with string) string {
		t.Helper()
		_, cfg := steptest.Build(t, "kimi_classify", "api_key: k1\n"+with)
		b, err := step.MemoJSON(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	base := key("post_rules: [{when: 'phase == \"其他\"', phase: 面试模拟}]")
	if strings.Contains(base, "k1") || strings.Contains(base, "moonshot.cn") {
		t.Errorf("key carries connection settings: %s", base)
	}
	same := []string{
		"post_rules: [{when: 'phase == \"其他\"', phase: 面试模拟}]\nbase_url: http://127.0.0.1:9/v1\ntimeout: 1m\ndefault_limit: {concurrency: 5, rpm: 100}",
		"api_key: k2\npost_rules: [{when: 'phase == \"其他\"', phase: 面试模拟}]",
	}
	for _, with := range same {
		if k := key(strings.TrimPrefix(with, "api_key: k2\n")); k != base {
			t.Errorf("key changed with %q", with)
		}
	}
	for _, with := range []string{
		"post_rules: [{when: 'phase == \"其他\"', phase: 简历优化}]",
		"post_rules: [{when: 'phase != \"其他\"', phase: 面试模拟}]",
		"post_rules: [{when: 'phase == \"其他\"', phase: 面试模拟}]\nuser: '{{.text}}'",
		"post_rules: [{when: 'phase == \"其他\"', phase: 面试模拟}]\nsummary_max: 200",
		"post_rules: [{when: 'phase == \"其他\"', phase: 面试模拟}]\nphases: [{name: 其他, description: x}, {name: 面试模拟, description: y}]",
	} {
		if key(with) == base {
			t.Errorf("key unchanged with %q", with)
		}
	}

	// Each at the value it is about (with:LINE:COL), not at the step as a whole.
	for _, tt := range []struct{ with, want, pos string }{
		{"model: x", "api_key is empty; set KIMI_API_KEY", "with:1:1:"},
		{"model: x\napi_key: ''", "api_key is empty; set KIMI_API_KEY", "with:2:10:"},
		{"api_key: k\npre_rules: [{when: 'true', phase: 闲聊}]", `phase "闲聊" is not one of the phases`, "with:2:35:"},
		{"api_key: k\nfallback_phase: 未知", `fallback_phase "未知" is not one of the phases`, "with:2:17:"},
		{"api_key: k\nsystem: '{{.x'", "system template", "with:2:9:"},
		{"api_key: k\npost_rules: [{when: 'answer.phase +', phase: 其他}]", "expression", "with:2:"},
		{"api_key: k\nphases: [{name: 其他, description: x}, {name: ' 其他 ', description: y}]", `phase " 其他 " is listed twice`, "with:2:45:"},
		{"api_key: k\nphases:\n  - {name: a, description: x}\n  - {description: y}", "a phase has no name", "with:4:5:"},
		{"api_key: k\nphases: []", "phases is empty", "with:2:9:"},
		{"api_key: k\nmodel: ' '", "model is empty", "with:2:8:"},
		{"api_key: k\nbudget_ratio: 2", "budget_ratio", "with:2:15:"},
		{"api_key: k\npre_rules:\n  - phase: 其他\n    when: >-\n      true &&\n      nope\n", "unknown name nope", "with:6:7:"},
	} {
		err := steptest.Err(t, "kimi_classify", tt.with)
		if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), tt.pos) {
			t.Errorf("%q: error %v, want %q at %s", tt.with, err, tt.want, tt.pos)
		}
	}
}

// kimiRecorder is a test source emitting fixed items and a sink recording what reaches it.
type kimiRecorder struct {
	items []step.Fields
	mu    sync.Mutex
	got   map[string]*step.Item
}

type kimiNoConfig struct {
	Unused string `yaml:"unused"`
}

type kimiSource struct{ r *kimiRecorder }

func (s kimiSource) List(ctx context.Context, w step.Window, out step.Emitter) error {
	for i, f := range s.r.items {
		if err := out.Emit(ctx, fmt.Sprintf("rec%d", i+1), f); err != nil {
			return err
		}
	}
	return nil
}

type kimiSink struct{ r *kimiRecorder }

func (s kimiSink) Process(ctx context.Context, in *step.Item) (step.Fields, error) {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	s.r.got[in.ID()] = in.Clone()
	return nil, nil
}

func (r *kimiRecorder) registry() *step.Registry {
	reg := step.Builtins.Clone()
	reg.Register(step.Define(step.Spec{Name: "kimi_test_source", Version: "1", Source: true, Writes: []step.Field{
		{Name: "audio", Sample: media.Audio{}}, {Name: "subject", Sample: ""}, {Name: "start", Sample: time.Time{}},
		{Name: "duration_min", Sample: 0}, {Name: "teacher_id", Sample: ""}, {Name: "student_ids", Sample: []string{}},
		{Name: "participants", Sample: []map[string]any{}}}},
		kimiNoConfig{}, func(kimiNoConfig, *step.Build) (any, error) { return kimiSource{r}, nil }))
	reg.Register(step.Define(step.Spec{Name: "kimi_test_sink", Version: "1",
		Reads: []string{"phase", "summary", "classification", "needs_review", "transcript"}},
		kimiNoConfig{}, func(kimiNoConfig, *step.Build) (any, error) { return kimiSink{r}, nil }))
	return reg
}

const kimiPipeline = `
steps:
  - uses: kimi_test_source
  - uses: kimi_asr
    with: {base_url: "${ASR_BASE_URL}", api_key: "${ASR_API_KEY}"}
  - uses: kimi_classify
    limiter: moonshot
    with:
      base_url: ${KIMI_BASE_URL}
      api_key: ${KIMI_API_KEY}
      pre_rules:
        - {name: mock-interview, when: 'subject contains "模拟面试"', phase: 面试模拟}
      post_rules:
        - {name: %s, when: 'subject contains "Offer" && phase == "项目深挖"', phase: Offer后续}
  - uses: kimi_test_sink
limiters:
  moonshot: {concurrency: 1, rpm: 0}
`

// TestKimiPipeline runs kimi_asr and kimi_classify in the engine: rule precedence with item fields, and
// memo keys — a rerun calls nothing, editing a rule re-runs only the classification, moving the servers
// re-runs nothing.
func TestKimiPipeline(t *testing.T) {
	t.Parallel() // its own servers and files
	asrFx := &emulator.ASRFixture{Tolerance: 0.2, Entries: []emulator.ASREntry{
		{Duration: 6, Text: "我们先改一下简历。"}, {Duration: 7, Text: "这个项目的技术方案是什么？"}, {Duration: 8, Text: "这个项目的难点在哪里？"}}}
	asrSrv := asrServer(t, emulator.ASROptions{Fixture: asrFx, APIKey: "sk-asr"})
	chatFx := &emulator.ChatFixture{Rules: []emulator.ChatRule{
		{Keywords: []string{"项目"}, ChatAnswer: emulator.ChatAnswer{Phase: "项目深挖", Confidence: 0.8}},
		{Keywords: []string{"简历"}, ChatAnswer: emulator.ChatAnswer{Phase: "简历优化", Confidence: 0.8}}}}
	chat := moonshotServer(t, emulator.MoonshotOptions{Concurrency: 1, Fixture: chatFx})
	r := &kimiRecorder{got: map[string]*step.Item{}}
	start := time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC)
	for i, sub := range []string{"第3次模拟面试", "周会", "Offer 沟通"} {
		r.items = append(r.items, step.Fields{"audio": kimiChunks(t, [2]float64{0, float64(6 + i)}), "subject": sub, "start": start,
			"duration_min": 30, "teacher_id": "t1", "student_ids": []string{"s1"}, "participants": []map[string]any{}})
	}
	reg := r.registry()
	dir := t.TempDir()
	env := map[string]string{"ASR_BASE_URL": asrSrv.URL(), "ASR_API_KEY": "sk-asr", "KIMI_BASE_URL": chat.URL(), "KIMI_API_KEY": "sk-kimi"}
	run := func(postRule string, env map[string]string) string {
		t.Helper()
		p, err := runner.LoadBytes("kimi.yaml", []byte(fmt.Sprintf(kimiPipeline, postRule)), runner.LoadOptions{Registry: reg, Env: env, StateDir: dir})
		if err != nil {
			t.Fatalf("load: %v", err)
		}
		defer p.Close()
		var rep strings.Builder
		sum, err := p.Run(context.Background(), runner.RunOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Explain: true, Report: &rep})
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		if sum.Failed != 0 || sum.Done != 3 {
			t.Fatalf("summary %+v\n%s", sum, rep.String())
		}
		return rep.String()
	}
	check := func(rule string) {
		t.Helper()
		want := map[string][2]string{"rec1": {"面试模拟", "mock-interview"}, "rec2": {"项目深挖", "model"}, "rec3": {"Offer后续", rule}}
		for id, w := range want {
			var phase string
			var c kimi.Classification
			it := r.got[id]
			if it == nil {
				t.Fatalf("%s never reached the sink", id)
			}
			it.Get("phase", &phase)
			it.Get("classification", &c)
			if phase != w[0] || c.Rule != w[1] {
				t.Errorf("%s: phase %s rule %s, want %v", id, phase, c.Rule, w)
			}
		}
	}

	run("offer-subject", env)
	check("offer-subject")
	reqs := chatBodies(t, chat)
	if len(reqs) != 3 || asrSrv.Counters().Transcribed != 3 {
		t.Fatalf("%d chat calls, %+v", len(reqs), asrSrv.Counters())
	}
	for _, q := range reqs {
		pre := strings.Contains(q.Messages[1].Content, "模拟面试")
		if asksPhase := strings.Contains(q.Messages[0].Content, `"phase"`); asksPhase == pre {
			t.Errorf("pre-rule item asked for a phase, or a model item not: %q", q.Messages[0].Content)
		}
	}

	// A rerun calls nothing: the transcript read back from the state file hashes as the one just written.
	rep := run("offer-subject", env)
	if strings.Contains(rep, "changed: [transcript]") {
		t.Errorf("rerun saw the memoized transcript as changed:\n%s", rep)
	}
	if asrSrv.Counters().Requests != 3 {
		t.Errorf("rerun transcribed again: %+v", asrSrv.Counters())
	}
	if n := len(chat.Requests()); n != 3 {
		t.Errorf("rerun made %d chat calls", n-3)
	}
	calls := len(chat.Requests())

	// Editing a rule re-runs kimi_classify only.
	run("offer-by-subject", env)
	check("offer-by-subject")
	if n := len(chat.Requests()); n != calls+3 || asrSrv.Counters().Requests != 3 {
		t.Errorf("after a rule edit: chat %d (want %d), asr %d (want 3)", n, calls+3, asrSrv.Counters().Requests)
	}

	// Servers on new addresses (and new keys) change no memo key.
	asr2 := asrServer(t, emulator.ASROptions{Fixture: asrFx})
	chat2 := moonshotServer(t, emulator.MoonshotOptions{Fixture: chatFx})
	run("offer-by-subject", map[string]string{"ASR_BASE_URL": asr2.URL(), "ASR_API_KEY": "", "KIMI_BASE_URL": chat2.URL(), "KIMI_API_KEY": "sk-kimi"})
	if asr2.Counters().Requests != 0 || chat2.Counters().Chat != 0 {
		t.Errorf("moved servers got calls: %+v %+v", asr2.Counters(), chat2.Counters())
	}
}

// TestKimiClassifyPromptOverride: a prompt set in the YAML replaces the embedded default, and the names
// the step documents are filled in.
func TestKimiClassifyPromptOverride(t *testing.T) {
	s := moonshotServer(t, emulator.MoonshotOptions{})
	stp := newTestClassify(t, s, "system: '阶段：{{join .phase_names \"/\"}}；摘要不超过 {{.summary_max}} 字；只输出 JSON。'\n"+
		"user: '{{.subject}}（{{.duration_min}} 分钟，{{.id}}）\n{{.text}}'")
	if _, err := stp.Process(context.Background(), transcriptItem(t, "rec1", "周会", "我们来聊简历。")); err != nil {
		t.Fatal(err)
	}
	msgs := chatBodies(t, s)[0].Messages
	if msgs[0].Content != "阶段：简历优化/项目深挖/面试模拟/Offer后续/其他；摘要不超过 300 字；只输出 JSON。" ||
		msgs[1].Content != "周会（45 分钟，rec1） [00:00] 我们来聊简历。" {
		t.Errorf("messages %+v", msgs)
	}
}

// kimiTranscripts is a test source emitting transcribed recordings, so that kimi_classify runs in the
// engine without audio.
type kimiTranscripts struct{ items []step.Fields }

func (s kimiTranscripts) List(ctx context.Context, w step.Window, out step.Emitter) error {
	for i, f := range s.items {
		if err := out.Emit(ctx, fmt.Sprintf("rec%d", i+1), f); err != nil {
			return err
		}
	}
	return nil
}

var kimiSubjects = []struct{ text, phase string }{
	{"现在开始模拟面试，请先做自我介绍。", "面试模拟"},
	{"我们来看一下你的简历，这一段经历要改。", "简历优化"},
	{"这个项目的技术方案和难点是什么？", "项目深挖"},
}

// classifyRun loads a pipeline of a transcript source, kimi_classify (with extra settings) and the
// recorder's sink, and runs it. sum is nil when the run stopped before any item.
func classifyRun(t *testing.T, srv *emulator.MoonshotServer, dir, extra string, o runner.RunOptions) (*step.Summary, *kimiRecorder, error) {
	t.Helper()
	p, r := classifyPipeline(t, srv, dir, extra, o.DryRun)
	defer p.Close()
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	sum, err := p.Run(context.Background(), o)
	return sum, r, err
}

// classifyPipeline loads the pipeline classifyRun runs: three transcripts, kimi_classify, a recorder.
func classifyPipeline(t *testing.T, srv *emulator.MoonshotServer, dir, extra string, dry bool) (*runner.Pipeline, *kimiRecorder) {
	t.Helper()
	r := &kimiRecorder{got: map[string]*step.Item{}}
	var items []step.Fields
	for _, sub := range kimiSubjects {
		items = append(items, step.Fields{"transcript": kimi.Transcript{Text: sub.text, Segments: []kimi.Segment{{Start: 0, End: 5, Text: sub.text}}},
			"subject": "辅导", "start": time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC), "duration_min": 30, "teacher_id": "t1",
			"student_ids": []string{"s1"}, "participants": []map[string]any{}})
	}
	reg := r.registry()
	reg.Register(step.Define(step.Spec{Name: "kimi_tr_source", Version: "1", Source: true, Writes: []step.Field{
		{Name: "transcript", Sample: kimi.Transcript{}}, {Name: "subject", Sample: ""}, {Name: "start", Sample: time.Time{}},
		{Name: "duration_min", Sample: 0}, {Name: "teacher_id", Sample: ""}, {Name: "student_ids", Sample: []string{}},
		{Name: "participants", Sample: []map[string]any{}}}},
		kimiNoConfig{}, func(kimiNoConfig, *step.Build) (any, error) { return kimiTranscripts{items}, nil }))
	src := fmt.Sprintf(`
steps:
  - uses: kimi_tr_source
  - id: classify
    uses: kimi_classify
    with:
      base_url: %s
      api_key: sk-kimi
      default_limit: {concurrency: 0, rpm: 0}
%s
  - uses: kimi_test_sink
`, srv.URL(), indent(extra, "      "))
	p, err := runner.LoadBytes("kimi.yaml", []byte(src), runner.LoadOptions{Registry: reg, Env: map[string]string{}, StateDir: dir, DryRun: dry})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return p, r
}

func indent(s, pre string) string {
	if s == "" {
		return ""
	}
	return pre + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n"+pre)
}

func checkClassified(t *testing.T, r *kimiRecorder) []kimi.Classification {
	t.Helper()
	var out []kimi.Classification
	for i, sub := range kimiSubjects {
		it := r.got[fmt.Sprintf("rec%d", i+1)]
		if it == nil {
			t.Fatalf("rec%d never reached the sink", i+1)
		}
		var phase string
		var c kimi.Classification
		_ = it.Get("phase", &phase)
		_ = it.Get("classification", &c)
		if phase != sub.phase || c.NeedsReview || c.Rule != "model" {
			t.Errorf("rec%d: phase %s, classification %+v; want %s, no review", i+1, phase, c, sub.phase)
		}
		out = append(out, c)
	}
	return out
}

// TestKimiClassifyEachModel runs every emulated model of 2026 through the engine with the default
// settings: no permanent failure, nothing truncated into needs_review, reasoning counted, cost shown.
func TestKimiClassifyEachModel(t *testing.T) {
	t.Parallel() // its own servers and files
	for _, model := range emulator.DefaultModels {
		t.Run(model, func(t *testing.T) {
			srv := moonshotServer(t, emulator.MoonshotOptions{})
			sum, r, err := classifyRun(t, srv, t.TempDir(), "model: "+model+"\nprice_per_mtok_input: 4\nprice_per_mtok_output: 16", runner.RunOptions{})
			if err != nil || sum.Failed != 0 || sum.Done != 3 {
				t.Fatalf("run: %v, summary %+v", err, sum)
			}
			cs := checkClassified(t, r)
			got := srv.Counters()
			if got.Truncated != 0 || got.Models != 1 {
				t.Errorf("counters %+v", got)
			}
			reasons := got.Reasoning > 0
			if wantReason := model == "kimi-k3" || model == "kimi-k2.7-code"; reasons != wantReason {
				t.Errorf("reasoning tokens %d", got.Reasoning)
			}
			var total kimi.TokenUsage
			for _, c := range cs {
				total = total.Plus(c.Usage)
			}
			if total.ReasoningTokens != got.Reasoning || total.CachedTokens == 0 || total.PromptTokens == 0 {
				t.Errorf("usage of the items %+v, server %+v", total, got)
			}
			c := sum.Costs["classify"]
			if c.Units["prompt_tokens"] != int64(total.PromptTokens) || c.Units["reasoning_tokens"] != int64(total.ReasoningTokens) ||
				c.Money <= 0 || c.Currency != "CNY" || c.Estimate {
				t.Errorf("cost %+v, items %+v", c, total)
			}
		})
	}
}

// TestKimiClassifyUnknownModel: an id the key cannot use stops the run before any call, as a
// configuration error that lists the usable ids; in a dry run too.
func TestKimiClassifyUnknownModel(t *testing.T) {
	for _, dry := range []bool{false, true} {
		srv := moonshotServer(t, emulator.MoonshotOptions{})
		sum, r, err := classifyRun(t, srv, t.TempDir(), "model: kimi-k2-0905-preview", runner.RunOptions{DryRun: dry})
		var d step.Diagnostic
		if sum != nil || !errors.As(err, &d) {
			t.Fatalf("dry %v: summary %+v, err %v; want a configuration error", dry, sum, err)
		}
		for _, want := range []string{`model "kimi-k2-0905-preview" is not available to this key`, "kimi-k3", "kimi-k2.7-code", "moonshot-v1-128k", "KIMI_MODEL"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("dry %v: error %q lacks %q", dry, err, want)
			}
		}
		if got := srv.Counters(); got.Chat != 0 || got.Models != 1 || len(r.got) != 0 {
			t.Errorf("dry %v: counters %+v, %d items reached the sink", dry, got, len(r.got))
		}
	}
}

// syncBuffer is a log sink for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestKimiClassifyNewModel: a model id the code has never seen, which allows only its own temperature
// and reasons before it answers, classifies after one healed 400; the adjustment is logged once and
// does not change the memo key (a rerun calls nothing).
func TestKimiClassifyNewModel(t *testing.T) {
	t.Parallel() // its own servers and files
	srv := moonshotServer(t, emulator.MoonshotOptions{ModelSpecs: []emulator.ModelSpec{
		{ID: "kimi-k4-preview", Context: 524288, Temperature: 0.7, AlwaysReasons: true, Reasoning: 5000}}})
	var logs syncBuffer
	dir := t.TempDir()
	o := runner.RunOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	sum, r, err := classifyRun(t, srv, dir, "model: kimi-k4-preview", o)
	if err != nil || sum.Failed != 0 || sum.Done != 3 {
		t.Fatalf("run: %v, summary %+v", err, sum)
	}
	checkClassified(t, r)
	got := srv.Counters()
	if got.Refused != 1 || got.Completions != 3 || got.Truncated != 0 {
		t.Errorf("counters %+v; want one refusal, then three answers", got)
	}
	if n := strings.Count(logs.String(), "refused a parameter"); n != 1 || !strings.Contains(logs.String(), "level=INFO") {
		t.Errorf("%d log lines about the adjustment, want 1:\n%s", n, logs.String())
	}
	sum, _, err = classifyRun(t, srv, dir, "model: kimi-k4-preview", o)
	if err != nil || sum.Steps["classify"] != 0 || srv.Counters().Chat != got.Chat {
		t.Errorf("rerun: %v, summary %+v, chat calls %d → %d", err, sum, got.Chat, srv.Counters().Chat)
	}
}

// TestKimiClassifySchemaReasks measures what the emulator's invalid-answer faults (prose instead of
// JSON, a phase outside the list) cost in re-asks with json_object, and with json_schema, whose enum
// makes them impossible where the server honours it.
func TestKimiClassifySchemaReasks(t *testing.T) {
	t.Parallel() // its own servers and files
	reasks := func(schema bool) (int, int) {
		srv := moonshotServer(t, emulator.MoonshotOptions{FaultRate: 0.4, Seed: 7,
			Faults: []emulator.Fault{emulator.FaultInvalidJSON, emulator.FaultBadPhase}})
		step := newTestClassify(t, srv, fmt.Sprintf("json_schema: %v", schema))
		n, review := 0, 0
		for i := range 60 {
			sub := kimiSubjects[i%len(kimiSubjects)]
			// Distinct texts: the step's in-run cache would otherwise replay an earlier item's answers.
			out, err := step.Process(context.Background(), transcriptItem(t, fmt.Sprintf("rec%d", i), "辅导", fmt.Sprintf("%s（第 %d 次）", sub.text, i)))
			if err != nil {
				t.Fatal(err)
			}
			c := out["classification"].(*kimi.Classification)
			n += c.Attempts - 1
			if c.NeedsReview {
				review++
			} else if out["phase"] != sub.phase {
				t.Errorf("rec%d: phase %v, want %s", i, out["phase"], sub.phase)
			}
		}
		return n, review
	}
	before, reviewBefore := reasks(false)
	after, reviewAfter := reasks(true)
	t.Logf("60 items, fault rate 0.4 (invalid_json, bad_phase): re-asks %d with json_object (%d needs_review), %d with json_schema (%d needs_review)",
		before, reviewBefore, after, reviewAfter)
	if before == 0 || after != 0 || reviewAfter != 0 {
		t.Errorf("re-asks %d → %d, needs_review %d → %d", before, after, reviewBefore, reviewAfter)
	}
}

// TestKimiClassifySchemaRefused: a server that refuses json_schema gets json_object, learned once.
func TestKimiClassifySchemaRefused(t *testing.T) {
	srv := moonshotServer(t, emulator.MoonshotOptions{Models: []string{}, ModelSpecs: []emulator.ModelSpec{
		{ID: "moonshot-v2-64k", Context: 65536, NoJSONSchema: true}}})
	sum, r, err := classifyRun(t, srv, t.TempDir(), "model: moonshot-v2-64k", runner.RunOptions{})
	if err != nil || sum.Done != 3 {
		t.Fatalf("run: %v, summary %+v", err, sum)
	}
	checkClassified(t, r)
	reqs := chatBodies(t, srv)
	if got := srv.Counters(); got.Refused != 1 || len(reqs) != 4 {
		t.Fatalf("counters %+v", got)
	}
	if f := reqs[0].ResponseFormat; f == nil || f.Type != "json_schema" || f.JSONSchema == nil || !f.JSONSchema.Strict {
		t.Errorf("first request %+v", f)
	}
	for _, q := range reqs[1:] {
		if q.ResponseFormat == nil || q.ResponseFormat.Type != "json_object" || q.PromptCacheKey == "" || q.PromptCacheKey != reqs[0].PromptCacheKey {
			t.Errorf("later request format %+v cache key %q", q.ResponseFormat, q.PromptCacheKey)
		}
	}
	enum := reqs[0].ResponseFormat.JSONSchema.Schema["properties"].(map[string]any)["phase"].(map[string]any)["enum"]
	if fmt.Sprint(enum) != "[简历优化 项目深挖 面试模拟 Offer后续 其他]" {
		t.Errorf("enum %v", enum)
	}
}

// TestKimiClassifyHugeAnswer: a 2 MB answer is not echoed whole into the re-prompt; the item falls back
// to 其他 with needs_review instead of failing when the prompt overflows (issue 15 item 4).
func TestKimiClassifyHugeAnswer(t *testing.T) {
	t.Parallel() // its own servers and files
	srv := moonshotServer(t, emulator.MoonshotOptions{})
	srv.Inject(emulator.FaultHuge, emulator.FaultHuge, emulator.FaultHuge)
	step := newTestClassify(t, srv, "json_schema: false")
	out, err := step.Process(context.Background(), transcriptItem(t, "rec1", "辅导", kimiSubjects[0].text))
	if err != nil {
		t.Fatalf("the item failed: %v", err)
	}
	c := out["classification"].(*kimi.Classification)
	if out["phase"] != "其他" || out["needs_review"] != true || c.Rule != "fallback" || len([]rune(c.Raw)) > 2000 || c.Attempts != 3 {
		t.Errorf("phase %v needs_review %v classification rule %s attempts %d raw %d runes", out["phase"], out["needs_review"], c.Rule, c.Attempts, len([]rune(c.Raw)))
	}
	for i, raw := range srv.Requests() {
		if len(raw) > 32<<10 {
			t.Errorf("request %d is %d bytes: the answer was quoted back whole", i+1, len(raw))
		}
	}
}

// TestKimiClassifyDryRunCost: the dry-run estimate gives tokens and money per item and in total.
func TestKimiClassifyDryRunCost(t *testing.T) {
	srv := moonshotServer(t, emulator.MoonshotOptions{})
	var rep strings.Builder
	sum, _, err := classifyRun(t, srv, t.TempDir(), "price_per_mtok_input: 12\nprice_per_mtok_output: 12", runner.RunOptions{DryRun: true, Report: &rep})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rep.String(), "~1k tokens, 1 call, ~0.") || !strings.Contains(rep.String(), "cost classify: ~ ") ||
		!strings.Contains(rep.String(), "CNY") {
		t.Errorf("report:\n%s", rep.String())
	}
	if c := sum.Costs["classify"]; !c.Estimate || c.Money <= 0 || c.Units["prompt_tokens"] == 0 {
		t.Errorf("cost %+v", c)
	}
	if got := srv.Counters(); got.Chat != 0 || got.Models != 1 {
		t.Errorf("a dry run called %+v", got)
	}
}

// TestKimiClassifyCapIgnored: a server that ignores max_completion_tokens (cutting a reasoning model off
// at its default 1024) is sent max_tokens from then on.
func TestKimiClassifyCapIgnored(t *testing.T) {
	srv := moonshotServer(t, emulator.MoonshotOptions{ModelSpecs: []emulator.ModelSpec{
		{ID: "moonshot-v1-thinker", Context: 131072, OnlyMaxTokens: true, AlwaysReasons: true, Reasoning: 1500}}})
	sum, r, err := classifyRun(t, srv, t.TempDir(), "model: moonshot-v1-thinker", runner.RunOptions{})
	if err != nil || sum.Done != 3 {
		t.Fatalf("run: %v, summary %+v", err, sum)
	}
	checkClassified(t, r)
	reqs := chatBodies(t, srv)
	if len(reqs) != 4 || reqs[0].MaxCompletionTokens == 0 || reqs[1].MaxTokens != reqs[0].MaxCompletionTokens || reqs[3].MaxTokens == 0 {
		t.Errorf("%d requests, caps %+v", len(reqs), reqs)
	}
}

// TestKimiClassifyRunsAreApart: one loaded Pipeline run several times. The quota stop of one run does
// not stop the next, and each run's cost line counts that run's tokens only.
func TestKimiClassifyRunsAreApart(t *testing.T) {
	t.Parallel() // its own servers and files
	srv := moonshotServer(t, emulator.MoonshotOptions{})
	p, _ := classifyPipeline(t, srv, t.TempDir(), "", false)
	defer p.Close()
	run := func(o runner.RunOptions) *step.Summary {
		t.Helper()
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		sum, _ := p.Run(context.Background(), o) // a run with pending items returns an error too
		if sum == nil {
			t.Fatal("no summary")
		}
		return sum
	}

	srv.Inject(emulator.FaultQuota)
	first := run(runner.RunOptions{})
	if first.Pending == 0 {
		t.Fatalf("the quota stopped nothing: %+v", first)
	}
	chats := srv.Counters().Chat
	second := run(runner.RunOptions{})
	if second.Pending != 0 || second.Done != 3 || srv.Counters().Chat == chats {
		t.Fatalf("the next run of the same Pipeline: %+v, %d chats; the first run's stop carried over", second, srv.Counters().Chat-chats)
	}

	forced := runner.RunOptions{Force: []string{"classify"}}
	a, b := run(forced).Costs["classify"], run(forced).Costs["classify"]
	if a.Units["prompt_tokens"] == 0 || a.Units["prompt_tokens"] != b.Units["prompt_tokens"] {
		t.Errorf("two runs of the same three items cost %v then %v prompt tokens; want the same, each its own",
			a.Units["prompt_tokens"], b.Units["prompt_tokens"])
	}
}

// TestKimiClassifyEstimateIsPure: estimating changes no counter, in a dry run or out of one; two dry runs
// of the same Pipeline estimate the same.
func TestKimiClassifyEstimateIsPure(t *testing.T) {
	srv := moonshotServer(t, emulator.MoonshotOptions{})
	stp := newTestClassify(t, srv, "price_per_mtok_input: 12")
	ctx := step.WithRunScope(context.Background())
	it := transcriptItem(t, "rec1", "周会", "我们来聊简历。")
	for range 3 {
		if stp.Estimate(it) == "" || stp.EstimateCost(it).Units["prompt_tokens"] == 0 {
			t.Fatal("no estimate")
		}
	}
	if c := stp.Cost(ctx); len(c.Units) != 0 || c.Money != 0 {
		t.Errorf("after three estimates the run's cost is %+v, want none", c)
	}

	p, _ := classifyPipeline(t, srv, t.TempDir(), "price_per_mtok_input: 12", true)
	defer p.Close()
	var costs [2]step.Cost
	for i := range costs {
		sum, err := p.Run(context.Background(), runner.RunOptions{DryRun: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		costs[i] = sum.Costs["classify"]
	}
	if costs[0].Units["prompt_tokens"] == 0 || costs[0].Units["prompt_tokens"] != costs[1].Units["prompt_tokens"] || costs[0].Money != costs[1].Money {
		t.Errorf("two dry runs estimate %+v then %+v; want the same", costs[0], costs[1])
	}
	if got := srv.Counters(); got.Chat != 0 {
		t.Errorf("estimates called the model: %+v", got)
	}
}
