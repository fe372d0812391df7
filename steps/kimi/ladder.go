package kimi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Decide gives the transcript a phase and a summary. item holds the fields the prompts may name besides
// the classifier's own (id, subject, start, …); decided is the phase a pre rule set ("" lets the model
// decide, and then it also writes confidence and model_phase). res collects how: attempts, tokens, parts,
// the answer, and needs_review with its reason when the transcript is empty, the provider's content
// filter refused it, or the answer stayed invalid up the ladder (the phase is then the fallback).
// An error is what the guard made of a failed call, or a *TemplateError.
func (c *Classifier) Decide(ctx context.Context, item map[string]any, tr Transcript, decided string, res *Classification) (phase, summary string, err error) {
	return c.DecideExtra(ctx, item, tr, decided, res, nil)
}

// DecideExtra is Decide with the declared extraction (see ClassifierConfig.Extract) shaped by x for this
// request. The extracted fields are in res.Answer; a number that stayed out of range flags the recording.
func (c *Classifier) DecideExtra(ctx context.Context, item map[string]any, tr Transcript, decided string, res *Classification,
	x *Extra) (phase, summary string, err error) {
	if x == nil {
		x = &Extra{}
	}
	phase = decided
	if strings.TrimSpace(tr.Text) == "" {
		res.NeedsReview, res.Reason = true, "转写为空"
		if decided == "" {
			phase, res.Rule = c.cfg.Fallback, "empty"
		}
		return phase, "", nil
	}
	data := c.data(item, decided)
	out, err := c.classify(ctx, data, tr, decided != "", res, x)
	var ae *APIError
	switch {
	case err != nil && errors.As(err, &ae) && ae.Kind() == ErrContentFilter:
		res.NeedsReview, res.Reason = true, "content_filter: "+ae.Message
		if decided == "" {
			phase, res.Rule = c.cfg.Fallback, "fallback"
		}
		return phase, "", nil
	case err != nil:
		return "", "", err
	}
	res.Answer = out.answer
	summary = clipRunes(stringOf(out.answer["summary"]), c.cfg.SummaryMax)
	if out.valid && out.soft != nil {
		res.NeedsReview, res.Reason = true, out.soft.Error()
	}
	if out.valid {
		if decided == "" {
			phase, _ = c.Phase(stringOf(out.answer["phase"]))
			res.Confidence = confidenceOf(out.answer)
		}
	} else {
		res.NeedsReview, res.Reason, res.Raw = true, out.reason, clipRunes(out.content, 2000)
		if decided == "" {
			phase, res.Rule = c.cfg.Fallback, "fallback"
		}
	}
	if decided == "" {
		res.ModelPhase = clipRunes(stringOf(out.answer["phase"]), 100)
	}
	return phase, summary, nil
}

// data is what the templates see: the item's fields and the classifier's.
func (c *Classifier) data(item map[string]any, phase string) map[string]any {
	d := make(map[string]any, len(item)+9)
	for k, v := range item {
		d[k] = v
	}
	phases := make([]map[string]string, len(c.cfg.Phases))
	for i, p := range c.cfg.Phases {
		phases[i] = map[string]string{"name": p.Name, "description": p.Description}
	}
	d["phases"], d["phase_names"], d["fallback_phase"] = phases, c.names, c.cfg.Fallback
	d["phase"], d["summary_max"] = phase, c.cfg.SummaryMax
	d["mode"], d["part"], d["parts"], d["text"] = "single", 1, 1, ""
	return d
}

// classify runs the model over the transcript: in one pass when the prompt fits the budget, else by
// summarising parts first.
func (c *Classifier) classify(ctx context.Context, data map[string]any, tr Transcript, decided bool, res *Classification, x *Extra) (answer, error) {
	check := c.checkFull
	if decided {
		check = c.checkSummary
	}
	text := FormatTranscript(tr, c.cfg.Timestamps)
	msgs, err := c.tpl.render("system", "user", data, map[string]any{"text": text})
	if err != nil {
		return answer{}, err
	}
	c.instruct(msgs, x)
	fits, err := c.fits(ctx, msgs)
	if err != nil {
		return answer{}, err
	}
	if fits {
		out, err := c.ask(ctx, msgs, check, res, phasesUnless(decided, c.names), x)
		var ae *APIError
		if err == nil || !errors.As(err, &ae) || ae.Kind() != ErrTooLong {
			return out, err
		}
		c.logger(ctx).InfoContext(ctx, "prompt over the model's limit, summarising in parts", "err", err)
	}
	combined, err := c.mapReduce(ctx, data, tr, res)
	if err != nil {
		return answer{}, err
	}
	msgs, err = c.tpl.render("system", "user", data, map[string]any{"text": combined, "mode": "reduce", "parts": res.Parts})
	if err != nil {
		return answer{}, err
	}
	c.instruct(msgs, x)
	return c.ask(ctx, msgs, check, res, phasesUnless(decided, c.names), x)
}

// instruct adds the extraction's instructions to the first message (the system prompt, when there is one).
func (c *Classifier) instruct(msgs []Message, x *Extra) {
	if x != nil && len(c.cfg.Extract) > 0 {
		msgs[0].Content += c.instructions(x)
	}
}

// phasesUnless is the schema's enum: none when the phase is decided and only a summary is asked for.
func phasesUnless(decided bool, names []string) []string {
	if decided {
		return nil
	}
	return names
}

