package plugins

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"meetpipe/runner"
	"meetpipe/runner/step"

	"gopkg.in/yaml.v3"
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
	ds := &step.Diagnostics{}
	p := &parser{Decoder: runner.NewDecoder(path, ds), file: path, ds: ds}
	m := p.manifest(src)
	m.Dir, m.File = dir, path
	if identRE.MatchString(m.Name) && m.Name != filepath.Base(dir) {
		p.Errorf(p.nameNode, "plugin name %q must be the name of its folder %q", m.Name, filepath.Base(dir))
	}
	if err := ds.Err(); err != nil {
		return nil, err
	}
	return m, nil
}

// parser turns the manifest's YAML nodes into a Manifest with the pipeline files' decoder: every problem
// recorded with its position, unknown keys with a did-you-mean.
type parser struct {
	*runner.Decoder
	file     string
	ds       *step.Diagnostics
	nameNode *yaml.Node
}

// The keys of a manifest, of a write and of a setting.
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
	p.Fields(root, "manifest", manifestKeys, func(key string, v *yaml.Node) {
		seen[key] = true
		switch key {
		case "name":
			p.nameNode = v
			m.Name = p.String(v, "name")
			if m.Name != "" && !identRE.MatchString(m.Name) {
				p.Errorf(v, "name %q: use lower-case letters, digits and _ (a step name)", m.Name)
			}
		case "version":
			m.Version = p.String(v, "version")
		case "summary":
			m.Summary = p.String(v, "summary")
		case "command":
			m.Command = p.Strings(v, "command")
			if v.Kind != yaml.SequenceNode {
				break
			}
			if len(m.Command) == 0 || m.Command[0] == "" {
				p.Errorf(v, "command: want the program and its arguments, e.g. [\"sh\", \"run.sh\"]")
			} else if filepath.IsAbs(m.Command[0]) {
				p.Errorf(v, "command: %q must be relative to the plugin folder or a name found in PATH", m.Command[0])
			}
		case "check":
			m.Check = p.Strings(v, "check")
			if v.Kind == yaml.SequenceNode && (len(m.Check) == 0 || m.Check[0] == "" || filepath.IsAbs(m.Check[0])) {
				p.Errorf(v, "check: want a program relative to the plugin folder or found in PATH, and its arguments")
			}
		case "reads":
			m.Reads = p.Strings(v, "reads")
			for i, r := range m.Reads {
				if !fieldRE.MatchString(r) {
					p.Errorf(v.Content[i], "reads: %q is not a field name", r)
				}
			}
		case "writes":
			m.Writes = p.writes(v)
		case "side_effects":
			m.SideEffects = p.Bool(v, "side_effects")
		case "settings":
			m.Settings = p.settings(v)
		}
	})
	if root.Kind == yaml.MappingNode {
		for _, req := range []string{"name", "version", "command"} {
			if !seen[req] {
				p.Errorf(root, "missing %q", req)
			}
		}
	}
	return m
}

func (p *parser) writes(n *yaml.Node) []Write {
	if n.Kind != yaml.SequenceNode {
		p.Errorf(n, "writes: want a list of {name, type, doc}")
		return nil
	}
	var out []Write
	names := map[string]bool{}
	for _, e := range n.Content {
		var w Write
		var nameNode *yaml.Node
		p.Fields(e, "write", writeKeys, func(key string, v *yaml.Node) {
			switch key {
			case "name":
				nameNode = v
				w.Name = p.String(v, "name")
			case "type":
				w.Type = p.OneOf(v, "type", writeTypes)
			case "doc":
				w.Doc = p.String(v, "doc")
			}
		})
		if e.Kind != yaml.MappingNode {
			continue
		}
		switch {
		case nameNode == nil:
			p.Errorf(e, "a write needs a name")
		case !fieldRE.MatchString(w.Name):
			p.Errorf(nameNode, "%q is not a field name", w.Name)
		case names[w.Name]:
			p.Errorf(nameNode, "field %q written twice", w.Name)
		}
		if w.Type == "" {
			p.Errorf(e, "write %q needs a type (%s)", w.Name, strings.Join(writeTypes, ", "))
		}
		names[w.Name] = true
		out = append(out, w)
	}
	return out
}

func (p *parser) settings(n *yaml.Node) []step.Setting {
	if n.Kind != yaml.SequenceNode {
		p.Errorf(n, "settings: want a list of {name, type, default, doc, secret, required, enum}")
		return nil
	}
	var out []step.Setting
	names := map[string]bool{}
	for _, e := range n.Content {
		var s step.Setting
		var nameNode, defNode, enumNode *yaml.Node
		p.Fields(e, "setting", settingKeys, func(key string, v *yaml.Node) {
			switch key {
			case "name":
				nameNode = v
				s.Name = p.String(v, "name")
			case "type":
				s.Type = p.OneOf(v, "type", settingTypes)
			case "items":
				s.Items = p.OneOf(v, "items", elemTypes)
			case "default":
				defNode = v
			case "doc":
				s.Doc = p.String(v, "doc")
			case "details":
				s.Details = p.String(v, "details")
			case "secret":
				s.Secret = p.Bool(v, "secret")
			case "required":
				s.Required = p.Bool(v, "required")
			case "enum":
				enumNode = v
				s.Enum = p.Strings(v, "enum")
			case "min": // bounds of an int, number or duration, checked where the setting is used
				s.Min = p.String(v, "min")
			case "max":
				s.Max = p.String(v, "max")
			}
		})
		if e.Kind != yaml.MappingNode {
			continue
		}
		switch {
		case nameNode == nil:
			p.Errorf(e, "a setting needs a name")
		case !identRE.MatchString(s.Name):
			p.Errorf(nameNode, "setting %q: use lower-case letters, digits and _", s.Name)
		case names[s.Name]:
			p.Errorf(nameNode, "setting %q declared twice", s.Name)
		}
		names[s.Name] = true
		if s.Type == "" {
			p.Errorf(e, "setting %q needs a type (%s)", s.Name, strings.Join(settingTypes, ", "))
		}
		if s.Items != "" && s.Type != "list" && s.Type != "map" {
			p.Errorf(e, "setting %q: items applies to a list or a map", s.Name)
		}
		if (s.Type == "list" || s.Type == "map") && s.Items == "" {
			s.Items = "string"
		}
		if enumNode != nil && s.Type != "string" {
			p.Errorf(enumNode, "setting %q: enum applies to a string", s.Name)
		}
		if defNode != nil {
			switch {
			case s.Secret:
				p.Errorf(defNode, "setting %q is secret and cannot have a default: pass it in the pipeline, e.g. ${ENV_VAR}", s.Name)
			case s.Required:
				p.Errorf(defNode, "setting %q is required, so a default would never be used", s.Name)
			default:
				s.Default = p.value(defNode, s)
			}
		}
		out = append(out, s)
	}
	return out
}

// value checks a default as a value of its setting written in a pipeline's `with:` is checked, and
// returns it as DecodeSettings would decode it.
func (p *parser) value(n *yaml.Node, s step.Setting) any {
	if !p.Value(n, s.Name+" default", s) {
		return nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		p.Errorf(n, "%s default: %v", s.Name, err)
		return nil
	}
	return v
}

// sample returns the Go value a written field of type typ decodes into.
func sample(typ string) any { return samples[typ] }
