package steps

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/template"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"meetpipe/runner"
	"meetpipe/steps/kimi"
)

// kimiPhase is one phase a recording can be in.
type kimiPhase struct {
	Name        string `yaml:"name" json:"name" doc:"the phase as stored (the answer must be exactly one of these)"`
	Description string `yaml:"description" json:"description" doc:"what a session of this phase is about; shown to the model"`
}

// kimiRule decides or overrides the phase with an expression.
type kimiRule struct {
	Name        string      `yaml:"name" json:"name,omitempty" doc:"shown as classification.rule when the rule decides; default pre_rules[i] or post_rules[i]"`
	When        runner.Expr `yaml:"when" json:"when" doc:"boolean expression over the item's fields (post rules also see answer, phase, summary, confidence)"`
	Phase       string      `yaml:"phase" json:"phase" doc:"the phase when the rule matches; one of phases"`
	NeedsReview bool        `yaml:"needs_review" json:"needs_review,omitempty" doc:"also flag the item for review when the rule matches"`
}

// kimiLimit is the fallback limiter of a step that names none.
type kimiLimit struct {
	Concurrency int     `yaml:"concurrency" min:"0" max:"256" json:"concurrency" doc:"requests in flight (0: no bound)"`
	RPM         float64 `yaml:"rpm" min:"0" max:"60000" json:"rpm" doc:"requests started per minute (0: no bound)"`
}

// kimiClassifyConfig is the `with:` block of kimi_classify. Settings that cannot change the answer (where
// the server is, the key, limits, timeouts) carry json:"-" and stay out of the memo key; phases, rules,
// prompts and model parameters are in it, so editing one re-runs the classification.
type kimiClassifyConfig struct {
	BaseURL       string      `yaml:"base_url" json:"-" doc:"Moonshot API base (KIMI_BASE_URL): https://api.moonshot.cn/v1 (China) or https://api.moonshot.ai/v1 (global); keys work on one only"`
	APIKey        string      `yaml:"api_key" json:"-" secret:"true" doc:"Moonshot API key (KIMI_API_KEY)"`
	Model         string      `yaml:"model" json:"model" doc:"model id (KIMI_MODEL), e.g. kimi-k3, kimi-k2.6, moonshot-v1-128k; checked against GET /v1/models at the start of every run (and dry run)"`
	ContextTokens int         `yaml:"context_tokens" min:"1024" max:"10000000" json:"context_tokens" doc:"the model's context window in tokens when GET /v1/models does not give it"`
	Phases        []kimiPhase `yaml:"phases" json:"phases" doc:"the phases, each with a description for the model"`
	FallbackPhase string      `yaml:"fallback_phase" json:"fallback_phase" doc:"phase of a recording whose answer stays invalid (it is also flagged needs_review)"`
	System        string      `yaml:"system" json:"system" doc:"system prompt (Go text/template; see the step's documentation for the names)"`
	User          string      `yaml:"user" json:"user" doc:"user prompt (Go text/template) carrying the transcript"`
	MapSystem     string      `yaml:"map_system" json:"map_system" doc:"system prompt summarising one part of an over-long transcript"`
	MapUser       string      `yaml:"map_user" json:"map_user" doc:"user prompt carrying one part of an over-long transcript"`
	PreRules      []kimiRule  `yaml:"pre_rules" json:"pre_rules" doc:"tried in order before the model; the first match sets the phase and the model is asked only for the summary"`
	PostRules     []kimiRule  `yaml:"post_rules" json:"post_rules" doc:"tried in order after the model; the first match overrides the phase"`
	SummaryMax    int         `yaml:"summary_max" min:"10" max:"100000" json:"summary_max" doc:"longest valid summary, in characters"`
	MaxTokens     int         `yaml:"max_tokens" min:"16" max:"1000000" json:"max_tokens" doc:"tokens for the answer; the request's max_completion_tokens is this plus reasoning_tokens (within the context window), doubled once when an answer is cut off"`
	// Reasoning only sizes the cap: a model that does not reason never spends it.
	ReasoningTokens int           `yaml:"reasoning_tokens" min:"0" max:"1000000" json:"-" doc:"tokens a reasoning model (kimi-k3 always reasons) may think before it answers, on top of max_tokens"`
	Temperature     float64       `yaml:"temperature" min:"0" max:"2" json:"temperature" doc:"sampling temperature (0-1); a model that allows only its own (\"only 1 is allowed\") gets none, learned from its 400 and remembered for the run"`
	Thinking        string        `yaml:"thinking" json:"thinking" enum:"disabled,enabled,default" doc:"thinking switch sent to the model (a classification needs no reasoning); a model that refuses it gets its default"`
	JSONMode        bool          `yaml:"json_mode" json:"json_mode" doc:"ask for a JSON answer (response_format)"`
	JSONSchema      bool          `yaml:"json_schema" json:"json_schema" doc:"with json_mode, ask for response_format json_schema (phases as an enum, summary_max as maxLength); a server that refuses it gets json_object"`
	TokenEstimate   string        `yaml:"token_estimate" json:"token_estimate" enum:"auto,api,runes" doc:"how a prompt is measured against the budget: runes (1.5 characters a token, no call), api (the estimate-token-count endpoint), auto (api only when the rune count is near the budget)"`
	BudgetRatio     float64       `yaml:"budget_ratio" min:"0.05" max:"1" json:"budget_ratio" doc:"share of the context window a prompt plus max_tokens may fill before the transcript is summarised in parts"`
	PartTokens      int           `yaml:"part_tokens" min:"256" max:"1000000" json:"part_tokens" doc:"size of a transcript part in map-reduce, in tokens"`
	Timestamps      bool          `yaml:"timestamps" json:"timestamps" doc:"prefix transcript lines with [mm:ss]"`
	DefaultLimit    kimiLimit     `yaml:"default_limit" json:"-" doc:"limits used when the step names no limiter (entry tier: concurrency 1, rpm 3); a named limiter replaces them"`
	Timeout         time.Duration `yaml:"timeout" min:"1s" max:"6h" json:"-" doc:"limit for one request"`
	PriceInput      float64       `yaml:"price_per_mtok_input" min:"0" max:"1000000" json:"-" doc:"price of a million prompt tokens (0: unknown); with it the dry-run estimate and the run's cost line give money"`
	PriceOutput     float64       `yaml:"price_per_mtok_output" min:"0" max:"1000000" json:"-" doc:"price of a million completion tokens, reasoning included"`
	PriceCached     float64       `yaml:"price_per_mtok_cached" min:"0" max:"1000000" json:"-" doc:"price of a million prompt tokens served from the prompt cache (0: as price_per_mtok_input)"`
	Currency        string        `yaml:"currency" json:"-" doc:"currency of the prices (CNY on api.moonshot.cn, USD on api.moonshot.ai)"`
}

