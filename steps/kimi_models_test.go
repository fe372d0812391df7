package steps

import (
	"bytes"
	"context"
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
)

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
