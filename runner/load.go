package runner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"meetpipe/runner/redact"
	"meetpipe/runner/step"

	"gopkg.in/yaml.v3"
)

// LoadOptions say where a pipeline gets its steps and environment.
type LoadOptions struct {
	Registry *step.Registry    // nil: Builtins
	Env      map[string]string // nil: the process environment over EnvFile
	EnvFile  string            // default ".env"; missing is fine
	DryRun   bool              // passed to constructors, which then must not open side-effecting resources
	Now      time.Time         // the run's logical time for now(); zero: time.Now()
	StateDir string            // overrides state_dir
	Secrets  *step.Secrets     // collects the secret values found; nil: a new one (a logger made before Load shares it)
}

// Pipeline is a loaded, validated pipeline ready to run.
type Pipeline struct {
	File          string
	Name          string
	StateDir      string
	LogFile       string
	PendingMaxAge time.Duration
	Grace         time.Duration
	Secrets       *step.Secrets
	Retention     step.Retention // what the end of every run deletes; zero value: nothing
	Schedule      Schedule       // the catch-up run of a long-running host (`runner serve`)

	redactor *redact.Redactor
	redactOn []string // the item fields the redactor applies to
	stages   []*stage
	limiters map[string]*step.Limiter
	clock    *clock // now() of expressions: the run's logical time
}

// Stages returns the step ids in order.
func (p *Pipeline) Stages() []string {
	ids := make([]string, len(p.stages))
	for i, s := range p.stages {
		ids[i] = s.id
	}
	return ids
}

// Close releases every step's resources.
func (p *Pipeline) Close() error {
	var errs []error
	for _, s := range p.stages {
		if c, ok := s.impl.(step.Closer); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close step %s: %w", s.id, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Load reads, interpolates, decodes and validates a pipeline file and builds its steps. Every problem is
// returned at once as *Diagnostics.
func Load(path string, opts LoadOptions) (*Pipeline, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load pipeline: %w", err)
	}
	return LoadBytes(path, src, opts)
}

// LoadBytes is Load for a file already read. It reads in phases: the environment, the YAML with its
// variables interpolated, the pipeline's own settings, the flow of the steps (checkFlow), then each step
// built in order (builder.stage); every problem of every phase is reported at once.
func LoadBytes(path string, src []byte, opts LoadOptions) (*Pipeline, error) {
	ds := &step.Diagnostics{}
	env, err := loadEnv(opts)
	if err != nil {
		ds.Add(asDiag(err, ""))
		return nil, ds
	}
	root := step.ParseYAML(path, src, ds)
	if root == nil {
		return nil, ds
	}
	listSrc := map[*yaml.Node]string{}
	interpolate(root, env, path, ds, listSrc)
	d := &decoder{file: path, lines: ds.Lines(path), ds: ds, listSrc: listSrc}
	pf := d.pipeline(root)
	p := newPipeline(path, pf, opts)

	reg := opts.Registry
	if reg == nil {
		reg = step.Builtins
	}
	defs := make([]*step.Definition, len(pf.Steps))
	specs := make([]*step.Spec, len(pf.Steps))
	for i, sc := range pf.Steps {
		if def, ok := reg.Lookup(sc.Uses); ok && sc.usesNode != nil {
			defs[i], specs[i] = &def, &def.Spec
		}
	}
	ds.List = append(ds.List, checkFlow(path, pf.Steps, specs, reg.Names(), pf.varNodes)...)
	b := newBuilder(p, d, pf, env, opts.DryRun)
	built := map[string]bool{}
	for i, sc := range pf.Steps {
		if defs[i] == nil || built[sc.ID] {
			continue // unknown, or a second step of an id: checkFlow said so
		}
		built[sc.ID] = true
		p.stages = append(p.stages, b.stage(i, sc, *defs[i]))
	}
	if pf.Redact != nil {
		p.redactor, p.redactOn = d.compileRedact(pf.Redact, b.written()), pf.Redact.Fields
		if p.redactor != nil {
			p.Secrets.SetRedactor(p.redactor.Scrub)
		}
	}
	if err := ds.Err(); err != nil {
		ds.Sort()
		ds.Secrets = p.Secrets
		p.Close()
		return nil, ds
	}
	return p, nil
}

// loadEnv returns the variables a pipeline is interpolated from: opts.Env, else the process environment
// over the env file (missing is fine). An error is a Diagnostic in the env file.
func loadEnv(opts LoadOptions) (map[string]string, error) {
	if opts.Env != nil {
		return opts.Env, nil
	}
	f := opts.EnvFile
	if f == "" {
		f = ".env"
	}
	dot, err := ReadDotEnv(f)
	if err != nil {
		return nil, asDiag(err, f)
	}
	return Environ(dot), nil
}

// newPipeline is the pipeline's own settings: what pf says, with LoadOptions' overrides and defaults.
func newPipeline(path string, pf *pipelineFile, opts LoadOptions) *Pipeline {
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	p := &Pipeline{File: path, Name: pf.Name, StateDir: pf.StateDir, LogFile: pf.LogFile,
		PendingMaxAge: pf.PendingMaxAge, Grace: pf.Grace, Secrets: opts.Secrets, Retention: step.KeepAll, Schedule: pf.Schedule,
		limiters: map[string]*step.Limiter{}, clock: newClock(now)}
	if p.Secrets == nil {
		p.Secrets = &step.Secrets{}
	}
	if opts.StateDir != "" {
		p.StateDir = opts.StateDir
	}
	if p.Name == "" {
		p.Name = stem(path)
	}
	for name, lc := range pf.Limiters {
		p.limiters[name] = step.NewLimiter(name, lc.Concurrency, lc.RPM)
	}
	if pf.Retention != nil {
		p.Retention = *pf.Retention
	}
	return p
}

func asDiag(err error, file string, at ...*yaml.Node) step.Diagnostic {
	var d step.Diagnostic
	if errors.As(err, &d) {
		return d
	}
	d = step.Diagnostic{File: file, Msg: err.Error()}
	if len(at) > 0 && at[0] != nil {
		d.Line, d.Col = at[0].Line, at[0].Column
	}
	return d
}

func stem(path string) string {
	b := filepath.Base(path)
	return b[:len(b)-len(filepath.Ext(b))]
}
