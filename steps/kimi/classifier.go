package kimi

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
)

// Phase is one phase a recording can be in, with what a session of it is about (shown to the model).
type Phase struct {
	Name, Description string
}

// ClassifierConfig is what a Classifier asks and how. The step decodes it from YAML and checks ranges.
type ClassifierConfig struct {
	Model    string
	Phases   []Phase
	Fallback string // the phase of an answer that stays invalid
	Prompts  Prompts
	// SummaryMax is the longest valid summary in characters.
	SummaryMax int
	// MaxTokens is the answer's share of the output cap; ReasoningTokens a reasoning model's on top.
	MaxTokens, ReasoningTokens int
	Temperature                float64
	Thinking                   string // "disabled", "enabled", "default" (not sent)
	ReasoningEffort            string // "low", "high", "max", "default" (not sent)
	JSONMode, JSONSchema       bool
	// TokenEstimate is "runes", "api" or "auto" (see Classifier.fits).
	TokenEstimate string
	// BudgetRatio is the share of the window a prompt plus MaxTokens may fill before map-reduce.
	BudgetRatio float64
	PartTokens  int  // size of a transcript part in map-reduce
	Timestamps  bool // [mm:ss] before each transcript line
	// ContextTokens is the window until the server says otherwise (SetWindow, or a 400 that names it).
	ContextTokens int
	// ItemFields are the item's fields the prompts are given; when set, a prompt naming another field is
	// refused by NewClassifier.
	ItemFields []string
	// Extract are the fields declared for extraction, asked in the same request as the phase and the
	// summary (json_schema, or the schema in the prompt for a server that refuses it).
	Extract []Field
}

// Guard is what the caller wraps around each request: Do runs f inside its limiter, timeout and stop
// switch and returns f's error as it is (the classifier heals a 400 from it); Fail turns an error that ends
// a call into what the caller's engine should do with it, keeping the *APIError reachable by errors.As.
// Both take the call's ctx, through which the caller reaches what it keeps per run (its stop switch).
type Guard interface {
	Do(ctx context.Context, f func(context.Context) error) error
	Fail(ctx context.Context, err error) error
}

// Reprompts is how often an invalid answer is asked again with the validator's message.
const Reprompts = 2

// Classifier gives a transcript a phase and a summary with a chat model: one pass when the prompt fits the
// budget, else map-reduce over parts; each answer goes up the validation ladder (Classifier.ask).
type Classifier struct {
	cfg    ClassifierConfig
	chat   *Chat
	guard  Guard
	log    func(context.Context) *slog.Logger
	tpl    templates
	phases map[string]string // folded name → name
	names  []string

	window atomic.Int64 // the model's context: SetWindow, else ContextTokens, lowered by a 400 naming it
	loose  *Run         // the run of calls whose context names none (WithRun)
}

// NewClassifier checks cfg and parses its prompts. log gives the run's logger for a context.
func NewClassifier(cfg ClassifierConfig, chat *Chat, g Guard, log func(context.Context) *slog.Logger) (*Classifier, error) {
	c := &Classifier{cfg: cfg, chat: chat, guard: g, log: log, phases: map[string]string{},
		loose: NewRun()}
	if strings.TrimSpace(cfg.Model) == "" {
		return nil, settingErr("model", errors.New("model is empty"))
	}
	if len(cfg.Phases) == 0 {
		return nil, settingErr("phases", errors.New("phases is empty"))
	}
	for i, p := range cfg.Phases {
		k := foldPhase(p.Name)
		at := fmt.Sprintf("phases.%d.name,phases.%d", i, i)
		if k == "" {
			return nil, settingErr(at, errors.New("a phase has no name"))
		}
		if _, dup := c.phases[k]; dup {
			return nil, settingErr(at, fmt.Errorf("phase %q is listed twice", p.Name))
		}
		c.phases[k] = p.Name
		c.names = append(c.names, p.Name)
	}
	if _, ok := c.Phase(cfg.Fallback); !ok {
		return nil, settingErr("fallback_phase", fmt.Errorf("fallback_phase %q is not one of the phases %s", cfg.Fallback, strings.Join(c.names, ", ")))
	}
	if cfg.SummaryMax <= 0 || cfg.MaxTokens <= 0 || cfg.PartTokens <= 0 || cfg.ContextTokens <= 0 {
		return nil, settingErr("summary_max,max_tokens,part_tokens,context_tokens", errors.New("summary_max, "+
			"max_tokens, part_tokens and context_tokens must be positive"))
	}
	if cfg.ReasoningTokens < 0 {
		return nil, settingErr("reasoning_tokens", errors.New("reasoning_tokens must not be negative"))
	}
	if cfg.BudgetRatio <= 0 || cfg.BudgetRatio > 1 {
		return nil, settingErr("budget_ratio", errors.New("budget_ratio must be in (0, 1]"))
	}
	var err error
	if c.tpl, err = parsePrompts(cfg.Prompts); err != nil {
		return nil, err
	}
	if cfg.ItemFields != nil {
		if err := c.tpl.checkNames(cfg.ItemFields); err != nil {
			return nil, err
		}
	}
	c.window.Store(int64(cfg.ContextTokens))
	return c, nil
}

// SettingError is a configuration error about one setting of the classifier (as the step's `with:` names
// it; "a,b" when several may be at fault), so that the step can report it at the value.
type SettingError struct {
	Setting string
	Err     error
}