const kimiSystemPrompt = `你是求职辅导会谈的分析助手。阅读一次辅导会谈的{{if eq .mode "reduce"}}分段摘要{{else}}转写{{end}}，{{if .phase}}为它写摘要{{else}}判断它属于哪个阶段并写摘要{{end}}。只输出一个 JSON 对象，不要输出任何其他内容。
字段：
{{- if not .phase}}
- "phase"：必须是以下之一：{{json .phase_names}}
- "confidence"：0 到 1 之间的小数，表示你对 phase 的把握
{{- end}}
- "summary"：不超过 {{.summary_max}} 字的中文摘要，写清讨论了什么、结论和下一步
{{- if not .phase}}
各阶段的含义：
{{- range .phases}}
- {{.name}}：{{.description}}
{{- end}}
无法判断时 phase 用 {{json .fallback_phase}}。
示例：{"phase":{{json (index .phase_names 0)}},"confidence":0.8,"summary":"……"}
{{- else}}
本次会谈的阶段已确定为「{{.phase}}」。
示例：{"summary":"……"}
{{- end}}`

const kimiUserPrompt = `会谈主题：{{.subject}}
开始时间：{{.start}}
时长：{{.duration_min}} 分钟
{{if eq .mode "reduce"}}以下是会谈转写按时间顺序分成 {{.parts}} 段后各段的摘要：{{else}}会谈转写（[分:秒] 是说话的时间）：{{end}}
<transcript>
{{.text}}
</transcript>`

const kimiMapSystemPrompt = `你是会谈记录整理助手。下面是一次求职辅导会谈转写的第 {{.part}}/{{.parts}} 段。只输出一个 JSON 对象，不要输出任何其他内容：{"summary":"不超过 {{.summary_max}} 字的中文要点摘要，保留关键事实、结论和时间点"}`

const kimiMapUserPrompt = `会谈主题：{{.subject}}
<transcript>
{{.text}}
</transcript>`

// kimiClassifyReads are the item fields the prompts can use besides the transcript.
var kimiClassifyReads = []string{"transcript", "subject", "start", "duration_min", "teacher_id", "student_ids", "participants"}

func init() {
	runner.Register(runner.Spec{
		Name: "kimi_classify",
		Summary: "summarise a transcript and give it a phase with a Moonshot (Kimi) model (structured output: json_schema, else JSON mode; " +
			"the model is checked against GET /v1/models at start, parameters it refuses are learned from its 400s), with YAML rules before " +
			"(pre_rules) and after (post_rules) the model. Templates see: .transcript {text, segments}, .text (the transcript " +
			"as [mm:ss] lines, or one part, or the parts' summaries), .subject, .start, .duration_min, .teacher_id, .student_ids, " +
			".participants, .id, .phases [{name, description}], .phase_names, .fallback_phase, .phase (set by a pre rule, else " +
			"empty), .summary_max, .mode (single, map, collapse, reduce), .part, .parts; functions json and join. " +
			"Limits: name a limiter, e.g. `limiters: {moonshot: {concurrency: 1, rpm: 3}}` (entry tier) and `limiter: moonshot`",
		Version: "2", // 2: usage in the classification; requests with json_schema and max_completion_tokens
		Reads:   kimiClassifyReads,
		Writes: []runner.Field{
			{Name: "phase", Sample: "", Doc: "one of the configured phases"},
			{Name: "summary", Sample: "", Doc: "the model's summary (empty when it never gave a valid one)"},
			{Name: "classification", Sample: kimi.Classification{},
				Doc: "model, rule (model, a rule's name, fallback, empty), model_phase, confidence, needs_review, reason, attempts, prompt_tokens, completion_tokens, tokens, " +
					"usage {prompt_tokens, completion_tokens, reasoning_tokens, cached_tokens} (this item's calls; reasoning is part of completion, cached part of prompt), parts, answer, raw"},
			{Name: "needs_review", Sample: false, Doc: "true when a person should check the phase or summary"},
		},
		SideEffects: true,
	}, kimiClassifyConfig{
		BaseURL: kimi.DefaultChatBaseURL,
		Model:   "moonshot-v1-128k",
		Phases: []kimiPhase{
			{"简历优化", "修改和润色简历：梳理经历与亮点，按目标岗位调整内容、措辞和排版。"},
			{"项目深挖", "深入讨论学员做过的某个项目：背景、技术方案与取舍、个人贡献、难点和结果，准备如何讲述。"},
			{"面试模拟", "模拟真实面试：自我介绍、行为面试、技术或算法问答的演练，以及对回答的点评。"},
			{"Offer后续", "拿到或即将拿到 offer 之后的事：比较和选择 offer、谈薪、入职准备、试用期。"},
			{"其他", "不属于以上任何一类，或内容不足以判断（寒暄、时间安排、设备调试等）。"},
		},
		FallbackPhase:   "其他",
		System:          kimiSystemPrompt,
		User:            kimiUserPrompt,
		MapSystem:       kimiMapSystemPrompt,
		MapUser:         kimiMapUserPrompt,
		SummaryMax:      300,
		MaxTokens:       1024,
		ReasoningTokens: 8192,
		Temperature:     0.3,
		Thinking:        "disabled",
		JSONMode:        true,
		JSONSchema:      true,
		ContextTokens:   131072,
		Currency:        "CNY",
		TokenEstimate:   "auto",
		BudgetRatio:     0.8,
		PartTokens:      6000,
		Timestamps:      true,
		DefaultLimit:    kimiLimit{Concurrency: 1, RPM: 3},
		Timeout:         5 * time.Minute,
	}, newKimiClassify)
}

