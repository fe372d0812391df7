package step

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"meetpipe/runner/internal/yamlnode"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
)

// A person reading why a recording was dropped wants the one condition that failed and the values it saw
// (`duration_min 3 < min_minutes 5`), not the whole filter. Explanations split a boolean expression at its
// top-level `&&`, evaluate each clause alone and describe the first false one.

// clause is one part of a boolean expression, compiled alone.
type clause struct {
	src         string
	prog        *vm.Program
	op          string   // comparison operator, "" when the clause is not a comparison
	left, right *operand // of a comparison
	alts        []*clause
	idents      []*operand // item fields and vars a non-comparison clause refers to
}

// operand is one side of a comparison.
type operand struct {
	src  string
	prog *vm.Program
	show bool // print its value (not for literals, env.* which may hold secrets, or long lists)
}

// negated is the operator that states a false comparison as a fact.
var negated = map[string]string{
	"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<",
	"in": "not in", "not in": "in",
	"contains": "does not contain", "not contains": "contains",
	"startsWith": "does not start with", "not startsWith": "starts with",
	"endsWith": "does not end with", "not endsWith": "ends with",
	"matches": "does not match", "not matches": "matches",
}

// Why explains a false boolean program over the item: the first false `&&` clause with its operands'
// values, e.g. `host_userid "teacher_999" not in teachers`. It falls back to the source when the
// expression cannot be split or evaluated part by part.
func (p *Program) Why(in *Item, extra map[string]any) string {
	fallback := yamlnode.OneLine(p.expr.Source) + " is false"
	p.once.Do(p.buildClauses)
	if len(p.clauses) == 0 {
		return fallback
	}
	env, err := p.env(in, extra)
	if err != nil {
		return fallback
	}
	for _, c := range p.clauses {
		if why, false_ := c.why(env); false_ {
			return why
		}
	}
	return fallback
}

// buildClauses parses the source again (the compiled tree is optimized) and compiles each clause.
func (p *Program) buildClauses() {
	if p.opts == nil {
		return
	}
	tree, err := parser.Parse(p.expr.Source)
	if err != nil {
		return
	}
	var parts []ast.Node
	var flatten func(n ast.Node)
	flatten = func(n ast.Node) {
		if b, ok := n.(*ast.BinaryNode); ok && (b.Operator == "&&" || b.Operator == "and") {
			flatten(b.Left)
			flatten(b.Right)
			return
		}
		parts = append(parts, n)
	}
	flatten(tree.Node)
	for _, n := range parts {
		c := p.clause(n)
		if c == nil {
			p.clauses = nil
			return
		}
		p.clauses = append(p.clauses, c)
	}
}

func (p *Program) compileSub(src string) *vm.Program {
	prog, err := expr.Compile(src, p.opts...)
	if err != nil {
		return nil
	}
	return prog
}

