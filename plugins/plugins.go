// Package plugins runs pipeline steps written as programs in any language (exec plugins): a folder with a
// manifest.yaml becomes a step that pipelines use like a built-in one. README.md describes the protocol.
package plugins

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"meetpipe/runner/step"

	"gopkg.in/yaml.v3"
)

// Load registers every plugin found in dir (each dir/NAME/manifest.yaml) into reg. A missing dir holds no
// plugins. Folders without a manifest are not plugins and are skipped. Every problem of every manifest is
// reported at once, as runner.Diagnostics; a plugin whose name is already registered (a built-in step) is
// one of them, and nothing is registered when there is any.
func Load(dir string, reg *step.Registry) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load plugins: %w", err)
	}
	ds := &step.Diagnostics{}
	var defs []step.Definition
	names := map[string]string{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		path := filepath.Join(dir, e.Name(), ManifestFile)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			for _, alt := range []string{"manifest.yml", "manifest.json"} {
				if _, err := os.Stat(filepath.Join(dir, e.Name(), alt)); err == nil {
					ds.Addf(filepath.Join(dir, e.Name(), alt), 0, 0, "a plugin manifest must be named %s", ManifestFile)
				}
			}
			continue
		}
		m, err := ReadManifest(path)
		if err != nil {
			var md *step.Diagnostics
			if errors.As(err, &md) {
				ds.List = append(ds.List, md.List...)
			} else {
				ds.Addf(path, 0, 0, "%v", err)
			}
			continue
		}
		if _, ok := reg.Lookup(m.Name); ok {
			ds.Addf(path, 0, 0, "plugin %q has the name of a built-in step; rename its folder and name", m.Name)
			continue
		}
		if prev, dup := names[m.Name]; dup {
			ds.Addf(path, 0, 0, "plugin %q is also defined in %s", m.Name, prev)
			continue
		}
		names[m.Name] = path
		defs = append(defs, m.Definition())
	}
	if err := ds.Err(); err != nil {
		sort.SliceStable(ds.List, func(i, j int) bool { return ds.List[i].File < ds.List[j].File })
		return err
	}
	for _, d := range defs {
		reg.Register(d)
	}
	return nil
}

// Spec returns the runner.Spec the manifest describes.
func (m *Manifest) Spec() step.Spec {
	writes := make([]step.Field, 0, len(m.Writes))
	for _, w := range m.Writes {
		writes = append(writes, step.Field{Name: w.Name, Sample: sample(w.Type), Doc: w.Doc})
	}
	return step.Spec{
		Name:        m.Name,
		Summary:     m.Summary,
		Version:     m.Version,
		Settings:    m.Settings,
		Reads:       m.Reads,
		Writes:      writes,
		SideEffects: m.SideEffects,
	}
}

// Definition returns the step definition of the plugin: its spec, and a constructor that decodes `with:`
// against the manifest's settings and yields a runner.Step that starts the command once per item. The
// effective configuration it returns has secret settings blanked.
func (m *Manifest) Definition() step.Definition {
	spec := m.Spec()
	return step.Definition{
		Spec: spec,
		New: func(with *yaml.Node, b *step.Build) (any, any, error) {
			values, err := step.DecodeSettings(with, m.Settings, b)
			if err != nil {
				return nil, nil, err
			}
			s := newStep(m, values, b)
			if len(m.Check) > 0 {
				return checkedStep{s}, step.RedactSettings(values, m.Settings), nil
			}
			return s, step.RedactSettings(values, m.Settings), nil
		},
	}
}
