package runner

import (
	"strings"
	"sync/atomic"
	"testing"

	"meetpipe/runner/step"
)

func TestBrokenPipelines(t *testing.T) {
	env := map[string]string{"TOKEN": "tok-SECRET-123", "N": "3", "LIST": `["a","b"]`}
	cases := []struct {
		name string
		yml  string
		want string // substring of the message
		pos  string // file:line:col prefix
	}{
		{"bad yaml", "steps:\n  - uses: nums\n    with: {count: 3\n", "invalid YAML", "t.yaml:3"},
		{"bad yaml sequence", "steps:\n  - uses: nums\n  with: {}\n", "invalid YAML", "t.yaml:2"},
		{"tab indentation", "steps:\n\t- uses: nums\n", "invalid YAML", "t.yaml:2"},
		// yaml.v3 says the line of the scalar before the tab; the tab is on the next line.
		{"tab after a scalar", "steps:\n  - uses: nums\n  - uses: double\n\twith: {}\n", "tab character that violates indentation; indent with spaces", "t.yaml:4:1:"},
		{"tab inside indentation", "steps:\n  - uses: nums\n    with:\n  \t  count: 3\n", "(a tab; indent with spaces)", "t.yaml:4:3:"},
		{"not UTF-8", "name: a\xffb\nsteps:\n  - uses: nums\n", "invalid leading UTF-8 octet (byte 0xff): the file must be UTF-8", "t.yaml:1:8:"},
		{"not UTF-8 after CJK", "name: 会议\nsteps:\n  - uses: nums\n    id: 中\xc3x\n", "UTF-8", "t.yaml:4:10:"},
		{"unknown alias", "steps:\n  - uses: nums\n    with: {count: *nope}\n", "unknown anchor 'nope' referenced; define it with &nope", "t.yaml:3:19:"},
		{"empty file", "", "empty", "t.yaml:1:1"},
		{"second document", "steps:\n  - uses: nums\n---\nsteps: []\n", "a second YAML document", "t.yaml:3:1"},
		{"second document inline", "steps:\n  - uses: nums\n--- {name: x}\n", "a second YAML document", "t.yaml:3:1"},
		{"no steps", "name: x\n", "no steps", "t.yaml:1:1"},
		{"steps not a list", "steps: {uses: nums}\n", "want a list", "t.yaml:1:8"},
		{"empty steps", "steps: []\n", "empty", "t.yaml:1:8"},
		{"unknown top key", "stepz: []\nsteps:\n  - uses: nums\n", `unknown key "stepz"; did you mean "steps"?`, "t.yaml:1:1"},
		{"unknown step", "steps:\n  - uses: numz\n", `unknown step "numz"; did you mean "nums"?`, "t.yaml:2:11"},
		{"missing uses", "steps:\n  - with: {}\n", "missing `uses:`", "t.yaml:2:5"},
		{"unknown step key", "steps:\n  - uses: nums\n    concurency: 2\n", `unknown key "concurency"; did you mean "concurrency"?`, "t.yaml:3:5"},
		{"unknown setting", "steps:\n  - uses: nums\n    with: {cont: 3}\n", `unknown setting "cont"`, "t.yaml:3:12"},
		{"wrong setting type", "steps:\n  - uses: nums\n    with: {count: many}\n", `count: want an integer, got "many"`, "t.yaml:3:19"},
		{"wrong step key type", "steps:\n  - uses: nums\n    concurrency: two\n", "concurrency: want an integer", "t.yaml:3:18"},
		{"retry on the source", "steps:\n  - uses: nums\n    retry: 3\n", "retry: does not apply to the source step", "t.yaml:3:12"},
		{"concurrency zero", "steps:\n  - uses: nums\n    concurrency: 0\n", "want an integer from 1 to 256", "t.yaml:3:18"},
		// Counts are promises of memory and goroutines: a huge one is refused at load, not obeyed.
		{"concurrency huge", "steps:\n  - uses: nums\n    concurrency: 1000000000000\n", "want an integer from 1 to 256", "t.yaml:3:18"},
		{"limiter concurrency huge", "limiters:\n  k: {concurrency: 1000000000000}\nsteps:\n  - uses: nums\n", "want an integer from 1 to 256", "t.yaml:2:20"},
		{"limiter rpm huge", "limiters:\n  k: {rpm: 1e12}\nsteps:\n  - uses: nums\n", "want a number from 0 to 60000", "t.yaml:2:12"},
		{"attempts huge", "steps:\n  - uses: nums\n  - uses: double\n    retry: 1000000\n", "want an integer from 1 to 100", "t.yaml:4:12"},
		{"timeout zero", "steps:\n  - uses: nums\n  - uses: double\n    timeout: 0s\n", "want a duration from 1ms to 24h", "t.yaml:4:14"},
		{"grace negative", "grace: -1s\nsteps:\n  - uses: nums\n", "not a duration", "t.yaml:1:8"},
		{"setting over max", "steps:\n  - uses: nums\n    with: {count: 100000}\n", "count: want 0..1000, got 100000", "t.yaml:3:19"},
		{"bad duration", "steps:\n  - uses: nums\n  - uses: double\n    timeout: 5 minutes\n", `"5 minutes" is not a duration`, "t.yaml:4:14"},
		{"bad setting duration", "steps:\n  - uses: nums\n  - uses: flaky\n    with: {after: soon}\n", `"soon" is not a duration`, "t.yaml:4:19"},
		{"setting overflows its type", "steps:\n  - uses: nums\n  - uses: flaky\n    with:\n      fail_times: 18446744073709551615\n", "cannot unmarshal", "t.yaml:5:19:"},
		{"bad setting duration in days", "steps:\n  - uses: nums\n  - uses: flaky\n    with: {after: 1d-1h}\n", `"1d-1h" is not a duration (use 300ms, 30s, 5m, 2h or 7d)`, "t.yaml:4:19"},
		{"bad enum", "steps:\n  - uses: nums\n  - uses: flaky\n    with: {kind: sometimes}\n", `"sometimes" is not one of`, "t.yaml:4:18"},
		{"bad retry", "steps:\n  - uses: nums\n  - uses: double\n    retry: {attempts: 3, backof: 1s}\n", `unknown key "backof"`, "t.yaml:4:26"},
		{"expr syntax error", "steps:\n  - uses: nums\n    filter: n >\n", "expression:", "t.yaml:3:15"},
		{"expr type error", "steps:\n  - uses: nums\n    filter: subject > 3\n", "invalid operation: > (mismatched types string and int)", "t.yaml:3:21"},
		{"expr unknown name", "steps:\n  - uses: nums\n    filter: dur > 3\n", "unknown name dur", "t.yaml:3:13"},
		{"expr not bool", "steps:\n  - uses: nums\n    filter: n + 1\n", "expected bool", "t.yaml:3:13"},
		{"expr multi-line", "steps:\n  - uses: nums\n    filter: |\n      n > 1 &&\n        subject == 3\n", "mismatched types string and int", "t.yaml:5:17"},
		{"expr folded", "steps:\n  - uses: nums\n    filter: >-\n      n > 1 &&\n      n < 3 && nope\n", "unknown name nope", "t.yaml:5:16"},
		{"expr quoted", "steps:\n  - uses: nums\n    filter: \"n > 1 && nope\"\n", "unknown name nope", "t.yaml:3:23"},
		{"filter reads a later field", "steps:\n  - uses: nums\n    filter: double > 1\n  - uses: double\n", "unknown name double", "t.yaml:3:13"},
		{"read before written", "steps:\n  - uses: nums\n  - uses: sink\n", `reads field "double", which no earlier step writes`, "t.yaml:3:11"},
		{"missing variable", "steps:\n  - uses: nums\n    with: {token: \"${NOPE}\"}\n", "environment variable NOPE is not set", "t.yaml:3:20"},
		{"missing variable plain", "steps:\n  - uses: nums\n    with:\n      token: x${NOPE}\n", "NOPE is not set", "t.yaml:4:15"},
		{"bad variable", "steps:\n  - uses: nums\n    with: {token: \"${1X}\"}\n", "invalid variable reference", "t.yaml:3:20"},
		{"duplicate id", "steps:\n  - uses: nums\n  - uses: double\n  - uses: double\n", `duplicate step id "double"`, "t.yaml:4:11"},
		{"duplicate key", "steps:\n  - uses: nums\n    uses: nums\n", `duplicate key "uses"`, "t.yaml:3:5"},
		{"source not first", "steps:\n  - uses: double\n  - uses: nums\n", "first step must be a source", "t.yaml:2:11"},
		{"second source", "steps:\n  - uses: nums\n  - uses: nums\n    id: again\n", "can only be the first step", "t.yaml:3:11"},
		{"unknown limiter", "steps:\n  - uses: nums\n  - uses: double\n    limiter: kimi\n", `unknown limiter "kimi"`, "t.yaml:4:14"},
		{"limiter bad key", "limiters:\n  kimi: {rps: 3}\nsteps:\n  - uses: nums\n", `unknown key "rps"; did you mean "rpm"?`, "t.yaml:2:10"},
		{"var clashes with field", "vars:\n  n: 3\nsteps:\n  - uses: nums\n", `var "n" has the name of a field`, "t.yaml:2:3"},
		{"bad list var", "vars:\n  t: !list '[\"a\",'\nsteps:\n  - uses: nums\n", "not a JSON array", "t.yaml:2:6"},
		{"if on source", "steps:\n  - uses: nums\n    if: n > 1\n", "not allowed on the source", "t.yaml:3:9"},
		{"interpolated type checked", "steps:\n  - uses: nums\n    concurrency: ${LIST}\n", "want an integer", "t.yaml:3:18"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var listed atomic.Int64
			reg := testRegistry(&calls{n: map[string]int{}}, &listed, nil)
			_, err := LoadBytes("t.yaml", []byte(c.yml), LoadOptions{Registry: reg, Env: env, StateDir: t.TempDir()})
			if err == nil {
				t.Fatal("loaded a broken pipeline")
			}
			ds, ok := err.(*step.Diagnostics)
			if !ok {
				t.Fatalf("want *Diagnostics, got %T: %v", err, err)
			}
			var found bool
			for _, d := range ds.List {
				if strings.Contains(d.Msg, c.want) {
					found = true
					if !strings.HasPrefix(d.Error(), c.pos) {
						t.Errorf("position: got %q, want prefix %q", d.Error(), c.pos)
					}
				}
			}
			if !found {
				t.Errorf("no diagnostic containing %q in:\n%s", c.want, err)
			}
			if strings.Contains(err.Error(), "tok-SECRET") {
				t.Errorf("a secret leaked into diagnostics: %s", err)
			}
		})
	}
}

