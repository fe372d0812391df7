package step

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"meetpipe/runner/internal/yamlnode"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"
)

// Expr is an expression-valued setting: its source and where it stands in the pipeline file. Steps put
// Expr fields in their configuration and compile them with Build.Compile.
type Expr struct {
	Source string
	node   *yaml.Node
	file   string
	lines  []string // the file's lines, to map positions inside block scalars
}

// NewExpr makes an Expr that has no position (tests, defaults).
func NewExpr(src string) Expr { return Expr{Source: src} }

// ExprAt is the Expr of scalar node n in file, whose lines place errors inside block scalars.
func ExprAt(n *yaml.Node, file string, lines []string) *Expr {
	return &Expr{Source: n.Value, node: n, file: file, lines: lines}
}

// UnmarshalYAML keeps the node for positions.
func (e *Expr) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: an expression must be a string", n.Line)}}
	}
	e.Source, e.node = n.Value, n
	return nil
}

// MarshalJSON encodes the source, so that an expression is part of a memo key by its text.
func (e Expr) MarshalJSON() ([]byte, error) { return json.Marshal(e.Source) }

// MarshalYAML encodes the source.
func (e Expr) MarshalYAML() (any, error) { return e.Source, nil }

// IsZero reports an absent expression.
func (e Expr) IsZero() bool { return strings.TrimSpace(e.Source) == "" }

// posOf maps a position inside the expression (line 1-based, column 0-based in runes) to the file.
func (e *Expr) posOf(line, col int) (int, int) {
	n := e.node
	switch n.Style {
	case yaml.LiteralStyle, yaml.FoldedStyle:
		// Content starts on the line after the indicator, at the block's indentation.
		fl := n.Line + line
		indent := 0
		for l := n.Line + 1; l <= len(e.lines); l++ {
			s := e.lines[l-1]
			if strings.TrimSpace(s) == "" {
				continue
			}
			indent = len(s) - len(strings.TrimLeft(s, " "))
			break
		}
		if n.Style == yaml.FoldedStyle {
			// Folding joins lines with spaces; walk the source lines to find the column.
			fl, col = foldedPos(e.lines, n.Line+1, indent, col)
			return fl, col + 1
		}
		return fl, indent + col + 1
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		if line == 1 {
			return n.Line, n.Column + 1 + col
		}
	}
	if line == 1 {
		return n.Line, n.Column + col
	}
	// A plain multi-line scalar: continuation lines are indented; find the line's first non-space.
	fl := n.Line + line - 1
	if fl <= len(e.lines) {
		s := e.lines[fl-1]
		return fl, len(s) - len(strings.TrimLeft(s, " ")) + col + 1
	}
	return fl, col + 1
}

func foldedPos(lines []string, first, indent, col int) (int, int) {
	for l := first; l <= len(lines); l++ {
		s := lines[l-1]
		if len(s) < indent {
			break
		}
		text := []rune(s[indent:])
		if col <= len(text) {
			return l, indent + col
		}
		col -= len(text) + 1
	}
	return first, indent
}

// Program is a compiled expression. It knows the Go types of the item fields it was compiled against, so
// that evaluation decodes the item into the same types the checker saw.
type Program struct {
	expr   *Expr
	prog   *vm.Program
	static map[string]any          // vars, env, …
	types  map[string]reflect.Type // item fields
	reads  []string                // the item fields it refers to

	opts    []expr.Option // to compile the clauses of explanations
	once    sync.Once
	clauses []*clause
}

// Source returns the expression's text.
func (p *Program) Source() string { return p.expr.Source }

// Eval runs the program over the item (which may be nil) and extra names.
func (p *Program) Eval(in *Item, extra map[string]any) (any, error) {
	env, err := p.env(in, extra)
	if err != nil {
		return nil, err
	}
	out, err := expr.Run(p.prog, env)
	if err != nil {
		return nil, fmt.Errorf("evaluate %q: %w", yamlnode.OneLine(p.expr.Source), err)
	}
	return out, nil
}