// kimiReprompts is how often an invalid answer is asked again with the validator's message.
const kimiReprompts = 2

type compiledRule struct {
	kimiRule
	name string
	prog *runner.Program
}

type kimiClassify struct {
	cfg     kimiClassifyConfig
	chat    *kimi.Chat
	lim     *runner.Limiter
	context atomic.Int64      // the model's window: GET /v1/models, else context_tokens, lowered by a 400 that names it
	phases  map[string]string // folded name → name
	names   []string
	tpl     map[string]*template.Template
	pre     []compiledRule
	post    []compiledRule

	// stop holds an error that ends every later call of this run: an exhausted quota (deferred) or a
	// rejected key (permanent).
	stop atomic.Pointer[error]

	b      *runner.Build
	healer kimi.Healer // parameters the model refused, learned this run
	prices kimi.Prices
	spent  kimi.Meter // tokens of this run's calls (or, in a dry run, the estimate)

	// cache keeps answers within the run, so that an engine retry after a 429 half-way through the ladder
	// or a map-reduce does not pay again for the calls that succeeded.
	mu    sync.Mutex
	cache map[[32]byte]*kimi.ChatResponse
	order [][32]byte
}

func newKimiClassify(cfg kimiClassifyConfig, b *runner.Build) (any, error) {
	s := &kimiClassify{cfg: cfg, phases: map[string]string{}, tpl: map[string]*template.Template{},
		cache: map[[32]byte]*kimi.ChatResponse{}}
	fail := func(format string, args ...any) (any, error) {
		return nil, b.Errorf(nil, "kimi_classify: "+format, args...)
	}
	if strings.TrimSpace(cfg.APIKey) == "" && !b.DryRun {
		return fail("api_key is empty; set KIMI_API_KEY")
	}
	if strings.TrimSpace(cfg.Model) == "" {
		return fail("model is empty")
	}
	if len(cfg.Phases) == 0 {
		return fail("phases is empty")
	}
	for _, p := range cfg.Phases {
		k := foldPhase(p.Name)
		if k == "" {
			return fail("a phase has no name")
		}
		if _, dup := s.phases[k]; dup {
			return fail("phase %q is listed twice", p.Name)
		}
		s.phases[k] = p.Name
		s.names = append(s.names, p.Name)
	}
	if _, ok := s.phase(cfg.FallbackPhase); !ok {
		return fail("fallback_phase %q is not one of the phases %s", cfg.FallbackPhase, strings.Join(s.names, ", "))
	}
	if cfg.SummaryMax <= 0 || cfg.MaxTokens <= 0 || cfg.PartTokens <= 0 || cfg.ContextTokens <= 0 {
		return fail("summary_max, max_tokens, part_tokens and context_tokens must be positive")
	}
	if cfg.ReasoningTokens < 0 || cfg.PriceInput < 0 || cfg.PriceOutput < 0 || cfg.PriceCached < 0 {
		return fail("reasoning_tokens and prices must not be negative")
	}
	if cfg.BudgetRatio <= 0 || cfg.BudgetRatio > 1 {
		return fail("budget_ratio must be in (0, 1]")
	}
	s.context.Store(int64(cfg.ContextTokens))
	s.b = b
	s.prices = kimi.Prices{Input: cfg.PriceInput, Output: cfg.PriceOutput, Cached: cfg.PriceCached, Currency: cfg.Currency}
	funcs := template.FuncMap{"json": templateJSON, "join": templateJoin}
	for name, src := range map[string]string{"system": cfg.System, "user": cfg.User, "map_system": cfg.MapSystem, "map_user": cfg.MapUser} {
		t, err := template.New(name).Funcs(funcs).Option("missingkey=zero").Parse(src)
		if err != nil {
			return fail("%s template: %v", name, err)
		}
		s.tpl[name] = t
	}
	compile := func(list []kimiRule, kind string, extra map[string]any) ([]compiledRule, error) {
		var out []compiledRule
		for i := range list {
			r := list[i]
			name := r.Name
			if name == "" {
				name = fmt.Sprintf("%s[%d]", kind, i)
			}
			if _, ok := s.phase(r.Phase); !ok {
				return nil, ruleErr(b, &list[i].When, "kimi_classify: %s: phase %q is not one of the phases %s", name, r.Phase, strings.Join(s.names, ", "))
			}
			prog, err := b.CompileBool(&list[i].When, extra)
			if err != nil {
				return nil, err
			}
			r.Phase, _ = s.phase(r.Phase)
			out = append(out, compiledRule{kimiRule: r, name: name, prog: prog})
		}
		return out, nil
	}
	var err error
	if s.pre, err = compile(cfg.PreRules, "pre_rules", nil); err != nil {
		return nil, err
	}
	if s.post, err = compile(cfg.PostRules, "post_rules", postRuleSamples()); err != nil {
		return nil, err
	}
	b.Secret(cfg.APIKey)
	s.chat = &kimi.Chat{BaseURL: cfg.BaseURL, APIKey: cfg.APIKey}
	s.lim = b.Limiter()
	if s.lim.Name() == runner.Unlimited().Name() && (cfg.DefaultLimit.Concurrency > 0 || cfg.DefaultLimit.RPM > 0) {
		s.lim = runner.NewLimiter(b.StepID+".default_limit", cfg.DefaultLimit.Concurrency, cfg.DefaultLimit.RPM)
	}
	return s, nil
}

// postRuleSamples are the names post rules see besides the item.
func postRuleSamples() map[string]any {
	return map[string]any{"answer": map[string]any{}, "phase": "", "summary": "", "confidence": 0.0}
}

