package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"meetpipe/runner"
	"meetpipe/runner/step"
	"meetpipe/steps/coach"
	"meetpipe/steps/internal/fsx"
	"meetpipe/steps/kimi"
)

// kimiPhase is one phase a recording can be in.
type kimiPhase struct {
	Name        string `yaml:"name" json:"name" doc:"the phase as stored (the answer must be exactly one of these)"`
	Description string `yaml:"description" json:"description" doc:"what a session of this phase is about; shown to the model"`
}

// kimiRule decides or overrides the phase with an expression.
type kimiRule struct {
	Name        string    `yaml:"name" json:"name,omitempty" doc:"shown as classification.rule when the rule decides; default pre_rules[i] or post_rules[i]"`
	When        step.Expr `yaml:"when" json:"when" doc:"boolean expression over the item's fields (post rules also see answer, phase, summary, confidence)"`
	Phase       string    `yaml:"phase" json:"phase" doc:"the phase when the rule matches; one of phases"`
	NeedsReview bool      `yaml:"needs_review" json:"needs_review,omitempty" doc:"also flag the item for review when the rule matches"`
}

// kimiLimit is the fallback limiter of a step that names none.
type kimiLimit struct {
	Concurrency int     `yaml:"concurrency" min:"0" max:"256" json:"concurrency" doc:"requests in flight (0: no bound)"`
	RPM         float64 `yaml:"rpm" min:"0" max:"60000" json:"rpm" doc:"requests started per minute (0: no bound)"`
}

// kimiClassifyConfig is the `with:` block of kimi_classify. Settings that cannot change the answer (where
// the server is, the key, limits, timeouts) carry memo:"-" and stay out of the memo key; phases, rules,
// prompts and model parameters are in it, so editing one re-runs the classification.
type kimiClassifyConfig struct {
	BaseURL       string      `yaml:"base_url" json:"base_url" memo:"-" doc:"Moonshot API base (KIMI_BASE_URL): https://api.moonshot.cn/v1 (China) or https://api.moonshot.ai/v1 (global); keys work on one only"`
	APIKey        string      `yaml:"api_key" json:"api_key" memo:"-" secret:"true" doc:"Moonshot API key (KIMI_API_KEY)"`
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
	ReasoningTokens int     `yaml:"reasoning_tokens" min:"0" max:"1000000" json:"reasoning_tokens" memo:"-" doc:"tokens a reasoning model (kimi-k3 always reasons) may think before it answers, on top of max_tokens"`
	Temperature     float64 `yaml:"temperature" min:"0" max:"2" json:"temperature" doc:"sampling temperature (0-1); a model that allows only its own (\"only 1 is allowed\") gets none, learned from its 400 and remembered for the run"`
	Thinking        string  `yaml:"thinking" json:"thinking" enum:"disabled,enabled,default" doc:"thinking switch, sent only to the kimi-k2.5/k2.6/k2.7 family that takes it"`
	// Like reasoning_tokens, how long K3 thinks before the same answer is not part of the memo: a change
	// must not re-spend the tokens of every stored recording.
	ReasoningEffort string        `yaml:"reasoning_effort" json:"reasoning_effort" memo:"-" enum:"low,high,max,default" doc:"kimi-k3's reasoning control, sent as top-level reasoning_effort to K3 only (default: not sent)"`
	JSONMode        bool          `yaml:"json_mode" json:"json_mode" doc:"ask for a JSON answer (response_format)"`
	JSONSchema      bool          `yaml:"json_schema" json:"json_schema" doc:"with json_mode, ask for response_format json_schema (phases as an enum, summary_max as maxLength); a server that refuses it gets json_object"`
	TokenEstimate   string        `yaml:"token_estimate" json:"token_estimate" enum:"auto,api,runes" doc:"how a prompt is measured against the budget: runes (1.5 characters a token), api (the estimate-token-count endpoint) or auto"`
	BudgetRatio     float64       `yaml:"budget_ratio" min:"0.05" max:"1" json:"budget_ratio" doc:"share of the context window a prompt plus max_tokens may fill before the transcript is summarised in parts"`
	PartTokens      int           `yaml:"part_tokens" min:"256" max:"1000000" json:"part_tokens" doc:"size of a transcript part in map-reduce, in tokens"`
	Timestamps      bool          `yaml:"timestamps" json:"timestamps" doc:"prefix transcript lines with [mm:ss]"`
	DefaultLimit    kimiLimit     `yaml:"default_limit" json:"default_limit" memo:"-" doc:"limits used when the step names no limiter (entry tier: concurrency 1, rpm 3); a named limiter replaces them"`
	Timeout         time.Duration `yaml:"timeout" min:"1s" max:"6h" json:"timeout" memo:"-" doc:"limit for one request"`
	PriceInput      float64       `yaml:"price_per_mtok_input" min:"0" max:"1000000" json:"price_per_mtok_input" memo:"-" doc:"price of a million prompt tokens (0: unknown); with it the dry-run estimate and the run's cost line give money"`
	PriceOutput     float64       `yaml:"price_per_mtok_output" min:"0" max:"1000000" json:"price_per_mtok_output" memo:"-" doc:"price of a million completion tokens, reasoning included"`
	PriceCached     float64       `yaml:"price_per_mtok_cached" min:"0" max:"1000000" json:"price_per_mtok_cached" memo:"-" doc:"price of a million prompt tokens served from the prompt cache (0: as price_per_mtok_input)"`
	Currency        string        `yaml:"currency" json:"currency" memo:"-" doc:"currency of the prices (CNY on api.moonshot.cn, USD on api.moonshot.ai)"`
	// The coaching memory (kimi_classify_coach.go): asked in the same request as the phase and summary.
	Extract   []kimiField  `yaml:"extract" json:"extract,omitempty" doc:"fields to extract from each session, each element of a stored array with a verbatim quote checked against the transcript"`
	Rubrics   []kimiRubric `yaml:"rubrics" json:"rubrics,omitempty" doc:"a scorecard per phase (rubric or checklist): the criteria of the field stored in scorecards; editing one re-scores from the stored transcripts"`
	LedgerDSN string       `yaml:"ledger_dsn" json:"ledger_dsn" memo:"-" secret:"true" doc:"MySQL DSN of the ledger (mysql_upsert's database), whose open action_items the model's followups close (empty: no followups)"`
	Timezone  string       `yaml:"timezone" json:"timezone,omitempty" doc:"zone of the session's date against which due dates (下周五之前) are resolved (empty: Asia/Shanghai)"`
}

