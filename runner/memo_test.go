package runner

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"meetpipe/runner/step"
)

// memo:"-" leaves a setting out of the memo key with the very bytes json:"-" gave, so that moving a
// setting from one tag to the other keeps every stored key.
func TestMemoJSONMatchesHiddenFields(t *testing.T) {
	type old struct {
		URL     string        `yaml:"url" json:"-"`
		Model   string        `yaml:"model" json:"model"`
		Timeout time.Duration `yaml:"timeout" json:"-"`
		Rules   []string      `yaml:"rules" json:"rules,omitempty"`
		Plain   int
	}
	type now struct {
		URL     string        `yaml:"url" json:"url" memo:"-"`
		Model   string        `yaml:"model" json:"model"`
		Timeout time.Duration `yaml:"timeout" json:"timeout" memo:"-"`
		Rules   []string      `yaml:"rules" json:"rules,omitempty"`
		Plain   int
	}
	a, err := step.MemoJSON(old{URL: "http://a", Model: "m", Timeout: time.Second, Plain: 3})
	if err != nil {
		t.Fatal(err)
	}
	b, err := step.MemoJSON(&now{URL: "http://b", Model: "m", Timeout: time.Minute, Plain: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) || string(a) != `{"model":"m","Plain":3}` {
		t.Errorf("json:\"-\" gives %s, memo:\"-\" gives %s", a, b)
	}

	// The spec says it, and `runner steps` shows it.
	ss := step.Define(step.Spec{Name: "memo"}, now{}, func(now, *step.Build) (any, error) { return nil, nil }).Spec.Settings
	if !ss[0].NotMemo || ss[1].NotMemo {
		t.Errorf("settings %+v", ss)
	}
	var sb strings.Builder
	describeSettings(&sb, ss, "")
	if !strings.Contains(strings.Split(sb.String(), "\n")[0], "not in memo key") {
		t.Errorf("runner steps does not say the url is out of the memo key:\n%s", sb.String())
	}
}
