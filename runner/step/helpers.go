package step

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/expr-lang/expr"
)

// helpers are the functions every expression may call besides expr's built-ins. now() is the run's logical
// time (the end of its window), so that a rule gives the same answer when a run is repeated.
func helpers(now func() time.Time) []expr.Option {
	return []expr.Option{
		expr.Function("now", func(...any) (any, error) { return now(), nil }, new(func() time.Time)),
		expr.Function("list", func(p ...any) (any, error) { return toList(p[0]) }, new(func(any) []string)),
		expr.Function("minutes", func(p ...any) (any, error) {
			return p[0].(time.Duration).Minutes(), nil
		}, new(func(time.Duration) float64)),
		expr.Function("hasAny", func(p ...any) (any, error) {
			s := p[0].(string)
			for _, w := range p[1].([]string) {
				if w != "" && strings.Contains(s, w) {
					return true, nil
				}
			}
			return false, nil
		}, new(func(string, []string) bool)),
	}
}

// toList accepts a list, a JSON array in a string (`["a","b"]`, TEACHER_WHITELIST's format) or a comma-separated
// string, and returns the trimmed non-empty strings.
func toList(v any) ([]string, error) {
	switch v := v.(type) {
	case []string:
		return v, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			out = append(out, fmt.Sprint(e))
		}
		return out, nil
	case string:
		return ParseList(v)
	case nil:
		return nil, nil
	}
	return nil, fmt.Errorf("list: cannot make a list of %T", v)
}

// ParseList parses a list as people type it: a JSON array of strings, or names separated by commas,
// full-width commas (，), enumeration commas (、), semicolons, spaces or new lines. Blank entries are
// dropped; an empty or blank text is an empty list.
func ParseList(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return []string{}, nil
	}
	if strings.HasPrefix(s, "[") {
		var out []string
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			return nil, fmt.Errorf("list %q: not a JSON array of strings: %w", s, err)
		}
		kept := out[:0]
		for _, e := range out {
			if e = strings.TrimSpace(e); e != "" {
				kept = append(kept, e)
			}
		}
		return kept, nil
	}
	out := []string{}
	for _, p := range strings.FieldsFunc(s, isListSeparator) {
		if p = strings.Trim(p, `"'`); p != "" {
			out = append(out, p)
		}
	}
	return out, nil
}

// isListSeparator reports the runes that separate list entries: ASCII and full-width commas and
// semicolons, the enumeration comma 、, and any white space (including the ideographic space).
func isListSeparator(r rune) bool {
	switch r {
	case ',', '，', '、', ';', '；':
		return true
	}
	return unicode.IsSpace(r)
}
