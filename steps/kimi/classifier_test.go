package kimi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"meetpipe/steps/kimi"
	"meetpipe/steps/kimi/emulator"
	"meetpipe/steps/kimi/kimitest"
)

// passGuard runs every call as it comes and counts them; stop, when set, refuses every call.
type passGuard struct {
	calls int
	stop  error
}

func (g *passGuard) Do(ctx context.Context, f func(context.Context) error) error {
	if g.stop != nil {
		return g.stop
	}
	g.calls++
	return f(ctx)
}

func (g *passGuard) Fail(_ context.Context, err error) error { return err }

var testPhases = []kimi.Phase{
	{Name: "简历优化", Description: "修改简历。"}, {Name: "项目深挖", Description: "深入讨论项目。"},
	{Name: "面试模拟", Description: "模拟面试。"}, {Name: "Offer后续", Description: "offer 之后的事。"},
	{Name: "其他", Description: "不属于以上任何一类。"},
}

// testConfig is kimi_classify's default configuration with a short summary and no reasoning share.
func testConfig() kimi.ClassifierConfig {
	return kimi.ClassifierConfig{Model: "moonshot-v1-128k", Phases: testPhases, Fallback: "其他", Prompts: kimi.DefaultPrompts(),
		SummaryMax: 30, MaxTokens: 1024, Temperature: 0.3, Thinking: "disabled", JSONMode: true, TokenEstimate: "auto",
		BudgetRatio: 0.8, PartTokens: 6000, Timestamps: true, ContextTokens: 131072}
}

