package steps

import (
	"strings"
	"testing"

	"meetpipe/runner"
	"meetpipe/runner/step"
)

// viewsRegistry is the built-in steps and a source writing every field kimi_classify and mysql_upsert read.
func viewsRegistry(t *testing.T) *step.Registry {
	t.Helper()
	reg := step.Builtins.Clone()
	var writes []step.Field
	seen := map[string]bool{}
	for _, name := range []string{"kimi_classify", "mysql_upsert"} {
		def, ok := reg.Lookup(name)
		if !ok {
			t.Fatalf("no step %s", name)
		}
		for _, f := range def.Spec.Reads {
			if !seen[f] {
				seen[f] = true
				writes = append(writes, step.Field{Name: f, Sample: ""})
			}
		}
	}
	reg.Register(step.Define(step.Spec{Name: "views_source", Version: "1", Source: true, Writes: writes},
		kimiNoConfig{}, func(kimiNoConfig, *step.Build) (any, error) { return kimiSource{}, nil }))
	return reg
}

// The views commands read beside a run are the steps' decoded settings: a pipeline's phases, prices and
// database reach them, and without a kimi_classify step the phases are the step's defaults.
func TestStepViews(t *testing.T) {
	reg := viewsRegistry(t)
	load := func(yml string) *runner.Pipeline {
		t.Helper()
		p, err := runner.LoadBytes("views.yaml", []byte(yml), runner.LoadOptions{Registry: reg, Env: map[string]string{}, DryRun: true, StateDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	p := load(`
steps:
  - uses: views_source
  - uses: kimi_classify
    with:
      phases: [{name: 甲, description: a}, {name: 乙, description: b}]
      fallback_phase: 乙
      price_per_mtok_input: 4
      price_per_mtok_output: 16
      price_per_mtok_cached: 1
      currency: USD
  - uses: mysql_upsert
    with: {host: db.example, port: 3307, user: u, password: pw, database: d, tls: "true"}
`)
	v, ok := ClassifyViewOf(p)
	if !ok || strings.Join(v.Phases, ",") != "甲,乙" || v.Prices.Input != 4 || v.Prices.Output != 16 || v.Prices.Cached != 1 || v.Prices.Currency != "USD" {
		t.Errorf("classify view = %+v, %v", v, ok)
	}
	c, ok := StoreConfigOf(p)
	if !ok || c.Host != "db.example" || c.Port != 3307 || c.User != "u" || c.Password != "pw" || c.Database != "d" || c.TLS != "true" {
		t.Errorf("store config = %+v, %v", c, ok)
	}

	p = load("steps:\n  - uses: views_source\n")
	v, ok = ClassifyViewOf(p)
	if ok || strings.Join(v.Phases, ",") != "简历优化,项目深挖,面试模拟,Offer后续,其他" || v.Prices.Known() {
		t.Errorf("without kimi_classify: %+v, %v; want the default phases and no prices", v, ok)
	}
	if _, ok := StoreConfigOf(p); ok {
		t.Error("a store without mysql_upsert")
	}
}
