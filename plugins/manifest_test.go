package plugins

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"meetpipe/runner/step"
)

func TestManifestSpec(t *testing.T) {
	dir := t.TempDir()
	writePlugin(t, dir, "demo", `
name: demo
version: "2"
summary: a demo
command: [./demo, --fast]
side_effects: true
reads: [subject, files]
writes:
  - {name: s, type: string, doc: a string}
  - {name: i, type: int}
  - {name: f, type: number}
  - {name: b, type: bool}
  - {name: l, type: list}
  - {name: o, type: object}
settings:
  - {name: key, type: string, secret: true, required: true, doc: the key}
  - {name: mode, type: string, default: fast, enum: [fast, slow]}
  - {name: n, type: int, default: 3}
  - {name: ratio, type: number, default: 0.5}
  - {name: wait, type: duration, default: 30s}
  - {name: words, type: list, default: [a, b]}
  - {name: sizes, type: list, items: int, default: [1, 2]}
  - {name: rules, type: map, default: {x: y}}
`, nil)
	m, err := ReadManifest(filepath.Join(dir, "demo", ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	if m.Dir != filepath.Join(dir, "demo") || !reflect.DeepEqual(m.Command, []string{"./demo", "--fast"}) {
		t.Errorf("dir %s command %v", m.Dir, m.Command)
	}
	spec := m.Spec()
	want := step.Spec{Name: "demo", Summary: "a demo", Version: "2", SideEffects: true,
		Reads: []string{"subject", "files"},
		Writes: []step.Field{{Name: "s", Sample: "", Doc: "a string"}, {Name: "i", Sample: 0}, {Name: "f", Sample: 0.0},
			{Name: "b", Sample: false}, {Name: "l", Sample: []any{}}, {Name: "o", Sample: map[string]any{}}},
		Settings: []step.Setting{
			{Name: "key", Type: "string", Secret: true, Required: true, Doc: "the key"},
			{Name: "mode", Type: "string", Default: "fast", Enum: []string{"fast", "slow"}},
			{Name: "n", Type: "int", Default: 3},
			{Name: "ratio", Type: "number", Default: 0.5},
			{Name: "wait", Type: "duration", Default: "30s"},
			{Name: "words", Type: "list", Items: "string", Default: []any{"a", "b"}},
			{Name: "sizes", Type: "list", Items: "int", Default: []any{1, 2}},
			{Name: "rules", Type: "map", Items: "string", Default: map[string]any{"x": "y"}},
		}}
	if !reflect.DeepEqual(spec, want) {
		t.Errorf("spec =\n%#v\nwant\n%#v", spec, want)
	}
}

// A manifest is read with the pipelines' decoder: the same messages for unknown keys and wrong values.
func TestManifestErrors(t *testing.T) {
	tests := []struct {
		name, manifest string
		want           []string // diagnostics, each as file:line:col: message (the file is given as F)
	}{
		{"not yaml", "name: [x\n", []string{"F:1: invalid YAML: did not find expected ',' or ']'"}},
		{"tab", "name: p\nversion: \"1\"\ncommand:\n\t- sh\n", []string{"F:4:1: invalid YAML: found character that cannot start any token (a tab; indent with spaces)"}},
		{"two documents", "name: p\nversion: \"1\"\ncommand: [sh]\n---\nname: q\n", []string{"F:4:1: a second YAML document starts here"}},
		{"empty", "", []string{"F:1:1: the file is empty"}},
		{"near miss", "name: p\nversion: \"1\"\ncommand: [sh]\nsettings:\n  - {name: n, typ: int}\nwrites:\n  - {name: w, type: strng}\n",
			[]string{`F:5:15: setting: unknown key "typ"; did you mean "type"?`, `F:5:5: setting "n" needs a type`,
				`F:7:21: type "strng": want one of string, int, number, bool, list, object; did you mean "string"?`}},
		{"default out of its range", "name: p\nversion: \"1\"\ncommand: [sh]\nsettings:\n  - {name: t, type: duration, min: 1s, default: 0s}\n",
			[]string{"F:5:49: t default: want at least 1s, got 0s"}},
		{"missing keys", "summary: x\n", []string{`F:1:1: missing "name"`, `F:1:1: missing "version"`, `F:1:1: missing "command"`}},
		{"unknown key", "name: p\nversion: \"1\"\ncommand: [sh]\nreqd: [x]\n", []string{`F:4:1: manifest: unknown key "reqd"; did you mean "reads"?`}},
		{"wrong name", "name: q\nversion: \"1\"\ncommand: [sh]\n", []string{`F:1:7: plugin name "q" must be the name of its folder "p"`}},
		{"bad name", "name: P-1\nversion: \"1\"\ncommand: [sh]\n", []string{`F:1:7: name "P-1": use lower-case`}},
		{"command a string", "name: p\nversion: \"1\"\ncommand: sh run.sh\n", []string{"F:3:10: command: want a list of strings"}},
		{"absolute command", "name: p\nversion: \"1\"\ncommand: [/bin/sh]\n", []string{`F:3:10: command: "/bin/sh" must be relative`}},
		{"bad write", "name: p\nversion: \"1\"\ncommand: [sh]\nwrites:\n  - {name: x, type: float}\n  - {type: int}\n  - {name: x, type: string}\n",
			[]string{`F:5:21: type "float": want one of string, int, number, bool, list, object`,
				"F:6:5: a write needs a name", `F:7:12: field "x" written twice`}},
		{"bad settings", `name: p
version: "1"
command: [sh]
side_effects: yes please
settings:
  - {name: key, type: string, secret: true, default: abc}
  - {name: n, type: int, default: many}
  - {name: mode, type: string, enum: [a, b], default: c}
  - {name: wait, type: duration, default: soon}
  - {name: l, type: list, items: int, default: [1, x]}
  - {name: r, type: int, required: true, default: 1}
  - {name: e, type: expr}
  - {name: t, type: string, colour: red}
`, []string{
			"F:4:15: side_effects: want true or false",
			`F:6:54: setting "key" is secret and cannot have a default`,
			`F:7:35: n default: want an integer, got "many"`,
			`F:8:55: mode default: "c" is not one of a, b`,
			`F:9:43: wait default: "soon" is not a duration`,
			`F:10:52: l default item: want an integer, got "x"`,
			`F:11:51: setting "r" is required`,
			`F:12:21: type "expr": want one of`,
			`F:13:29: setting: unknown key "colour"; known: name, type`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writePlugin(t, dir, "p", tt.manifest, nil)
			file := filepath.Join(dir, "p", ManifestFile)
			_, err := ReadManifest(file)
			if err == nil {
				t.Fatal("accepted")
			}
			ds, ok := err.(*step.Diagnostics)
			if !ok {
				t.Fatalf("want *runner.Diagnostics, got %T: %v", err, err)
			}
			var got []string
			for _, d := range ds.List {
				got = append(got, d.Error())
			}
			// Printed as a pipeline's are: each with its line and a caret under the place.
			if ds.List[0].Line > 0 && !strings.Contains(err.Error(), fmt.Sprintf("\n %4d | ", ds.List[0].Line)) {
				t.Errorf("no snippet:\n%v", err)
			}
			if len(got) != len(tt.want) {
				t.Errorf("got %d diagnostics, want %d:\n%v", len(got), len(tt.want), err)
			}
			for i, w := range tt.want {
				w = strings.ReplaceAll(w, "F:", file+":")
				if i >= len(got) || !strings.HasPrefix(got[i], w) {
					t.Errorf("diagnostic %d = %q, want %q…", i, at(got, i), w)
				}
			}
			// Load reports the same problems and registers nothing.
			reg := step.NewRegistry()
			if err := Load(dir, reg); err == nil || len(reg.Names()) != 0 {
				t.Errorf("Load: err %v, registered %v", err, reg.Names())
			}
		})
	}
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return ""
}

func TestLoad(t *testing.T) {
	t.Run("missing folder", func(t *testing.T) {
		if err := Load(filepath.Join(t.TempDir(), "nope"), step.NewRegistry()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("folders without manifest are skipped", func(t *testing.T) {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "testdata"), 0o755)
		os.WriteFile(filepath.Join(dir, "README.md"), []byte("x"), 0o644)
		writePlugin(t, dir, "ok", "name: ok\nversion: \"1\"\ncommand: [sh]\n", nil)
		reg := step.NewRegistry()
		if err := Load(dir, reg); err != nil || !reflect.DeepEqual(reg.Names(), []string{"ok"}) {
			t.Fatalf("err %v, names %v", err, reg.Names())
		}
	})
	t.Run("manifest.yml", func(t *testing.T) {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "p"), 0o755)
		os.WriteFile(filepath.Join(dir, "p", "manifest.yml"), []byte("name: p"), 0o644)
		if err := Load(dir, step.NewRegistry()); err == nil || !strings.Contains(err.Error(), "must be named manifest.yaml") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("clash with a built-in", func(t *testing.T) {
		dir := t.TempDir()
		writePlugin(t, dir, "sink", "name: sink\nversion: \"1\"\ncommand: [sh]\n", nil)
		writePlugin(t, dir, "good", "name: good\nversion: \"1\"\ncommand: [sh]\n", nil)
		reg := step.NewRegistry()
		reg.Register(step.Definition{Spec: step.Spec{Name: "sink"}})
		err := Load(dir, reg)
		if err == nil || !strings.Contains(err.Error(), `plugin "sink" has the name of a built-in step`) {
			t.Fatalf("err = %v", err)
		}
		if _, ok := reg.Lookup("good"); ok {
			t.Error("a plugin was registered although Load failed")
		}
	})
}
