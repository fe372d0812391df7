// Package table measures text in terminal display cells and prints aligned text tables with it, so that
// columns holding Chinese line up (a CJK character takes two cells; text/tabwriter counts runes).
package table

import (
	"fmt"
	"io"
	"strings"

	"github.com/mattn/go-runewidth"
)

// cond fixes the measure: East Asian ambiguous runes (…, ─) count one cell whatever the locale, so that
// output and tests do not change with LANG.
var cond = &runewidth.Condition{EastAsianWidth: false}

// Width is the number of terminal cells s takes.
func Width(s string) int { return cond.StringWidth(s) }

// Truncate cuts s to at most w cells, ending it with "…" when cut.
func Truncate(s string, w int) string { return cond.Truncate(s, w, "…") }

// Pad appends spaces to s up to w cells.
func Pad(s string, w int) string { return s + strings.Repeat(" ", max(0, w-Width(s))) }

// Write prints head and rows as columns two spaces apart, with a rule under the head. A heading that
// starts with ">" marks a right-aligned column (numbers); the ">" is not printed. indent prefixes every line.
func Write(w io.Writer, indent string, head []string, rows [][]string) error {
	head = append([]string(nil), head...)
	widths := make([]int, len(head))
	right := make([]bool, len(head))
	for i := range head {
		head[i], right[i] = strings.CutPrefix(head[i], ">")
		widths[i] = Width(head[i])
		for _, r := range rows {
			if i < len(r) {
				widths[i] = max(widths[i], Width(r[i]))
			}
		}
	}
	line := func(cells []string) error {
		var b strings.Builder
		b.WriteString(indent)
		for i := range head {
			c := ""
			if i < len(cells) {
				c = cells[i]
			}
			if i > 0 {
				b.WriteString("  ")
			}
			pad := strings.Repeat(" ", widths[i]-Width(c))
			if right[i] {
				b.WriteString(pad + c)
			} else {
				b.WriteString(c + pad)
			}
		}
		_, err := fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
		return err
	}
	if err := line(head); err != nil {
		return err
	}
	rule := make([]string, len(widths))
	for i, wd := range widths {
		rule[i] = strings.Repeat("─", wd)
	}
	if err := line(rule); err != nil {
		return err
	}
	for _, r := range rows {
		if err := line(r); err != nil {
			return err
		}
	}
	return nil
}