func (e *SettingError) Error() string { return e.Err.Error() }
func (e *SettingError) Unwrap() error { return e.Err }

func settingErr(setting string, err error) error { return &SettingError{Setting: setting, Err: err} }

// foldPhase is a phase name as compared: trimmed, without quotes, case-folded.
func foldPhase(s string) string {
	s = strings.Trim(strings.TrimSpace(s), "\"'「」『』“”《》【】 ")
	return strings.ToLower(s)
}

// Phase returns the configured spelling of a phase name.
func (c *Classifier) Phase(name string) (string, bool) {
	p, ok := c.phases[foldPhase(name)]
	return p, ok
}

// Names are the phases in their configured order and spelling.
func (c *Classifier) Names() []string { return c.names }

// SetWindow sets the model's context window, as GET /v1/models gives it.
func (c *Classifier) SetWindow(n int) {
	if n > 0 {
		c.window.Store(int64(n))
	}
}

// Window is the model's context window as known now.
func (c *Classifier) Window() int { return int(c.window.Load()) }

func (c *Classifier) logger(ctx context.Context) *slog.Logger {
	if c.log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.log(ctx)
}

// complete sends one chat completion through the guard, or answers from the run's cache. A 400 naming a
// parameter the model refuses is healed and sent again; what was learned holds for the model for the
// rest of the run. The cache key is the request as configured, so a healed request finds it too.
func (c *Classifier) complete(ctx context.Context, msgs []Message, maxTokens int, schema *JSONSchema, extracting bool) (*ChatResponse, error) {
	want := Params{Thinking: c.cfg.Thinking, ReasoningEffort: c.cfg.ReasoningEffort, MaxField: "max_completion_tokens", Format: "text"}
	if want.Thinking == "default" {
		want.Thinking = ""
	}
	if want.ReasoningEffort == "default" {
		want.ReasoningEffort = ""
	}
	want = want.ForModel(c.cfg.Model)
	t := c.cfg.Temperature
	want.Temperature = &t
	if c.cfg.JSONMode {
		want.Format = "json_object"
		if c.cfg.JSONSchema {
			want.Format = "json_schema"
		}
	}
	model := c.cfg.Model
	body, err := json.Marshal(want.Request(model, msgs, maxTokens, schema, ""))
	if err != nil {
		return nil, err
	}
	key := sha256.Sum256(body)
	run := c.run(ctx)
	if hit, ok := run.cache.Get(key); ok {
		return hit, nil
	}
	// The fixed prefix is the system prompt (with the phase list): requests sharing it share a key.
	sum := sha256.Sum256([]byte(model + "\x00" + msgs[0].Content))
	cacheKey := fmt.Sprintf("meetpipe-%x", sum[:8])
	p := run.healer.Params(model, want)
	var resp *ChatResponse
	for heals := 0; ; heals++ {
		if heals > 0 {
			// Another request may have learned more since this one was sent: start from what is known.
			p = run.healer.Params(model, p)
		}
		sent := msgs
		if extracting && p.Format != "json_schema" && schema != nil {
			// JSON mode guarantees an object, not its fields: the model reads the schema instead.
			sent = append([]Message(nil), msgs...)
			sent[0].Content += schemaPrompt(schema)
		}
		req := p.Request(model, sent, maxTokens, schema, cacheKey)
		err = c.guard.Do(ctx, func(ctx context.Context) error {
			var err error
			resp, err = c.chat.Complete(ctx, req)
			return err
		})
		var ae *APIError
		if err != nil && heals < 4 && errors.As(err, &ae) {
			if np, note, ok := Heal(p, ae); ok {
				if run.healer.Learn(model, p, np) {
					c.logger(ctx).InfoContext(ctx, "the model refused a parameter; adjusted for the rest of the run",
						"model", model, "change", note)
				}
				p = np
				continue
			}
		}
		if err != nil && heals < 4 && errors.As(err, &ae) && c.learnWindow(ctx, ae) {
			maxTokens = min(maxTokens, c.outputCap(msgs, 1))
			continue
		}
		if err != nil {
			return nil, c.guard.Fail(ctx, err)
		}
		if np, ok := capIgnored(p, resp, maxTokens); ok && heals < 4 {
			if run.healer.Learn(model, p, np) {
				c.logger(ctx).InfoContext(ctx, "the model refused a parameter; adjusted for the rest of the run",
					"model", model, "change", "max_completion_tokens ignored (cut off far below it); output cap sent as max_tokens")
			}
			p = np
			continue
		}
		break
	}
	var u TokenUsage
	u.Add(resp.TokenUsage())
	run.Spent.Add(u)
	run.cache.Put(key, resp)
	return resp, nil
}

// capIgnored reports a server that cut the answer off far below max_completion_tokens: it does not read
// that name (some clients found native Moonshot wants max_tokens, docs/kimi-asr-api.md §1.3).
func capIgnored(p Params, resp *ChatResponse, maxTokens int) (Params, bool) {
	_, finish := resp.Content()
	u := resp.TokenUsage()
	if finish != "length" || p.MaxField == "max_tokens" || u.CompletionTokens == 0 || u.CompletionTokens*2 > maxTokens {
		return p, false
	}
	p.MaxField = "max_tokens"
	return p, true
}
