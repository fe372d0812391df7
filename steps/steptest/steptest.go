// Package steptest builds a registered step from a YAML `with:` block the way the engine does, so that a
// step's tests start from the configuration an operator would write.
package steptest

import (
	"testing"

	"gopkg.in/yaml.v3"

	"meetpipe/runner"
)

// Options change how the step is built; problems are reported at with:LINE:COL of the with string. The
// zero value builds from runner.Builtins into a fresh state directory, as a real run (not a dry run),
// with the step's name as its id.
type Options struct {
	Registry *runner.Registry // nil: runner.Builtins
	StepID   string           // "": the step's name
	StateDir string           // "": t.TempDir()
	DryRun   bool
}

// Build builds step from with and returns the step and its effective configuration (defaults applied,
// secrets blank). It fails the test when the step is unknown or refuses the configuration.
func Build(t testing.TB, step, with string) (impl, config any) {
	t.Helper()
	return BuildWith(t, step, with, Options{})
}

// BuildWith is Build with options.
func BuildWith(t testing.TB, step, with string, o Options) (impl, config any) {
	t.Helper()
	impl, config, err := build(t, step, with, o)
	if err != nil {
		t.Fatalf("build %s: %v", step, err)
	}
	return impl, config
}

// Err builds step from with and returns the error it refuses the configuration with; a step that
// accepts it fails the test.
func Err(t testing.TB, step, with string) error {
	t.Helper()
	return ErrWith(t, step, with, Options{})
}

// ErrWith is Err with options.
func ErrWith(t testing.TB, step, with string, o Options) error {
	t.Helper()
	_, _, err := build(t, step, with, o)
	if err == nil {
		t.Fatalf("build %s accepted:\n%s", step, with)
	}
	return err
}

// New builds step from with and returns what the step's constructor returned, the error included, for
// tests that expect some configurations to be refused and others not.
func New(t testing.TB, step, with string, o Options) (impl, config any, err error) {
	t.Helper()
	return build(t, step, with, o)
}

// As builds step from with and returns it as T, the step's implementation type.
func As[T any](t testing.TB, step, with string) T {
	t.Helper()
	impl, _ := Build(t, step, with)
	s, ok := impl.(T)
	if !ok {
		t.Fatalf("build %s: got %T, want %T", step, impl, s)
	}
	return s
}

func build(t testing.TB, step, with string, o Options) (any, any, error) {
	t.Helper()
	reg := o.Registry
	if reg == nil {
		reg = runner.Builtins
	}
	def, ok := reg.Lookup(step)
	if !ok {
		t.Fatalf("step %s is not registered", step)
	}
	var node *yaml.Node
	if with != "" {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(with), &doc); err != nil {
			t.Fatalf("with: of %s: %v", step, err)
		}
		if len(doc.Content) > 0 {
			node = doc.Content[0]
		}
	}
	if o.StepID == "" {
		o.StepID = step
	}
	if o.StateDir == "" {
		o.StateDir = t.TempDir()
	}
	b := &runner.Build{StepID: o.StepID, File: "with", StateDir: o.StateDir, DryRun: o.DryRun}
	var ds runner.Diagnostics
	b.CollectDiagnostics(&ds)
	b.SetSource(with)
	impl, cfg, err := def.New(node, b)
	if err != nil && ds.Err() != nil {
		// Every problem the decoder found, each at its line and column of with, not only the first.
		return nil, nil, ds.Err()
	}
	return impl, cfg, err
}
