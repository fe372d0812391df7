package plugins

import (
	"fmt"

	"meetpipe/runner"
)

// Settings are what a pipeline's exec plugin step was built with: its `with:` values, decoded and
// defaulted by the plugin's manifest. A command beside a run reads them to use the plugin's service (the
// report posts its digest through wecom_notify's robot); a plugin has no Go configuration type, so its
// manifest is what names the settings.
type Settings struct {
	m      *Manifest
	values map[string]any
}

// SettingsOf returns the settings of the pipeline's first step that runs the plugin named plugin; ok is
// false when none does. Secret values are in them: scrub what is printed.
func SettingsOf(p *runner.Pipeline, plugin string) (s Settings, ok bool) {
	impl, _ := p.StepImpl(plugin)
	if c, checked := impl.(checkedStep); checked {
		impl = c.execStep
	}
	st, built := impl.(*execStep)
	if !built {
		return Settings{}, false
	}
	return Settings{m: st.m, values: st.settings}, true
}

// String returns the string setting name ("" when unset and without a default). It is an error when the
// manifest declares no string setting of that name: a setting renamed there fails the command that reads
// it instead of reading as empty.
func (s Settings) String(name string) (string, error) {
	for _, st := range s.m.Settings {
		if st.Name != name {
			continue
		}
		if st.Type != "string" {
			return "", fmt.Errorf("plugin %s: setting %q has type %s, not string", s.m.Name, name, st.Type)
		}
		v, _ := s.values[name].(string)
		return v, nil
	}
	return "", fmt.Errorf("plugin %s: its manifest (%s) declares no setting %q", s.m.Name, s.m.File, name)
}
