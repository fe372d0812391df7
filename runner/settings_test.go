package runner

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"meetpipe/runner/step"

	"gopkg.in/yaml.v3"
)

type errorAtCfg struct {
	Key   string    `yaml:"key" required:"true"`
	When  step.Expr `yaml:"when"`
	Mode  string    `yaml:"mode"`
	Admin string    `yaml:"admin" required_if:"mode=corp"`
	Peer  string    `yaml:"peer" required_if:"mode=solo"`
	Peers []struct {
		Name string `yaml:"name"`
	} `yaml:"peers"`
	Limit struct {
		RPM int `yaml:"rpm"`
	} `yaml:"limit"`
}

// errorAtRegistry holds nums and a step whose constructor refuses with Build.ErrorAt and Build.Errorf(nil).
func errorAtRegistry() *step.Registry {
	reg := step.NewRegistry()
	reg.Register(step.Define(step.Spec{Name: "nums", Source: true, Version: "1", Writes: []step.Field{{Name: "n", Sample: 0}}}, srcCfg{Count: 1}, func(cfg srcCfg, b *step.Build) (any, error) { return &numSource{cfg: cfg}, nil }))
	reg.Register(step.Define(step.Spec{Name: "picky", Version: "1", Reads: []string{"n"}}, errorAtCfg{Mode: "solo", Peer: "p"},
		func(cfg errorAtCfg, b *step.Build) (any, error) {
			if !cfg.When.IsZero() {
				if _, err := b.CompileBool(&cfg.When, nil); err != nil {
					return nil, err
				}
			}
			switch {
			case cfg.Mode == "team" && len(cfg.Peers) == 0:
				return nil, b.ErrorAt("peers,mode", "mode team needs peers")
			case len(cfg.Peers) > 1 && cfg.Peers[1].Name == "":
				return nil, b.ErrorAt("peers.1.name,peers.1", "peer 1 has no name")
			case cfg.Limit.RPM == 7:
				return nil, b.ErrorAt("limit.rpm", "rpm 7 is unlucky")
			case cfg.Key == "whole":
				return nil, b.Errorf(nil, "the step as a whole")
			}
			return stepFunc(nil), nil
		}))
	return reg
}

// A check a constructor makes after decoding is reported at the value it is about, else at the `with:`
// key, else at the `uses:` line; a missing required setting names the step and its place.
func TestBuildErrorAt(t *testing.T) {
	const head = "steps:\n  - uses: nums\n  - uses: picky\n"
	cases := []struct{ name, yml, want, pos string }{
		{"value", head + "    with:\n      key: k\n      mode: team\n", "mode team needs peers", "t.yaml:6:13:"},
		{"first written", head + "    with: {key: k, mode: team, peers: []}\n", "mode team needs peers", "t.yaml:4:39:"},
		{"in a list", head + "    with:\n      key: k\n      peers:\n        - name: a\n        - {name: ''}\n", "peer 1 has no name", "t.yaml:8:18:"},
		{"in an object", head + "    with:\n      key: k\n      limit: {rpm: 7}\n", "rpm 7 is unlucky", "t.yaml:6:20:"},
		// An expression in with: is placed at the bad name, in a folded block as on one line.
		{"folded when", head + "    with:\n      key: k\n      when: >-\n        n > 1 &&\n        n < 3 && nope\n", "unknown name nope", "t.yaml:8:18:"},
		{"step as a whole", head + "    with:\n      key: whole\n", "the step as a whole", "t.yaml:4:5:"},
		// A rule across settings, said by the spec (required_if), at the choice that needs the setting.
		{"required if", head + "    with:\n      key: k\n      mode: corp\n", "admin: required when mode is corp", "t.yaml:6:13:"},
		{"required if empty", head + "    with:\n      key: k\n      mode: corp\n      admin: ''\n", "admin: required when mode is corp", "t.yaml:7:14:"},
		{"required if by default", head + "    with:\n      key: k\n      peer: ' '\n", "peer: required when mode is solo", "t.yaml:6:13:"},
		{"required if met by default", head + "    with:\n      key: whole\n", "the step as a whole", "t.yaml:4:5:"},
		{"missing required", head, `step picky: missing required setting "key"`, "t.yaml:3:11:"},
		{"missing required in with", head + "    with: {mode: x}\n", `step picky: missing required setting "key"`, "t.yaml:4:5:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadBytes("t.yaml", []byte(c.yml), LoadOptions{Registry: errorAtRegistry(), Env: map[string]string{}, StateDir: t.TempDir()})
			ds, ok := err.(*step.Diagnostics)
			if !ok || len(ds.List) != 1 {
				t.Fatalf("want one diagnostic, got %v", err)
			}
			if d := ds.List[0]; !strings.Contains(d.Msg, c.want) || !strings.HasPrefix(d.Error(), c.pos) {
				t.Errorf("got %q, want %q at %s", d.Error(), c.want, c.pos)
			}
			if !strings.Contains(err.Error(), "\n      | ") {
				t.Errorf("no snippet with a caret:\n%s", err)
			}
		})
	}
}

