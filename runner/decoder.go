package runner

import (
	"meetpipe/runner/step"

	"gopkg.in/yaml.v3"
)

// Decoder reads the nodes of a YAML file as pipeline files are read: unknown keys of a mapping with a
// did-you-mean, duplicate keys, values of the wrong kind or type, each problem a diagnostic at its line
// and column, and decoding goes on after one. Exec plugin manifests are read with it.
type Decoder struct{ d decoder }

// NewDecoder records the problems of file in ds; read the file with ParseYAML into the same ds, and they
// print with its lines.
func NewDecoder(file string, ds *step.Diagnostics) *Decoder {
	return &Decoder{d: decoder{file: file, lines: ds.Lines(file), ds: ds}}
}

// Errorf records a problem at n (nil: the file).
func (x *Decoder) Errorf(n *yaml.Node, format string, args ...any) { x.d.errorf(n, format, args...) }

// Fields calls f for each key of the mapping n, in order, that is one of known; what names n in messages.
func (x *Decoder) Fields(n *yaml.Node, what string, known []string, f func(key string, v *yaml.Node)) {
	x.d.fields(n, what, known, func(key string, _, v *yaml.Node) { f(key, v) })
}

// String decodes a string (any scalar but null).
func (x *Decoder) String(n *yaml.Node, what string) string { return x.d.str(n, what) }

// Bool decodes true or false.
func (x *Decoder) Bool(n *yaml.Node, what string) bool { return x.d.bool(n, what) }

// Strings decodes a list of strings.
func (x *Decoder) Strings(n *yaml.Node, what string) []string { return x.d.strs(n, what) }

// OneOf decodes a string that must be one of known.
func (x *Decoder) OneOf(n *yaml.Node, what string, known []string) string {
	return x.d.oneOf(n, what, known)
}

// Value checks n as a value of the setting s, as a `with:` block's value is checked (type, list items,
// range, enum); what names it in messages. It reports whether n is good.
func (x *Decoder) Value(n *yaml.Node, what string, s step.Setting) bool {
	n0 := len(x.d.ds.List)
	s.Name = what
	s.Check(n, x.d.errorf)
	return len(x.d.ds.List) == n0
}
