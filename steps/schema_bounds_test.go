package steps

import (
	"encoding/json"
	"testing"

	"meetpipe/runner"
	"meetpipe/runner/step"
)

// `runner schema` gives an editor the loader's bounds: every int or number setting of a built-in step
// has its minimum and maximum there, and every duration the loader's grammar.
func TestSchemaCarriesBounds(t *testing.T) {
	raw, err := runner.Schema(step.Builtins)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Properties struct {
			Steps struct {
				Items struct {
					AllOf []struct {
						If struct {
							Properties struct {
								Uses struct{ Const string } `json:"uses"`
							} `json:"properties"`
						} `json:"if"`
						Then struct {
							Properties struct {
								With struct {
									Properties map[string]map[string]any `json:"properties"`
								} `json:"with"`
							} `json:"properties"`
						} `json:"then"`
					} `json:"allOf"`
				} `json:"items"`
			} `json:"steps"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, c := range doc.Properties.Steps.Items.AllOf {
		stp := c.If.Properties.Uses.Const
		def, _ := step.Builtins.Lookup(stp)
		for _, s := range def.Spec.Settings {
			p := c.Then.Properties.With.Properties[s.Name]
			switch s.Type {
			case "int", "number":
				seen++
				if _, ok := p["maximum"].(float64); !ok {
					t.Errorf("%s.%s: schema %v has no maximum", stp, s.Name, p)
				}
				if _, ok := p["minimum"].(float64); !ok && s.Min != "" {
					t.Errorf("%s.%s: schema %v has no minimum", stp, s.Name, p)
				}
			case "duration":
				if p["pattern"] == nil {
					t.Errorf("%s.%s: schema %v has no duration pattern", stp, s.Name, p)
				}
			}
		}
	}
	if seen < 20 {
		t.Errorf("only %d numeric settings in the schema", seen)
	}
}