func ruleErr(b *runner.Build, e *runner.Expr, format string, args ...any) error {
	line, col := e.Pos()
	if line == 0 {
		return b.Errorf(nil, format, args...)
	}
	return b.Errorf(&yaml.Node{Line: line, Column: col}, format, args...)
}

func templateJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func templateJoin(v any, sep string) string {
	switch v := v.(type) {
	case []string:
		return strings.Join(v, sep)
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, sep)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// foldPhase is a phase name as compared: trimmed, without quotes, case-folded.
func foldPhase(s string) string {
	s = strings.Trim(strings.TrimSpace(s), "\"'「」『』“”《》【】 ")
	return strings.ToLower(s)
}

// phase returns the configured spelling of a phase name.
func (s *kimiClassify) phase(name string) (string, bool) {
	p, ok := s.phases[foldPhase(name)]
	return p, ok
}

func (s *kimiClassify) Process(ctx context.Context, in *runner.Item) (runner.Fields, error) {
	if p := s.stop.Load(); p != nil {
		return nil, *p
	}
	var tr kimi.Transcript
	if err := in.Get("transcript", &tr); err != nil {
		return nil, runner.Permanent(err)
	}
	log := runner.Logger(ctx)
	res := &kimi.Classification{Model: s.cfg.Model, Rule: "model", Parts: 1}
	phase, summary := "", ""
	for _, r := range s.pre {
		ok, err := r.prog.Bool(in, nil)
		if err != nil {
			return nil, runner.Permanent(fmt.Errorf("%s: %w", r.name, err))
		}
		if ok {
			phase, res.Rule, res.Confidence = r.Phase, r.name, 1
			if r.NeedsReview {
				res.NeedsReview, res.Reason = true, r.name
			}
			break
		}
	}
	decided := phase != ""

	var answer map[string]any
	if strings.TrimSpace(tr.Text) == "" {
		res.NeedsReview, res.Reason = true, "转写为空"
		if !decided {
			phase, res.Rule = s.cfg.FallbackPhase, "empty"
		}
	} else {
		data := s.data(in, phase)
		out, err := s.classify(ctx, data, tr, decided, res)
		var ae *kimi.APIError
		switch {
		case err != nil && errors.As(err, &ae) && ae.Kind() == kimi.ErrContentFilter:
			res.NeedsReview, res.Reason = true, "content_filter: "+ae.Message
			if !decided {
				phase, res.Rule = s.cfg.FallbackPhase, "fallback"
			}
		case err != nil:
			return nil, err
		default:
			answer = out.answer
			summary = clipRunes(stringOf(out.answer["summary"]), s.cfg.SummaryMax)
			if out.valid {
				if !decided {
					phase, _ = s.phase(stringOf(out.answer["phase"]))
					res.Confidence = confidenceOf(out.answer)
				}
			} else {
				res.NeedsReview, res.Reason, res.Raw = true, out.reason, clipRunes(out.content, 2000)
				if !decided {
					phase, res.Rule = s.cfg.FallbackPhase, "fallback"
				}
			}
			if !decided {
				res.ModelPhase = clipRunes(stringOf(out.answer["phase"]), 100)
			}
		}
	}
	res.Answer = answer

	extra := map[string]any{"answer": answer, "phase": phase, "summary": summary, "confidence": res.Confidence}
	if answer == nil {
		extra["answer"] = map[string]any{}
	}
	for _, r := range s.post {
		ok, err := r.prog.Bool(in, extra)
		if err != nil {
			return nil, runner.Permanent(fmt.Errorf("%s: %w", r.name, err))
		}
		if ok {
			phase, res.Rule = r.Phase, r.name
			if r.NeedsReview {
				res.NeedsReview = true
				if res.Reason == "" {
					res.Reason = r.name
				}
			}
			break
		}
	}
	log.InfoContext(ctx, "classified", "phase", phase, "rule", res.Rule, "needs_review", res.NeedsReview,
		"attempts", res.Attempts, "tokens", res.Tokens, "parts", res.Parts)
	return runner.Fields{"phase": phase, "summary": summary, "classification": res, "needs_review": res.NeedsReview}, nil
}

// data is what the templates see.
func (s *kimiClassify) data(in *runner.Item, phase string) map[string]any {
	d := map[string]any{"id": in.ID()}
	for _, f := range kimiClassifyReads {
		var v any = ""
		if raw := in.Raw(f); raw != nil {
			var x any
			if json.Unmarshal(raw, &x) == nil && x != nil {
				v = x
			}
		}
		d[f] = v
	}
	phases := make([]map[string]string, len(s.cfg.Phases))
	for i, p := range s.cfg.Phases {
		phases[i] = map[string]string{"name": p.Name, "description": p.Description}
	}
	d["phases"], d["phase_names"], d["fallback_phase"] = phases, s.names, s.cfg.FallbackPhase
	d["phase"], d["summary_max"] = phase, s.cfg.SummaryMax
	d["mode"], d["part"], d["parts"], d["text"] = "single", 1, 1, ""
	return d
}

func (s *kimiClassify) render(sys, user string, data map[string]any, set map[string]any) ([]kimi.Message, error) {
	d := make(map[string]any, len(data)+len(set))
	for k, v := range data {
		d[k] = v
	}
	for k, v := range set {
		d[k] = v
	}
	var msgs []kimi.Message
	for _, x := range []struct{ role, tpl string }{{"system", sys}, {"user", user}} {
		var b strings.Builder
		if err := s.tpl[x.tpl].Execute(&b, d); err != nil {
			return nil, runner.Permanent(fmt.Errorf("%s template: %w", x.tpl, err))
		}
		if text := strings.TrimSpace(b.String()); text != "" {
			msgs = append(msgs, kimi.Message{Role: x.role, Content: text})
		}
	}
	if len(msgs) == 0 || msgs[len(msgs)-1].Role != "user" {
		return nil, runner.Permanentf("the %s template rendered nothing: the model needs a user message", user)
	}
	return msgs, nil
}

// classify runs the model over the transcript: in one pass when the prompt fits the budget, else by
// summarising parts first.
func (s *kimiClassify) classify(ctx context.Context, data map[string]any, tr kimi.Transcript, decided bool, res *kimi.Classification) (answer, error) {
	check := s.checkFull
	if decided {
		check = s.checkSummary
	}
	text := formatTranscript(tr, s.cfg.Timestamps)
	msgs, err := s.render("system", "user", data, map[string]any{"text": text})
	if err != nil {
		return answer{}, err
	}
	fits, err := s.fits(ctx, msgs)
	if err != nil {
		return answer{}, err
	}
	if fits {
		out, err := s.ask(ctx, msgs, check, res, phasesUnless(decided, s.names))
		var ae *kimi.APIError
		if err == nil || !errors.As(err, &ae) || ae.Kind() != kimi.ErrTooLong {
			return out, err
		}
		runner.Logger(ctx).InfoContext(ctx, "prompt over the model's limit, summarising in parts", "err", err)
	}
	combined, err := s.mapReduce(ctx, data, tr, res)
	if err != nil {
		return answer{}, err
	}
	msgs, err = s.render("system", "user", data, map[string]any{"text": combined, "mode": "reduce", "parts": res.Parts})
	if err != nil {
		return answer{}, err
	}
	return s.ask(ctx, msgs, check, res, phasesUnless(decided, s.names))
}

// phasesUnless is the schema's enum: none when the phase is decided and only a summary is asked for.
func phasesUnless(decided bool, names []string) []string {
	if decided {
		return nil
	}
	return names
}

// answer is the end of a ladder: the last parsed answer, valid or not.
type answer struct {
	answer  map[string]any
	content string
	valid   bool
	reason  string
}

// ask runs the validation ladder: an answer cut off at the output cap is asked again once with twice
// the cap; an invalid one is asked again with the validator's message at most twice; after that the
// last answer is returned as invalid. Network errors and 429s end the ladder with an error for the
// engine to retry; they do not count as re-prompts. schemaPhases are the enum of the json_schema (nil:
// the summary alone).
func (s *kimiClassify) ask(ctx context.Context, msgs []kimi.Message, check func(map[string]any) error, res *kimi.Classification, schemaPhases []string) (answer, error) {
	msgs = append([]kimi.Message(nil), msgs...)
	limit := s.outputCap(msgs, 1)
	grown, reprompts := false, 0
	schema := kimi.ClassifySchema(schemaPhases, s.cfg.SummaryMax)
	for {
		resp, err := s.complete(ctx, msgs, limit, schema)
		if err != nil {
			return answer{}, err
		}
		res.Attempts++
		u := resp.TokenUsage()
		res.PromptTokens += u.PromptTokens
		res.CompletionTokens += u.CompletionTokens
		res.Tokens += u.TotalTokens
		res.Usage.Add(u)
		content, finish := resp.Content()
		if finish == "length" && !grown {
			grown, limit = true, s.outputCap(msgs, 2)
			continue
		}
		ans, verr := kimi.ParseAnswer(content)
		if verr == nil {
			verr = check(ans)
		}
		if verr == nil {
			return answer{answer: ans, content: content, valid: true}, nil
		}
		if finish == "length" {
			verr = fmt.Errorf("输出在 %d 个 token 处被截断，%v", limit, verr)
		}
		if reprompts == kimiReprompts {
			return answer{answer: ans, content: content, reason: verr.Error()}, nil
		}
		reprompts++
		if quote := strings.TrimSpace(content); quote != "" {
			// Quote back only the start: a runaway answer (megabytes of prose) would otherwise grow the
			// prompt until it overflows the context and the item fails for good.
			msgs = append(msgs, kimi.Message{Role: "assistant", Content: clipQuote(quote, kimiQuoteRunes)})
		}
		msgs = append(msgs, kimi.Message{Role: "user",
			Content: "上次输出不符合要求：" + clipQuote(verr.Error(), 500) + "。请只输出符合字段要求的 JSON 对象。"})
	}
}

// kimiQuoteRunes is how much of an invalid answer is quoted back in a re-prompt: a valid one is a few
// hundred characters, so this shows the model what it did without carrying a runaway answer along.
const kimiQuoteRunes = 2000

func clipQuote(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "……（已截断）"
	}
	return s
}

