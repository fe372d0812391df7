package plugins

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"meetpipe/runner/step"
)

// ManifestFile is the name of the file that makes a folder a plugin.
const ManifestFile = "manifest.yaml"

// Manifest describes an exec plugin: what it is called, how to start it, the item fields it reads and
// writes and the settings of its `with:` block. It is the plugin's runner.Spec, written as data.
type Manifest struct {
	Name    string
	Version string
	Summary string
	// Command is the argv to start. A first element containing a slash is relative to Dir; a bare name
	// ("sh", "python3") is looked up in PATH.
	Command []string
	// Check is an optional argv, resolved like Command, that `runner doctor` runs to check the plugin's
	// settings and services (see CheckInput).
	Check       []string
	Reads       []string
	Writes      []Write
	SideEffects bool
	Settings    []step.Setting
	// Dir is the plugin's folder (absolute); the command runs there.
	Dir string
	// File is the manifest's path as given to ReadManifest, for messages.
	File string
}

// Write declares one item field a plugin writes.
type Write struct {
	Name string
	Type string // string, int, number, bool, list, object
	Doc  string
}

var (
	identRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	fieldRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

	// samples are the Go values a written field of each type decodes into, for expressions and filters.
	samples = map[string]any{
		"string": "",
		"int":    0,
		"number": 0.0,
		"bool":   false,
		"list":   []any{},
		"object": map[string]any{},
	}
	writeTypes   = []string{"string", "int", "number", "bool", "list", "object"}
	settingTypes = []string{"string", "int", "number", "bool", "duration", "list", "map"}
	elemTypes    = []string{"string", "int", "number", "bool"}
)

// ReadManifest reads and checks a manifest. Problems are reported together as runner.Diagnostics with
// file:line:col positions. The plugin's name must be its folder's name.
func ReadManifest(path string) (*Manifest, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read plugin manifest: %w", err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("plugin folder of %s: %w", path, err)
	}
	p := &parser{file: path, ds: &step.Diagnostics{}}
	m := p.manifest(src)
	m.Dir, m.File = dir, path
	if identRE.MatchString(m.Name) && m.Name != filepath.Base(dir) {
		p.errorf(p.nameNode, "plugin name %q must be the name of its folder %q", m.Name, filepath.Base(dir))
	}
	if err := p.ds.Err(); err != nil {
		return nil, err
	}
	return m, nil
}

// parser turns the manifest's YAML nodes into a Manifest, recording every problem with its position.
type parser struct {
	file     string
	ds       *step.Diagnostics
	nameNode *yaml.Node
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	line, col := 0, 0
	if n != nil {
		line, col = n.Line, n.Column
	}
	p.ds.Addf(p.file, line, col, format, args...)
}

// manifestKeys are the keys of a manifest, for did-you-mean.
var (
	manifestKeys = []string{"name", "version", "summary", "command", "check", "reads", "writes", "side_effects", "settings"}
	writeKeys    = []string{"name", "type", "doc"}
	settingKeys  = []string{"name", "type", "items", "default", "doc", "details", "secret", "required", "enum", "min", "max"}
)

func (p *parser) manifest(src []byte) *Manifest {
	m := &Manifest{}
	// The pipeline's reader: errors at line and column, snippets, one document.
	root := step.ParseYAML(p.file, src, p.ds)
	if root == nil {
		return m
	}
	seen := map[string]bool{}
	p.mapping(root, "manifest", func(k, v *yaml.Node) {
		seen[k.Value] = true
		switch k.Value {
		case "name":
			p.nameNode = v
			m.Name = p.str(v, "name")
			if m.Name != "" && !identRE.MatchString(m.Name) {
				p.errorf(v, "name %q: use lower-case letters, digits and _ (a step name)", m.Name)
			}
		case "version":
			m.Version = p.str(v, "version")
		case "summary":
			m.Summary = p.str(v, "summary")
		case "command":
			m.Command = p.strs(v, "command")
			if v.Kind != yaml.SequenceNode {
				break
			}
			if len(m.Command) == 0 || m.Command[0] == "" {
				p.errorf(v, "command: want the program and its arguments, e.g. [\"sh\", \"run.sh\"]")
			} else if filepath.IsAbs(m.Command[0]) {
				p.errorf(v, "command: %q must be relative to the plugin folder or a name found in PATH", m.Command[0])
			}
		case "check":
			m.Check = p.strs(v, "check")
			if v.Kind == yaml.SequenceNode && (len(m.Check) == 0 || m.Check[0] == "" || filepath.IsAbs(m.Check[0])) {
				p.errorf(v, "check: want a program relative to the plugin folder or found in PATH, and its arguments")
			}
		case "reads":
			m.Reads = p.strs(v, "reads")
			for i, r := range m.Reads {
				if !fieldRE.MatchString(r) {
					p.errorf(v.Content[i], "reads: %q is not a field name", r)
				}
			}
		case "writes":
			m.Writes = p.writes(v)
		case "side_effects":
			m.SideEffects = p.boolean(v, "side_effects")
		case "settings":
			m.Settings = p.settings(v)
		default:
			p.errorf(k, "unknown key %q%s", k.Value, step.Suggest(k.Value, manifestKeys))
		}
	})
	if root.Kind == yaml.MappingNode {
		for _, req := range []string{"name", "version", "command"} {
			if !seen[req] {
				p.errorf(root, "missing %q", req)
			}
		}
	}
	return m
}