// SettingDetails is what `runner steps kimi_classify` prints under a setting, beyond its doc.
func (kimiClassifyConfig) SettingDetails() map[string]string {
	return map[string]string{
		"thinking": "kimi-k2.7 gets it only when enabled (it cannot be disabled); moonshot-v1 and kimi-k3 never get it " +
			"(vercel/ai moonshotai prepareReasoningOptions). A model that refuses it gets its default.",
		"reasoning_effort": "K3's server default is reported as max; a classification needs little.",
		"token_estimate":   "runes makes no call; auto asks the api only when the rune count is near the budget.",
		"extract": "The fields are compiled into the request's json_schema, or stated in the prompt where the model " +
			"refuses json_schema.",
		"ledger_dsn": "The open action_items of a student's earlier sessions are given to the model.",
		"timezone":   "Empty is left out of the memo key, so configurations without extraction keep their keys.",
	}
}

// kimiClassifyReads are the item fields the prompts can use besides the transcript.
var kimiClassifyReads = []string{"transcript", "subject", "start", "duration_min", "teacher_id", "student_ids", "participants"}

// kimiClassifyDefaults are the settings of a kimi_classify step that writes none, and the one place the
// shipped phases (the journey of a student, in order) are written.
var kimiClassifyDefaults = kimiClassifyConfig{
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
	System:          kimi.DefaultPrompts().System,
	User:            kimi.DefaultPrompts().User,
	MapSystem:       kimi.DefaultPrompts().MapSystem,
	MapUser:         kimi.DefaultPrompts().MapUser,
	SummaryMax:      300,
	MaxTokens:       1024,
	ReasoningTokens: 8192,
	Temperature:     0.3,
	Thinking:        "disabled",
	ReasoningEffort: "low",
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
}

func init() {
	step.Register(step.Spec{
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
		Writes: []step.Field{
			{Name: "phase", Sample: "", Doc: "one of the configured phases"},
			{Name: "summary", Sample: "", Doc: "the model's summary (empty when it never gave a valid one)"},
			{Name: "classification", Sample: kimi.Classification{},
				Doc: "model, rule (model, a rule's name, fallback, empty), model_phase, confidence, needs_review, " +
					"reason, attempts, prompt_tokens, completion_tokens, tokens, " +
					"usage {prompt_tokens, completion_tokens, reasoning_tokens, cached_tokens} (this item's calls; " +
					"reasoning is part of completion, cached part of prompt), parts, answer, raw"},
			{Name: "needs_review", Sample: false, Doc: "true when a person should check the phase or summary"},
		},
		SideEffects: true,
	}, kimiClassifyDefaults, newKimiClassify)
}