// outputCap is max_completion_tokens for a prompt: the answer's tokens plus a reasoning model's thinking,
// times factor, kept within the context window left by the prompt (a model that does not reason never
// spends the reasoning share).
func (s *kimiClassify) outputCap(msgs []kimi.Message, factor int) int {
	n := (s.cfg.MaxTokens + s.cfg.ReasoningTokens) * factor
	if room := int(s.context.Load()) - runeTokens(msgs); n > room {
		n = max(room, s.cfg.MaxTokens*factor)
	}
	return n
}

// checkFull validates an answer that must carry the phase and the summary; it rewrites the phase to the
// configured spelling.
func (s *kimiClassify) checkFull(a map[string]any) error {
	raw, ok := a["phase"]
	if !ok {
		return errors.New(`缺少字段 "phase"`)
	}
	str, ok := raw.(string)
	if !ok {
		return errors.New(`"phase" 必须是字符串`)
	}
	p, ok := s.phase(str)
	if !ok {
		return fmt.Errorf(`"phase" 的值 %q 不在允许的阶段中：%s`, clipQuote(str, 50), strings.Join(s.names, "、"))
	}
	a["phase"] = p
	if c, ok := a["confidence"]; ok && c != nil {
		f, ok := c.(float64)
		if !ok || f < 0 || f > 1 {
			return errors.New(`"confidence" 必须是 0 到 1 之间的数`)
		}
	}
	return s.checkSummary(a)
}

