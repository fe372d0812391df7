package emulator

import (
	"fmt"
	"slices"
	"strings"
)

// ModelSpec is how one emulated model treats a request. The roster below follows the corrections at the
// top of docs/kimi-asr-api.md (recorded live answers in public client fixtures) and the platform pages
// cited beside each field; a test adds ids the client has never seen with MoonshotOptions.ModelSpecs.
type ModelSpec struct {
	ID      string
	Context int // tokens, served as context_length by GET /v1/models
	// Temperature is the only temperature the model takes (0: any in 0..1, moonshot-v1). Another value is
	// refused: "invalid temperature: only 1 is allowed for this model".
	Temperature float64
	// TemperatureNoThinking is the fixed temperature with thinking disabled (k2.6: "only 0.6 is allowed").
	TemperatureNoThinking float64
	// ThinkingOnly models refuse thinking {type: disabled} ("invalid thinking: only type=enabled is
	// allowed for this model", K2.7).
	ThinkingOnly bool
	// Thinks is true when the model takes the thinking switch at all (k2.6, k2.7); others ignore it.
	Thinks bool
	// Reasoning is how many tokens the model reasons before answering when thinking is on (or always,
	// with AlwaysReasons: K3 reasons whatever it is told, its knob is reasoning_effort).
	Reasoning     int
	AlwaysReasons bool
	// NoJSONSchema models refuse response_format json_schema (json_object still works).
	NoJSONSchema bool
	// NoMaxTokens models refuse the deprecated max_tokens ("Unsupported parameter: 'max_tokens'"); by
	// default it is still accepted (corrections item 2).
	NoMaxTokens bool
	// OnlyMaxTokens models ignore max_completion_tokens and cap at 1024 unless max_tokens says otherwise,
	// as some clients found native Moonshot does [U] (docs/kimi-asr-api.md §1.3, can1357/oh-my-pi#2289).
	OnlyMaxTokens bool
}

// DefaultModelSpecs is the emulated roster of 2026. Context windows: moonshot-v1 8/32/128k (old docs
// mirror, §1.2), kimi-k2.6 262,144 (platform.kimi.ai/docs/api/models-overview), kimi-k3 1,048,576
// (docs.evolink.ai kimi-k3 chat page: "K3 always performs reasoning, returned through reasoning_content").
var DefaultModelSpecs = []ModelSpec{
	{ID: "moonshot-v1-8k", Context: 8192},
	{ID: "moonshot-v1-32k", Context: 32768},
	{ID: "moonshot-v1-128k", Context: 131072},
	{ID: "moonshot-v1-auto", Context: 131072},
	{ID: "kimi-k2.6", Context: 262144, Temperature: 1, TemperatureNoThinking: 0.6, Thinks: true, Reasoning: 800},
	{ID: "kimi-k2.7-code", Context: 262144, Temperature: 1, Thinks: true, ThinkingOnly: true, Reasoning: 1500},
	{ID: "kimi-k3", Context: 1048576, Temperature: 1, AlwaysReasons: true, Reasoning: 3000},
}

// DefaultModels are the ids of DefaultModelSpecs.
var DefaultModels = func() []string {
	ids := make([]string, len(DefaultModelSpecs))
	for i, m := range DefaultModelSpecs {
		ids[i] = m.ID
	}
	return ids
}()

// specOf finds the behaviour of a served id: the options' specs first, then the roster; an id in neither
// behaves like moonshot-v1 with a 128k window.
func (s *MoonshotServer) specOf(id string) ModelSpec {
	if i := slices.IndexFunc(s.o.ModelSpecs, func(m ModelSpec) bool { return m.ID == id }); i >= 0 {
		return s.o.ModelSpecs[i]
	}
	if i := slices.IndexFunc(DefaultModelSpecs, func(m ModelSpec) bool { return m.ID == id }); i >= 0 {
		return DefaultModelSpecs[i]
	}
	return ModelSpec{ID: id, Context: 131072}
}

// roster lists the ids GET /v1/models answers: Models (default roster) plus ModelSpecs.
func (s *MoonshotServer) roster() []string {
	ids := slices.Clone(s.o.Models)
	for _, m := range s.o.ModelSpecs {
		if !slices.Contains(ids, m.ID) {
			ids = append(ids, m.ID)
		}
	}
	return ids
}

// reasons reports whether the model reasons on this request.
func (m ModelSpec) reasons(b *chatBody) bool {
	if m.AlwaysReasons {
		return true
	}
	return m.Thinks && m.Reasoning > 0 && (b.Thinking == nil || b.Thinking.Type != "disabled")
}

// checkModelParams enforces what the model refuses, with the messages the API answers.
func (m ModelSpec) checkModelParams(b *chatBody) string {
	if m.NoMaxTokens && b.MaxTokens != nil {
		return "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead."
	}
	if m.ThinkingOnly && b.Thinking != nil && b.Thinking.Type == "disabled" {
		return "invalid thinking: only type=enabled is allowed for this model"
	}
	if m.NoJSONSchema && b.ResponseFormat != nil && b.ResponseFormat.Type == "json_schema" {
		return "Invalid request: response_format type json_schema is not supported for this model"
	}
	if m.Temperature > 0 {
		want := m.Temperature
		if m.Thinks && m.TemperatureNoThinking > 0 && b.Thinking != nil && b.Thinking.Type == "disabled" {
			want = m.TemperatureNoThinking
		}
		if b.Temperature != nil && *b.Temperature != want {
			return fmt.Sprintf("invalid temperature: only %g is allowed for this model", want)
		}
		if b.TopP != nil && *b.TopP != 0.95 {
			return "invalid top_p: only 0.95 is allowed for this model"
		}
		if b.N != nil && *b.N != 1 {
			return "invalid n: only 1 is allowed for this model"
		}
		return ""
	}
	if b.Temperature != nil && (*b.Temperature < 0 || *b.Temperature > 1) {
		return "Invalid request: temperature must be in [0, 1]"
	}
	if b.N != nil && *b.N > 1 && (b.Temperature == nil || *b.Temperature < 0.01) {
		return "Invalid request: n must be 1 when temperature is close to 0"
	}
	return ""
}

// schemaLimits returns the enum of a json_schema's "phase" property and its summary maxLength, if any.
func schemaLimits(b *chatBody) (enum []string, maxLen int) {
	if b.ResponseFormat == nil || b.ResponseFormat.Type != "json_schema" || b.ResponseFormat.JSONSchema == nil {
		return nil, 0
	}
	props, _ := b.ResponseFormat.JSONSchema.Schema["properties"].(map[string]any)
	if p, ok := props["phase"].(map[string]any); ok {
		for _, v := range asSlice(p["enum"]) {
			if s, ok := v.(string); ok {
				enum = append(enum, s)
			}
		}
	}
	if p, ok := props["summary"].(map[string]any); ok {
		if f, ok := p["maxLength"].(float64); ok {
			maxLen = int(f)
		}
	}
	return enum, maxLen
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// reasoningText stands for the reasoning_content of n tokens; its length is not n tokens, the usage is.
func reasoningText(n int) string {
	return strings.Repeat("我先通读转写，判断会谈阶段……", 2) + fmt.Sprintf("（%d tokens）", n)
}
