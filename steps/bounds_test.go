package steps

import (
	"testing"

	"meetpipe/runner/step"
)

// A count or a size without an upper bound is a promise of memory or time that a typo can break: every
// numeric setting of every built-in step says how far it may go, and the loader enforces it.
func TestEveryNumericSettingIsBounded(t *testing.T) {
	var walk func(step, prefix string, ss []step.Setting)
	walk = func(step, prefix string, ss []step.Setting) {
		for _, s := range ss {
			switch s.Type {
			case "int", "number", "duration":
				if s.Max == "" {
					t.Errorf("%s: setting %s%s (%s) has no max", step, prefix, s.Name, s.Type)
				}
			}
			walk(step, prefix+s.Name+".", s.Fields)
		}
	}
	for _, name := range step.Builtins.Names() {
		d, _ := step.Builtins.Lookup(name)
		walk(name, "", d.Spec.Settings)
	}
}