// checkSummary validates the summary alone.
func (s *kimiClassify) checkSummary(a map[string]any) error {
	raw, ok := a["summary"]
	if !ok {
		return errors.New(`缺少字段 "summary"`)
	}
	str, ok := raw.(string)
	if !ok {
		return errors.New(`"summary" 必须是字符串`)
	}
	n := utf8.RuneCountInString(strings.TrimSpace(str))
	if n == 0 {
		return errors.New(`"summary" 为空`)
	}
	if n > s.cfg.SummaryMax {
		return fmt.Errorf(`"summary" 有 %d 字，超过上限 %d 字`, n, s.cfg.SummaryMax)
	}
	return nil
}

// complete sends one chat completion inside the limiter, or answers from the run's cache. A 400 naming
// a parameter the model refuses is healed and sent again; what was learned holds for the model for the
// rest of the run. The cache key is the request as configured, so a healed request finds it too.
func (s *kimiClassify) complete(ctx context.Context, msgs []kimi.Message, maxTokens int, schema *kimi.JSONSchema) (*kimi.ChatResponse, error) {
	want := kimi.Params{Thinking: s.cfg.Thinking, MaxField: "max_completion_tokens", Format: "text"}
	if want.Thinking == "default" {
		want.Thinking = ""
	}
	t := s.cfg.Temperature
	want.Temperature = &t
	if s.cfg.JSONMode {
		want.Format = "json_object"
		if s.cfg.JSONSchema {
			want.Format = "json_schema"
		}
	}
	body, err := json.Marshal(want.Request(s.cfg.Model, msgs, maxTokens, schema, ""))
	if err != nil {
		return nil, err
	}
	key := sha256.Sum256(body)
	s.mu.Lock()
	hit := s.cache[key]
	s.mu.Unlock()
	if hit != nil {
		return hit, nil
	}
	// The fixed prefix is the system prompt (with the phase list): requests sharing it share a key.
	sum := sha256.Sum256([]byte(s.cfg.Model + "\x00" + msgs[0].Content))
	cacheKey := fmt.Sprintf("meetpipe-%x", sum[:8])
	p := s.healer.Params(s.cfg.Model, want)
	var resp *kimi.ChatResponse
	for heals := 0; ; heals++ {
		req := p.Request(s.cfg.Model, msgs, maxTokens, schema, cacheKey)
		err = s.callRaw(ctx, func(ctx context.Context) error {
			var err error
			resp, err = s.chat.Complete(ctx, req)
			return err
		})
		var ae *kimi.APIError
		if err != nil && heals < 4 && errors.As(err, &ae) {
			if np, note, ok := kimi.Heal(p, ae); ok {
				if s.healer.Learn(s.cfg.Model, np) {
					runner.Logger(ctx).InfoContext(ctx, "the model refused a parameter; adjusted for the rest of the run",
						"model", s.cfg.Model, "change", note)
				}
				p = np
				continue
			}
		}
		if err != nil && heals < 4 && errors.As(err, &ae) && s.learnWindow(ctx, ae) {
			maxTokens = min(maxTokens, s.outputCap(msgs, 1))
			continue
		}
		if err != nil {
			return nil, s.classifyErr(err)
		}
		if np, ok := capIgnored(p, resp, maxTokens); ok && heals < 4 {
			if s.healer.Learn(s.cfg.Model, np) {
				runner.Logger(ctx).InfoContext(ctx, "the model refused a parameter; adjusted for the rest of the run",
					"model", s.cfg.Model, "change", "max_completion_tokens ignored (cut off far below it); output cap sent as max_tokens")
			}
			p = np
			continue
		}
		break
	}
	var u kimi.TokenUsage
	u.Add(resp.TokenUsage())
	s.spent.Add(u)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.order) >= 512 {
		delete(s.cache, s.order[0])
		s.order = s.order[1:]
	}
	s.cache[key] = resp
	s.order = append(s.order, key)
	return resp, nil
}

// capIgnored reports a server that cut the answer off far below max_completion_tokens: it does not read
// that name (some clients found native Moonshot wants max_tokens, docs/kimi-asr-api.md §1.3).
func capIgnored(p kimi.Params, resp *kimi.ChatResponse, maxTokens int) (kimi.Params, bool) {
	_, finish := resp.Content()
	u := resp.TokenUsage()
	if finish != "length" || p.MaxField == "max_tokens" || u.CompletionTokens == 0 || u.CompletionTokens*2 > maxTokens {
		return p, false
	}
	p.MaxField = "max_tokens"
	return p, true
}

var tokenLimitRE = regexp.MustCompile(`(?i)exceeded model token limit\s*:\s*(\d+)`)

// learnWindow lowers the context window to the one a 400 names ("Your request exceeded model token limit
// : 8192"), for a model whose window GET /v1/models did not give. It reports whether the window shrank.
func (s *kimiClassify) learnWindow(ctx context.Context, ae *kimi.APIError) bool {
	m := tokenLimitRE.FindStringSubmatch(ae.Message)
	if m == nil {
		return false
	}
	n, err := strconv.Atoi(m[1])
	if cur := s.context.Load(); err != nil || n <= 0 || int64(n) >= cur || !s.context.CompareAndSwap(cur, int64(n)) {
		return false
	}
	runner.Logger(ctx).InfoContext(ctx, "the model's context window is smaller than configured; using it for the rest of the run",
		"model", s.cfg.Model, "context_tokens", n)
	return true
}

// call runs one request inside the limiter and classifies its failure.
func (s *kimiClassify) call(ctx context.Context, f func(context.Context) error) error {
	if err := s.callRaw(ctx, f); err != nil {
		return s.classifyErr(err)
	}
	return nil
}

// callRaw runs one request inside the limiter.
func (s *kimiClassify) callRaw(ctx context.Context, f func(context.Context) error) error {
	if p := s.stop.Load(); p != nil {
		return *p
	}
	release, err := s.lim.Acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	if s.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.Timeout)
		defer cancel()
	}
	return f(ctx)
}

