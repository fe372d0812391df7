package kimi

import (
	"context"
	"errors"
	"math"
	"regexp"
	"strconv"
	"unicode/utf8"
)

// fits reports whether a prompt plus max_tokens stays within budget_ratio of the context window.
func (c *Classifier) fits(ctx context.Context, msgs []Message) (bool, error) {
	limit := c.Budget()
	h := runeTokens(msgs)
	mode := c.cfg.TokenEstimate
	if mode == "runes" || (mode == "auto" && (h <= limit || h*3/4 > limit)) {
		// The heuristic counts 1.5 characters a token; Chinese runs 1.5–2, so a fit is sure and so is
		// an overrun by a third.
		return h <= limit, nil
	}
	var n int
	err := c.guard.Do(ctx, func(ctx context.Context) error {
		var err error
		n, err = c.chat.EstimateTokens(ctx, c.cfg.Model, msgs)
		return err
	})
	if err != nil {
		err = c.guard.Fail(ctx, err)
		// The key, the quota and the rate are the run's business; a proxy without the endpoint is not.
		var ae *APIError
		if ctx.Err() != nil || errors.As(err, &ae) && (ae.Kind() == ErrAuth || ae.Kind() == ErrQuota || ae.Kind() == ErrRateLimit) {
			return false, err
		}
		c.logger(ctx).WarnContext(ctx, "token estimate failed, counting characters", "err", err)
		return h <= limit, nil
	}
	return n <= limit, nil
}

// Budget is the prompt tokens a single pass may take: budget_ratio of the window, less max_tokens.
func (c *Classifier) Budget() int {
	return int(float64(c.window.Load())*c.cfg.BudgetRatio) - c.cfg.MaxTokens
}

// outputCap is max_completion_tokens for a prompt: the answer's tokens plus a reasoning model's thinking,
// times factor, kept within the context window left by the prompt (a model that does not reason never
// spends the reasoning share).
func (c *Classifier) outputCap(msgs []Message, factor int) int {
	n := (c.cfg.MaxTokens + c.cfg.ReasoningTokens) * factor
	if room := int(c.window.Load()) - runeTokens(msgs); n > room {
		n = max(room, c.cfg.MaxTokens*factor)
	}
	return n
}

var tokenLimitRE = regexp.MustCompile(`(?i)exceeded model token limit\s*:\s*(\d+)`)

// learnWindow lowers the context window to the one a 400 names ("Your request exceeded model token limit
// : 8192"), for a model whose window GET /v1/models did not give. It reports whether the window shrank.
func (c *Classifier) learnWindow(ctx context.Context, ae *APIError) bool {
	m := tokenLimitRE.FindStringSubmatch(ae.Message)
	if m == nil {
		return false
	}
	n, err := strconv.Atoi(m[1])
	if cur := c.window.Load(); err != nil || n <= 0 || int64(n) >= cur || !c.window.CompareAndSwap(cur, int64(n)) {
		return false
	}
	c.logger(ctx).InfoContext(ctx, "the model's context window is smaller than configured; using it for the rest of the run",
		"model", c.cfg.Model, "context_tokens", n)
	return true
}

// runeTokens over-estimates tokens: 1.5 characters a token plus a few per message.
func runeTokens(msgs []Message) int {
	n := 0
	for _, m := range msgs {
		n += TextTokens(m.Content) + 8
	}
	return n
}

// TextTokens over-estimates the tokens of a text: 1.5 characters a token.
func TextTokens(s string) int { return int(math.Ceil(float64(utf8.RuneCountInString(s)) / 1.5)) }