// answer is the end of a ladder: the last parsed answer, valid or not.
type answer struct {
	answer  map[string]any
	content string
	valid   bool
	reason  string
	soft    error // a *RangeError that stayed after its one re-ask: valid, but flagged
}

// ask runs the validation ladder: an answer cut off at the output cap is asked again once with twice
// the cap; an invalid one is asked again with the validator's message at most Reprompts times; after
// that the last answer is returned as invalid. Network errors and 429s end the ladder with an error for
// the engine to retry; they do not count as re-prompts. schemaPhases are the enum of the json_schema
// (nil: the summary alone).
func (c *Classifier) ask(ctx context.Context, msgs []Message, check func(map[string]any) error, res *Classification,
	schemaPhases []string, x *Extra) (answer, error) {
	msgs = append([]Message(nil), msgs...)
	limit := c.outputCap(msgs, 1)
	grown, reprompts, softAsked := false, 0, false
	schema := ClassifySchema(schemaPhases, c.cfg.SummaryMax)
	extracting := x != nil && len(c.cfg.Extract) > 0
	if extracting {
		schema = c.extractSchema(schema, x)
		base := check
		check = func(a map[string]any) error {
			if err := base(a); err != nil {
				return err
			}
			err := CheckFields(c.cfg.Extract, a, x)
			if err == nil && x.Check != nil {
				err = x.Check(a)
			}
			return err
		}
	}
	for {
		resp, err := c.complete(ctx, msgs, limit, schema, extracting)
		if err != nil {
			return answer{}, err
		}
		res.Attempts++
		u := resp.TokenUsage()
		res.PromptTokens += u.PromptTokens
		res.CompletionTokens += u.CompletionTokens
		res.Tokens += u.TotalTokens
		res.Usage.Add(u)
		content, finish := resp.Content()
		if finish == "length" && !grown {
			grown, limit = true, c.outputCap(msgs, 2)
			continue
		}
		ans, verr := ParseAnswer(content)
		if verr == nil {
			verr = check(ans)
		}
		if verr == nil {
			return answer{answer: ans, content: content, valid: true}, nil
		}
		if re := (*RangeError)(nil); errors.As(verr, &re) {
			if softAsked {
				return answer{answer: ans, content: content, valid: true, soft: verr}, nil
			}
			softAsked = true
			msgs = append(msgs, Message{Role: "assistant", Content: clipQuote(strings.TrimSpace(content), quoteRunes)},
				Message{Role: "user", Content: "上次输出中有数值超出允许范围：" + clipQuote(verr.Error(), 500) + "。请按范围重新给出完整的 JSON 对象。"})
			continue
		}
		if finish == "length" {
			verr = fmt.Errorf("输出在 %d 个 token 处被截断，%v", limit, verr)
		}
		if reprompts == Reprompts {
			return answer{answer: ans, content: content, reason: verr.Error()}, nil
		}
		reprompts++
		if quote := strings.TrimSpace(content); quote != "" {
			// Quote back only the start: a runaway answer (megabytes of prose) would otherwise grow the
			// prompt until it overflows the context and the item fails for good.
			msgs = append(msgs, Message{Role: "assistant", Content: clipQuote(quote, quoteRunes)})
		}
		msgs = append(msgs, Message{Role: "user",
			Content: "上次输出不符合要求：" + clipQuote(verr.Error(), 500) + "。请只输出符合字段要求的 JSON 对象。"})
	}
}

// quoteRunes is how much of an invalid answer is quoted back in a re-prompt: a valid one is a few
// hundred characters, so this shows the model what it did without carrying a runaway answer along.
const quoteRunes = 2000

func clipQuote(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "……（已截断）"
	}
	return s
}

// checkFull validates an answer that must carry the phase and the summary; it rewrites the phase to the
// configured spelling.
func (c *Classifier) checkFull(a map[string]any) error {
	raw, ok := a["phase"]
	if !ok {
		return errors.New(`缺少字段 "phase"`)
	}
	str, ok := raw.(string)
	if !ok {
		return errors.New(`"phase" 必须是字符串`)
	}
	p, ok := c.Phase(str)
	if !ok {
		return fmt.Errorf(`"phase" 的值 %q 不在允许的阶段中：%s`, clipQuote(str, 50), strings.Join(c.names, "、"))
	}
	a["phase"] = p
	if v, ok := a["confidence"]; ok && v != nil {
		f, ok := v.(float64)
		if !ok || f < 0 || f > 1 {
			return errors.New(`"confidence" 必须是 0 到 1 之间的数`)
		}
	}
	return c.checkSummary(a)
}

// checkSummary validates the summary alone.
func (c *Classifier) checkSummary(a map[string]any) error {
	raw, ok := a["summary"]
	if !ok {
		return errors.New(`缺少字段 "summary"`)
	}
	str, ok := raw.(string)
	if !ok {
		return errors.New(`"summary" 必须是字符串`)
	}
	n := utf8.RuneCountInString(strings.TrimSpace(str))
	if n == 0 {
		return errors.New(`"summary" 为空`)
	}
	if n > c.cfg.SummaryMax {
		return fmt.Errorf(`"summary" 有 %d 字，超过上限 %d 字`, n, c.cfg.SummaryMax)
	}
	return nil
}

func stringOf(v any) string {
	s, _ := v.(string)
	return strings.TrimSpace(s)
}

func confidenceOf(a map[string]any) float64 {
	f, _ := a["confidence"].(float64)
	return f
}

func clipRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}
