package step

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// yamlErrorPos places a yaml.v3 syntax error in src. yaml.v3 says the line of the token it was reading
// when it meets a bad tab (the line before the tab), counts parser errors from 0, and gives no line at all
// for a byte that is not UTF-8 or an alias of an unknown anchor: each is found here in the text.
func yamlErrorPos(src []byte, err error) (line, col int, msg string) {
	line, msg = splitYAMLLine(err.Error())
	msg = strings.TrimPrefix(msg, "yaml: ")
	lines := strings.Split(string(src), "\n")
	switch {
	case strings.Contains(msg, "UTF-8"):
		if off, b, ok := firstInvalidUTF8(src); ok {
			line, col = offsetPos(src, off)
			msg = fmt.Sprintf("%s (byte 0x%02x): the file must be UTF-8", msg, b)
		}
	case strings.HasPrefix(msg, "unknown anchor "):
		name := strings.Trim(strings.TrimPrefix(strings.TrimSuffix(msg, " referenced"), "unknown anchor "), "'")
		re := regexp.MustCompile(`\*` + regexp.QuoteMeta(name) + `(?:[\s,\]}]|$)`)
		if loc := re.FindIndex(src); loc != nil {
			line, col = offsetPos(src, loc[0])
			msg += "; define it with &" + name + " before it is used"
		}
	case strings.Contains(msg, "tab"):
		// The tab is in the indentation of the reported line or of one after it.
		for l := max(line, 1); l <= len(lines); l++ {
			lead := lines[l-1][:len(lines[l-1])-len(strings.TrimLeft(lines[l-1], " \t"))]
			if i := strings.IndexByte(lead, '\t'); i >= 0 {
				line, col = l, i+1
				msg += "; indent with spaces"
				break
			}
		}
	case strings.Contains(msg, "cannot start any token") && line > 0 && line <= len(lines):
		if i := strings.IndexByte(lines[line-1], '\t'); i >= 0 && strings.TrimLeft(lines[line-1][:i], " ") == "" {
			col = i + 1
			msg += " (a tab; indent with spaces)"
		}
	case strings.HasPrefix(msg, "did not find expected") && line > 0:
		// yaml.v3 counts the lines of parser (not scanner) errors from 0; at the end of the input (an
		// unclosed bracket) the last line with text is the one to look at.
		line = min(line+1, lastTextLine(lines))
	}
	return min(line, len(lines)), col, msg
}

func firstInvalidUTF8(src []byte) (off int, b byte, ok bool) {
	for i := 0; i < len(src); {
		r, n := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && n <= 1 {
			return i, src[i], true
		}
		i += n
	}
	return 0, 0, false
}

// offsetPos turns a byte offset into a 1-based line and rune column.
func offsetPos(src []byte, off int) (line, col int) {
	before := src[:off]
	line = 1 + strings.Count(string(before), "\n")
	start := strings.LastIndexByte(string(before), '\n') + 1
	return line, 1 + utf8.RuneCount(before[start:])
}