type compiledRule struct {
	kimiRule
	name string
	prog *step.Program
}

type kimiClassify struct {
	cfg   kimiClassifyConfig
	chat  *kimi.Chat
	cls   *kimi.Classifier // the ladder, the budget and map-reduce
	guard *kimiGuard
	pre   []compiledRule
	post  []compiledRule

	b      *step.Build
	prices kimi.Prices
	coach  *coaching // nil: nothing declared to extract
}

func newKimiClassify(cfg kimiClassifyConfig, b *step.Build) (any, error) {
	fail := func(key, format string, args ...any) (any, error) {
		return nil, b.ErrorAt(key, "kimi_classify: "+format, args...)
	}
	if strings.TrimSpace(cfg.APIKey) == "" && !b.DryRun {
		return fail("api_key", "api_key is empty; set KIMI_API_KEY")
	}
	if err := kimi.CheckBaseURL(cfg.BaseURL); err != nil {
		return fail("base_url", "%v; set KIMI_BASE_URL", err)
	}
	s := &kimiClassify{cfg: cfg, b: b,
		chat:   &kimi.Chat{BaseURL: cfg.BaseURL, APIKey: cfg.APIKey},
		prices: cfg.view().Prices}
	lim, named := b.Limiter()
	if !named && (cfg.DefaultLimit.Concurrency > 0 || cfg.DefaultLimit.RPM > 0) {
		lim = step.NewLimiter(b.StepID+".default_limit", cfg.DefaultLimit.Concurrency, cfg.DefaultLimit.RPM)
	}
	s.guard = &kimiGuard{lim: lim, timeout: cfg.Timeout, words: kimiWords{
		auth: func(err error) error {
			return fmt.Errorf("Moonshot rejected the key (%w); check KIMI_API_KEY (keys of api.moonshot.cn and "+
				"api.moonshot.ai are not interchangeable; base_url is %s)",
				err, fsx.RedactURL(s.chat.BaseURL))
		},
		quota: func(err error) error {
			return fmt.Errorf("Moonshot balance or quota exhausted (top up the account, or wait for the day's token budget); "+
				"the run stops and items stay pending for the next run: %w", err)
		},
		notFound: func(err error) error {
			return fmt.Errorf("model %q refuses every call: retired, unknown, or not available to this key's organisation "+
				"(set KIMI_MODEL to a model GET /v1/models lists; items stay pending): %w", cfg.Model, err)
		},
	}}
	phases := make([]kimi.Phase, len(cfg.Phases))
	for i, p := range cfg.Phases {
		phases[i] = kimi.Phase{Name: p.Name, Description: p.Description}
	}
	cls, err := kimi.NewClassifier(kimi.ClassifierConfig{
		Model: cfg.Model, Phases: phases, Fallback: cfg.FallbackPhase,
		Prompts:    kimi.Prompts{System: cfg.System, User: cfg.User, MapSystem: cfg.MapSystem, MapUser: cfg.MapUser},
		SummaryMax: cfg.SummaryMax, MaxTokens: cfg.MaxTokens, ReasoningTokens: cfg.ReasoningTokens,
		Temperature: cfg.Temperature, Thinking: cfg.Thinking, ReasoningEffort: cfg.ReasoningEffort, JSONMode: cfg.JSONMode, JSONSchema: cfg.JSONSchema,
		TokenEstimate: cfg.TokenEstimate, BudgetRatio: cfg.BudgetRatio, PartTokens: cfg.PartTokens,
		Timestamps: cfg.Timestamps, ContextTokens: cfg.ContextTokens,
		ItemFields: append([]string{"id"}, kimiClassifyReads...),
	}, s.chat, s.guard, step.Logger)
	if err != nil {
		key := "" // the setting at fault, when the classifier says
		if se := (*kimi.SettingError)(nil); errors.As(err, &se) {
			key = se.Setting
		}
		return fail(key, "%v", err)
	}
	s.cls = cls
	if s.coach, err = newCoaching(cfg, cls, b); err != nil {
		return nil, err
	}
	if s.coach != nil {
		cls.SetExtract(s.coach.fields)
	}
	if s.pre, err = s.compile(cfg.PreRules, "pre_rules", nil); err != nil {
		return nil, err
	}
	if s.post, err = s.compile(cfg.PostRules, "post_rules", postRuleSamples()); err != nil {
		return nil, err
	}
	b.Secret(cfg.APIKey)
	return s, nil
}