func TestAllDiagnosticsGathered(t *testing.T) {
	var listed atomic.Int64
	reg := testRegistry(&calls{n: map[string]int{}}, &listed, nil)
	yml := "steps:\n  - uses: nums\n    with: {count: x, bogus: 1}\n    filter: nope\n  - uses: dubble\n"
	_, err := LoadBytes("t.yaml", []byte(yml), LoadOptions{Registry: reg, Env: map[string]string{}, StateDir: t.TempDir()})
	ds, _ := err.(*step.Diagnostics)
	if ds == nil || len(ds.List) < 4 {
		t.Fatalf("want 4 diagnostics, got %v", err)
	}
	out := err.Error()
	for _, want := range []string{"t.yaml:3:19", "t.yaml:3:22", "t.yaml:4:13", "t.yaml:5:11", "    3 |     with: {count: x, bogus: 1}", "^"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestInterpolationAndVars(t *testing.T) {
	var listed atomic.Int64
	c := &calls{n: map[string]int{}}
	reg := testRegistry(c, &listed, nil)
	yml := `
vars:
  teachers: !list ${LIST}
  csv: !list "x, y"
  min: ${MIN:-2}
steps:
  - uses: nums
    with: {count: 4, token: "${TOKEN}"}
    concurrency: ${N}
    filter: n >= min && "a" in teachers && "y" in csv && now() > date("2020-01-01")
`
	p, err := LoadBytes("t.yaml", []byte(yml), LoadOptions{Registry: reg, Env: map[string]string{"TOKEN": "tok-SECRET-123", "N": "2", "LIST": `["a","b"]`}, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Secrets.Scrub("x tok-SECRET-123 y") != "x *** y" {
		t.Fatal("secret setting value not registered")
	}
	if p.stages[0].concurrency != 2 {
		t.Fatal("interpolated int not resolved")
	}
	if strings.Contains(string(p.stages[0].configJSON), "SECRET") {
		t.Fatalf("effective config keeps a secret: %s", p.stages[0].configJSON)
	}
}

func TestDotEnv(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/.env"
	writeFile(t, path, "# seed settings\nexport A=1\nB=\"two words\"\nC='x' \nD=plain # comment\nE=    # nothing\nTEACHER_WHITELIST=[\"teacher_001\",\"teacher_002\"]\n")
	env, err := ReadDotEnv(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "1", "B": "two words", "C": "x", "D": "plain", "E": "", "TEACHER_WHITELIST": `["teacher_001","teacher_002"]`}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	l, err := step.ParseList(env["TEACHER_WHITELIST"])
	if err != nil || len(l) != 2 || l[1] != "teacher_002" {
		t.Fatalf("whitelist %v %v", l, err)
	}
}

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "a", "EMPTY": "", "B": "b"}
	cases := map[string]string{
		"x${A}y":               "xay",
		"${EMPTY:-d}":          "d",
		"${EMPTY-d}":           "",
		"${NOPE-d}":            "d",
		"${NOPE:-${B}}":        "b",
		"${NOPE:-${EMPTY-x}}":  "",
		"${NOPE:-${NOPE2:-z}}": "z",
		"$${A}":                "${A}",
		"${A}${B}":             "ab",
	}
	for in, want := range cases {
		got, err := expand(in, env)
		if err != nil || got != want {
			t.Errorf("expand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := expand("${NOPE:-${MISSING}}", env); err == nil || !strings.Contains(err.msg, "MISSING") {
		t.Errorf("a missing nested variable must be named: %v", err)
	}
}
