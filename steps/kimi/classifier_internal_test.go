package kimi

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"meetpipe/steps/kimi/emulator"
)

// TestSplitTranscript: parts stay within size tokens, each later part repeats the previous part's last
// line, no line is lost or reordered, and a line longer than a part is cut by characters.
func TestSplitTranscript(t *testing.T) {
	var segs []Segment
	for i := range 40 {
		segs = append(segs, Segment{Start: float64(i * 30), Text: fmt.Sprintf("第%02d句", i) + strings.Repeat("项目方案", 10)})
	}
	segs = append(segs, Segment{Start: 4000, Text: strings.Repeat("长", 1000)})
	const size = 200
	parts := splitTranscript(Transcript{Segments: segs}, true, size)
	if len(parts) < 4 {
		t.Fatalf("%d parts", len(parts))
	}
	var seen []string
	for i, p := range parts {
		lines := strings.Split(p, "\n")
		n := 0
		for _, l := range lines {
			n += TextTokens(l) + 1
			if r := []rune(l); len(r) > size*3/2 {
				t.Errorf("part %d has a line of %d runes", i, len(r))
			}
		}
		if n > size {
			t.Errorf("part %d is %d tokens, over %d", i, n, size)
		}
		if i > 0 {
			prev := strings.Split(parts[i-1], "\n")
			last := prev[len(prev)-1]
			repeated := len(lines) > 1 && lines[0] == last
			if repeated {
				lines = lines[1:]
			}
			if fits := TextTokens(last) + 1 + TextTokens(lines[0]) + 1; fits <= size && !repeated {
				t.Errorf("part %d does not repeat %q", i, last)
			}
		}
		seen = append(seen, lines...)
	}
	if want := transcriptLines(Transcript{Segments: segs}, true); len(seen) < len(want) || seen[0] != want[0] || !strings.HasPrefix(seen[len(seen)-1], "[1:06:40] ") && !strings.HasPrefix(seen[len(seen)-1], "长") {
		t.Errorf("lines %d of %d, first %q last %q", len(seen), len(want), seen[0], seen[len(seen)-1])
	}
	if got := strings.Join(seen, ""); !strings.Contains(got, "第39句") || strings.Count(got, "长") != 1000 {
		t.Errorf("lost text: %d 长, 第39句 %v", strings.Count(got, "长"), strings.Contains(got, "第39句"))
	}
}

func TestGroupSummaries(t *testing.T) {
	var sums []string
	for i := range 12 {
		sums = append(sums, fmt.Sprintf("摘要%d", i)+strings.Repeat("要点", 20))
	}
	groups := groupSummaries(sums, 100)
	if len(groups) < 2 || len(groups) >= len(sums) {
		t.Fatalf("%d groups of %d", len(groups), len(sums))
	}
	all := strings.Join(groups, "\n")
	for i := range sums {
		if !strings.Contains(all, fmt.Sprintf("【第 %d 段】摘要%d", i+1, i)) {
			t.Errorf("summary %d lost", i)
		}
	}
	for i, g := range groups {
		if strings.Contains(g, "\n") && TextTokens(g) > 100 {
			t.Errorf("group %d is %d tokens", i, TextTokens(g))
		}
	}
	if got := joinSummaries([]string{"甲", "乙"}); got != "【第 1/2 段】甲\n【第 2/2 段】乙" {
		t.Errorf("joined %q", got)
	}
}

func TestFormatTranscript(t *testing.T) {
	tr := Transcript{Text: "甲乙", Segments: []Segment{{Start: 59.9, Text: "甲"}, {Start: 3725, Text: "乙"}}}
	if got := FormatTranscript(tr, true); got != "[00:59] 甲\n[1:02:05] 乙" {
		t.Errorf("stamped %q", got)
	}
	if got := FormatTranscript(tr, false); got != "甲\n乙" {
		t.Errorf("plain %q", got)
	}
	if got := FormatTranscript(Transcript{Text: " 只有文本 "}, true); got != "只有文本" {
		t.Errorf("no segments %q", got)
	}
}

