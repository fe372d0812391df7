package runner

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"

	"meetpipe/runner/internal/state"
	"meetpipe/runner/internal/yamlnode"
	"meetpipe/runner/redact"
	"meetpipe/runner/step"

	"gopkg.in/yaml.v3"
)

// redactConf is the pipeline's `redact:` block: the item fields whose strings are redacted as soon as a
// step (or the source) writes them, and the patterns.
type redactConf struct {
	Fields     []string
	fieldNodes []*yaml.Node
	Rules      []redact.Rule
	ruleNodes  []*yaml.Node
	node       *yaml.Node
}

func (d *decoder) redact(n *yaml.Node) *redactConf {
	rc := &redactConf{node: n}
	d.fields(n, "redact", []string{"fields", "patterns"}, func(key string, _, v *yaml.Node) {
		switch key {
		case "fields":
			if v.Kind != yaml.SequenceNode {
				d.errorf(v, "redact.fields: want a list of item fields, got %s", yamlnode.Describe(v))
				return
			}
			for _, f := range v.Content {
				rc.Fields = append(rc.Fields, d.str(f, "redact.fields"))
				rc.fieldNodes = append(rc.fieldNodes, f)
			}
		case "patterns":
			if v.Kind != yaml.SequenceNode {
				d.errorf(v, "redact.patterns: want a list, got %s", yamlnode.Describe(v))
				return
			}
			for _, pn := range v.Content {
				var ru redact.Rule
				d.fields(pn, "redact pattern", []string{"name", "match", "replace", "validate"}, func(key string, _, v *yaml.Node) {
					s := d.str(v, "redact pattern "+key)
					switch key {
					case "name":
						ru.Name = s
					case "match":
						ru.Match = s
					case "replace":
						ru.Replace = s
					case "validate":
						ru.Validate = s
					}
				})
				rc.Rules = append(rc.Rules, ru)
				rc.ruleNodes = append(rc.ruleNodes, pn)
			}
		}
	})
	return rc
}

// compileRedact compiles the block once, at load; a bad pattern is reported at its key. written are the
// fields the pipeline's steps write: naming another is a typo that would redact nothing.
func (d *decoder) compileRedact(rc *redactConf, written map[string]bool) *redact.Redactor {
	if rc == nil {
		return nil
	}
	if len(rc.Rules) == 0 {
		d.errorf(rc.node, "redact: no patterns")
	}
	if len(rc.Fields) == 0 {
		d.errorf(rc.node, "redact: no fields (name the item fields to redact, e.g. [transcript, summary])")
	}
	for i, f := range rc.Fields {
		if f != "" && !written[f] {
			d.errorf(rc.fieldNodes[i], "redact.fields: no step writes field %q%s", f, yamlnode.Suggest(f, slices.Sorted(maps.Keys(written))))
		}
	}
	r, errs := redact.Compile(rc.Rules)
	for _, e := range errs {
		at := rc.ruleNodes[e.Rule]
		if v := yamlnode.MapValue(at, e.Field); v != nil {
			at = v
		}
		d.errorf(at, "redact pattern %d (%s): %s: %s", e.Rule+1, rc.Rules[e.Rule].Name, e.Field, e.Msg)
	}
	return r
}

// Redactor is the pipeline's compiled `redact:` patterns; nil when it declares none (a nil Redactor
// changes nothing). Commands that print stored data pass it through this too.
func (p *Pipeline) Redactor() *redact.Redactor { return p.redactor }

// redactFields replaces, in the fields of f that the pipeline redacts, every match; it returns the counts
// redactItem redacts, in place, the fields of it named under redact:.
func (p *Pipeline) redactItem(it *step.Item) error {
	raw := map[string]json.RawMessage{}
	for _, name := range p.redactOn {
		if it.Has(name) {
			raw[name] = it.Raw(name)
		}
	}
	if _, err := p.redactFields(raw); err != nil {
		return err
	}
	it.SetRaw(raw)
	return nil
}

// by field (nil when the step wrote no redacted field). f's values become their redacted JSON.
func (p *Pipeline) redactFields(f map[string]json.RawMessage) (map[string]redact.Counts, error) {
	if p.redactor == nil {
		return nil, nil
	}
	var counts map[string]redact.Counts
	for _, name := range p.redactOn {
		raw, ok := f[name]
		if !ok {
			continue
		}
		out, c, err := p.redactor.JSON(raw)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", name, err)
		}
		f[name] = out
		if counts == nil {
			counts = map[string]redact.Counts{}
		}
		counts[name] = c
	}
	return counts, nil
}

// redactOutput redacts a step's output before anything stores, logs or passes it on, and adds the
// counts to it (merged with what earlier steps counted on the item).
func (r *run) redactOutput(it *step.Item, out step.Fields) (step.Fields, error) {
	if r.p.redactor == nil {
		return out, nil
	}
	raw := map[string]json.RawMessage{}
	for _, name := range r.p.redactOn {
		if v, ok := out[name]; ok {
			b, err := step.MarshalField(v)
			if err != nil {
				return nil, fmt.Errorf("field %q: %w", name, err)
			}
			raw[name] = b
		}
	}
	counts, err := r.p.redactFields(raw)
	if err != nil || counts == nil {
		return out, err
	}
	red := maps.Clone(out)
	for k, v := range raw {
		red[k] = v
	}
	all := map[string]redact.Counts{}
	if it.Has(step.RedactionsField) {
		_ = it.Get(step.RedactionsField, &all) // a damaged count is recounted from here on
	}
	for k, c := range counts {
		if len(c) == 0 {
			delete(all, k)
		} else {
			all[k] = c
		}
	}
	red[step.RedactionsField] = all
	return red, nil
}

// redactRecord redacts a memoized output before it is served: a state written before a pattern was
// added (or before redaction was on) must not reach later steps. A record that changed is written back
// so that the state directory holds the redacted text from then on.
func (r *run) redactRecord(id string, rec *state.Record) {
	if r.p.redactor == nil || rec == nil || rec.Output == nil {
		return
	}
	out := maps.Clone(rec.Output)
	counts, err := r.p.redactFields(out)
	if err != nil || counts == nil {
		return
	}
	changed := false
	for k := range counts {
		if string(out[k]) != string(rec.Output[k]) {
			changed = true
		}
	}
	if !changed {
		return
	}
	rec.Output = out
	if !r.o.DryRun {
		if err := r.st.PutRecord(id, rec); err != nil {
			r.log.Error("cannot save redacted state", "item", id, "err", err)
		}
	}
}

// LoadRedactor reads only the `redact:` patterns of a pipeline file, for commands that print stored data
// without running the pipeline (runner status). A file without the block gives a nil Redactor.
func LoadRedactor(path string) (*redact.Redactor, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load redact patterns: %w", err)
	}
	ds := &step.Diagnostics{}
	root := step.ParseYAML(path, src, ds)
	if root == nil {
		return nil, ds
	}
	n := yamlnode.MapValue(root, "redact")
	if n == nil {
		return nil, nil
	}
	d := &decoder{file: path, lines: ds.Lines(path), ds: ds}
	rc := d.redact(n)
	r, errs := redact.Compile(rc.Rules)
	for _, e := range errs {
		d.errorf(rc.ruleNodes[e.Rule], "redact pattern %d (%s): %s: %s", e.Rule+1, rc.Rules[e.Rule].Name, e.Field, e.Msg)
	}
	if err := ds.Err(); err != nil {
		return nil, ds
	}
	return r, nil
}