// mapping calls f for each key and value of n, rejecting non-mappings and duplicate keys.
func (p *parser) mapping(n *yaml.Node, what string, f func(k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s: want a mapping", what)
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			p.errorf(k, "%s: %q given twice", what, k.Value)
			continue
		}
		seen[k.Value] = true
		f(k, v)
	}
}

func (p *parser) str(n *yaml.Node, what string) string {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		p.errorf(n, "%s: want a string", what)
		return ""
	}
	return n.Value
}

func (p *parser) boolean(n *yaml.Node, what string) bool {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		p.errorf(n, "%s: want true or false", what)
		return false
	}
	b, _ := strconv.ParseBool(n.Value)
	return b
}

func (p *parser) strs(n *yaml.Node, what string) []string {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "%s: want a list of strings", what)
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for _, e := range n.Content {
		out = append(out, p.str(e, what+" item"))
	}
	return out
}

func (p *parser) writes(n *yaml.Node) []Write {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "writes: want a list of {name, type, doc}")
		return nil
	}
	var out []Write
	names := map[string]bool{}
	for _, e := range n.Content {
		var w Write
		var nameNode *yaml.Node
		p.mapping(e, "writes item", func(k, v *yaml.Node) {
			switch k.Value {
			case "name":
				nameNode = v
				w.Name = p.str(v, "name")
			case "type":
				w.Type = p.str(v, "type")
				if w.Type != "" && !slices.Contains(writeTypes, w.Type) {
					p.errorf(v, "type %q: want one of %s%s", w.Type, strings.Join(writeTypes, ", "), didYouMean(w.Type, writeTypes))
				}
			case "doc":
				w.Doc = p.str(v, "doc")
			default:
				p.errorf(k, "unknown key %q in a write%s", k.Value, step.Suggest(k.Value, writeKeys))
			}
		})
		if e.Kind != yaml.MappingNode {
			continue
		}
		switch {
		case nameNode == nil:
			p.errorf(e, "a write needs a name")
		case !fieldRE.MatchString(w.Name):
			p.errorf(nameNode, "%q is not a field name", w.Name)
		case names[w.Name]:
			p.errorf(nameNode, "field %q written twice", w.Name)
		}
		if w.Type == "" {
			p.errorf(e, "write %q needs a type (%s)", w.Name, strings.Join(writeTypes, ", "))
		}
		names[w.Name] = true
		out = append(out, w)
	}
	return out
}