func newClassifier(t *testing.T, s *emulator.MoonshotServer, cfg kimi.ClassifierConfig, g kimi.Guard) *kimi.Classifier {
	t.Helper()
	c, err := kimi.NewClassifier(cfg, &kimi.Chat{BaseURL: s.URL(), APIKey: "sk-kimi"}, g, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func moonshotEm(t *testing.T, o emulator.MoonshotOptions) *emulator.MoonshotServer {
	t.Helper()
	o.APIKey = "sk-kimi"
	s := emulator.NewMoonshot(o)
	t.Cleanup(s.Close)
	return s
}

func transcript(lines ...string) kimi.Transcript {
	tr := kimi.Transcript{}
	for i, l := range lines {
		tr.Segments = append(tr.Segments, kimi.Segment{Start: float64(i * 10), End: float64(i*10 + 9), Text: l})
	}
	tr.Text = strings.Join(lines, "")
	return tr
}

func requests(t *testing.T, s *emulator.MoonshotServer) []kimi.ChatRequest {
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

// TestClassifierLadder: an answer cut off is asked again once with twice the cap, an invalid one twice
// with the validator's message (the start of the bad answer quoted back), and then falls back.
func TestClassifierLadder(t *testing.T) {
	fx := kimitest.LadderFixture()
	for _, tt := range kimitest.LadderCases() {
		t.Run(tt.Name, func(t *testing.T) {
			s := moonshotEm(t, emulator.MoonshotOptions{Fixture: fx})
			s.Inject(tt.Inject...)
			g := &passGuard{}
			c := newClassifier(t, s, testConfig(), g)
			text := tt.Text
			if text == "" {
				text = "这个项目的难点是什么？"
			}
			res := &kimi.Classification{Rule: "model", Parts: 1}
			phase, summary, err := c.Decide(context.Background(), map[string]any{"subject": "周会"}, transcript(text), "", res)
			if err != nil {
				t.Fatal(err)
			}
			if phase != tt.Phase || summary != tt.Summary || res.NeedsReview != tt.Review {
				t.Errorf("phase %v summary %q needs_review %v", phase, summary, res.NeedsReview)
			}
			if res.Rule != tt.Rule || res.Attempts != tt.Attempts || res.Tokens == 0 || res.Usage.PromptTokens != res.PromptTokens {
				t.Errorf("classification %+v", res)
			}
			if tt.Summary != "" && (res.ModelPhase != "项目深挖" || res.Answer == nil) {
				t.Errorf("no model phase or answer: %+v", res)
			}
			if tt.Review && (res.Reason == "" || res.Raw == "") {
				t.Errorf("no reason or raw output for a review: %+v", res)
			}
			if !tt.Review && res.Confidence != 0.8 {
				t.Errorf("confidence %v, want the model's 0.8", res.Confidence)
			}
			reqs := requests(t, s)
			var got []int
			for _, r := range reqs {
				got = append(got, r.MaxCompletionTokens)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.MaxTokens) || g.calls != len(reqs) {
				t.Errorf("max_completion_tokens of the requests %v, want %v; %d calls through the guard", got, tt.MaxTokens, g.calls)
			}
			if tt.Reprompt != "" {
				last := reqs[len(reqs)-1].Messages
				if m := last[len(last)-1]; m.Role != "user" || !strings.Contains(m.Content, tt.Reprompt) {
					t.Errorf("re-prompt %+v, want it to contain %q", m, tt.Reprompt)
				}
				// The bad answer is quoted back just before the complaint.
				if m := last[len(last)-2]; m.Role != "assistant" || m.Content == "" {
					t.Errorf("message before the re-prompt %+v, want the previous answer", m)
				}
			}
		})
	}
}

// TestClassifierDecided: with a phase set by a pre rule the model is asked for the summary alone (no
// phase in the prompt or the schema), and its answer keeps the rule's phase.
func TestClassifierDecided(t *testing.T) {
	s := moonshotEm(t, emulator.MoonshotOptions{})
	cfg := testConfig()
	cfg.JSONSchema = true
	c := newClassifier(t, s, cfg, &passGuard{})
	res := &kimi.Classification{Rule: "mock", Confidence: 1, Parts: 1}
	phase, summary, err := c.Decide(context.Background(), nil, transcript("我们来聊简历。"), "面试模拟", res)
	if err != nil || phase != "面试模拟" || summary == "" || res.NeedsReview || res.ModelPhase != "" || res.Confidence != 1 {
		t.Fatalf("phase %q summary %q err %v res %+v", phase, summary, err, res)
	}
	req := requests(t, s)[0]
	if strings.Contains(req.Messages[0].Content, `"phase"`) || req.ResponseFormat.JSONSchema.Name != "summary" {
		t.Errorf("asked for a phase: %q, schema %+v", req.Messages[0].Content, req.ResponseFormat.JSONSchema)
	}
}

// TestClassifierEmptyAndFilter: an empty transcript calls nothing; a content filter's refusal falls
// back with its message as the reason instead of failing.
func TestClassifierEmptyAndFilter(t *testing.T) {
	s := moonshotEm(t, emulator.MoonshotOptions{})
	g := &passGuard{}
	c := newClassifier(t, s, testConfig(), g)
	res := &kimi.Classification{Rule: "model"}
	phase, _, err := c.Decide(context.Background(), nil, kimi.Transcript{Text: "  "}, "", res)
	if err != nil || phase != "其他" || res.Rule != "empty" || !res.NeedsReview || res.Reason != "转写为空" || g.calls != 0 {
		t.Errorf("empty: phase %q err %v res %+v, %d calls", phase, err, res, g.calls)
	}
	s.Inject(emulator.FaultContentFilter)
	res = &kimi.Classification{Rule: "model"}
	phase, summary, err := c.Decide(context.Background(), nil, transcript("简历"), "", res)
	if err != nil || phase != "其他" || summary != "" || res.Rule != "fallback" || !strings.HasPrefix(res.Reason, "content_filter: ") || res.Answer != nil {
		t.Errorf("filtered: phase %q err %v res %+v", phase, err, res)
	}
}

// TestClassifierErrors: the guard's refusal ends the ladder as it is, with no request; a template that
// cannot run for an item is a TemplateError naming the template.
func TestClassifierErrors(t *testing.T) {
	s := moonshotEm(t, emulator.MoonshotOptions{})
	stop := errors.New("quota gone")
	c := newClassifier(t, s, testConfig(), &passGuard{stop: stop})
	if _, _, err := c.Decide(context.Background(), nil, transcript("简历"), "", &kimi.Classification{}); !errors.Is(err, stop) || len(s.Requests()) != 0 {
		t.Errorf("stopped guard: %v, %d requests", err, len(s.Requests()))
	}
	for _, tt := range []struct{ user, want string }{
		{`{{index .student_ids 5}}`, "user template: "},
		{`{{if false}}x{{end}}`, "the user template rendered nothing: the model needs a user message"},
	} {
		cfg := testConfig()
		cfg.Prompts.User = tt.user
		c := newClassifier(t, s, cfg, &passGuard{})
		_, _, err := c.Decide(context.Background(), map[string]any{"student_ids": []any{"s1"}}, transcript("简历"), "", &kimi.Classification{})
		var te *kimi.TemplateError
		if !errors.As(err, &te) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("user %q: error %v, want a TemplateError with %q", tt.user, err, tt.want)
		}
	}
}

func TestNewClassifierRefuses(t *testing.T) {
	for _, tt := range []struct {
		edit func(*kimi.ClassifierConfig)
		want string
	}{
		{func(c *kimi.ClassifierConfig) { c.Model = " " }, "model is empty"},
		{func(c *kimi.ClassifierConfig) { c.Phases = nil }, "phases is empty"},
		{func(c *kimi.ClassifierConfig) { c.Phases = append(c.Phases, kimi.Phase{Name: "「其他」"}) }, `phase "「其他」" is listed twice`},
		{func(c *kimi.ClassifierConfig) { c.Phases = append(c.Phases, kimi.Phase{Name: " "}) }, "a phase has no name"},
		{func(c *kimi.ClassifierConfig) { c.Fallback = "未知" }, `fallback_phase "未知" is not one of the phases 简历优化, 项目深挖`},
		{func(c *kimi.ClassifierConfig) { c.PartTokens = 0 }, "must be positive"},
		{func(c *kimi.ClassifierConfig) { c.BudgetRatio = 1.5 }, "budget_ratio must be in (0, 1]"},
		{func(c *kimi.ClassifierConfig) { c.Prompts.MapSystem = "{{.x" }, "map_system template: "},
	} {
		cfg := testConfig()
		tt.edit(&cfg)
		if _, err := kimi.NewClassifier(cfg, &kimi.Chat{}, &passGuard{}, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("error %v, want %q", err, tt.want)
		}
	}
	c, err := kimi.NewClassifier(testConfig(), &kimi.Chat{}, &passGuard{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := c.Phase(" 「offer后续」"); !ok || p != "Offer后续" {
		t.Errorf("folded phase %q %v", p, ok)
	}
}

// TestClassifierMapReduce: a transcript over the budget is summarised in parts, each part's request
// numbered, and the reduce prompt carries every part's summary; the cache answers a second Decide of
// the same item without a request.
func TestClassifierMapReduce(t *testing.T) {
	var lines []string
	for i := range 60 {
		lines = append(lines, fmt.Sprintf("第%02d句：", i)+strings.Repeat("我们讨论这个项目的技术方案和难点", 9))
	}
	s := moonshotEm(t, emulator.MoonshotOptions{})
	cfg := testConfig()
	cfg.SummaryMax, cfg.ContextTokens, cfg.PartTokens, cfg.TokenEstimate = 300, 8192, 2500, "runes"
	g := &passGuard{}
	c := newClassifier(t, s, cfg, g)
	res := &kimi.Classification{Parts: 1}
	run := kimi.NewRun()
	phase, _, err := c.Decide(kimi.WithRun(context.Background(), run), map[string]any{"subject": "周会"}, transcript(lines...), "", res)
	if err != nil || phase != "项目深挖" {
		t.Fatalf("phase %q err %v", phase, err)
	}
	reqs := requests(t, s)
	if res.Parts < 3 || res.Attempts != res.Parts+1 || len(reqs) != res.Attempts {
		t.Fatalf("parts %d attempts %d requests %d", res.Parts, res.Attempts, len(reqs))
	}
	for i, r := range reqs[:res.Parts] {
		if !strings.Contains(r.Messages[0].Content, fmt.Sprintf("第 %d/%d 段", i+1, res.Parts)) {
			t.Errorf("map request %d: %q", i, r.Messages[0].Content)
		}
	}
	final := reqs[len(reqs)-1].Messages[1].Content
	for i := range res.Parts {
		if !strings.Contains(final, fmt.Sprintf("【第 %d/%d 段】", i+1, res.Parts)) {
			t.Errorf("reduce prompt lacks part %d: %q", i+1, final)
		}
	}
	if got := run.Spent.Total(); got.PromptTokens == 0 || got.PromptTokens != res.Usage.PromptTokens {
		t.Errorf("spent %+v, item usage %+v", got, res.Usage)
	}
	calls := g.calls
	again := &kimi.Classification{Parts: 1}
	if _, _, err := c.Decide(kimi.WithRun(context.Background(), run), map[string]any{"subject": "周会"}, transcript(lines...), "", again); err != nil || g.calls != calls || again.Attempts != res.Attempts {
		t.Errorf("second decide: %v, %d more calls, %d attempts", err, g.calls-calls, again.Attempts)
	}
	// The answers are the run's: another run asks again, and counts its own tokens.
	next := kimi.NewRun()
	if _, _, err := c.Decide(kimi.WithRun(context.Background(), next), map[string]any{"subject": "周会"}, transcript(lines...), "", &kimi.Classification{Parts: 1}); err != nil || g.calls != 2*calls {
		t.Errorf("decide in the next run: %v, %d more calls, want %d", err, g.calls-calls, calls)
	}
	if next.Spent.Total().PromptTokens != run.Spent.Total().PromptTokens { // the server caches its prompt prefix: cached_tokens differ
		t.Errorf("the next run spent %+v, the first %+v", next.Spent.Total(), run.Spent.Total())
	}
}

func TestDefaultPrompts(t *testing.T) {
	p := kimi.DefaultPrompts()
	for name, s := range map[string]string{"system": p.System, "user": p.User, "map_system": p.MapSystem, "map_user": p.MapUser} {
		if s == "" || strings.HasSuffix(s, "\n") || !strings.Contains(s, "{{") {
			t.Errorf("%s prompt %q", name, s)
		}
	}
	if !strings.HasPrefix(p.System, "你是求职辅导会谈的分析助手。") || !strings.HasSuffix(p.User, "</transcript>") {
		t.Errorf("system %q\nuser %q", p.System, p.User)
	}
}
