package step

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"meetpipe/runner/internal/yamlnode"

	"gopkg.in/yaml.v3"
)

var (
	durationType = reflect.TypeOf(time.Duration(0))
	exprType     = reflect.TypeOf(Expr{})
)

// settingsOf derives the documented settings of a configuration struct from its fields and tags, and their
// Details from the struct's SettingDetails method.
func settingsOf(t reflect.Type, def reflect.Value) []Setting {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
		if def.IsValid() && !def.IsNil() {
			def = def.Elem()
		} else {
			def = reflect.Value{}
		}
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var details map[string]string
	if d, ok := reflect.New(t).Interface().(settingDetailer); ok {
		details = maps.Clone(d.SettingDetails())
	}
	var out []Setting
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		s := Setting{Name: name, Doc: f.Tag.Get("doc"), Secret: f.Tag.Get("secret") == "true", Spaces: f.Tag.Get("spaces") == "allowed",
			Required: f.Tag.Get("required") == "true", Min: f.Tag.Get("min"), Max: f.Tag.Get("max"),
			NotMemo: f.Tag.Get("memo") == "-", RequiredIf: f.Tag.Get("required_if")}
		if e := f.Tag.Get("enum"); e != "" {
			s.Enum = strings.Split(e, ",")
		}
		var fv reflect.Value
		if def.IsValid() {
			fv = def.Field(i)
		}
		s.Type, s.Items, s.Fields = typeOf(f.Type)
		if fv.IsValid() && !fv.IsZero() && !s.Secret {
			s.Default = defaultOf(fv)
		}
		s.Details = details[name]
		delete(details, name)
		out = append(out, s)
	}
	for name := range details {
		// Text no one would see: a renamed or removed setting, a programming error like a duplicate step.
		panic(fmt.Sprintf("runner: %s.SettingDetails names %q, which is not a setting", t.Name(), name))
	}
	return out
}

// settingDetailer is implemented by a configuration struct whose settings need more than their
// one-sentence doc tag: it maps a setting's name to the longer text.
type settingDetailer interface{ SettingDetails() map[string]string }

func typeOf(t reflect.Type) (typ, items string, fields []Setting) {
	switch {
	case t == durationType:
		return "duration", "", nil
	case t == exprType:
		return "expr", "", nil
	}
	switch t.Kind() {
	case reflect.String:
		return "string", "", nil
	case reflect.Bool:
		return "bool", "", nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "int", "", nil
	case reflect.Float32, reflect.Float64:
		return "number", "", nil
	case reflect.Slice:
		it, _, f := typeOf(t.Elem())
		return "list", it, f
	case reflect.Map:
		it, _, f := typeOf(t.Elem())
		return "map", it, f
	case reflect.Struct:
		return "object", "", settingsOf(t, reflect.Value{})
	case reflect.Pointer:
		return typeOf(t.Elem())
	}
	return "any", "", nil
}

func defaultOf(v reflect.Value) any {
	switch {
	case v.Type() == durationType:
		return time.Duration(v.Int()).String()
	case v.Type() == exprType:
		return v.Interface().(Expr).Source
	}
	return v.Interface()
}

var errConfig = errors.New("invalid configuration")

// decodeWith checks the `with:` node against the settings (unknown keys, types, enums, required keys)
// and then decodes it into cfg. Every problem becomes a diagnostic with its position.
func decodeWith(with *yaml.Node, cfg any, settings []Setting, b *Build) error {
	n0 := 0
	if b.h.Diags != nil {
		n0 = len(b.h.Diags.List)
	}
	bad := false
	errorf := func(n *yaml.Node, format string, args ...any) {
		bad = true
		b.Errorf(n, format, args...)
	}
	if with != nil && !(with.Kind == yaml.ScalarNode && with.ShortTag() == "!!null") {
		checkNode(with, "with", "object", "", settings, errorf)
	}
	for _, s := range settings {
		if s.Required && yamlnode.MapValue(with, s.Name) == nil {
			// At the `with:` key (or the `uses:` line when there is none), naming the step.
			errorf(b.place(""), "step %s: missing required setting %q", b.StepID, s.Name)
		}
	}
	checkRequiredIf(with, settings, b, errorf)
	if bad || (b.h.Diags != nil && len(b.h.Diags.List) > n0) {
		return errConfig
	}
	if with == nil || with.ShortTag() == "!!null" {
		return nil
	}
	if err := with.Decode(cfg); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, m := range te.Errors {
				line, msg := splitYAMLLine(m)
				b.Errorf(valueAtLine(with, line), "%s", msg)
			}
			return errConfig
		}
		return b.Errorf(with, "%v", err)
	}
	return nil
}

