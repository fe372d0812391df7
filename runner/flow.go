package runner

import (
	"fmt"
	"maps"
	"slices"

	"meetpipe/runner/internal/yamlnode"
	"meetpipe/runner/step"

	"gopkg.in/yaml.v3"
)

// checkFlow checks how a pipeline's steps fit together, before any is built: each step type is known,
// each id unique, the source first and only first, each field a step reads written by an earlier step
// (or lazily by the source), no var named like a written field, and no retry: or if: on the source.
// specs[i] is the spec of steps[i], nil when its type is unknown (known are the registered names, for
// did-you-mean); a step without `uses:` was reported by the decoder and is passed over. An unknown step
// and a second step of an id are not built: they add no fields. checkFlow only reads its arguments.
func checkFlow(file string, steps []stepConf, specs []*step.Spec, known []string, vars map[string]*yaml.Node) []step.Diagnostic {
	var out []step.Diagnostic
	errorf := func(n *yaml.Node, format string, args ...any) {
		d := step.Diagnostic{File: file, Msg: fmt.Sprintf(format, args...)}
		if n != nil {
			d.Line, d.Col = n.Line, n.Column
		}
		out = append(out, d)
	}
	varNames := slices.Sorted(maps.Keys(vars))
	fields, lazy := map[string]any{}, map[string]bool{}
	ids := map[string]*yaml.Node{}
	for i, sc := range steps {
		if sc.usesNode == nil {
			continue
		}
		spec := specs[i]
		if spec == nil {
			errorf(sc.usesNode, "unknown step %q%s", sc.Uses, yamlnode.Suggest(sc.Uses, known))
			continue
		}
		idNode := sc.usesNode
		if v := yamlnode.MapValue(sc.node, "id"); v != nil {
			idNode = v
		}
		if prev, dup := ids[sc.ID]; dup {
			errorf(idNode, "duplicate step id %q (first at line %d); give one of them an `id:`", sc.ID, prev.Line)
			continue
		}
		ids[sc.ID] = idNode
		switch {
		case i == 0 && !spec.Source:
			errorf(sc.usesNode, "the first step must be a source (one that lists items); %q is not", sc.Uses)
		case i > 0 && spec.Source:
			errorf(sc.usesNode, "%q is a source and can only be the first step", sc.Uses)
		}
		for _, r := range spec.Reads {
			if _, ok := fields[r]; !ok && !lazy[r] {
				errorf(sc.usesNode, "step %s reads field %q, which no earlier step writes", sc.ID, r)
			}
		}
		for _, name := range varNames {
			for _, w := range spec.Writes {
				if w.Name == name {
					errorf(vars[name], "var %q has the name of a field that step %s writes; rename it", name, sc.ID)
				}
			}
		}
		if spec.Source {
			if r := yamlnode.MapValue(sc.node, "retry"); r != nil {
				// A listing has no item to retry: a policy here would be silently ignored.
				errorf(r, "retry: does not apply to the source step, which has no item to retry; its own settings say how its requests are retried")
			}
			if sc.If != nil {
				errorf(yamlnode.MapValue(sc.node, "if"), "if: is not allowed on the source step; use filter:")
			}
		}
		addWrites(*spec, fields, lazy)
	}
	return out
}

// addWrites adds the fields a step writes to those written so far: samples of the fields expressions can
// read, and apart from them the source's lazy fields, which steps can read and expressions cannot.
func addWrites(spec step.Spec, fields map[string]any, lazy map[string]bool) {
	for _, w := range spec.Writes {
		if slices.Contains(spec.Lazy, w.Name) {
			lazy[w.Name] = true
			continue
		}
		fields[w.Name] = w.Sample
	}
}
