package kimi

import (
	"fmt"
	"slices"
	"strings"
	"text/template/parse"
)

// templateNames are the names every prompt sees besides the item's fields (Classifier.data and the
// render calls set them).
var templateNames = []string{"phases", "phase_names", "fallback_phase", "phase", "summary_max", "mode", "part", "parts", "text"}

// checkNames refuses a prompt that names a field the templates are never given: with missingkey=zero it
// would render as "<no value>" in every request instead of failing, so it is caught when the pipeline
// loads. Only names looked up on the top-level data are checked ({{.x}} outside range and with, {{$.x}}).
func (t templates) checkNames(item []string) error {
	known := append(slices.Clone(item), templateNames...)
	for _, role := range []string{"system", "user", "map_system", "map_user"} {
		tpl := t[role]
		if tpl == nil || tpl.Tree == nil {
			continue
		}
		var bad string
		walkNames(tpl.Tree.Root, true, func(name string) {
			if bad == "" && !slices.Contains(known, name) {
				bad = name
			}
		})
		if bad != "" {
			return settingErr(role, fmt.Errorf("%s template: {{.%s}} names no field the prompt is given (known: %s)",
				role, bad, strings.Join(known, ", ")))
		}
	}
	return nil
}

// walkNames reports the top-level names node looks up; root says whether dot is still the data.
func walkNames(n parse.Node, root bool, f func(string)) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n != nil {
			for _, c := range n.Nodes {
				walkNames(c, root, f)
			}
		}
	case *parse.ActionNode:
		walkNames(n.Pipe, root, f)
	case *parse.PipeNode:
		if n != nil {
			for _, c := range n.Cmds {
				walkNames(c, root, f)
			}
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			walkNames(a, root, f)
		}
	case *parse.FieldNode:
		if root && len(n.Ident) > 0 {
			f(n.Ident[0])
		}
	case *parse.VariableNode:
		if len(n.Ident) > 1 && n.Ident[0] == "$" {
			f(n.Ident[1])
		}
	case *parse.ChainNode:
		walkNames(n.Node, root, f)
	case *parse.IfNode:
		walkNames(n.Pipe, root, f)
		walkNames(n.List, root, f)
		walkNames(n.ElseList, root, f)
	case *parse.RangeNode:
		walkNames(n.Pipe, root, f)
		walkNames(n.List, false, f) // dot is the element
		walkNames(n.ElseList, root, f)
	case *parse.WithNode:
		walkNames(n.Pipe, root, f)
		walkNames(n.List, false, f)
		walkNames(n.ElseList, root, f)
	case *parse.TemplateNode:
		walkNames(n.Pipe, root, f)
	}
}