// checkRequiredIf enforces the required_if rules of settings on with: a setting needed because of another
// one's value is reported where it is written empty, else at that other value (the operator's choice that
// needs it), else at the with: key.
func checkRequiredIf(with *yaml.Node, settings []Setting, b *Build, errorf func(*yaml.Node, string, ...any)) {
	for _, s := range settings {
		other, want, ok := strings.Cut(s.RequiredIf, "=")
		if !ok {
			continue
		}
		got, at := "", yamlnode.MapValue(with, other)
		if at != nil && at.Kind == yaml.ScalarNode {
			got = at.Value
		} else if i := slices.IndexFunc(settings, func(o Setting) bool { return o.Name == other }); i >= 0 && at == nil && settings[i].Default != nil {
			got = fmt.Sprint(settings[i].Default)
		}
		if got != want {
			continue
		}
		v := yamlnode.MapValue(with, s.Name)
		switch {
		case v != nil && !(v.Kind == yaml.ScalarNode && strings.TrimSpace(v.Value) == ""):
			continue
		case v == nil && s.Default != nil && strings.TrimSpace(fmt.Sprint(s.Default)) != "":
			continue // its default does
		case v != nil:
			at = v // written but empty (an unset variable, say): there
		case at == nil:
			at = b.place("")
		}
		errorf(at, "%s: required when %s is %s", s.Name, other, want)
	}
}

// valueAtLine is the last scalar of n on line (the value of a `key: value` there), for the decoder's errors,
// which name only a line; nil when line is 0 (the step's place is used).
func valueAtLine(n *yaml.Node, line int) *yaml.Node {
	if line == 0 || n == nil {
		return nil
	}
	var found *yaml.Node
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode && n.Line == line {
			found = n
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	if found == nil {
		return &yaml.Node{Line: line}
	}
	return found
}

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

func splitYAMLLine(m string) (int, string) {
	if g := yamlLineRE.FindStringSubmatch(m); g != nil {
		n, _ := strconv.Atoi(g[1])
		return n, g[2]
	}
	return 0, m
}

// Check validates n as a value of the setting: its range, its type and its enum, each problem through errorf.
func (s Setting) Check(n *yaml.Node, errorf func(*yaml.Node, string, ...any)) {
	checkRange(n, s, errorf) // first: checkNode rewrites a "1d" for the YAML decoder
	checkNode(n, s.Name, s.Type, s.Items, s.Fields, errorf)
	if len(s.Enum) > 0 && n.Kind == yaml.ScalarNode && !slices.Contains(s.Enum, n.Value) {
		errorf(n, "%s: %q is not one of %s", s.Name, n.Value, strings.Join(s.Enum, ", "))
	}
}

// checkNode validates n against a setting type, recursing into objects and lists.
func checkNode(n *yaml.Node, name, typ, items string, fields []Setting, errorf func(*yaml.Node, string, ...any)) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return
	}
	tag := n.ShortTag()
	switch typ {
	case "object":
		if n.Kind != yaml.MappingNode {
			errorf(n, "%s: want a mapping, got %s", name, yamlnode.Describe(n))
			return
		}
		known := make([]string, 0, len(fields))
		for _, f := range fields {
			known = append(known, f.Name)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			idx := slices.IndexFunc(fields, func(f Setting) bool { return f.Name == k.Value })
			if idx < 0 {
				errorf(k, "unknown setting %q%s", k.Value, yamlnode.Suggest(k.Value, known))
				continue
			}
			fields[idx].Check(v, errorf)
		}
	case "list":
		if n.Kind != yaml.SequenceNode {
			errorf(n, "%s: want a list, got %s", name, yamlnode.Describe(n))
			return
		}
		for _, e := range n.Content {
			checkNode(e, name+" item", items, "", fields, errorf)
		}
	case "map":
		if n.Kind != yaml.MappingNode {
			errorf(n, "%s: want a mapping, got %s", name, yamlnode.Describe(n))
			return
		}
		for i := 1; i < len(n.Content); i += 2 {
			checkNode(n.Content[i], name+"."+n.Content[i-1].Value, items, "", fields, errorf)
		}
	case "string", "expr":
		if n.Kind != yaml.ScalarNode {
			errorf(n, "%s: want a string, got %s", name, yamlnode.Describe(n))
		}
	case "int":
		if n.Kind != yaml.ScalarNode || tag != "!!int" {
			errorf(n, "%s: want an integer, got %s", name, yamlnode.Describe(n))
		}
	case "number":
		if n.Kind != yaml.ScalarNode || (tag != "!!int" && tag != "!!float") {
			errorf(n, "%s: want a number, got %s", name, yamlnode.Describe(n))
		}
	case "bool":
		if n.Kind != yaml.ScalarNode || tag != "!!bool" {
			errorf(n, "%s: want true or false, got %s", name, yamlnode.Describe(n))
		}
	case "duration":
		if n.Kind != yaml.ScalarNode {
			errorf(n, "%s: want a duration such as 30s or 5m, got %s", name, yamlnode.Describe(n))
		} else if d, err := ParseDuration(n.Value); err != nil {
			errorf(n, "%s: %q is not a duration (use 300ms, 30s, 5m, 2h or 7d)", name, n.Value)
		} else if _, err := time.ParseDuration(n.Value); err != nil {
			// yaml.v3 decodes a time.Duration with time.ParseDuration, which has no days: hand it the
			// same length in its own units, so that `1d` means in with: what it means in timeout:.
			n.Value = d.String()
		}
	}
}

