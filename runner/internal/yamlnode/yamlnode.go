// Package yamlnode has the small helpers over yaml.v3 nodes that the step API and the engine share.
package yamlnode

import (
	"fmt"
	"strconv"
	"strings"

	"meetpipe/runner/textdist"

	"gopkg.in/yaml.v3"
)

// Describe names a node for an error message: "a mapping", "the integer 3", a quoted string.
func Describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.ShortTag() {
	case "!!int":
		return "the integer " + n.Value
	case "!!float":
		return "the number " + n.Value
	case "!!bool":
		return "the boolean " + n.Value
	}
	return strconv.Quote(n.Value)
}

// Suggest returns `; did you mean "x"?` for a near miss, else a list of the known names.
func Suggest(got string, known []string) string {
	if hint := DidYouMean(got, known); hint != "" {
		return hint
	}
	if len(known) == 0 {
		return ""
	}
	return "; known: " + strings.Join(known, ", ")
}

// DidYouMean returns `; did you mean "x"?` for a near miss of one of known, else "".
func DidYouMean(got string, known []string) string {
	best, bd := "", 3
	for _, k := range known {
		if d := textdist.Distance(got, k); d < bd {
			best, bd = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// MapKey returns the key node of key in mapping n, or nil.
func MapKey(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i]
		}
	}
	return nil
}

// MapValue returns the value node of key in mapping n, or nil.
func MapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// OneLine squeezes an expression onto one line of at most 80 characters, for messages.
func OneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}
