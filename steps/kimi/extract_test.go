package kimi

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func fp(f float64) *float64 { return &f }

var testFields = []Field{
	{Name: "homework", Type: "array", MaxItems: 3, Items: []Field{
		{Name: "owner", Type: "string", Enum: []string{"teacher", "student"}},
		{Name: "task", Type: "string"}, {Name: "quote", Type: "string"}}},
	{Name: "followups", Type: "array", Items: []Field{{Name: "id", Type: "string"}, {Name: "quote", Type: "string"}}},
	{Name: "mood", Type: "integer", Min: fp(1), Max: fp(5)},
}

// The schema is strict at every level: each property required, no other property allowed; the run-time
// enum of open ids replaces the declared one and an omitted field is left out.
func TestExtractSchemaIsStrict(t *testing.T) {
	c := &Classifier{cfg: ClassifierConfig{Extract: testFields}}
	x := &Extra{Enums: map[string][]string{"followups.id": {"a1", "b2"}}}
	s := c.extractSchema(ClassifySchema([]string{"面试模拟", "其他"}, 300), x).Schema
	req := s["required"].([]any)
	for _, k := range []string{"phase", "confidence", "summary", "homework", "followups", "mood"} {
		if !slices.Contains(req, any(k)) {
			t.Errorf("%s not required: %v", k, req)
		}
	}
	props := s["properties"].(map[string]any)
	item := props["homework"].(map[string]any)["items"].(map[string]any)
	if item["additionalProperties"] != false || len(item["required"].([]any)) != 3 || props["homework"].(map[string]any)["maxItems"] != 3 {
		t.Errorf("homework items: %v", props["homework"])
	}
	id := props["followups"].(map[string]any)["items"].(map[string]any)["properties"].(map[string]any)["id"].(map[string]any)
	if !slices.Equal(id["enum"].([]any), []any{"a1", "b2"}) {
		t.Errorf("followups id enum = %v", id["enum"])
	}
	s = c.extractSchema(ClassifySchema(nil, 300), &Extra{Omit: []string{"followups"}}).Schema
	if s["properties"].(map[string]any)["followups"] != nil {
		t.Error("an omitted field is in the schema")
	}
}

func TestCheckFields(t *testing.T) {
	ok := map[string]any{"homework": []any{map[string]any{"owner": "student", "task": "t", "quote": "q"}}, "mood": 3.0}
	if err := CheckFields(testFields, ok, &Extra{Omit: []string{"followups"}}); err != nil {
		t.Fatalf("valid answer refused: %v", err)
	}
	for _, c := range []struct {
		name    string
		a       map[string]any
		want    string
		isRange bool
	}{
		{"enum", map[string]any{"homework": []any{map[string]any{"owner": "parent", "task": "t", "quote": "q"}}, "mood": 3.0}, "parent", false},
		{"missing element field", map[string]any{"homework": []any{map[string]any{"owner": "student", "task": "t"}}, "mood": 3.0}, "quote", false},
		{"too many", map[string]any{"homework": []any{ok["homework"].([]any)[0], ok["homework"].([]any)[0], ok["homework"].([]any)[0], ok["homework"].([]any)[0]}, "mood": 3.0}, "最多 3 项", false},
		{"not an integer", map[string]any{"homework": []any{}, "mood": 2.5}, "整数", false},
		{"out of range", map[string]any{"homework": []any{}, "mood": 7.0}, "超出范围", true},
	} {
		err := CheckFields(testFields, c.a, &Extra{Omit: []string{"followups"}})
		var re *RangeError
		if err == nil || !strings.Contains(err.Error(), c.want) || errors.As(err, &re) != c.isRange {
			t.Errorf("%s: %v, want %q (range error %v)", c.name, err, c.want, c.isRange)
		}
	}
	// A list the model left out is an empty list, not an error.
	a := map[string]any{"mood": 1.0}
	if err := CheckFields(testFields, a, &Extra{Omit: []string{"followups"}}); err != nil || a["homework"] == nil {
		t.Errorf("missing list: %v, %v", err, a)
	}
}