// checkRange enforces a setting's min and max on an int, number or duration scalar.
func checkRange(n *yaml.Node, s Setting, errorf func(*yaml.Node, string, ...any)) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if (s.Min == "" && s.Max == "") || n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		return
	}
	val := func(v string) (float64, bool) {
		if s.Type == "duration" {
			d, err := ParseDuration(v)
			return float64(d), err == nil
		}
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil
	}
	switch s.Type {
	case "int", "number", "duration":
	default:
		return
	}
	v, ok := val(n.Value)
	if !ok {
		return // checkNode said what is wrong
	}
	lo, hasLo := val(s.Min)
	hi, hasHi := val(s.Max)
	if (hasLo && v < lo) || (hasHi && v > hi) {
		errorf(n, "%s: want %s, got %s", s.Name, s.Bounds(), n.Value)
	}
}

// Bounds says the setting's bounds in words: "1..16", "at least 1", "at most 16"; "" when it has none.
func (s Setting) Bounds() string {
	switch {
	case s.Min != "" && s.Max != "":
		return s.Min + ".." + s.Max
	case s.Min != "":
		return "at least " + s.Min
	case s.Max != "":
		return "at most " + s.Max
	}
	return ""
}

// deepCopy copies maps and slices so that decoding never writes into a step's shared defaults.
func deepCopy[T any](v T) T {
	rv := reflect.ValueOf(&v).Elem()
	out := reflect.New(rv.Type()).Elem()
	copyValue(out, rv)
	return out.Interface().(T)
}

func copyValue(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Map:
		if src.IsNil() {
			return
		}
		m := reflect.MakeMapWithSize(src.Type(), src.Len())
		for it := src.MapRange(); it.Next(); {
			v := reflect.New(src.Type().Elem()).Elem()
			copyValue(v, it.Value())
			m.SetMapIndex(it.Key(), v)
		}
		dst.Set(m)
	case reflect.Slice:
		if src.IsNil() {
			return
		}
		s := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		for i := range src.Len() {
			copyValue(s.Index(i), src.Index(i))
		}
		dst.Set(s)
	case reflect.Struct:
		dst.Set(src) // unexported fields (an Expr's node) are shared: they are never written after decode
		if src.Type() == exprType {
			return
		}
		for i := range src.NumField() {
			if dst.Field(i).CanSet() {
				copyValue(dst.Field(i), src.Field(i))
			}
		}
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		p := reflect.New(src.Type().Elem())
		copyValue(p.Elem(), src.Elem())
		dst.Set(p)
	default:
		dst.Set(src)
	}
}

// redactConfig returns a copy of cfg with every secret string blanked, for memo keys and echo.
func redactConfig[T any](cfg T) T {
	c := deepCopy(cfg)
	redactValue(reflect.ValueOf(&c).Elem())
	return c
}

func redactValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			if f.Tag.Get("secret") == "true" {
				v.Field(i).Set(reflect.Zero(f.Type))
				continue
			}
			redactValue(v.Field(i))
		}
	case reflect.Slice:
		for i := range v.Len() {
			redactValue(v.Index(i))
		}
	case reflect.Pointer:
		if !v.IsNil() {
			redactValue(v.Elem())
		}
	}
}

// DecodeSettings checks with against settings described by data (an exec plugin's manifest) and returns
// the values with defaults filled in. Problems are recorded as diagnostics on b.
func DecodeSettings(with *yaml.Node, settings []Setting, b *Build) (map[string]any, error) {
	out := map[string]any{}
	if err := decodeWith(with, &out, settings, b); err != nil {
		return nil, err
	}
	for _, s := range settings {
		if _, ok := out[s.Name]; !ok && s.Default != nil {
			v := s.Default
			if str, ok := v.(string); ok && s.Type == "duration" {
				if d, err := ParseDuration(str); err == nil {
					v = d.String() // as a written value reaches the plugin: in Go's units, days included
				}
			}
			out[s.Name] = v
		}
	}
	return out, nil
}

// RedactSettings returns a copy of values with secret settings blanked, for memo keys and echo.
func RedactSettings(values map[string]any, settings []Setting) map[string]any {
	out := make(map[string]any, len(values))
	for k, v := range values {
		out[k] = v
	}
	for _, s := range settings {
		if s.Secret {
			if _, ok := out[s.Name]; ok {
				out[s.Name] = ""
			}
		}
	}
	return out
}
