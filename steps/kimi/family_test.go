package kimi

import (
	"encoding/json"
	"strings"
	"testing"
)

// thinking goes only to the K2.5–K2.7 family (K2.7 only when enabled), reasoning_effort only to K3, and
// neither to moonshot-v1 or an unknown model: vercel/ai moonshotai prepareReasoningOptions.
func TestReasoningControlsPerModelFamily(t *testing.T) {
	want := Params{Thinking: "disabled", ReasoningEffort: "low", MaxField: "max_completion_tokens", Format: "text"}
	for model, body := range map[string]struct{ thinking, effort string }{
		"moonshot-v1-128k":         {"", ""},
		"moonshot-v1-auto":         {"", ""},
		"kimi-k2.5":                {`"thinking":{"type":"disabled"}`, ""},
		"kimi-k2.6":                {`"thinking":{"type":"disabled"}`, ""},
		"kimi-k2.7-code":           {"", ""}, // thinking cannot be disabled: left out
		"kimi-k2.7-code-highspeed": {"", ""},
		"kimi-k3":                  {"", `"reasoning_effort":"low"`},
		"kimi-k3.1-pro":            {"", `"reasoning_effort":"low"`},
		"moonshotai/kimi-k3":       {"", `"reasoning_effort":"low"`},
		"some-local-model":         {"", ""},
	} {
		b, err := json.Marshal(want.ForModel(model).Request(model, nil, 100, nil, ""))
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		if got := strings.Contains(s, `"thinking"`); got != (body.thinking != "") || body.thinking != "" && !strings.Contains(s, body.thinking) {
			t.Errorf("%s: %s: want thinking %q", model, s, body.thinking)
		}
		if got := strings.Contains(s, `"reasoning_effort"`); got != (body.effort != "") || body.effort != "" && !strings.Contains(s, body.effort) {
			t.Errorf("%s: %s: want reasoning_effort %q", model, s, body.effort)
		}
	}
	enabled := Params{Thinking: "enabled"}.ForModel("kimi-k2.7-code")
	if enabled.Thinking != "enabled" {
		t.Errorf("K2.7 with thinking enabled: %+v", enabled)
	}
}

// A server that refuses reasoning_effort gets the request without it.
func TestHealDropsReasoningEffort(t *testing.T) {
	p := Params{ReasoningEffort: "low"}
	got, note, ok := Heal(p, &APIError{Status: 400, Type: "invalid_request_error", Message: "Unsupported parameter: 'reasoning_effort'"})
	if !ok || got.ReasoningEffort != "" || !strings.Contains(note, "reasoning_effort") {
		t.Errorf("healed %+v %q %v", got, note, ok)
	}
}
