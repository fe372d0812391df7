package runner

import (
	"strings"
	"testing"

	"meetpipe/runner/step"
)

// checkFlow on its own: decoded steps and a table of specs in, the flow's problems out, at their places.
func TestCheckFlow(t *testing.T) {
	specs := map[string]*step.Spec{
		"list":  {Name: "list", Source: true, Writes: []step.Field{{Name: "subject", Sample: ""}, {Name: "url", Sample: ""}}, Lazy: []string{"url"}},
		"fetch": {Name: "fetch", Reads: []string{"url"}, Writes: []step.Field{{Name: "file", Sample: ""}}},
		"store": {Name: "store", Reads: []string{"subject", "file"}, Writes: []step.Field{{Name: "stored", Sample: false}}},
	}
	known := []string{"fetch", "list", "store"}
	tests := []struct {
		name, yml string
		want      []string // line:col: message
	}{
		{"a good flow", "steps:\n  - uses: list\n  - uses: fetch\n  - uses: store\n", nil},
		{"lazy field read by a step", "steps:\n  - uses: list\n  - uses: fetch\n", nil},
		{"unknown step", "steps:\n  - uses: list\n  - uses: fecth\n",
			[]string{`3:11: unknown step "fecth"; did you mean "fetch"?`}},
		{"an unknown step writes nothing", "steps:\n  - uses: list\n  - uses: fecth\n  - uses: store\n",
			[]string{`3:11: unknown step "fecth"; did you mean "fetch"?`, `4:11: step store reads field "file", which no earlier step writes`}},
		{"missing uses is the decoder's", "steps:\n  - uses: list\n  - id: x\n", nil},
		{"duplicate id", "steps:\n  - uses: list\n  - uses: fetch\n  - uses: fetch\n",
			[]string{"4:11: duplicate step id \"fetch\" (first at line 3); give one of them an `id:`"}},
		{"duplicate id at its id", "steps:\n  - uses: list\n  - {uses: fetch, id: f}\n  - {uses: store, id: f}\n",
			[]string{"4:23: duplicate step id \"f\" (first at line 3); give one of them an `id:`"}},
		{"source not first", "steps:\n  - uses: fetch\n  - uses: list\n",
			[]string{`2:11: the first step must be a source (one that lists items); "fetch" is not`,
				`2:11: step fetch reads field "url", which no earlier step writes`,
				`3:11: "list" is a source and can only be the first step`}},
		{"read before write", "steps:\n  - uses: list\n  - uses: store\n  - uses: fetch\n",
			[]string{`3:11: step store reads field "file", which no earlier step writes`}},
		{"var named like a field", "vars:\n  subject: x\n  file: y\nsteps:\n  - uses: list\n  - uses: fetch\n",
			[]string{`2:3: var "subject" has the name of a field that step list writes; rename it`,
				`3:3: var "file" has the name of a field that step fetch writes; rename it`}},
		{"retry and if on the source", "steps:\n  - uses: list\n    retry: 3\n    if: subject != \"\"\n  - uses: fetch\n",
			[]string{"3:12: retry: does not apply to the source step, which has no item to retry; its own settings say how its requests are retried",
				"4:9: if: is not allowed on the source step; use filter:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := &step.Diagnostics{}
			root := step.ParseYAML("f.yaml", []byte(tt.yml), ds)
			if root == nil {
				t.Fatal(ds)
			}
			pf := (&decoder{file: "f.yaml", ds: ds}).pipeline(root)
			in := make([]*step.Spec, len(pf.Steps))
			for i, sc := range pf.Steps {
				in[i] = specs[sc.Uses]
			}
			var got []string
			for _, d := range checkFlow("f.yaml", pf.Steps, in, known, pf.varNodes) {
				got = append(got, strings.TrimPrefix(d.Error(), "f.yaml:"))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