func (p *Program) clause(n ast.Node) *clause {
	c := &clause{src: n.String()}
	if c.prog = p.compileSub(c.src); c.prog == nil {
		return nil
	}
	if b, ok := n.(*ast.BinaryNode); ok && (b.Operator == "||" || b.Operator == "or") {
		var alts []ast.Node
		var flatten func(n ast.Node)
		flatten = func(n ast.Node) {
			if b, ok := n.(*ast.BinaryNode); ok && (b.Operator == "||" || b.Operator == "or") {
				flatten(b.Left)
				flatten(b.Right)
				return
			}
			alts = append(alts, n)
		}
		flatten(b)
		for _, a := range alts {
			ac := p.clause(a)
			if ac == nil {
				return c
			}
			c.alts = append(c.alts, ac)
		}
		return c
	}
	var left, right ast.Node
	switch b := n.(type) {
	case *ast.BinaryNode:
		if _, ok := negated[b.Operator]; ok {
			c.op, left, right = b.Operator, b.Left, b.Right
		}
	case *ast.UnaryNode:
		// `a not in b` parses as not(a in b).
		if inner, ok := b.Node.(*ast.BinaryNode); ok && (b.Operator == "not" || b.Operator == "!") {
			if _, ok := negated["not "+inner.Operator]; ok {
				c.op, left, right = "not "+inner.Operator, inner.Left, inner.Right
			}
		}
	}
	if c.op != "" {
		c.left, c.right = p.operand(left), p.operand(right)
		if c.left == nil || c.right == nil {
			c.op = ""
		} else if strings.HasSuffix(c.op, "in") {
			c.right.show = false // the whitelist by its name, not its hundred entries
		}
	}
	if c.op == "" {
		seen := map[string]bool{}
		ast.Walk(&n, identVisitor(func(name string) {
			_, field := p.types[name]
			_, static := p.static[name]
			if seen[name] || name == "env" || !field && !static { // functions are identifiers too
				return
			}
			seen[name] = true
			if o := p.operand(&ast.IdentifierNode{Value: name}); o != nil {
				c.idents = append(c.idents, o)
			}
		}))
	}
	return c
}

func (p *Program) operand(n ast.Node) *operand {
	o := &operand{src: n.String(), show: true}
	switch v := n.(type) {
	case *ast.StringNode, *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.NilNode, *ast.ConstantNode, *ast.ArrayNode:
		o.show = false
	case *ast.MemberNode:
		if id, ok := v.Node.(*ast.IdentifierNode); ok && id.Value == "env" {
			o.show = false // environment values may be secrets
		}
	}
	if o.prog = p.compileSub(o.src); o.prog == nil {
		return nil
	}
	return o
}

// why reports whether the clause is false in env and, if so, says why.
func (c *clause) why(env map[string]any) (string, bool) {
	v, err := expr.Run(c.prog, env)
	if b, ok := v.(bool); err != nil || !ok || b {
		return "", false
	}
	if len(c.alts) > 0 {
		var parts []string
		for _, a := range c.alts {
			if w, f := a.why(env); f {
				parts = append(parts, w)
			}
		}
		return strings.Join(parts, " and "), true
	}
	if c.op != "" {
		return c.left.format(env) + " " + negated[c.op] + " " + c.right.format(env), true
	}
	var vals []string
	for _, o := range c.idents {
		if s := o.format(env); s != o.src {
			vals = append(vals, s)
		}
	}
	out := c.src + " is false"
	if len(vals) > 0 {
		out += " (" + strings.Join(vals, ", ") + ")"
	}
	return out, true
}

// format is the operand's source followed by its value where that helps.
func (o *operand) format(env map[string]any) string {
	if !o.show {
		return o.src
	}
	v, err := expr.Run(o.prog, env)
	if err != nil {
		return o.src
	}
	s, ok := formatValue(v)
	if !ok || s == o.src {
		return o.src
	}
	return o.src + " " + s
}

// formatValue prints scalars and short lists of scalars; anything longer stays unprinted (a whitelist
// of a hundred teachers says nothing a person can read in a log line).
func formatValue(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "nil", true
	case string:
		if r := []rune(x); len(r) > 40 {
			x = string(r[:39]) + "…"
		}
		return strconv.Quote(x), true
	case bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return fmt.Sprint(x), true
	case float32, float64:
		return strconv.FormatFloat(reflect.ValueOf(x).Float(), 'g', -1, 64), true
	case time.Time:
		return x.Format(time.RFC3339), true
	case time.Duration:
		return x.String(), true
	}
	rv := reflect.ValueOf(v)
	if (rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array) && rv.Len() <= 3 {
		for i := range rv.Len() {
			if _, ok := formatValue(rv.Index(i).Interface()); !ok || rv.Index(i).Kind() == reflect.Slice {
				return "", false
			}
		}
		b, err := json.Marshal(v)
		return string(b), err == nil
	}
	return "", false
}