func (p *parser) settings(n *yaml.Node) []step.Setting {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "settings: want a list of {name, type, default, doc, secret, required, enum}")
		return nil
	}
	var out []step.Setting
	names := map[string]bool{}
	for _, e := range n.Content {
		var s step.Setting
		var nameNode, defNode, enumNode *yaml.Node
		p.mapping(e, "settings item", func(k, v *yaml.Node) {
			switch k.Value {
			case "name":
				nameNode = v
				s.Name = p.str(v, "name")
			case "type":
				s.Type = p.str(v, "type")
				if s.Type != "" && !slices.Contains(settingTypes, s.Type) {
					p.errorf(v, "type %q: want one of %s%s", s.Type, strings.Join(settingTypes, ", "), didYouMean(s.Type, settingTypes))
				}
			case "items":
				s.Items = p.str(v, "items")
				if s.Items != "" && !slices.Contains(elemTypes, s.Items) {
					p.errorf(v, "items %q: want one of %s%s", s.Items, strings.Join(elemTypes, ", "), didYouMean(s.Items, elemTypes))
				}
			case "default":
				defNode = v
			case "doc":
				s.Doc = p.str(v, "doc")
			case "details":
				s.Details = p.str(v, "details")
			case "secret":
				s.Secret = p.boolean(v, "secret")
			case "required":
				s.Required = p.boolean(v, "required")
			case "enum":
				enumNode = v
				s.Enum = p.strs(v, "enum")
			case "min", "max": // bounds of an int, number or duration, checked where the setting is used
				b := p.str(v, k.Value)
				if k.Value == "min" {
					s.Min = b
				} else {
					s.Max = b
				}
			default:
				p.errorf(k, "unknown key %q in a setting%s", k.Value, step.Suggest(k.Value, settingKeys))
			}
		})
		if e.Kind != yaml.MappingNode {
			continue
		}
		switch {
		case nameNode == nil:
			p.errorf(e, "a setting needs a name")
		case !identRE.MatchString(s.Name):
			p.errorf(nameNode, "setting %q: use lower-case letters, digits and _", s.Name)
		case names[s.Name]:
			p.errorf(nameNode, "setting %q declared twice", s.Name)
		}
		names[s.Name] = true
		if s.Type == "" {
			p.errorf(e, "setting %q needs a type (%s)", s.Name, strings.Join(settingTypes, ", "))
		}
		if s.Items != "" && s.Type != "list" && s.Type != "map" {
			p.errorf(e, "setting %q: items applies to a list or a map", s.Name)
		}
		if (s.Type == "list" || s.Type == "map") && s.Items == "" {
			s.Items = "string"
		}
		if enumNode != nil && s.Type != "string" {
			p.errorf(enumNode, "setting %q: enum applies to a string", s.Name)
		}
		if defNode != nil {
			switch {
			case s.Secret:
				p.errorf(defNode, "setting %q is secret and cannot have a default: pass it in the pipeline, e.g. ${ENV_VAR}", s.Name)
			case s.Required:
				p.errorf(defNode, "setting %q is required, so a default would never be used", s.Name)
			default:
				s.Default = p.value(defNode, s)
			}
		}
		out = append(out, s)
	}
	return out
}

// value checks a default against its setting's type and returns it as DecodeSettings would decode it.
func (p *parser) value(n *yaml.Node, s step.Setting) any {
	if !p.fits(n, s.Type, s.Items, s.Name+" default") {
		return nil
	}
	if len(s.Enum) > 0 && !slices.Contains(s.Enum, n.Value) {
		p.errorf(n, "%s default: %q is not one of %s", s.Name, n.Value, strings.Join(s.Enum, ", "))
		return nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		p.errorf(n, "%s default: %v", s.Name, err)
		return nil
	}
	return v
}

func (p *parser) fits(n *yaml.Node, typ, items, what string) bool {
	tag := n.ShortTag()
	ok := n.Kind == yaml.ScalarNode
	switch typ {
	case "string":
		ok = ok && tag != "!!null"
	case "int":
		ok = ok && tag == "!!int"
	case "number":
		ok = ok && (tag == "!!int" || tag == "!!float")
	case "bool":
		ok = ok && tag == "!!bool"
	case "duration":
		if ok {
			if _, err := step.ParseDuration(n.Value); err != nil {
				p.errorf(n, "%s: %q is not a duration (use 300ms, 30s, 5m, 2h or 7d)", what, n.Value)
				return false
			}
		}
	case "list":
		if n.Kind == yaml.SequenceNode {
			good := true
			for _, e := range n.Content {
				good = p.fits(e, items, "", what+" item") && good
			}
			return good
		}
		ok = false
	case "map":
		if n.Kind == yaml.MappingNode {
			good := true
			for i := 1; i < len(n.Content); i += 2 {
				good = p.fits(n.Content[i], items, "", what+"."+n.Content[i-1].Value) && good
			}
			return good
		}
		ok = false
	}
	if !ok {
		p.errorf(n, "%s: want a value of type %s", what, typ)
	}
	return ok
}

// didYouMean is Suggest without the list of known names (the message has them already).
func didYouMean(got string, known []string) string {
	if s := step.Suggest(got, known); strings.HasPrefix(s, "; did you mean") {
		return s
	}
	return ""
}

// sample returns the Go value a written field of type typ decodes into.
func sample(typ string) any { return samples[typ] }