// compile checks and compiles pre_rules or post_rules (kind); extra are the names the rules see besides
// the item.
func (s *kimiClassify) compile(list []kimiRule, kind string, extra map[string]any) ([]compiledRule, error) {
	var out []compiledRule
	for i := range list {
		r := list[i]
		name := r.Name
		if name == "" {
			name = fmt.Sprintf("%s[%d]", kind, i)
		}
		phase, ok := s.cls.Phase(r.Phase)
		if !ok {
			return nil, s.b.ErrorAt(fmt.Sprintf("%s.%d.phase", kind, i), "kimi_classify: %s: phase %q is not one of the phases %s",
				name, r.Phase, strings.Join(s.cls.Names(), ", "))
		}
		prog, err := s.b.CompileBool(&list[i].When, extra)
		if err != nil {
			return nil, err
		}
		r.Phase = phase
		out = append(out, compiledRule{kimiRule: r, name: name, prog: prog})
	}
	return out, nil
}

// postRuleSamples are the names post rules see besides the item.
func postRuleSamples() map[string]any {
	return map[string]any{"answer": map[string]any{}, "phase": "", "summary": "", "confidence": 0.0}
}

// Process tries the pre rules, asks the model (unless the transcript is empty), then tries the post rules.
func (s *kimiClassify) Process(ctx context.Context, in *step.Item) (step.Fields, error) {
	if err := s.guard.Stopped(ctx); err != nil {
		return nil, err
	}
	ctx = kimi.WithRun(ctx, s.guard.run(ctx).cls)
	var tr kimi.Transcript
	if err := in.Get("transcript", &tr); err != nil {
		return nil, step.Permanent(err)
	}
	res := &kimi.Classification{Model: s.cfg.Model, Rule: "model", Parts: 1}
	decided := ""
	for _, r := range s.pre {
		ok, err := r.prog.Bool(in, nil)
		if err != nil {
			return nil, step.Permanent(fmt.Errorf("%s: %w", r.name, err))
		}
		if ok {
			decided, res.Rule, res.Confidence = r.Phase, r.name, 1
			if r.NeedsReview {
				res.NeedsReview, res.Reason = true, r.name
			}
			break
		}
	}
	var x *kimi.Extra
	var open map[string]coach.OpenItem
	if s.coach != nil {
		var err error
		if x, open, err = s.coach.extra(ctx, in, decided); err != nil {
			return nil, err
		}
	}
	phase, summary, err := s.cls.DecideExtra(ctx, itemData(in), tr, decided, res, x)
	var te *kimi.TemplateError
	switch {
	case errors.As(err, &te):
		return nil, step.Permanent(err)
	case err != nil:
		return nil, err
	}

	extra := map[string]any{"answer": res.Answer, "phase": phase, "summary": summary, "confidence": res.Confidence}
	if res.Answer == nil {
		extra["answer"] = map[string]any{}
	}
	for _, r := range s.post {
		ok, err := r.prog.Bool(in, extra)
		if err != nil {
			return nil, step.Permanent(fmt.Errorf("%s: %w", r.name, err))
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
	if s.coach != nil {
		s.coach.finish(ctx, in, tr, phase, open, res)
	}
	step.Logger(ctx).InfoContext(ctx, "classified", "phase", phase, "rule", res.Rule, "needs_review", res.NeedsReview,
		"attempts", res.Attempts, "tokens", res.Tokens, "parts", res.Parts)
	return step.Fields{"phase": phase, "summary": summary, "classification": res, "needs_review": res.NeedsReview}, nil
}

// itemData are the item's fields the prompts may name, as JSON values ("" when absent).
func itemData(in *step.Item) map[string]any {
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
	return d
}

// Open checks the model against GET /v1/models once per run, before any money is spent, and takes its
// context window from the answer where it is given.
func (s *kimiClassify) Open(ctx context.Context) error {
	log := step.Logger(ctx)
	if strings.TrimSpace(s.cfg.APIKey) == "" {
		log.WarnContext(ctx, "no api_key: the model is not checked in this dry run", "model", s.cfg.Model)
		return nil
	}
	var ms []kimi.Model
	err := s.guard.Do(ctx, func(ctx context.Context) error {
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
		return fmt.Errorf("list the models of the key: %w", s.guard.Fail(ctx, err))
	}
	m, err := kimi.CheckModel(ms, s.cfg.Model)
	if err != nil {
		return s.b.ErrorAt("model", "kimi_classify: %v (set KIMI_MODEL or model:)", err)
	}
	s.cls.SetWindow(m.ContextLength)
	log.DebugContext(ctx, "model checked", "model", m.ID, "context_tokens", s.cls.Window())
	return nil
}

// Close releases the ledger's connections.
func (s *kimiClassify) Close() error {
	if s.coach == nil {
		return nil
	}
	return s.coach.close()
}

// Cost is the tokens of ctx's run and, with prices configured, their money. (In a dry run the engine adds
// up EstimateCost instead: no call is made.)
func (s *kimiClassify) Cost(ctx context.Context) step.Cost {
	return s.cost(s.guard.run(ctx).cls.Spent.Total())
}

func (s *kimiClassify) cost(u kimi.TokenUsage) step.Cost {
	if u == (kimi.TokenUsage{}) {
		return step.Cost{}
	}
	c := step.Cost{Units: u.Units(), Estimate: s.b.DryRun}
	if s.prices.Known() {
		c.Money, c.Currency = s.prices.Money(u), s.prices.Currency
	}
	return c
}

// Estimate says what a run would spend on the item: tokens, and money where prices are configured. It is
// pure; the dry run's cost line is the engine's sum of EstimateCost.
func (s *kimiClassify) Estimate(in *step.Item) string {
	u, note, ok := s.estimate(in)
	if !ok {
		return note
	}
	out := fmt.Sprintf("~%dk tokens, %s", (u.PromptTokens+999)/1000, note)
	if s.prices.Known() {
		out += ", ~" + s.prices.Format(s.prices.Money(u))
	}
	return out
}

// EstimateCost is Estimate as a number (nothing when the item gives no length to go by).
func (s *kimiClassify) EstimateCost(in *step.Item) step.Cost {
	u, _, ok := s.estimate(in)
	if !ok {
		return step.Cost{}
	}
	c := s.cost(u)
	c.Estimate = true
	return c
}

// estimate is the usage a call on the item would have and a note on how it was guessed; ok is false when
// nothing can be guessed (the note then says so).
func (s *kimiClassify) estimate(in *step.Item) (u kimi.TokenUsage, note string, ok bool) {
	var tr kimi.Transcript
	var n int
	note = "1 call"
	if in.Get("transcript", &tr) != nil {
		// A dry run has no transcript yet: assume 200 characters of Mandarin a minute, 1.5 a token.
		var minutes float64
		if in.Get("duration_min", &minutes) != nil || minutes <= 0 {
			return u, "1+ model calls (tokens known once transcribed)", false
		}
		n, note = int(minutes*200/1.5)+600, fmt.Sprintf("from %.0f min", minutes)
	} else {
		n = kimi.TextTokens(kimi.FormatTranscript(tr, s.cfg.Timestamps)) + 600
	}
	if n+s.cfg.MaxTokens > s.cls.Budget() {
		note += fmt.Sprintf(", map-reduce in ~%d parts", n/s.cfg.PartTokens+1)
	}
	// The answer is well under max_tokens; a reasoning model adds its thinking, which is not known here.
	u = kimi.TokenUsage{PromptTokens: n, CompletionTokens: s.cfg.MaxTokens / 2}
	if s.coach != nil {
		p, c := s.coach.estimateTokens()
		u.PromptTokens += p
		u.CompletionTokens += c
		note += ", extraction in the same call"
	}
	return u, note, true
}

// Check reports whether Moonshot takes the key at this base URL, knows the model and has a balance.
func (s *kimiClassify) Check(ctx context.Context, _ step.CheckOptions) []step.Finding {
	return kimi.CheckChat(ctx, s.chat, s.cfg.Model)
}

// ClassifyView is what commands beside a run (the report) read of a pipeline's kimi_classify step, taken
// from the step's own decoded configuration, so that a renamed setting cannot silently empty a column.
type ClassifyView struct {
	Phases []string    // the journey of a student, in order
	Prices kimi.Prices // per million tokens; Known() is false when none is configured
}

// ClassifyViewOf returns the view of the pipeline's first kimi_classify step. Without one, ok is false and
// the view is the step's defaults: the shipped phases, no prices.
func ClassifyViewOf(p *runner.Pipeline) (v ClassifyView, ok bool) {
	if impl, found := p.StepImpl("kimi_classify"); found {
		if s, built := impl.(*kimiClassify); built {
			return s.cfg.view(), true
		}
	}
	return kimiClassifyDefaults.view(), false
}

func (c kimiClassifyConfig) view() ClassifyView {
	v := ClassifyView{Prices: kimi.Prices{Input: c.PriceInput, Output: c.PriceOutput, Cached: c.PriceCached, Currency: c.Currency}}
	for _, ph := range c.Phases {
		v.Phases = append(v.Phases, ph.Name)
	}
	return v
}
