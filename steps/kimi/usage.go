package kimi

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// TokenUsage is what kimi_classify reports per item as classification.usage, and per run as its cost:
// reasoning tokens are part of completion_tokens, cached tokens part of prompt_tokens.
type TokenUsage struct {
	PromptTokens     int `json:"prompt_tokens" expr:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens" expr:"completion_tokens"`
	ReasoningTokens  int `json:"reasoning_tokens" expr:"reasoning_tokens"`
	CachedTokens     int `json:"cached_tokens" expr:"cached_tokens"`
}

// Add counts one completion's usage.
func (t *TokenUsage) Add(u Usage) {
	t.PromptTokens += u.PromptTokens
	t.CompletionTokens += u.CompletionTokens
	t.ReasoningTokens += u.Reasoning()
	t.CachedTokens += u.Cached()
}

// Plus returns the sum of t and o.
func (t TokenUsage) Plus(o TokenUsage) TokenUsage {
	return TokenUsage{t.PromptTokens + o.PromptTokens, t.CompletionTokens + o.CompletionTokens,
		t.ReasoningTokens + o.ReasoningTokens, t.CachedTokens + o.CachedTokens}
}

// Prices are per million tokens; zero Input and Output mean no price is known. Cached prompt tokens cost
// Cached when set, else Input.
type Prices struct {
	Input, Output, Cached float64
	Currency              string
}

// Known reports whether a price is configured.
func (p Prices) Known() bool { return p.Input > 0 || p.Output > 0 }

// Money is what usage costs.
func (p Prices) Money(u TokenUsage) float64 {
	cachedPrice := p.Cached
	if cachedPrice <= 0 {
		cachedPrice = p.Input
	}
	cached := min(u.CachedTokens, u.PromptTokens)
	return (float64(u.PromptTokens-cached)*p.Input + float64(cached)*cachedPrice + float64(u.CompletionTokens)*p.Output) / 1e6
}

// Format renders money with its currency, e.g. "0.0123 CNY".
func (p Prices) Format(m float64) string {
	return fmt.Sprintf("%.4f %s", m, p.Currency)
}

// CheckModel finds id among the models a key may use. The error lists the usable ids, so that a typo or
// a retired id (kimi-k2-0905-preview, reported retired in 2026) is fixed without a look at the console.
func CheckModel(ms []Model, id string) (Model, error) {
	ids := make([]string, 0, len(ms))
	for _, m := range ms {
		if m.ID == id {
			return m, nil
		}
		ids = append(ids, m.ID)
	}
	slices.Sort(ids)
	return Model{}, fmt.Errorf("model %q is not available to this key; usable: %s", id, strings.Join(ids, ", "))
}

// ClassifySchema is the json_schema of an answer: the phases as an enum, the summary no longer than
// summaryMax characters. Without phases it asks for the summary alone (a pre rule decided the phase, or
// a part of a long transcript is being summarised).
func ClassifySchema(phases []string, summaryMax int) *JSONSchema {
	props := map[string]any{"summary": map[string]any{"type": "string", "maxLength": summaryMax}}
	required := []any{"summary"}
	name := "summary"
	if len(phases) > 0 {
		enum := make([]any, len(phases))
		for i, p := range phases {
			enum[i] = p
		}
		props["phase"] = map[string]any{"type": "string", "enum": enum}
		props["confidence"] = map[string]any{"type": "number", "minimum": 0, "maximum": 1}
		required = []any{"phase", "confidence", "summary"}
		name = "classification"
	}
	return &JSONSchema{Name: name, Strict: true, Schema: map[string]any{"type": "object", "properties": props,
		"required": required, "additionalProperties": false}}
}

// Meter sums usage from concurrent calls.
type Meter struct {
	mu sync.Mutex
	u  TokenUsage
}

// Add counts t.
func (m *Meter) Add(t TokenUsage) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.u = m.u.Plus(t)
}

// Total is the sum so far.
func (m *Meter) Total() TokenUsage {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.u
}

// Units is t as the engine's cost units.
func (t TokenUsage) Units() map[string]int64 {
	return map[string]int64{"prompt_tokens": int64(t.PromptTokens), "completion_tokens": int64(t.CompletionTokens),
		"reasoning_tokens": int64(t.ReasoningTokens), "cached_tokens": int64(t.CachedTokens)}
}
