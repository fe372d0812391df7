package kimi

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Field is one value an operator declares to extract from a session (kimi_classify's `extract:`). It
// compiles into the json_schema of the same request that asks for the phase and the summary, so that
// extraction costs no extra call (response_format json_schema with strict: kimi-asr-api.md corrections
// item 3); a server that refuses json_schema gets json_object (Heal) and the schema in the prompt.
type Field struct {
	Name        string
	Type        string // string, integer, number, boolean, array (of objects when Items is set, else of strings)
	Description string
	Enum        []string
	Min, Max    *float64 // of an integer or number
	Items       []Field  // the fields of an array's objects
	MaxItems    int      // 0: no limit
}

// SetExtract declares the fields to extract (before the first request; the step checks them first).
func (c *Classifier) SetExtract(fs []Field) { c.cfg.Extract = fs }

// FieldTypes are the types a Field may have.
var FieldTypes = []string{"string", "integer", "number", "boolean", "array"}

// Extra is what one request adds to the declared extraction: enums known only at run time (the ids of a
// student's open homework, by "field.subfield"), fields left out of this request (nothing to follow up),
// and text for the model after the field list (rubrics, the open items).
type Extra struct {
	Enums  map[string][]string
	Omit   []string
	Prompt string
	// Check validates what the schema cannot say (a score's range per rubric criterion of the answer's
	// phase); a *RangeError is asked again once, then kept and flagged.
	Check func(answer map[string]any) error
}

// instructions are appended to the system prompt when fields are declared, so that prompts written
// before extraction existed (and their memo keys) stay as they are.
func (c *Classifier) instructions(x *Extra) string {
	var b strings.Builder
	b.WriteString("\n\n另外输出以下字段。每个条目的 \"quote\" 必须是会谈转写中的原话，逐字摘录，不要改写、不要概括；" +
		"找不到原话支持的条目不要输出。没有内容的列表输出 []。\n")
	var fs []Field
	for _, f := range c.cfg.Extract {
		if !slices.Contains(x.Omit, f.Name) {
			fs = append(fs, f)
		}
	}
	b.WriteString(ExtractText(fs))
	if x.Prompt != "" {
		b.WriteString("\n")
		b.WriteString(x.Prompt)
	}
	return b.String()
}

// RangeError is a number outside its declared range: asked again once, then the answer is kept and the
// recording flagged for review (a score of 7 on a 1–5 rubric is the model's slip, not a bad phase).
type RangeError struct{ Msg string }

func (e *RangeError) Error() string { return e.Msg }

func (f Field) schema(path string, x *Extra) map[string]any {
	s := map[string]any{}
	if f.Description != "" {
		s["description"] = f.Description
	}
	switch f.Type {
	case "array":
		s["type"] = "array"
		if len(f.Items) > 0 {
			s["items"] = objectSchema(f.Items, path+".", x)
		} else {
			s["items"] = map[string]any{"type": "string"}
		}
		if f.MaxItems > 0 {
			s["maxItems"] = f.MaxItems
		}
	default:
		s["type"] = f.Type
		if f.Min != nil {
			s["minimum"] = *f.Min
		}
		if f.Max != nil {
			s["maximum"] = *f.Max
		}
	}
	enum := f.Enum
	if x != nil && x.Enums[path] != nil {
		enum = x.Enums[path]
	}
	if len(enum) > 0 {
		e := make([]any, len(enum))
		for i, v := range enum {
			e[i] = v
		}
		s["enum"] = e
	}
	return s
}

func objectSchema(fields []Field, prefix string, x *Extra) map[string]any {
	props := map[string]any{}
	req := []any{}
	for _, f := range fields {
		if x != nil && prefix == "" && slices.Contains(x.Omit, f.Name) {
			continue
		}
		props[f.Name] = f.schema(prefix+f.Name, x)
		req = append(req, f.Name)
	}
	return map[string]any{"type": "object", "properties": props, "required": req, "additionalProperties": false}
}

// extractSchema adds the declared fields to a classification schema (strict: every field required).
func (c *Classifier) extractSchema(base *JSONSchema, x *Extra) *JSONSchema {
	if len(c.cfg.Extract) == 0 || base == nil {
		return base
	}
	obj := objectSchema(c.cfg.Extract, "", x)
	props := map[string]any{}
	for k, v := range base.Schema["properties"].(map[string]any) {
		props[k] = v
	}
	req := slices.Clone(base.Schema["required"].([]any))
	for k, v := range obj["properties"].(map[string]any) {
		props[k] = v
	}
	req = append(req, obj["required"].([]any)...)
	return &JSONSchema{Name: base.Name, Strict: base.Strict, Schema: map[string]any{"type": "object",
		"properties": props, "required": req, "additionalProperties": false}}
}

// schemaPrompt is the schema as the prompt states it for a server that refused json_schema (JSON mode
// then guarantees an object, not its shape; the validator holds the rest).
func schemaPrompt(s *JSONSchema) string {
	b, _ := json.Marshal(s.Schema)
	return "\n输出的 JSON 对象必须符合以下 JSON Schema：\n<schema>" + string(b) + "</schema>"
}

// ExtractText lists the declared fields for the prompt (.extract): one line each, sub-fields indented.
func ExtractText(fields []Field) string {
	var b strings.Builder
	var walk func(fs []Field, indent string)
	walk = func(fs []Field, indent string) {
		for _, f := range fs {
			fmt.Fprintf(&b, "%s- %q（%s）：%s", indent, f.Name, f.Type, f.Description)
			if len(f.Enum) > 0 {
				fmt.Fprintf(&b, "，取值之一：%s", strings.Join(f.Enum, "、"))
			}
			if f.Min != nil && f.Max != nil {
				fmt.Fprintf(&b, "，范围 %g–%g", *f.Min, *f.Max)
			}
			b.WriteString("\n")
			walk(f.Items, indent+"  ")
		}
	}
	walk(fields, "")
	return strings.TrimSuffix(b.String(), "\n")
}

// CheckFields validates the declared fields of an answer (x: this request's enums and omissions). Type
// and enum errors are re-asked like any invalid answer; a number out of range is a *RangeError.
func CheckFields(fields []Field, a map[string]any, x *Extra) error {
	var rangeErr error
	for _, f := range fields {
		if x != nil && slices.Contains(x.Omit, f.Name) {
			continue
		}
		v, ok := a[f.Name]
		if !ok || v == nil {
			if f.Type == "array" {
				a[f.Name] = []any{} // nothing to report is an empty list
				continue
			}
			return fmt.Errorf("缺少字段 %q", f.Name)
		}
		err := checkValue(f, f.Name, v, x)
		var re *RangeError
		switch {
		case errors.As(err, &re):
			rangeErr = cmp(rangeErr, err)
		case err != nil:
			return err
		}
	}
	return rangeErr
}

func cmp(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func checkValue(f Field, path string, v any, x *Extra) error {
	enum := f.Enum
	if x != nil && x.Enums[path] != nil {
		enum = x.Enums[path]
	}
	switch f.Type {
	case "string":
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("%q 必须是字符串", path)
		}
		if len(enum) > 0 && !slices.Contains(enum, strings.TrimSpace(s)) {
			return fmt.Errorf("%q 的值 %q 不在允许的取值中：%s", path, clipQuote(s, 50), strings.Join(enum, "、"))
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%q 必须是 true 或 false", path)
		}
	case "integer", "number":
		n, ok := v.(float64)
		if !ok || (f.Type == "integer" && n != math.Trunc(n)) {
			return fmt.Errorf("%q 必须是%s", path, map[string]string{"integer": "整数", "number": "数"}[f.Type])
		}
		if (f.Min != nil && n < *f.Min) || (f.Max != nil && n > *f.Max) {
			return &RangeError{fmt.Sprintf("%q 的值 %g 超出范围 %g–%g", path, n, deref(f.Min), deref(f.Max))}
		}
	case "array":
		list, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%q 必须是数组", path)
		}
		if f.MaxItems > 0 && len(list) > f.MaxItems {
			return fmt.Errorf("%q 最多 %d 项，给了 %d 项", path, f.MaxItems, len(list))
		}
		var rangeErr error
		for i, e := range list {
			var err error
			if len(f.Items) == 0 {
				err = checkValue(Field{Type: "string"}, fmt.Sprintf("%s[%d]", path, i), e, nil)
			} else if obj, ok := e.(map[string]any); !ok {
				err = fmt.Errorf("%q 的第 %d 项必须是对象", path, i+1)
			} else {
				for _, sub := range f.Items {
					sv, ok := obj[sub.Name]
					if !ok || sv == nil {
						err = fmt.Errorf("%q 的第 %d 项缺少字段 %q", path, i+1, sub.Name)
						break
					}
					if e := checkValue(sub, path+"."+sub.Name, sv, x); e != nil {
						err = e
						var re *RangeError
						if !errors.As(e, &re) {
							break
						}
					}
				}
			}
			var re *RangeError
			switch {
			case errors.As(err, &re):
				rangeErr = cmp(rangeErr, err)
			case err != nil:
				return err
			}
		}
		return rangeErr
	}
	return nil
}

func deref(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}
