package runner

import (
	"meetpipe/runner/step"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

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
