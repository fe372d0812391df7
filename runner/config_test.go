package runner

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"meetpipe/runner/step"
)

// Whitelists typed as people type them parse to the same list.
func TestParseListTypedForms(t *testing.T) {
	want := []string{"teacher_001", "teacher_002"}
	for name, in := range map[string]string{
		"json array":           `["teacher_001","teacher_002"]`,
		"json with spaces":     `[ "teacher_001" , " teacher_002 " ]`,
		"commas":               "teacher_001,teacher_002",
		"full-width comma":     "teacher_001， teacher_002 ",
		"enumeration comma":    "teacher_001、teacher_002",
		"spaces":               "  teacher_001   teacher_002 ",
		"new lines":            "teacher_001\nteacher_002\n",
		"mixed and trailing":   "teacher_001,\r\n teacher_002，、",
		"ideographic space":    "teacher_001\u3000teacher_002",
		"quoted entries":       `"teacher_001", 'teacher_002'`,
		"full-width semicolon": "teacher_001；teacher_002",
	} {
		t.Run(name, func(t *testing.T) {
			got, err := step.ParseList(in)
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("ParseList(%q) = %q, %v; want %q", in, got, err, want)
			}
		})
	}
	for _, in := range []string{"", "  ", "，、\n", "[]", `[" "]`} {
		if got, err := step.ParseList(in); err != nil || len(got) != 0 {
			t.Errorf("ParseList(%q) = %q, %v; want empty", in, got, err)
		}
	}
}

// An empty whitelist is a configuration error at load naming its variable, whether the variable is
// unset, empty or only separators; a typed one loads.
func TestEmptyListVarIsAConfigError(t *testing.T) {
	var listed atomic.Int64
	reg := testRegistry(&calls{n: map[string]int{}}, &listed, nil)
	yml := "vars:\n  teachers: !list ${TEACHER_WHITELIST:-}\nsteps:\n  - uses: nums\n    filter: '\"a\" in teachers'\n"
	for _, v := range []string{"", " ", "，", "[]"} {
		_, err := LoadBytes("t.yaml", []byte(yml), LoadOptions{Registry: reg, Env: map[string]string{"TEACHER_WHITELIST": v}, StateDir: t.TempDir()})
		var ds *step.Diagnostics
		if !errors.As(err, &ds) || !strings.Contains(err.Error(), "TEACHER_WHITELIST") || !strings.Contains(err.Error(), "t.yaml:2:") {
			t.Errorf("TEACHER_WHITELIST=%q: %v; want a diagnostic at the var naming TEACHER_WHITELIST", v, err)
		}
	}
	p, err := LoadBytes("t.yaml", []byte(yml), LoadOptions{Registry: reg, Env: map[string]string{"TEACHER_WHITELIST": "a， b"}, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
}

type spacedCfg struct {
	Key      string `yaml:"key" secret:"true"`
	Password string `yaml:"password" secret:"true" spaces:"allowed"`
}

// A key with leading or trailing white space is refused naming its variable, and never printed; a
// password may hold spaces: loaded, with a warning.
func TestSecretWithWhitespace(t *testing.T) {
	var listed atomic.Int64
	reg := testRegistry(&calls{n: map[string]int{}}, &listed, nil)
	reg.Register(step.Define(step.Spec{Name: "spaced", Version: "1"}, spacedCfg{}, func(spacedCfg, *step.Build) (any, error) {
		return stepFunc(func(context.Context, *step.Item) (step.Fields, error) { return nil, nil }), nil
	}))
	yml := "steps:\n  - uses: nums\n  - uses: spaced\n    with:\n      key: \"${MOONSHOT_KEY}\"\n      password: \"${DB_PASS}\"\n"
	load := func(key, pass string) (string, error) {
		var logs strings.Builder
		prev := slog.Default()
		slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
		defer slog.SetDefault(prev)
		p, err := LoadBytes("t.yaml", []byte(yml), LoadOptions{Registry: reg, Env: map[string]string{"MOONSHOT_KEY": key, "DB_PASS": pass}, StateDir: t.TempDir()})
		if err == nil {
			p.Close()
		}
		return logs.String(), err
	}
	if _, err := load("sk-SECRET ", "pw"); err == nil || !strings.Contains(err.Error(), "MOONSHOT_KEY") || !strings.Contains(err.Error(), "t.yaml:5:") || strings.Contains(err.Error(), "sk-SECRET") {
		t.Errorf("key with a trailing space: %v; want an error at t.yaml:5 naming MOONSHOT_KEY, without the key", err)
	}
	logs, err := load("sk-SECRET", " pass word ")
	if err != nil {
		t.Fatalf("a password with spaces: %v", err)
	}
	if !strings.Contains(logs, "DB_PASS") || strings.Contains(logs, "pass word") {
		t.Errorf("want a warning naming DB_PASS, without the password: %q", logs)
	}
}

// The run's summary counts what the filters dropped by reason, each reason naming the value that failed
// the clause; when every item is dropped, the run warns.
func TestSummaryCountsFilterDropsByReason(t *testing.T) {
	var listed atomic.Int64
	reg := testRegistry(&calls{n: map[string]int{}}, &listed, nil)
	for _, tc := range []struct {
		filter string
		drops  int
		all    bool
	}{{"n == 1", 3, false}, {"(n > 100 || subject == \"x\")", 4, true}} {
		yml := "vars:\n  keep: !list a\nsteps:\n  - uses: nums\n    with: {count: 4}\n    filter: '" + tc.filter + "'\n"
		p, err := LoadBytes("t.yaml", []byte(yml), LoadOptions{Registry: reg, Env: map[string]string{}, StateDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		var logs strings.Builder
		sum, err := p.Run(context.Background(), RunOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		p.Close()
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for reason, n := range sum.Filtered {
			total += n
			if !strings.Contains(reason, "filter of step nums") || !strings.ContainsAny(reason, "0123456789") {
				t.Errorf("%s: reason %q does not name the step and the value", tc.filter, reason)
			}
		}
		if total != tc.drops || sum.Skipped != tc.drops || len(sum.Filtered) != tc.drops {
			t.Errorf("%s: filtered %v (skipped %d), want %d items with one reason each", tc.filter, sum.Filtered, sum.Skipped, tc.drops)
		}
		if got := strings.Count(logs.String(), "dropped by a filter"); got != tc.drops {
			t.Errorf("%s: %d log lines of drops, want %d:\n%s", tc.filter, got, tc.drops, logs.String())
		}
		if warned := strings.Contains(logs.String(), "dropped every item"); warned != tc.all {
			t.Errorf("%s: warned %v, want %v", tc.filter, warned, tc.all)
		}
	}
}
