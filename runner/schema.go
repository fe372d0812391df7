package runner

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	"meetpipe/runner/step"
	"meetpipe/runner/table"
)

// Schema returns a JSON Schema (draft 2020-12) for pipeline files using the steps of reg, so that editors
// complete and check `uses:` names and every `with:` block.
func Schema(reg *step.Registry) ([]byte, error) {
	names := reg.Names()
	var conds []any
	for _, n := range names {
		d, _ := reg.Lookup(n)
		conds = append(conds, map[string]any{
			"if":   map[string]any{"properties": map[string]any{"uses": map[string]any{"const": n}}, "required": []string{"uses"}},
			"then": map[string]any{"properties": map[string]any{"with": objectSchema(d.Spec.Settings, d.Spec.Summary)}},
		})
	}
	dur := map[string]any{"type": "string", "pattern": durationPattern}
	keepDur := map[string]any{"oneOf": []any{dur, map[string]any{"const": "keep"}, map[string]any{"const": 0}}} // retention: also keep or 0
	exprS := map[string]any{"type": "string", "description": "an expr-lang expression over the item's fields, vars and env"}
	step := map[string]any{
		"type":                 "object",
		"additionalProperties": false,
		"required":             []string{"uses"},
		"properties": map[string]any{
			"id":          map[string]any{"type": "string", "description": "unique step id (default: the uses name)"},
			"uses":        map[string]any{"enum": names, "description": "the step to run; `runner steps` lists them"},
			"with":        map[string]any{"type": "object"},
			"filter":      withDesc(exprS, "keep the item only if true after this step"),
			"if":          withDesc(exprS, "run this step for the item only if true"),
			"concurrency": map[string]any{"type": "integer", "minimum": 1, "maximum": MaxConcurrency},
			"timeout":     dur,
			"limiter":     map[string]any{"type": "string"},
			"retry": map[string]any{"oneOf": []any{
				map[string]any{"type": "integer", "minimum": 1, "maximum": MaxAttempts},
				map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{
					"attempts":    map[string]any{"type": "integer", "minimum": 1, "maximum": MaxAttempts},
					"backoff":     dur,
					"max_backoff": dur,
					"max_elapsed": dur,
				}},
			}},
		},
		"allOf": conds,
	}
	s := map[string]any{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"title":                "meetpipe pipeline",
		"type":                 "object",
		"additionalProperties": false,
		"required":             []string{"steps"},
		"properties": map[string]any{
			"name":            map[string]any{"type": "string"},
			"state_dir":       map[string]any{"type": "string"},
			"log_file":        map[string]any{"type": "string"},
			"pending_max_age": dur,
			"grace":           dur,
			"vars":            map[string]any{"type": "object"},
			"limiters": map[string]any{"type": "object", "additionalProperties": map[string]any{
				"type": "object", "additionalProperties": false, "properties": map[string]any{
					"concurrency": map[string]any{"type": "integer", "minimum": 1, "maximum": MaxConcurrency},
					"rpm":         map[string]any{"type": "number", "minimum": 0, "maximum": MaxRPM}}}},
			"steps": map[string]any{"type": "array", "minItems": 1, "items": step},
			"redact": map[string]any{"type": "object", "additionalProperties": false, "required": []string{"fields", "patterns"},
				"description": "personal numbers replaced in these item fields as soon as a step writes them",
				"properties": map[string]any{
					"fields": map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
					"patterns": map[string]any{"type": "array", "items": map[string]any{
						"type": "object", "additionalProperties": false, "required": []string{"name", "match", "replace"},
						"properties": map[string]any{"name": map[string]any{"type": "string"}, "match": map[string]any{"type": "string"},
							"replace": map[string]any{"type": "string"}, "validate": map[string]any{"enum": []string{"cn_id", "luhn"}}}}}}},
			"retention": map[string]any{"type": "object", "additionalProperties": false,
				"description": "how long personal data is kept; 0 deletes it at the end of every run; a kind not named is kept",
				"properties":  map[string]any{"transcripts": keepDur, "media": keepDur, "run_history": keepDur, "logs": keepDur}},
			"schedule": map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{
				"at": map[string]any{"type": "string", "pattern": "^[0-2]?[0-9]:[0-5][0-9]$"}, "since": dur}},
		},
	}
	return json.MarshalIndent(s, "", "  ")
}

func withDesc(m map[string]any, d string) map[string]any {
	c := map[string]any{}
	for k, v := range m {
		c[k] = v
	}
	c["description"] = d
	return c
}

func objectSchema(settings []step.Setting, doc string) map[string]any {
	props := map[string]any{}
	var req []string
	for _, s := range settings {
		props[s.Name] = settingSchema(s)
		if s.Required {
			req = append(req, s.Name)
		}
	}
	o := map[string]any{"type": "object", "additionalProperties": false, "properties": props}
	var rules []any
	for _, s := range settings {
		if other, want, ok := strings.Cut(s.RequiredIf, "="); ok {
			rules = append(rules, map[string]any{
				"if":   map[string]any{"properties": map[string]any{other: map[string]any{"const": want}}, "required": []string{other}},
				"then": map[string]any{"required": []string{s.Name}, "properties": map[string]any{s.Name: map[string]any{"minLength": 1}}},
			})
		}
	}
	if len(rules) > 0 {
		o["allOf"] = rules
	}
	if doc != "" {
		o["description"] = doc
	}
	if len(req) > 0 {
		o["required"] = req
	}
	return o
}