// env is what the program sees: static names, the item's fields decoded into their compiled types, extra.
func (p *Program) env(in *Item, extra map[string]any) (map[string]any, error) {
	env := make(map[string]any, len(p.static)+len(p.types)+len(extra))
	for k, v := range p.static {
		env[k] = v
	}
	if in != nil {
		for name, t := range p.types {
			raw, ok := in.fields[name]
			if !ok {
				env[name] = reflect.Zero(t).Interface()
				continue
			}
			v := reflect.New(t)
			if err := json.Unmarshal(raw, v.Interface()); err != nil {
				return nil, fmt.Errorf("field %s: %w", name, err)
			}
			env[name] = v.Elem().Interface()
		}
	}
	for k, v := range extra {
		env[k] = v
	}
	return env, nil
}

// missing lists the item fields the program refers to that the item does not have (yet).
func (p *Program) Missing(in *Item) []string {
	var out []string
	for _, f := range p.reads {
		if !in.Has(f) {
			out = append(out, f)
		}
	}
	return out
}

// Bool runs a boolean program.
func (p *Program) Bool(in *Item, extra map[string]any) (bool, error) {
	v, err := p.Eval(in, extra)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("evaluate %q: got %T, want bool", yamlnode.OneLine(p.expr.Source), v)
	}
	return b, nil
}

// Compiler compiles the expressions of one point of a pipeline against what they can see there. The engine
// makes one per step; a step reaches its own through Build.Compile.
type Compiler struct {
	File   string
	Lines  []string       // the file's lines, for expressions decoded from a `with:` (which have none)
	Static map[string]any // vars (top level and under vars), env
	Fields map[string]any // item field samples available here
	Now    func() time.Time
	Uses   func(field string) // told of every item field a compiled expression refers to
}

// Compile compiles e; asBool requires a bool result. Errors are Diagnostics at e's place in the file.
func (x *Compiler) Compile(e *Expr, extra map[string]any, asBool bool) (*Program, error) {
	if e.IsZero() {
		return nil, x.diag(e, 1, 0, "empty expression")
	}
	check := make(map[string]any, len(x.Static)+len(x.Fields)+len(extra))
	for k, v := range x.Static {
		check[k] = v
	}
	types := make(map[string]reflect.Type, len(x.Fields))
	for k, v := range x.Fields {
		check[k] = v
		types[k] = reflect.TypeOf(v)
	}
	for k, v := range extra {
		check[k] = v
	}
	opts := []expr.Option{expr.Env(check), expr.DisableBuiltin("now")}
	opts = append(opts, helpers(x.Now)...)
	base := opts[:len(opts):len(opts)] // without AsBool: the operands of a clause are not booleans
	if asBool {
		opts = append(opts, expr.AsBool())
	}
	prog, err := expr.Compile(e.Source, opts...)
	if err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			return nil, x.diag(e, fe.Line, fe.Column, "expression: %s", fe.Message)
		}
		return nil, x.diag(e, 1, 0, "expression: %v", err)
	}
	pr := &Program{expr: e, prog: prog, static: x.Static, types: types}
	root := prog.Node()
	ast.Walk(&root, identVisitor(func(name string) {
		if _, ok := x.Fields[name]; ok {
			if !slices.Contains(pr.reads, name) {
				pr.reads = append(pr.reads, name)
			}
			if x.Uses != nil {
				x.Uses(name)
			}
		}
	}))
	if asBool {
		pr.opts = base
	}
	return pr, nil
}

// identVisitor reports every identifier an expression refers to.
type identVisitor func(name string)

func (f identVisitor) Visit(n *ast.Node) {
	if id, ok := (*n).(*ast.IdentifierNode); ok {
		f(id.Value)
	}
}

func (x *Compiler) diag(e *Expr, line, col int, format string, args ...any) Diagnostic {
	d := Diagnostic{File: x.File, Msg: fmt.Sprintf(format, args...)}
	if e.file != "" {
		d.File = e.file
	}
	if e.node != nil {
		if e.lines == nil {
			// Decoded by a step from its `with:` node: place it with the lines of the pipeline file.
			c := *e
			c.lines = x.Lines
			e = &c
		}
		d.Line, d.Col = e.posOf(line, col)
	}
	return d
}