// Open checks the model against GET /v1/models once per run, before any money is spent, and takes its
// context window from the answer where it is given.
func (s *kimiClassify) Open(ctx context.Context) error {
	log := runner.Logger(ctx)
	if strings.TrimSpace(s.cfg.APIKey) == "" {
		log.WarnContext(ctx, "no api_key: the model is not checked in this dry run", "model", s.cfg.Model)
		return nil
	}
	var ms []kimi.Model
	err := s.callRaw(ctx, func(ctx context.Context) error {
		var err error
		ms, err = s.chat.Models(ctx)
		return err
	})
	var ae *kimi.APIError
	switch {
	case errors.As(err, &ae) && (ae.Kind() == kimi.ErrNotFound || ae.Kind() == kimi.ErrBadRequest):
		// A proxy without the endpoint: the first completion will tell.
		log.WarnContext(ctx, "cannot list models; the model is not checked", "err", err)
		return nil
	case err != nil:
		return fmt.Errorf("list the models of the key: %w", s.classifyErr(err))
	}
	m, err := kimi.CheckModel(ms, s.cfg.Model)
	if err != nil {
		return s.b.Errorf(nil, "kimi_classify: %v (set KIMI_MODEL or model:)", err)
	}
	if m.ContextLength > 0 {
		s.context.Store(int64(m.ContextLength))
	}
	log.DebugContext(ctx, "model checked", "model", m.ID, "context_tokens", s.context.Load())
	return nil
}

// Cost is the run's tokens (in a dry run, the estimate's) and, with prices configured, their money.
func (s *kimiClassify) Cost() runner.Cost {
	u := s.spent.Total()
	if u == (kimi.TokenUsage{}) {
		return runner.Cost{}
	}
	c := runner.Cost{Units: u.Units(), Estimate: s.b.DryRun}
	if s.prices.Known() {
		c.Money, c.Currency = s.prices.Money(u), s.prices.Currency
	}
	return c
}

// classifyErr tells the engine what to do: Moonshot's three kinds of 429 differ only in error.type.
func (s *kimiClassify) classifyErr(err error) error {
	var ae *kimi.APIError
	if !errors.As(err, &ae) {
		return err
	}
	switch ae.Kind() {
	case kimi.ErrAuth:
		e := runner.Environmental(fmt.Errorf("Moonshot rejected the key (%w); check KIMI_API_KEY (keys of api.moonshot.cn and api.moonshot.ai are not interchangeable; base_url is %s)",
			err, runner.RedactURL(s.chat.BaseURL)))
		s.stop.CompareAndSwap(nil, &e)
		return e
	case kimi.ErrQuota:
		e := runner.Deferred(fmt.Errorf("Moonshot quota exhausted, no more model calls this run; items stay pending for the next run: %w", err))
		s.stop.CompareAndSwap(nil, &e)
		return e
	case kimi.ErrRateLimit, kimi.ErrOverloaded, kimi.ErrServer:
		if ae.Wait > 0 {
			s.lim.Hold(ae.Wait)
			return runner.RetryAfter(err, ae.Wait)
		}
		return runner.Transient(err)
	case kimi.ErrNotFound:
		return runner.Permanent(fmt.Errorf("model %q unknown or not allowed for this key: %w", s.cfg.Model, err))
	case kimi.ErrBadRequest, kimi.ErrTooLarge, kimi.ErrTooLong, kimi.ErrContentFilter:
		return runner.Permanent(err)
	}
	return err
}

// fits reports whether a prompt plus max_tokens stays within budget_ratio of the context window.
func (s *kimiClassify) fits(ctx context.Context, msgs []kimi.Message) (bool, error) {
	limit := s.budget()
	h := runeTokens(msgs)
	mode := s.cfg.TokenEstimate
	if mode == "runes" || (mode == "auto" && (h <= limit || h*3/4 > limit)) {
		// The heuristic counts 1.5 characters a token; Chinese runs 1.5–2, so a fit is sure and so is
		// an overrun by a third.
		return h <= limit, nil
	}
	var n int
	err := s.call(ctx, func(ctx context.Context) error {
		var err error
		n, err = s.chat.EstimateTokens(ctx, s.cfg.Model, msgs)
		return err
	})
	if err != nil {
		// The key, the quota and the rate are the run's business; a proxy without the endpoint is not.
		var ae *kimi.APIError
		if ctx.Err() != nil || errors.As(err, &ae) && (ae.Kind() == kimi.ErrAuth || ae.Kind() == kimi.ErrQuota || ae.Kind() == kimi.ErrRateLimit) {
			return false, err
		}
		runner.Logger(ctx).WarnContext(ctx, "token estimate failed, counting characters", "err", err)
		return h <= limit, nil
	}
	return n <= limit, nil
}

func (s *kimiClassify) budget() int {
	return int(float64(s.context.Load())*s.cfg.BudgetRatio) - s.cfg.MaxTokens
}

// runeTokens over-estimates tokens: 1.5 characters a token plus a few per message.
func runeTokens(msgs []kimi.Message) int {
	n := 0
	for _, m := range msgs {
		n += textTokens(m.Content) + 8
	}
	return n
}

func textTokens(s string) int { return int(math.Ceil(float64(utf8.RuneCountInString(s)) / 1.5)) }

// mapReduce summarises the transcript in parts (and the summaries in groups while they are still too
// long) and returns the summaries for the final prompt.
func (s *kimiClassify) mapReduce(ctx context.Context, data map[string]any, tr kimi.Transcript, res *kimi.Classification) (string, error) {
	parts := splitTranscript(tr, s.cfg.Timestamps, s.cfg.PartTokens)
	res.Parts = len(parts)
	sums, err := s.summarise(ctx, data, parts, "map", res)
	if err != nil {
		return "", err
	}
	for depth := 0; depth < 3 && len(sums) > 1 && textTokens(joinSummaries(sums)) > s.budget()/2; depth++ {
		groups := groupSummaries(sums, s.cfg.PartTokens)
		if len(groups) >= len(sums) {
			break
		}
		if sums, err = s.summarise(ctx, data, groups, "collapse", res); err != nil {
			return "", err
		}
	}
	return joinSummaries(sums), nil
}