// durationPattern is ParseDuration's grammar for editors, the same for pipeline keys and settings.
const durationPattern = `^[0-9.]+(ns|us|µs|ms|s|m|h|d)([0-9.]+(ns|us|µs|ms|s|m|h))*$`

func settingSchema(s step.Setting) map[string]any {
	var m map[string]any
	switch s.Type {
	case "string", "expr":
		m = map[string]any{"type": "string"}
	case "duration":
		m = map[string]any{"type": "string", "pattern": durationPattern}
	case "int":
		m = map[string]any{"type": "integer"}
	case "number":
		m = map[string]any{"type": "number"}
	case "bool":
		m = map[string]any{"type": "boolean"}
	case "list":
		m = map[string]any{"type": "array", "items": settingSchema(step.Setting{Type: s.Items, Fields: s.Fields})}
	case "map":
		m = map[string]any{"type": "object", "additionalProperties": settingSchema(step.Setting{Type: s.Items, Fields: s.Fields})}
	case "object":
		m = objectSchema(s.Fields, "")
	default:
		m = map[string]any{}
	}
	if d := strings.TrimSpace(s.Doc + "\n\n" + s.Details); d != "" {
		m["description"] = d
	}
	if len(s.Enum) > 0 {
		m["enum"] = s.Enum
	}
	if s.Type == "int" || s.Type == "number" {
		if v, err := strconv.ParseFloat(s.Min, 64); err == nil {
			m["minimum"] = v
		}
		if v, err := strconv.ParseFloat(s.Max, 64); err == nil {
			m["maximum"] = v
		}
	}
	if s.Default != nil && !s.Secret {
		m["default"] = s.Default
	}
	return m
}

// Describe writes the documentation of a step: what it does, its settings, and the fields it reads and
// writes.
func Describe(w io.Writer, d step.Definition) {
	s := d.Spec
	fmt.Fprintf(w, "%s (version %s)\n", s.Name, s.Version)
	if s.Summary != "" {
		fmt.Fprintf(w, "  %s\n", s.Summary)
	}
	kind := "step"
	if s.Source {
		kind = "source (first step)"
	}
	effects := "no side effects: runs in dry runs"
	if s.SideEffects {
		effects = "side effects: skipped by dry runs"
	}
	fmt.Fprintf(w, "  kind: %s; %s\n", kind, effects)
	if len(s.Reads) > 0 {
		fmt.Fprintf(w, "\nreads:\n  %s\n", strings.Join(s.Reads, ", "))
	}
	if len(s.Writes) > 0 {
		fmt.Fprintf(w, "\nwrites:\n")
		for _, f := range s.Writes {
			fmt.Fprintf(w, "  %s %s %s\n", table.Pad(f.Name, 16), table.Pad(typeName(f.Sample), 28), f.Doc)
		}
	}
	if len(s.Volatile) > 0 {
		fmt.Fprintf(w, "  volatile (never stored, not in memo keys): %s\n", strings.Join(s.Volatile, ", "))
	}
	if len(s.Settings) > 0 {
		fmt.Fprintf(w, "\nwith:\n")
		describeSettings(w, s.Settings, "  ")
	}
}

func describeSettings(w io.Writer, ss []step.Setting, indent string) {
	for _, st := range ss {
		t := st.Type
		if st.Items != "" {
			t += " of " + st.Items
		}
		var notes []string
		if st.Required {
			notes = append(notes, "required")
		}
		if st.Secret {
			notes = append(notes, "secret")
		}
		if st.NotMemo {
			notes = append(notes, "not in memo key")
		}
		if st.RequiredIf != "" {
			notes = append(notes, "required when "+st.RequiredIf)
		}
		if st.Default != nil {
			var buf strings.Builder
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.Encode(st.Default)
			b := []byte(strings.TrimSpace(buf.String()))
			if len(b) > 60 {
				b = append(b[:57], "..."...)
			}
			notes = append(notes, "default "+string(b))
		}
		if len(st.Enum) > 0 {
			notes = append(notes, "one of "+strings.Join(st.Enum, "|"))
		}
		if r := st.Bounds(); r != "" {
			notes = append(notes, r)
		}
		n := ""
		if len(notes) > 0 {
			n = " (" + strings.Join(notes, ", ") + ")"
		}
		fmt.Fprintf(w, "%s%s %s %s%s\n", indent, table.Pad(st.Name, 18), table.Pad(t, 10), st.Doc, n)
		// Under the doc column, so that it reads as the rest of the setting's line and not as a nested field.
		for _, l := range wrapWords(st.Details, 80) {
			fmt.Fprintf(w, "%s%s%s\n", indent, strings.Repeat(" ", 18+1+10+1), l)
		}
		if len(st.Fields) > 0 {
			describeSettings(w, st.Fields, indent+"    ")
		}
	}
}

func typeName(v any) string {
	if v == nil {
		return "any"
	}
	switch t := reflect.TypeOf(v); t.String() {
	case "map[string]interface {}":
		return "object"
	case "[]interface {}":
		return "list"
	default:
		return t.String()
	}
}

// wrapWords breaks text at spaces into lines of at most width terminal cells (a longer word gets its own line).
func wrapWords(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		switch {
		case line == "":
			line = w
		case table.Width(line)+1+table.Width(w) <= width:
			line += " " + w
		default:
			lines = append(lines, line)
			line = w
		}
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}