func budgetClassifier(t *testing.T, base string, edit func(*ClassifierConfig)) *Classifier {
	t.Helper()
	cfg := ClassifierConfig{Model: "moonshot-v1-8k", Phases: []Phase{{Name: "其他"}}, Fallback: "其他", Prompts: DefaultPrompts(),
		SummaryMax: 300, MaxTokens: 1000, ReasoningTokens: 4000, TokenEstimate: "auto", BudgetRatio: 0.5, PartTokens: 500, ContextTokens: 10000}
	if edit != nil {
		edit(&cfg)
	}
	c, err := NewClassifier(cfg, &Chat{BaseURL: base, APIKey: "sk-kimi"}, directGuard{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type directGuard struct{}

func (directGuard) Do(ctx context.Context, f func(context.Context) error) error { return f(ctx) }
func (directGuard) Fail(_ context.Context, err error) error                     { return err }

// TestBudget: the budget is budget_ratio of the window less max_tokens; the output cap shrinks to the
// room the prompt leaves but never below max_tokens; a 400 naming a smaller window is learned once.
func TestBudget(t *testing.T) {
	c := budgetClassifier(t, "http://127.0.0.1:9", nil)
	if got := c.Budget(); got != 4000 {
		t.Errorf("budget %d", got)
	}
	short := []Message{{Role: "user", Content: "短"}}
	if got := c.outputCap(short, 1); got != 5000 {
		t.Errorf("cap of a short prompt %d, want max_tokens+reasoning", got)
	}
	long := []Message{{Role: "user", Content: strings.Repeat("长", 12000)}} // 8000 tokens: 2000 left
	if got := c.outputCap(long, 1); got != 10000-runeTokens(long) {
		t.Errorf("cap of a long prompt %d, want the room left", got)
	}
	if got := c.outputCap(long, 2); got != 2000 {
		t.Errorf("doubled cap %d, want at least twice max_tokens", got)
	}
	ae := &APIError{Status: 400, Message: "Invalid request: Your request exceeded model token limit : 8192"}
	if !c.learnWindow(context.Background(), ae) || c.Window() != 8192 || c.Budget() != 8192/2-1000 {
		t.Errorf("window %d after the 400", c.Window())
	}
	if c.learnWindow(context.Background(), ae) || c.learnWindow(context.Background(), &APIError{Status: 400, Message: "exceeded model token limit : 9000"}) {
		t.Error("learned a window that is not smaller")
	}
	c.SetWindow(0)
	if c.Window() != 8192 {
		t.Errorf("SetWindow(0) changed the window to %d", c.Window())
	}
}

// TestFits: runes decide without a call where the count is clearly in or out; api always asks; auto asks
// only near the budget; a failed estimate falls back to counting characters.
func TestFits(t *testing.T) {
	s := emulator.NewMoonshot(emulator.MoonshotOptions{APIKey: "sk-kimi"})
	defer s.Close()
	near := []Message{{Role: "user", Content: strings.Repeat("字", 6300)}} // 4208 tokens by runes, 3938 by the server; budget 4000
	far := []Message{{Role: "user", Content: strings.Repeat("字", 30000)}}
	for _, tt := range []struct {
		mode  string
		msgs  []Message
		fits  bool
		calls int
	}{
		{"runes", near, false, 0},
		{"auto", []Message{{Role: "user", Content: "短"}}, true, 0},
		{"auto", far, false, 0},
		{"auto", near, true, 1}, // the server counts Chinese at more than 1.5 characters a token
		{"api", []Message{{Role: "user", Content: "短"}}, true, 1},
	} {
		c := budgetClassifier(t, s.URL(), func(cfg *ClassifierConfig) { cfg.TokenEstimate = tt.mode })
		before := s.Counters().Estimates
		ok, err := c.fits(context.Background(), tt.msgs)
		if err != nil || ok != tt.fits || s.Counters().Estimates-before != tt.calls {
			t.Errorf("%s, %d runes: fits %v err %v, %d estimates", tt.mode, len([]rune(tt.msgs[0].Content)), ok, err, s.Counters().Estimates-before)
		}
	}
	c := budgetClassifier(t, s.URL()+"/no-such-proxy", func(cfg *ClassifierConfig) { cfg.TokenEstimate = "api" })
	if ok, err := c.fits(context.Background(), near); err != nil || ok {
		t.Errorf("failed estimate: fits %v err %v, want the rune count's answer", ok, err)
	}
}

func TestCache(t *testing.T) {
	c := NewCache[string, []int](2, func(v []int) []int { return append([]int(nil), v...) })
	v := []int{1}
	c.Put("a", v)
	v[0] = 9
	if got, ok := c.Get("a"); !ok || got[0] != 1 {
		t.Errorf("a %v %v: the cache shares the caller's value", got, ok)
	}
	got, _ := c.Get("a")
	got[0] = 7
	if again, _ := c.Get("a"); again[0] != 1 {
		t.Errorf("a changed to %v through a returned copy", again)
	}
	c.Put("b", []int{2})
	c.Put("b", []int{3})
	c.Put("c", []int{4})
	if _, ok := c.Get("a"); ok || c.Len() != 2 {
		t.Errorf("oldest kept, %d entries", c.Len())
	}
	if got, ok := c.Get("b"); !ok || got[0] != 3 {
		t.Errorf("b %v %v", got, ok)
	}
}
