package kimi

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Params are the parts of a chat request that a model may refuse. The caller starts from what it would
// like to send; a 400 naming one of them is healed (Heal) and the result remembered per model (Healer),
// so that no table of model families is needed: the roster changes every quarter (corrections item 1).
type Params struct {
	Temperature *float64 // nil: not sent
	Thinking    string   // "enabled", "disabled", "": not sent
	// ReasoningEffort is "low", "high", "max", or "": not sent.
	ReasoningEffort string
	// MaxField is the name of the output cap: "max_completion_tokens" (the default; max_tokens is
	// deprecated, corrections item 2) or "max_tokens".
	MaxField string
	// Format is "json_schema", "json_object" or "text".
	Format string
	// NoCacheKey leaves prompt_cache_key out.
	NoCacheKey bool
}

// Request builds the request of p. schema is used when Format is json_schema.
func (p Params) Request(model string, msgs []Message, maxTokens int, schema *JSONSchema, cacheKey string) ChatRequest {
	req := ChatRequest{Model: model, Messages: msgs}
	if p.Temperature != nil {
		t := *p.Temperature
		req.Temperature = &t
	}
	if p.Thinking != "" {
		req.Thinking = &Thinking{Type: p.Thinking}
	}
	req.ReasoningEffort = p.ReasoningEffort
	if p.MaxField == "max_tokens" {
		req.MaxTokens = maxTokens
	} else {
		req.MaxCompletionTokens = maxTokens
	}
	switch {
	case p.Format == "json_schema" && schema != nil:
		req.ResponseFormat = &ResponseFormat{Type: "json_schema", JSONSchema: schema}
	case p.Format == "json_schema", p.Format == "json_object":
		req.ResponseFormat = &ResponseFormat{Type: "json_object"}
	}
	if !p.NoCacheKey {
		req.PromptCacheKey = cacheKey
	}
	return req
}

var (
	onlyAllowedRE = regexp.MustCompile(`(?i)invalid (temperature|top_p|n|thinking|reasoning_effort|presence_penalty|frequency_penalty)\b.*only`)
	unsupportedRE = regexp.MustCompile(`(?i)unsupported (?:parameter|argument|field)s?:?\s*['"]?([a-z_.]+)['"]?`)
	unknownRE     = regexp.MustCompile(`(?i)(?:unknown|unrecognized|extra) (?:parameter|argument|field)s?:?\s*['"]?([a-z_.]+)['"]?`)
)

// Heal returns p adjusted to what a 400 says the model refuses, with a short note of the change, or
// ok false when the error names nothing p can change. Recorded live answers (corrections item 1):
// "invalid temperature: only 1 is allowed for this model", "invalid thinking: only type=enabled is allowed
// for this model"; OpenAI-style servers answer "Unsupported parameter: 'max_tokens'". A refused fixed
// value is left out rather than copied: the model's default is then the one it allows, whatever thinking
// mode it ends up in.
func Heal(p Params, e *APIError) (Params, string, bool) {
	if e == nil || (e.Status != http.StatusBadRequest && e.Status != http.StatusUnprocessableEntity) || e.Kind() != ErrBadRequest {
		return p, "", false
	}
	msg := strings.ToLower(e.Message)
	name := ""
	if m := onlyAllowedRE.FindStringSubmatch(msg); m != nil {
		name = m[1]
	} else if m := unsupportedRE.FindStringSubmatch(msg); m != nil {
		name = m[1]
	} else if m := unknownRE.FindStringSubmatch(msg); m != nil {
		name = m[1]
	} else if strings.Contains(msg, "json_schema") || (strings.Contains(msg, "response_format") && p.Format != "text") {
		name = "response_format"
	} else if e.Param != "" {
		name = strings.ToLower(e.Param)
	}
	name = strings.TrimPrefix(name, "response_format.")
	switch {
	case name == "temperature" && p.Temperature != nil:
		p.Temperature = nil
		return p, "temperature left out (" + e.Message + ")", true
	case name == "thinking" && p.Thinking != "":
		p.Thinking = ""
		return p, "thinking left to the model's default (" + e.Message + ")", true
	case name == "reasoning_effort" && p.ReasoningEffort != "":
		p.ReasoningEffort = ""
		return p, "reasoning_effort left to the model's default (" + e.Message + ")", true
	case name == "max_tokens" && p.MaxField == "max_tokens":
		p.MaxField = "max_completion_tokens"
		return p, "output cap sent as max_completion_tokens", true
	case name == "max_completion_tokens" && p.MaxField != "max_tokens":
		p.MaxField = "max_tokens"
		return p, "output cap sent as max_tokens", true
	case name == "prompt_cache_key" && !p.NoCacheKey:
		p.NoCacheKey = true
		return p, "prompt_cache_key left out", true
	case slices.Contains([]string{"response_format", "json_schema", "type"}, name) && p.Format == "json_schema":
		p.Format = "json_object"
		return p, "json_schema refused, asking for json_object", true
	case slices.Contains([]string{"response_format", "type"}, name) && p.Format == "json_object":
		p.Format = "text"
		return p, "json_object refused, asking for text", true
	}
	return p, "", false
}

// Healer remembers, per model, the parameters learned from its refusals during one run.
type Healer struct {
	mu      sync.Mutex
	learned map[string]Params
}

// Params returns what was learned for model, or want when nothing was.
func (h *Healer) Params(model string, want Params) Params {
	h.mu.Lock()
	defer h.mu.Unlock()
	if p, ok := h.learned[model]; ok {
		return p
	}
	return want
}

// Learn records to for model when what is known is still from (the request that was refused was sent
// with from; nothing known counts as from). It reports whether it recorded, so that a caller logs each
// adjustment once: several requests sent before the first refusal was learned meet the same refusal, and
// a stale one must neither log it again nor set back what others learned since (the 20 "adjusted" lines
// of a night with 20 items in flight). On false the caller sends again with Params.
func (h *Healer) Learn(model string, from, to Params) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.learned == nil {
		h.learned = map[string]Params{}
	}
	if old, ok := h.learned[model]; ok && !equalParams(old, from) || equalParams(from, to) {
		return false
	}
	h.learned[model] = to
	return true
}

func equalParams(a, b Params) bool {
	if (a.Temperature == nil) != (b.Temperature == nil) || a.Temperature != nil && *a.Temperature != *b.Temperature {
		return false
	}
	return a.Thinking == b.Thinking && a.ReasoningEffort == b.ReasoningEffort && a.MaxField == b.MaxField &&
		a.Format == b.Format && a.NoCacheKey == b.NoCacheKey
}
