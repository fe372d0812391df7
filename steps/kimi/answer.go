package kimi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"meetpipe/steps/coach"
)

// Classification is what kimi_classify writes as the item field `classification`: how the phase and
// summary were reached.
type Classification struct {
	Model string `json:"model" expr:"model"`
	// Rule is what decided the phase: "model", a pre or post rule's name (default "pre_rules[i]" /
	// "post_rules[i]"), "fallback" when the model's answer stayed invalid, or "empty" for an empty
	// transcript.
	Rule string `json:"rule" expr:"rule"`
	// ModelPhase is the phase the model answered, before post rules; empty when it was not asked.
	ModelPhase string `json:"model_phase,omitempty" expr:"model_phase"`
	// Confidence is the model's own figure (0–1) when it gave one; 1 when a rule decided.
	Confidence  float64 `json:"confidence" expr:"confidence"`
	NeedsReview bool    `json:"needs_review" expr:"needs_review"`
	// Reason says why a review is needed (the last validator message, a content filter, …).
	Reason string `json:"reason,omitempty" expr:"reason"`
	// Attempts counts chat completions made for this item (re-prompts and map calls included; network
	// retries not).
	Attempts         int `json:"attempts" expr:"attempts"`
	PromptTokens     int `json:"prompt_tokens" expr:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens" expr:"completion_tokens"`
	Tokens           int `json:"tokens" expr:"tokens"`
	// Usage is the tokens of this item's calls by kind, for reports that sum cost from the database.
	Usage TokenUsage `json:"usage" expr:"usage"`
	// Parts is 1 for a single pass, or the number of transcript parts summarised before the merge.
	Parts int `json:"parts" expr:"parts"`
	// Answer is the model's final JSON object, extra keys included.
	Answer map[string]any `json:"answer,omitempty" expr:"answer"`
	// Raw is the model's last output when it never became valid.
	Raw string `json:"raw,omitempty" expr:"raw"`
	// Coaching is the checked extraction (homework, scores, followups) when fields are declared.
	Coaching *coach.Extraction `json:"coaching,omitempty" expr:"coaching"`
}

// ParseAnswer reads the JSON object in a model's reply. JSON mode gives a bare object; without it models
// wrap it in prose or a ```json fence, so the first balanced {...} is taken.
func ParseAnswer(content string) (map[string]any, error) {
	s := strings.TrimSpace(content)
	if s == "" {
		return nil, errors.New("输出为空")
	}
	if !strings.HasPrefix(s, "{") {
		i := strings.Index(s, "{")
		if i < 0 {
			return nil, errors.New("输出中没有 JSON 对象")
		}
		s = s[i:]
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("不是合法的 JSON 对象（%v）", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("输出不是 JSON 对象")
	}
	return m, nil
}
