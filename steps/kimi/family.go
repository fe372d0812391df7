package kimi

import "strings"

// Model families whose reasoning controls differ, after the reference Moonshot client (vercel/ai
// packages/moonshotai/src/moonshotai-chat-options.ts getMoonshotAIModelFamily, and
// moonshotai-chat-language-model.ts prepareReasoningOptions; kimi-asr-api.md correction 6).
const (
	familyK25        = "kimi-k2.5"
	familyK26        = "kimi-k2.6"
	familyK27        = "kimi-k2.7"
	familyK3         = "kimi-k3"
	familyMoonshotV1 = "moonshot-v1"
	familyUnknown    = ""
)

// modelFamily names the family of a model id. The reference matches exact ids (kimi-k3, kimi-k2.7-code…);
// dated or suffixed ids of the same family (kimi-k3.1-pro) are taken as that family too.
func modelFamily(model string) string {
	m := strings.ToLower(strings.TrimSpace(model))
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:] // a gateway's provider/model id
	}
	switch {
	case strings.HasPrefix(m, "moonshot-v1-"):
		return familyMoonshotV1
	case strings.HasPrefix(m, "kimi-k3"):
		return familyK3
	case strings.HasPrefix(m, "kimi-k2.7"):
		return familyK27
	case strings.HasPrefix(m, "kimi-k2.6"):
		return familyK26
	case strings.HasPrefix(m, "kimi-k2.5"):
		return familyK25
	}
	return familyUnknown
}

// ForModel keeps only the reasoning controls model takes, as prepareReasoningOptions does: thinking goes
// to K2.5 and K2.6 as asked, to K2.7 only when enabled (it cannot be disabled); reasoning_effort to K3
// only (it always reasons and refuses thinking); moonshot-v1 takes neither. A model of no known family
// gets neither: its defaults stand, rather than a control it may refuse.
func (p Params) ForModel(model string) Params {
	switch modelFamily(model) {
	case familyK25, familyK26:
		p.ReasoningEffort = ""
	case familyK27:
		p.ReasoningEffort = ""
		if p.Thinking == "disabled" {
			p.Thinking = ""
		}
	case familyK3:
		p.Thinking = ""
	default:
		p.Thinking, p.ReasoningEffort = "", ""
	}
	return p
}