// runner steps and runner schema say the rule the loader enforces.
func TestRequiredIfInTheSpec(t *testing.T) {
	def, _ := errorAtRegistry().Lookup("picky")
	var sb strings.Builder
	Describe(&sb, def)
	if !strings.Contains(sb.String(), "required when mode=corp") {
		t.Errorf("runner steps does not show the rule:\n%s", sb.String())
	}
	raw, err := Schema(errorAtRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"const": "corp"`) || !strings.Contains(string(raw), `"admin"`) {
		t.Errorf("schema has no rule for admin:\n%s", raw)
	}
}

type detailedCfg struct {
	Mode  string       `yaml:"mode" doc:"how it runs" enum:"a,b"`
	Inner detailedPart `yaml:"inner" doc:"a part"`
}

func (detailedCfg) SettingDetails() map[string]string {
	return map[string]string{"mode": "a: alone; b: with the other one, which waits."}
}

type detailedPart struct {
	Rate int `yaml:"rate" doc:"per minute"`
}

func (*detailedPart) SettingDetails() map[string]string {
	return map[string]string{"rate": "0 means no bound."}
}

type staleDetailsCfg struct {
	Mode string `yaml:"mode"`
}

func (staleDetailsCfg) SettingDetails() map[string]string { return map[string]string{"mdoe": "a typo"} }

// A setting's details reach runner steps (under its line) and runner schema (in its description), those of
// nested settings too; details that name no setting stop the program where the step registers.
func TestSettingDetailsInTheSpec(t *testing.T) {
	def := step.Define(step.Spec{Name: "detailed", Version: "1"}, detailedCfg{},
		func(detailedCfg, *step.Build) (any, error) { return stepFunc(nil), nil })
	var sb strings.Builder
	Describe(&sb, def)
	for _, want := range []string{
		"how it runs (one of a|b)\n" + strings.Repeat(" ", 2+30) + "a: alone; b: with the other one, which waits.\n",
		"per minute\n" + strings.Repeat(" ", 6+30) + "0 means no bound.\n",
	} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("runner steps lacks %q:\n%s", want, sb.String())
		}
	}
	reg := step.NewRegistry()
	reg.Register(def)
	raw, err := Schema(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"how it runs\n\na: alone;`, `"per minute\n\n0 means no bound."`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("schema lacks %s:\n%s", want, raw)
		}
	}

	defer func() {
		if r := recover(); !strings.Contains(fmt.Sprint(r), `"mdoe"`) {
			t.Errorf("details of no setting: recovered %v, want a panic naming it", r)
		}
	}()
	step.Define(step.Spec{Name: "stale", Version: "1"}, staleDetailsCfg{},
		func(staleDetailsCfg, *step.Build) (any, error) { return stepFunc(nil), nil })
}

// One duration grammar: what timeout: and pending_max_age: take, a duration setting in with: takes.
func TestDurationGrammarInWith(t *testing.T) {
	for s, want := range map[string]time.Duration{
		"14d": 14 * 24 * time.Hour, "1.5d": 36 * time.Hour, "1d12h": 36 * time.Hour, "-1d": -24 * time.Hour,
		"90s": 90 * time.Second, "300ms": 300 * time.Millisecond,
	} {
		if got, err := step.ParseDuration(s); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"d", "1d-2h", "1dd", "1d+1h", "1 d"} {
		if _, err := step.ParseDuration(s); err == nil {
			t.Errorf("ParseDuration(%q) accepted", s)
		}
	}

	yml := "steps:\n  - uses: nums\n  - uses: flaky\n    timeout: 1d\n    with: {after: 1d12h, sleep: 2d}\n"
	p, err := LoadBytes("t.yaml", []byte(yml), LoadOptions{Registry: testRegistry(&calls{n: map[string]int{}}, nil, nil),
		Env: map[string]string{}, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cfg := string(p.stages[1].configJSON)
	if !strings.Contains(cfg, `"After":129600000000000`) || !strings.Contains(cfg, `"Sleep":172800000000000`) {
		t.Errorf("with: durations in days decoded as %s", cfg)
	}
	if p.stages[1].timeout != 24*time.Hour {
		t.Errorf("timeout %v", p.stages[1].timeout)
	}
}

// An exec plugin's duration settings reach it in Go's units, whether written in days or defaulted so.
func TestDecodeSettingsDurations(t *testing.T) {
	settings := []step.Setting{{Name: "wait", Type: "duration", Default: "1d"}, {Name: "every", Type: "duration"}}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("every: 1d12h\n"), &doc); err != nil {
		t.Fatal(err)
	}
	got, err := step.DecodeSettings(doc.Content[0], settings, &step.Build{})
	if err != nil {
		t.Fatal(err)
	}
	if got["wait"] != "24h0m0s" || got["every"] != "36h0m0s" {
		t.Errorf("decoded %v", got)
	}
}