func (s *kimiClassify) summarise(ctx context.Context, data map[string]any, texts []string, mode string, res *kimi.Classification) ([]string, error) {
	out := make([]string, 0, len(texts))
	for i, t := range texts {
		msgs, err := s.render("map_system", "map_user", data, map[string]any{"text": t, "mode": mode, "part": i + 1, "parts": len(texts)})
		if err != nil {
			return nil, err
		}
		a, err := s.ask(ctx, msgs, s.checkSummary, res, nil)
		if err != nil {
			return nil, err
		}
		sum := stringOf(a.answer["summary"])
		if !a.valid {
			res.NeedsReview = true
			res.Reason = fmt.Sprintf("第 %d 段摘要无效：%s", i+1, a.reason)
			if strings.TrimSpace(sum) == "" {
				sum = a.content
			}
		}
		out = append(out, clipRunes(strings.TrimSpace(sum), s.cfg.SummaryMax))
	}
	return out, nil
}

func joinSummaries(sums []string) string {
	var b strings.Builder
	for i, s := range sums {
		fmt.Fprintf(&b, "【第 %d/%d 段】%s\n", i+1, len(sums), s)
	}
	return strings.TrimSpace(b.String())
}

// groupSummaries packs consecutive summaries into texts of at most size tokens.
func groupSummaries(sums []string, size int) []string {
	var out []string
	var cur strings.Builder
	n := 0
	for i, s := range sums {
		line := fmt.Sprintf("【第 %d 段】%s\n", i+1, s)
		t := textTokens(line)
		if n > 0 && n+t > size {
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
			n = 0
		}
		cur.WriteString(line)
		n += t
	}
	if n > 0 {
		out = append(out, strings.TrimSpace(cur.String()))
	}
	return out
}

// formatTranscript renders the transcript for a prompt: "[mm:ss] text" lines, or the text when there are
// no segments or timestamps are off.
func formatTranscript(tr kimi.Transcript, stamps bool) string {
	lines := transcriptLines(tr, stamps)
	return strings.Join(lines, "\n")
}

func transcriptLines(tr kimi.Transcript, stamps bool) []string {
	if len(tr.Segments) == 0 {
		return []string{strings.TrimSpace(tr.Text)}
	}
	lines := make([]string, 0, len(tr.Segments))
	for _, sg := range tr.Segments {
		if stamps {
			lines = append(lines, "["+clock(sg.Start)+"] "+sg.Text)
		} else {
			lines = append(lines, sg.Text)
		}
	}
	return lines
}

func clock(sec float64) string {
	t := int(sec)
	if t >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", t/3600, t/60%60, t%60)
	}
	return fmt.Sprintf("%02d:%02d", t/60, t%60)
}

// splitTranscript cuts the transcript into parts of at most size tokens on line boundaries, each part
// after the first repeating the previous part's last line for context. A line longer than a part is cut
// by characters.
func splitTranscript(tr kimi.Transcript, stamps bool, size int) []string {
	var lines []string
	maxRunes := int(float64(size) * 1.5)
	for _, l := range transcriptLines(tr, stamps) {
		r := []rune(l)
		for len(r) > maxRunes {
			lines = append(lines, string(r[:maxRunes]))
			r = r[maxRunes:]
		}
		lines = append(lines, string(r))
	}
	var parts []string
	var cur []string
	n := 0
	for _, l := range lines {
		t := textTokens(l) + 1
		if n > 0 && n+t > size {
			parts = append(parts, strings.Join(cur, "\n"))
			last := cur[len(cur)-1]
			cur, n = nil, 0
			if lt := textTokens(last) + 1; lt+t <= size {
				cur, n = []string{last}, lt
			}
		}
		cur = append(cur, l)
		n += t
	}
	if len(cur) > 0 {
		parts = append(parts, strings.Join(cur, "\n"))
	}
	return parts
}

func stringOf(v any) string {
	s, _ := v.(string)
	return strings.TrimSpace(s)
}

func confidenceOf(a map[string]any) float64 {
	f, _ := a["confidence"].(float64)
	return f
}

func clipRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

// Estimate says what a run would spend on the item: tokens, and money where prices are configured. In a
// dry run the estimates add up to the run's cost line.
func (s *kimiClassify) Estimate(in *runner.Item) string {
	var tr kimi.Transcript
	var n int
	note := "1 call"
	if in.Get("transcript", &tr) != nil {
		// A dry run has no transcript yet: assume 200 characters of Mandarin a minute, 1.5 a token.
		var minutes float64
		if in.Get("duration_min", &minutes) != nil || minutes <= 0 {
			return "1+ model calls (tokens known once transcribed)"
		}
		n, note = int(minutes*200/1.5)+600, fmt.Sprintf("from %.0f min", minutes)
	} else {
		n = textTokens(formatTranscript(tr, s.cfg.Timestamps)) + 600
	}
	if n+s.cfg.MaxTokens > s.budget() {
		note += fmt.Sprintf(", map-reduce in ~%d parts", n/s.cfg.PartTokens+1)
	}
	// The answer is well under max_tokens; a reasoning model adds its thinking, which is not known here.
	u := kimi.TokenUsage{PromptTokens: n, CompletionTokens: s.cfg.MaxTokens / 2}
	if s.b.DryRun {
		s.spent.Add(u)
	}
	out := fmt.Sprintf("~%dk tokens, %s", (n+999)/1000, note)
	if s.prices.Known() {
		out += ", ~" + s.prices.Format(s.prices.Money(u))
	}
	return out
}

// Check reports whether Moonshot takes the key at this base URL, knows the model and has a balance.
func (s *kimiClassify) Check(ctx context.Context, _ runner.CheckOptions) []runner.Finding {
	var out []runner.Finding
	for _, f := range kimi.CheckChat(ctx, s.chat, s.cfg.Model) {
		out = append(out, runner.Finding(f))
	}
	return out
}
