// Package steptest builds a registered step from a YAML `with:` block the way the engine does, so that a
// step's tests start from the configuration an operator would write.
package steptest

import (
	"strings"
	"testing"

	"meetpipe/runner/step"

	"gopkg.in/yaml.v3"
)

// Options change how the step is built; problems are reported at with:LINE:COL of the with string. The
// zero value builds from runner.Builtins into a fresh state directory, as a real run (not a dry run),
// with the step's name as its id.
type Options struct {
	Registry *step.Registry // nil: runner.Builtins
	StepID   string         // "": the step's name
	StateDir string         // "": t.TempDir()
	DryRun   bool
}

// Build builds step name from with and returns the step and its effective configuration (defaults applied,
// secrets blank). It fails the test when the step is unknown or refuses the configuration.
func Build(t testing.TB, name, with string) (impl, config any) {
	t.Helper()
	return BuildWith(t, name, with, Options{})
}

// BuildWith is Build with options.
func BuildWith(t testing.TB, name, with string, o Options) (impl, config any) {
	t.Helper()
	impl, config, err := build(t, name, with, o)
	if err != nil {
		t.Fatalf("build %s: %v", name, err)
	}
	return impl, config
}

// Err builds step name from with and returns the error it refuses the configuration with; a step that
// accepts it fails the test.
func Err(t testing.TB, name, with string) error {
	t.Helper()
	return ErrWith(t, name, with, Options{})
}

// ErrWith is Err with options.
func ErrWith(t testing.TB, name, with string, o Options) error {
	t.Helper()
	_, _, err := build(t, name, with, o)
	if err == nil {
		t.Fatalf("build %s accepted:\n%s", name, with)
	}
	return err
}

// New builds step name from with and returns what the step's constructor returned, the error included, for
// tests that expect some configurations to be refused and others not.
func New(t testing.TB, name, with string, o Options) (impl, config any, err error) {
	t.Helper()
	return build(t, name, with, o)
}

// As builds step name from with and returns it as T, the step's implementation type.
func As[T any](t testing.TB, name, with string) T {
	t.Helper()
	impl, _ := Build(t, name, with)
	s, ok := impl.(T)
	if !ok {
		t.Fatalf("build %s: got %T, want %T", name, impl, s)
	}
	return s
}

func build(t testing.TB, name, with string, o Options) (any, any, error) {
	t.Helper()
	reg := o.Registry
	if reg == nil {
		reg = step.Builtins
	}
	def, ok := reg.Lookup(name)
	if !ok {
		t.Fatalf("step %s is not registered", name)
	}
	var node *yaml.Node
	if with != "" {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(with), &doc); err != nil {
			t.Fatalf("with: of %s: %v", name, err)
		}
		if len(doc.Content) > 0 {
			node = doc.Content[0]
		}
	}
	if o.StepID == "" {
		o.StepID = name
	}
	if o.StateDir == "" {
		o.StateDir = t.TempDir()
	}
	var ds step.Diagnostics
	b := step.NewBuild(o.StepID, "with", o.StateDir, o.DryRun, step.Host{Diags: &ds, Lines: strings.Split(with, "\n")})
	impl, cfg, err := def.New(node, b)
	if err != nil && ds.Err() != nil {
		// Every problem the decoder found, each at its line and column of with, not only the first.
		return nil, nil, ds.Err()
	}
	return impl, cfg, err
}
