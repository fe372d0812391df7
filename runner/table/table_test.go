package table

import (
	"strings"
	"testing"
)

func TestWidth(t *testing.T) {
	for s, want := range map[string]int{
		"":              0,
		"abc":           3,
		"简历优化":          8,
		"Offer后续":       9,
		"李同学 (ext:WM1)": 16,
		"…":             1,
		"─":             1,
		"ｆｕｌｌ":          8, // fullwidth Latin
	} {
		if got := Width(s); got != want {
			t.Errorf("Width(%q) = %d, want %d", s, got, want)
		}
	}
	if got := Truncate("项目深挖很长的摘要", 9); got != "项目深挖…" {
		t.Errorf("Truncate = %q", got)
	}
}

// TestWriteAlignsChineseCells checks that every column starts at the same display cell on every line,
// whatever mix of Chinese and ASCII the cells hold.
func TestWriteAlignsChineseCells(t *testing.T) {
	var b strings.Builder
	head := []string{"recording", "phase", ">min", "summary"}
	rows := [][]string{
		{"1964787070499246101", "简历优化", "45", "我们先把你的简历从头过一遍"},
		{"7", "Offer后续", "8", "ok"},
		{"x", "其他", "120", "short"},
	}
	if err := Write(&b, "  ", head, rows); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("got %d lines:\n%s", len(lines), b.String())
	}
	// The phase column starts right after the widest recording id; the min column is right-aligned, so
	// every number ends in the same cell; the summary column starts in the same cell on every line.
	phaseAt := Width("  1964787070499246101  ")
	minEnd := phaseAt + Width("Offer后续") + 2 + 3
	for i, l := range lines {
		cut := func(cells int) string { // the text before display cell `cells`
			n := 0
			for j, r := range l {
				if n >= cells {
					return l[:j]
				}
				n += Width(string(r))
			}
			return l
		}
		if i == 1 {
			continue // the rule
		}
		if w := Width(cut(phaseAt)); w != phaseAt || strings.HasSuffix(strings.TrimRight(cut(phaseAt), " "), " ") {
			t.Errorf("line %d: phase column not at cell %d: %q", i, phaseAt, l)
		}
		before := cut(minEnd)
		if !strings.HasSuffix(before, []string{"min", "45", "8", "120"}[map[int]int{0: 0, 2: 1, 3: 2, 4: 3}[i]]) {
			t.Errorf("line %d: min column does not end at cell %d: %q", i, minEnd, before)
		}
		if rest := l[len(before):]; !strings.HasPrefix(rest, "  ") || strings.HasPrefix(rest, "   ") {
			t.Errorf("line %d: summary column not two cells after min: %q", i, rest)
		}
	}
}

func TestPadCountsCells(t *testing.T) {
	for _, tc := range []struct {
		s    string
		w    int
		want string
	}{{"简历", 6, "简历  "}, {"ab", 6, "ab    "}, {"简历优化很长", 6, "简历优化很长"}} {
		if got := Pad(tc.s, tc.w); got != tc.want {
			t.Errorf("Pad(%q, %d) = %q, want %q", tc.s, tc.w, got, tc.want)
		}
	}
}
