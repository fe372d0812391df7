package kimi

import (
	"context"
	"fmt"
	"strings"
)

// mapReduce summarises the transcript in parts (and the summaries in groups while they are still too
// long) and returns the summaries for the final prompt.
func (c *Classifier) mapReduce(ctx context.Context, data map[string]any, tr Transcript, res *Classification) (string, error) {
	parts := splitTranscript(tr, c.cfg.Timestamps, c.cfg.PartTokens)
	res.Parts = len(parts)
	sums, err := c.summarise(ctx, data, parts, "map", res)
	if err != nil {
		return "", err
	}
	for depth := 0; depth < 3 && len(sums) > 1 && TextTokens(joinSummaries(sums)) > c.Budget()/2; depth++ {
		groups := groupSummaries(sums, c.cfg.PartTokens)
		if len(groups) >= len(sums) {
			break
		}
		if sums, err = c.summarise(ctx, data, groups, "collapse", res); err != nil {
			return "", err
		}
	}
	return joinSummaries(sums), nil
}

// summarise asks for a summary of each text. A summary that stays invalid is kept as the model gave it
// (or its raw output) and flags the item for review.
func (c *Classifier) summarise(ctx context.Context, data map[string]any, texts []string, mode string, res *Classification) ([]string, error) {
	out := make([]string, 0, len(texts))
	for i, t := range texts {
		msgs, err := c.tpl.render("map_system", "map_user", data, map[string]any{"text": t, "mode": mode, "part": i + 1, "parts": len(texts)})
		if err != nil {
			return nil, err
		}
		a, err := c.ask(ctx, msgs, c.checkSummary, res, nil, nil)
		if err != nil {
			return nil, err
		}
		sum := stringOf(a.answer["summary"])
		if !a.valid {
			res.NeedsReview = true
			res.Reason = fmt.Sprintf("第 %d 段摘要无效：%s", i+1, a.reason)
			if strings.TrimSpace(sum) == "" {
				sum = a.content
			}
		}
		out = append(out, clipRunes(strings.TrimSpace(sum), c.cfg.SummaryMax))
	}
	return out, nil
}

func joinSummaries(sums []string) string {
	var b strings.Builder
	for i, s := range sums {
		fmt.Fprintf(&b, "【第 %d/%d 段】%s\n", i+1, len(sums), s)
	}
	return strings.TrimSpace(b.String())
}

// groupSummaries packs consecutive summaries into texts of at most size tokens.
func groupSummaries(sums []string, size int) []string {
	var out []string
	var cur strings.Builder
	n := 0
	for i, s := range sums {
		line := fmt.Sprintf("【第 %d 段】%s\n", i+1, s)
		t := TextTokens(line)
		if n > 0 && n+t > size {
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
			n = 0
		}
		cur.WriteString(line)
		n += t
	}
	if n > 0 {
		out = append(out, strings.TrimSpace(cur.String()))
	}
	return out
}

// splitTranscript cuts the transcript into parts of at most size tokens on line boundaries, each part
// after the first repeating the previous part's last line for context. A line longer than a part is cut
// by characters.
func splitTranscript(tr Transcript, stamps bool, size int) []string {
	var lines []string
	// A cut piece costs TextTokens plus one for its newline, like every line: it must fit a part alone.
	maxRunes := int(float64(size-1) * 1.5)
	for _, l := range transcriptLines(tr, stamps) {
		r := []rune(l)
		for len(r) > maxRunes {
			lines = append(lines, string(r[:maxRunes]))
			r = r[maxRunes:]
		}
		lines = append(lines, string(r))
	}
	var parts []string
	var cur []string
	n := 0
	for _, l := range lines {
		t := TextTokens(l) + 1
		if n > 0 && n+t > size {
			parts = append(parts, strings.Join(cur, "\n"))
			last := cur[len(cur)-1]
			cur, n = nil, 0
			if lt := TextTokens(last) + 1; lt+t <= size {
				cur, n = []string{last}, lt
			}
		}
		cur = append(cur, l)
		n += t
	}
	if len(cur) > 0 {
		parts = append(parts, strings.Join(cur, "\n"))
	}
	return parts
}

// FormatTranscript renders the transcript for a prompt: "[mm:ss] text" lines, or the text when there are
// no segments or timestamps are off.
func FormatTranscript(tr Transcript, stamps bool) string {
	return strings.Join(transcriptLines(tr, stamps), "\n")
}

func transcriptLines(tr Transcript, stamps bool) []string {
	if len(tr.Segments) == 0 {
		return []string{strings.TrimSpace(tr.Text)}
	}
	lines := make([]string, 0, len(tr.Segments))
	for _, sg := range tr.Segments {
		if stamps {
			lines = append(lines, "["+clock(sg.Start)+"] "+sg.Text)
		} else {
			lines = append(lines, sg.Text)
		}
	}
	return lines
}

func clock(sec float64) string {
	t := int(sec)
	if t >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", t/3600, t/60%60, t%60)
	}
	return fmt.Sprintf("%02d:%02d", t/60, t%60)
}
