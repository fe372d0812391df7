// Package redact replaces personal numbers (mobile, resident id, bank card, e-mail) in text, written
// forms and spoken forms alike ("138 0013 8000", "138-0013-8000", "一三八…"), by declared rules.
package redact

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// Rule is one declared pattern: what it matches, what replaces a match, and an optional check a match
// must pass (a check digit) so that a number of the right length but no such thing is left alone.
type Rule struct {
	Name     string `json:"name"`
	Match    string `json:"match"`
	Replace  string `json:"replace"`
	Validate string `json:"validate,omitempty"` // "", "cn_id" or "luhn"
}

// Validators are the checks a rule may name.
var Validators = map[string]func(digits string) bool{
	"cn_id": ValidCNID,
	"luhn":  ValidLuhn,
}

// Error is a rule that cannot be compiled; Field says which of its keys is wrong.
type Error struct {
	Rule  int    // index in the list
	Field string // "name", "match", "replace" or "validate"
	Msg   string
}

func (e Error) Error() string { return fmt.Sprintf("redact rule %d: %s: %s", e.Rule+1, e.Field, e.Msg) }

// Counts are matches replaced, by rule name.
type Counts map[string]int

func (c Counts) add(o Counts) {
	for k, v := range o {
		c[k] += v
	}
}

// Redactor applies compiled rules. It is safe for concurrent use.
type Redactor struct {
	rules []compiled
}

type compiled struct {
	Rule
	re       *regexp.Regexp // in the text as written
	anchored *regexp.Regexp // against the digits of a spoken form
	check    func(string) bool
}

// maxSpokenDigits bounds the digits joined from a spoken form: longer than any personal number, so a
// long list of numbers costs linear time.
const maxSpokenDigits = 24

