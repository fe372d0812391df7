package kimi

import (
	"embed"
	"encoding/json"
	"fmt"
	"strings"
	"text/template"
)

// The default prompts of kimi_classify, one file each so that they read as prompts, not as Go strings.
//
//go:embed prompts/*.tmpl
var promptFiles embed.FS

// Prompts are the four templates of a classification (Go text/template). System and User carry the whole
// transcript, or the parts' summaries in the reduce pass; MapSystem and MapUser carry one part of an
// over-long transcript, or a group of summaries while they are collapsed.
type Prompts struct {
	System, User, MapSystem, MapUser string
}

// DefaultPrompts are the prompts shipped in prompts/*.tmpl.
func DefaultPrompts() Prompts {
	return Prompts{System: promptFile("system"), User: promptFile("user"),
		MapSystem: promptFile("map_system"), MapUser: promptFile("map_user")}
}

func promptFile(name string) string {
	b, err := promptFiles.ReadFile("prompts/" + name + ".tmpl")
	if err != nil {
		panic(err) // embedded at build time: a missing file is a build mistake
	}
	// An editor ends the file with a newline; the prompt as sent (and shown as the default) does not.
	return strings.TrimSuffix(string(b), "\n")
}

// templates are the parsed Prompts by role name.
type templates map[string]*template.Template

func parsePrompts(p Prompts) (templates, error) {
	funcs := template.FuncMap{"json": templateJSON, "join": templateJoin}
	out := templates{}
	for _, x := range []struct{ name, src string }{{"system", p.System}, {"user", p.User}, {"map_system", p.MapSystem}, {"map_user", p.MapUser}} {
		t, err := template.New(x.name).Funcs(funcs).Option("missingkey=zero").Parse(x.src)
		if err != nil {
			return nil, settingErr(x.name, fmt.Errorf("%s template: %v", x.name, err))
		}
		out[x.name] = t
	}
	return out, nil
}

// TemplateError is a prompt that cannot be rendered for an item: no retry can help.
type TemplateError struct{ Err error }

func (e *TemplateError) Error() string { return e.Err.Error() }
func (e *TemplateError) Unwrap() error { return e.Err }

// render executes the system and user templates named sys and user over data with set on top.
func (t templates) render(sys, user string, data map[string]any, set map[string]any) ([]Message, error) {
	d := make(map[string]any, len(data)+len(set))
	for k, v := range data {
		d[k] = v
	}
	for k, v := range set {
		d[k] = v
	}
	var msgs []Message
	for _, x := range []struct{ role, tpl string }{{"system", sys}, {"user", user}} {
		var b strings.Builder
		if err := t[x.tpl].Execute(&b, d); err != nil {
			return nil, &TemplateError{fmt.Errorf("%s template: %w", x.tpl, err)}
		}
		if text := strings.TrimSpace(b.String()); text != "" {
			msgs = append(msgs, Message{Role: x.role, Content: text})
		}
	}
	if len(msgs) == 0 || msgs[len(msgs)-1].Role != "user" {
		return nil, &TemplateError{fmt.Errorf("the %s template rendered nothing: the model needs a user message", user)}
	}
	return msgs, nil
}

func templateJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func templateJoin(v any, sep string) string {
	switch v := v.(type) {
	case []string:
		return strings.Join(v, sep)
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, sep)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}
