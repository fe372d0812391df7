package step

import (
	"bytes"
	"errors"
	"io"
	"strings"

	"gopkg.in/yaml.v3"
)

// ParseYAML parses src, a file that holds one YAML document, as pipeline files are parsed: a syntax
// error at its line and column, an empty file or a second document refused, and the lines kept in ds so
// that every diagnostic of the file prints with its snippet. It returns the document's root node, or nil
// after adding the problem to ds. Exec plugin manifests are read with it.
func ParseYAML(file string, src []byte, ds *Diagnostics) *yaml.Node {
	ds.SetSource(file, src)
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		line, col, msg := yamlErrorPos(src, err)
		ds.Addf(file, line, col, "invalid YAML: %s", msg)
		return nil
	}
	if len(doc.Content) == 0 {
		ds.Addf(file, 1, 1, "the file is empty")
		return nil
	}
	if line, ok := secondDocument(src); ok {
		// yaml.Unmarshal reads the first document only: whatever follows `---` would be ignored silently.
		ds.Addf(file, line, 1, "a second YAML document starts here; the file holds one (remove the `---` and what follows, or merge them)")
		return nil
	}
	return doc.Content[0]
}

// lastTextLine is the last line of lines with something on it (1-based), for errors at the end of input.
func lastTextLine(lines []string) int {
	for l := len(lines); l >= 1; l-- {
		if strings.TrimSpace(lines[l-1]) != "" {
			return l
		}
	}
	return 1
}

// secondDocument reports the line of a second YAML document in src, if there is one.
func secondDocument(src []byte) (int, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var first, second yaml.Node
	if dec.Decode(&first) != nil {
		return 0, false
	}
	if err := dec.Decode(&second); err != nil {
		if errors.Is(err, io.EOF) {
			return 0, false
		}
		line, _ := splitYAMLLine(err.Error())
		return max(line, 1), true
	}
	line := second.Line
	if len(second.Content) > 0 {
		line = second.Content[0].Line
	}
	// The node's line is that of its first token; the `---` marker, if on its own line, is just above.
	for l := line - 1; l >= 1; l-- {
		if text := lineOf(src, l); strings.HasPrefix(text, "---") {
			return l, true
		}
	}
	return max(line, 1), true
}

func lineOf(src []byte, n int) string {
	lines := strings.SplitN(string(src), "\n", n+1)
	if n-1 < len(lines) {
		return lines[n-1]
	}
	return ""
}
