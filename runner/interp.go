package runner

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"

	"meetpipe/runner/step"

	"gopkg.in/yaml.v3"
)

// ReadDotEnv parses a .env file (KEY=VALUE lines, # comments, optional `export`, optional quotes). A missing
// file is not an error: the Python pipeline meetpipe replaces kept its settings there, and so does a deploy,
// but production may use the environment only.
func ReadDotEnv(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read env file: %w", err)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			// No snippet: the line may be a secret pasted without its name.
			return nil, step.Diagnostic{File: path, Line: n, Col: 1, Msg: "want KEY=VALUE"}
		}
		v = strings.TrimSpace(v)
		switch {
		case len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\''):
			v = v[1 : len(v)-1]
		case strings.HasPrefix(v, "#"): // KEY=   # comment: empty
			v = ""
		default:
			if i := strings.Index(v, " #"); i >= 0 {
				v = strings.TrimSpace(v[:i])
			}
		}
		out[k] = v
	}
	return out, sc.Err()
}

// Environ returns the process environment laid over the .env values: a variable set in the environment
// wins, as with docker and systemd.
func Environ(dotenv map[string]string) map[string]string {
	env := make(map[string]string, len(dotenv)+64)
	for k, v := range dotenv {
		env[k] = v
	}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

// interpolate replaces ${VAR} and ${VAR:-default} in every scalar of the tree (not in keys); $${ is a
// literal ${. Working on nodes, not on the text, keeps every position in the file true. The text of each
// interpolated scalar is kept in raw, so that a problem with its value can name its variable.
func interpolate(n *yaml.Node, env map[string]string, file string, ds *step.Diagnostics, raw map[*yaml.Node]string) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			interpolate(c, env, file, ds, raw)
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			interpolate(n.Content[i], env, file, ds, raw)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return
		}
		if raw != nil {
			raw[n] = n.Value
		}
		v, err := expand(n.Value, env)
		if err != nil {
			line, col := n.Line, n.Column
			if n.Style == 0 && !strings.Contains(n.Value, "\n") {
				col += len([]rune(n.Value[:err.at]))
			} else if n.Style == yaml.DoubleQuotedStyle || n.Style == yaml.SingleQuotedStyle {
				col += 1 + len([]rune(n.Value[:err.at]))
			}
			ds.Addf(file, line, col, "%s", err.msg)
			return
		}
		n.Value = v
		if n.Style == 0 {
			n.Tag = "" // let the value resolve again: `concurrency: ${N}` is an int once N is known
		}
	}
}

type expandError struct {
	at  int
	msg string
}

func expand(s string, env map[string]string) (string, *expandError) {
	var b strings.Builder
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$${") {
			b.WriteString("${")
			i += 3
			continue
		}
		if !strings.HasPrefix(s[i:], "${") {
			b.WriteByte(s[i])
			i++
			continue
		}
		end := closingBrace(s[i+2:])
		if end < 0 {
			return "", &expandError{i, "unterminated ${ in value"}
		}
		ref := s[i+2 : i+2+end]
		name, def, op := splitRef(ref)
		if !validVarName(name) {
			return "", &expandError{i, fmt.Sprintf("invalid variable reference ${%s}", ref)}
		}
		v, ok := env[name]
		switch {
		case ok && (v != "" || op != ":-"):
			b.WriteString(v)
		case op != "":
			d, err := expand(def, env) // a default may itself refer to variables: ${A:-${B}}
			if err != nil {
				err.at += i + 2 + len(name) + len(op)
				return "", err
			}
			b.WriteString(d)
		default:
			return "", &expandError{i, fmt.Sprintf("environment variable %s is not set (set it, add it to .env, or write ${%s:-default})", name, name)}
		}
		end += 2
		i += end + 1
	}
	return b.String(), nil
}

// closingBrace finds the } that closes a reference, allowing references nested in its default.
func closingBrace(s string) int {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch {
		case strings.HasPrefix(s[i:], "${"):
			depth++
			i++
		case s[i] == '}':
			if depth == 0 {
				return i
			}
			depth--
		}
	}
	return -1
}

// splitRef splits NAME:-default (default when unset or empty) and NAME-default (when unset).
func splitRef(ref string) (name, def, op string) {
	for i := 0; i < len(ref); i++ {
		if strings.HasPrefix(ref[i:], ":-") {
			return ref[:i], ref[i+2:], ":-"
		}
		if ref[i] == '-' {
			return ref[:i], ref[i+1:], "-"
		}
	}
	return ref, "", ""
}

// varRefs names the variables a text refers to (${NAME}, ${NAME:-…}, ${NAME-…}, nested included).
func varRefs(s string) []string {
	var out []string
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			return out
		}
		s = s[i+2:]
		j := strings.IndexFunc(s, func(r rune) bool {
			return !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
		})
		if j > 0 {
			out = append(out, s[:j])
		}
	}
}

func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9' {
			continue
		}
		return false
	}
	return true
}