// Compile checks and compiles rules once, at load; every bad rule is reported.
func Compile(rules []Rule) (*Redactor, []Error) {
	var errs []Error
	r := &Redactor{}
	seen := map[string]bool{}
	for i, ru := range rules {
		c := compiled{Rule: ru}
		ok := true
		switch {
		case ru.Name == "":
			errs, ok = append(errs, Error{i, "name", "missing: name the rule (it names the counts)"}), false
		case seen[ru.Name]:
			errs, ok = append(errs, Error{i, "name", fmt.Sprintf("duplicate name %q", ru.Name)}), false
		}
		seen[ru.Name] = true
		if ru.Replace == "" {
			errs, ok = append(errs, Error{i, "replace", "missing: what replaces a match, e.g. [手机号]"}), false
		}
		if ru.Match == "" {
			errs, ok = append(errs, Error{i, "match", "missing: a regular expression (RE2 syntax)"}), false
		} else if re, err := regexp.Compile(ru.Match); err != nil {
			errs, ok = append(errs, Error{i, "match", err.Error()}), false
		} else if re.MatchString("") {
			errs, ok = append(errs, Error{i, "match", "matches the empty text"}), false
		} else {
			c.re = re
			c.anchored = regexp.MustCompile(`^(?:` + ru.Match + `)$`)
		}
		if ru.Validate != "" {
			if c.check = Validators[ru.Validate]; c.check == nil {
				errs, ok = append(errs, Error{i, "validate", fmt.Sprintf("unknown validator %q (known: cn_id, luhn)", ru.Validate)}), false
			}
		}
		if ok {
			r.rules = append(r.rules, c)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return r, nil
}

type span struct {
	start, end int // byte offsets in the text
	rule       int
}

// String returns s with every match replaced, and how many of each rule it replaced. A nil Redactor
// changes nothing.
func (r *Redactor) String(s string) (string, Counts) {
	if r == nil || s == "" {
		return s, nil
	}
	toks := tokens(s)
	var spans []span
	for i, c := range r.rules {
		for _, m := range c.re.FindAllStringIndex(s, -1) {
			if digitAt(s, m[0]) && digitBefore(s, m[0]) || digitBefore(s, m[1]) && digitAt(s, m[1]) {
				continue // part of a longer number: an order number is not a phone number
			}
			if c.check != nil && !c.check(asciiDigits(s[m[0]:m[1]])) {
				continue
			}
			spans = append(spans, span{m[0], m[1], i})
		}
		spans = append(spans, spoken(s, toks, i, c)...)
	}
	if len(spans) == 0 {
		return s, nil
	}
	// Earlier rules win over later ones on the same text, then the longer and earlier match.
	sort.SliceStable(spans, func(a, b int) bool {
		if spans[a].rule != spans[b].rule {
			return spans[a].rule < spans[b].rule
		}
		return spans[a].end-spans[a].start > spans[b].end-spans[b].start
	})
	var kept []span
	for _, sp := range spans {
		overlap := false
		for _, k := range kept {
			if sp.start < k.end && k.start < sp.end {
				overlap = true
				break
			}
		}
		if !overlap {
			kept = append(kept, sp)
		}
	}
	sort.Slice(kept, func(a, b int) bool { return kept[a].start < kept[b].start })
	counts := Counts{}
	var b strings.Builder
	at := 0
	for _, k := range kept {
		b.WriteString(s[at:k.start])
		b.WriteString(r.rules[k.rule].Replace)
		counts[r.rules[k.rule].Name]++
		at = k.end
	}
	b.WriteString(s[at:])
	return b.String(), counts
}

// Scrub is String without the counts: for log lines and printed text.
func (r *Redactor) Scrub(s string) string {
	out, _ := r.String(s)
	return out
}

// JSON redacts every string inside a JSON document (object keys excepted). A document with nothing to
// redact is returned as it was, byte for byte, so memo keys over it do not change.
func (r *Redactor) JSON(raw []byte) ([]byte, Counts, error) {
	if r == nil || len(raw) == 0 {
		return raw, nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, nil, fmt.Errorf("redact: %w", err)
	}
	counts := Counts{}
	v = r.walk(v, counts)
	if len(counts) == 0 {
		return raw, nil, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, nil, fmt.Errorf("redact: %w", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), counts, nil
}

func (r *Redactor) walk(v any, counts Counts) any {
	switch x := v.(type) {
	case string:
		s, c := r.String(x)
		counts.add(c)
		return s
	case []any:
		for i := range x {
			x[i] = r.walk(x[i], counts)
		}
	case map[string]any:
		for k := range x {
			x[k] = r.walk(x[k], counts)
		}
	}
	return v
}

// token is a run of digits as written or spoken: ASCII, full-width or Chinese digits, with an optional
// trailing X (the check character of a resident id).
type token struct {
	start, end int
	digits     string
}

// digitValue maps a written or spoken digit to '0'..'9'; 0 when r is none.
func digitValue(r rune) byte {
	switch {
	case r >= '0' && r <= '9':
		return byte(r)
	case r >= '０' && r <= '９':
		return byte('0' + r - '０')
	}
	switch r {
	case '零', '〇', '洞':
		return '0'
	case '一', '幺', '壹':
		return '1'
	case '二', '贰':
		return '2'
	case '三', '叁':
		return '3'
	case '四', '肆':
		return '4'
	case '五', '伍':
		return '5'
	case '六', '陆':
		return '6'
	case '七', '柒', '拐':
		return '7'
	case '八', '捌':
		return '8'
	case '九', '玖', '勾':
		return '9'
	}
	return 0
}

func tokens(s string) []token {
	var out []token
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if digitValue(r) == 0 {
			i += n
			continue
		}
		t := token{start: i}
		var d []byte
		kind := arabic(r)
		for i < len(s) {
			r, n := utf8.DecodeRuneInString(s[i:])
			v := digitValue(r)
			if v == 0 || arabic(r) != kind {
				break // "第一13800138000": a Chinese word before a written number is not part of it
			}
			d = append(d, v)
			i += n
		}
		if i < len(s) && (s[i] == 'X' || s[i] == 'x') {
			d = append(d, 'X')
			i++
		}
		t.end, t.digits = i, string(d)
		out = append(out, t)
	}
	return out
}

// separator says whether the text between two digit groups joins them into one spoken number: spaces,
// or one dash with optional spaces around it.
func separator(gap string) bool {
	if gap == "" || len(gap) > 8 {
		return false
	}
	dashes := 0
	for _, r := range gap {
		switch r {
		case ' ', '\t', '\u3000', '\u00a0':
		case '-', '‐', '－', '—', '–':
			dashes++
		default:
			return false
		}
	}
	return dashes <= 1
}

// spoken finds matches of rule c in chains of digit groups: every run of two or more neighbouring groups
// whose joined digits the rule matches whole (and its check accepts).
func spoken(s string, toks []token, ri int, c compiled) []span {
	var out []span
	for i := 0; i < len(toks); i++ {
		best := -1
		joined := toks[i].digits
		for j := i; ; j++ {
			if j > i {
				if j >= len(toks) || !separator(s[toks[j-1].end:toks[j].start]) || strings.HasSuffix(joined, "X") {
					break
				}
				joined += toks[j].digits
			}
			if len(joined) > maxSpokenDigits {
				break
			}
			if c.anchored.MatchString(joined) && (c.check == nil || c.check(joined)) {
				best = j
			}
		}
		if best >= 0 {
			out = append(out, span{toks[i].start, toks[best].end, ri})
			i = best
		}
	}
	return out
}

// arabic reports whether r is a written digit (ASCII or full-width), not a Chinese one.
func arabic(r rune) bool { return r >= '0' && r <= '9' || r >= '０' && r <= '９' }

func digitAt(s string, i int) bool {
	if i >= len(s) {
		return false
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return arabic(r)
}

func digitBefore(s string, i int) bool {
	if i <= 0 {
		return false
	}
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return arabic(r)
}

// asciiDigits keeps the digits (and an X) of s, written or spoken.
func asciiDigits(s string) string {
	var b []byte
	for _, r := range s {
		if v := digitValue(r); v != 0 {
			b = append(b, v)
		} else if r == 'X' || r == 'x' {
			b = append(b, 'X')
		}
	}
	return string(b)
}

// ValidCNID checks an 18-character resident identity number: 17 digits, then the GB 11643-1999 check
// character (ISO 7064 MOD 11-2: weights 2^(17-i) mod 11, remainder mapped to "10X98765432"), and a
// plausible birth month and day.
func ValidCNID(d string) bool {
	if len(d) != 18 {
		return false
	}
	weights := [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := 0; i < 17; i++ {
		if d[i] < '0' || d[i] > '9' {
			return false
		}
		sum += int(d[i]-'0') * weights[i]
	}
	month := int(d[10]-'0')*10 + int(d[11]-'0')
	day := int(d[12]-'0')*10 + int(d[13]-'0')
	if month < 1 || month > 12 || day < 1 || day > 31 {
		return false
	}
	last := d[17]
	if last == 'x' {
		last = 'X'
	}
	return "10X98765432"[sum%11] == last
}

// ValidLuhn checks the Luhn (mod 10) digit that ends every bank card number (ISO/IEC 7812-1).
func ValidLuhn(d string) bool {
	if len(d) < 12 {
		return false
	}
	sum := 0
	for i := 0; i < len(d); i++ {
		c := d[len(d)-1-i]
		if c < '0' || c > '9' {
			return false
		}
		n := int(c - '0')
		if i%2 == 1 {
			n *= 2
			if n > 9 {
				n -= 9
			}
		}
		sum += n
	}
	return sum%10 == 0
}
