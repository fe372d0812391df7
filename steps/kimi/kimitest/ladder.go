// Package kimitest holds the cases that the classifier's own tests and kimi_classify's step tests both run,
// so that the answer ladder is specified once and checked at both levels.
package kimitest

import (
	"strings"

	"meetpipe/steps/kimi/emulator"
)

// LadderCase is one walk down the answer ladder against the Moonshot emulator: the faults injected, the
// transcript text (empty: a plain one), and the outcome with a summary limit of 30 characters, JSON mode
// without json_schema, and no reasoning budget.
type LadderCase struct {
	Name      string
	Inject    []emulator.Fault
	Text      string
	Phase     string
	Summary   string
	Review    bool
	Rule      string
	Attempts  int
	MaxTokens []int  // max_completion_tokens of each request
	Reprompt  string // in the last request's last message
}

// LadderSummary is what the fixture answers by default; LadderLong what it answers to "太长".
const LadderSummary = "讨论了推荐系统项目的难点。"

var LadderLong = strings.Repeat("很长的摘要", 20)

// LadderFixture answers 项目深挖 with LadderSummary (confidence 0.8), or with LadderLong to "太长".
func LadderFixture() *emulator.ChatFixture {
	return &emulator.ChatFixture{
		Rules:   []emulator.ChatRule{{Keywords: []string{"太长"}, ChatAnswer: emulator.ChatAnswer{Phase: "项目深挖", Summary: LadderLong, Confidence: 0.7}}},
		Default: emulator.ChatAnswer{Phase: "项目深挖", Summary: LadderSummary, Confidence: 0.8},
	}
}

// LadderCases: an answer cut off is asked again once with twice the cap, an invalid one twice with the
// validator's message, and then falls back to 其他 with needs_review.
func LadderCases() []LadderCase {
	const ok = LadderSummary
	return []LadderCase{
		{Name: "valid at once", Phase: "项目深挖", Summary: ok, Rule: "model", Attempts: 1, MaxTokens: []int{1024}},
		{Name: "invalid JSON re-asked", Inject: []emulator.Fault{emulator.FaultInvalidJSON}, Phase: "项目深挖", Summary: ok, Rule: "model",
			Attempts: 2, MaxTokens: []int{1024, 1024}, Reprompt: "上次输出不符合要求：输出中没有 JSON 对象。请只输出符合字段要求的 JSON 对象。"},
		{Name: "phase outside the list re-asked", Inject: []emulator.Fault{emulator.FaultBadPhase}, Phase: "项目深挖", Summary: ok, Rule: "model",
			Attempts: 2, MaxTokens: []int{1024, 1024}, Reprompt: `"phase" 的值 "职业规划" 不在允许的阶段中：简历优化、项目深挖、面试模拟、Offer后续、其他`},
		{Name: "cut off at max_tokens retried once with twice the tokens", Inject: []emulator.Fault{emulator.FaultLength}, Phase: "项目深挖", Summary: ok,
			Rule: "model", Attempts: 2, MaxTokens: []int{1024, 2048}},
		{Name: "cut off twice is re-asked", Inject: []emulator.Fault{emulator.FaultLength, emulator.FaultLength}, Phase: "项目深挖", Summary: ok,
			Rule: "model", Attempts: 3, MaxTokens: []int{1024, 2048, 2048}, Reprompt: "输出在 2048 个 token 处被截断"},
		{Name: "invalid three times falls back", Inject: []emulator.Fault{emulator.FaultInvalidJSON, emulator.FaultBadPhase, emulator.FaultInvalidJSON},
			Phase: "其他", Summary: "", Review: true, Rule: "fallback", Attempts: 3, MaxTokens: []int{1024, 1024, 1024}},
		{Name: "summary over the limit", Text: "太长", Phase: "其他", Summary: LadderLong[:len("很长的摘要")*6], Review: true, Rule: "fallback",
			Attempts: 3, MaxTokens: []int{1024, 1024, 1024}, Reprompt: `"summary" 有 100 字，超过上限 30 字`},
	}
}
