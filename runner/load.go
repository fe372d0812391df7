package runner

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"meetpipe/runner/redact"

	"gopkg.in/yaml.v3"
)

// LoadOptions say where a pipeline gets its steps and environment.
type LoadOptions struct {
	Registry *Registry         // nil: Builtins
	Env      map[string]string // nil: the process environment over EnvFile
	EnvFile  string            // default ".env"; missing is fine
	DryRun   bool              // passed to constructors, which then must not open side-effecting resources
	Now      time.Time         // the run's logical time for now(); zero: time.Now()
	StateDir string            // overrides state_dir
	Secrets  *Secrets          // collects the secret values found; nil: a new one (a logger made before Load shares it)
}

// Pipeline is a loaded, validated pipeline ready to run.
type Pipeline struct {
	File          string
	Name          string
	StateDir      string
	LogFile       string
	PendingMaxAge time.Duration
	Grace         time.Duration
	Secrets       *Secrets
	Retention     Retention // what the end of every run deletes; zero value: nothing
	Schedule      Schedule  // the catch-up run of a long-running host (`runner serve`)

	redactor *redact.Redactor
	redactOn []string // the item fields the redactor applies to
	stages   []*stage
	limiters map[string]*Limiter
	clock    *clock // now() of expressions: the run's logical time
}

type stage struct {
	index       int
	id, uses    string
	spec        Spec
	step        Step
	source      Source
	impl        any
	configJSON  []byte   // effective configuration without secrets, for memo keys and echo
	exprReads   []string // item fields the step's expression settings refer to, beyond spec.Reads
	filter, iff *Program
	concurrency int
	timeout     time.Duration
	retry       RetryPolicy
	limiter     *Limiter
	line        int
	units       atomic.Int64 // work its step reported (Build.Progress) over the pipeline's life; a run shows its share
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
		if c, ok := s.impl.(Closer); ok {
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

// LoadBytes is Load for a file already read.
func LoadBytes(path string, src []byte, opts LoadOptions) (*Pipeline, error) {
	ds := &Diagnostics{}
	reg := opts.Registry
	if reg == nil {
		reg = Builtins
	}
	env := opts.Env
	if env == nil {
		f := opts.EnvFile
		if f == "" {
			f = ".env"
		}
		dot, err := ReadDotEnv(f)
		if err != nil {
			ds.Add(asDiag(err, f))
			return nil, ds
		}
		env = Environ(dot)
	}
	root := ParseYAML(path, src, ds)
	if root == nil {
		return nil, ds
	}
	listSrc := map[*yaml.Node]string{}
	interpolate(root, env, path, ds, listSrc)
	d := &decoder{file: path, lines: ds.src[path], ds: ds, listSrc: listSrc}
	pf := d.pipeline(root)

	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	p := &Pipeline{File: path, Name: pf.Name, StateDir: pf.StateDir, LogFile: pf.LogFile,
		PendingMaxAge: pf.PendingMaxAge, Grace: pf.Grace, Secrets: opts.Secrets, Retention: KeepAll, Schedule: pf.Schedule,
		limiters: map[string]*Limiter{}, clock: newClock(now)}
	if p.Secrets == nil {
		p.Secrets = &Secrets{}
	}
	if opts.StateDir != "" {
		p.StateDir = opts.StateDir
	}
	if p.Name == "" {
		p.Name = stem(path)
	}
	for name, lc := range pf.Limiters {
		p.limiters[name] = NewLimiter(name, lc.Concurrency, lc.RPM)
	}

	static := map[string]any{"env": env, "vars": pf.Vars}
	for k, v := range pf.Vars {
		static[k] = v
	}
	fields := map[string]any{} // samples of the fields written so far
	lazy := map[string]bool{}  // lazy fields of the source: readable by steps, not by expressions
	writer := map[string]string{}
	ids := map[string]*yaml.Node{}
	for i, sc := range pf.Steps {
		if sc.usesNode == nil {
			continue
		}
		def, ok := reg.Lookup(sc.Uses)
		if !ok {
			d.errorf(sc.usesNode, "unknown step %q%s", sc.Uses, suggest(sc.Uses, reg.Names()))
			continue
		}
		idNode := sc.usesNode
		if v := mapValue(sc.node, "id"); v != nil {
			idNode = v
		}
		if prev, dup := ids[sc.ID]; dup {
			d.errorf(idNode, "duplicate step id %q (first at line %d); give one of them an `id:`", sc.ID, prev.Line)
			continue
		}
		ids[sc.ID] = idNode
		spec := def.Spec
		switch {
		case i == 0 && !spec.Source:
			d.errorf(sc.usesNode, "the first step must be a source (one that lists items); %q is not", sc.Uses)
		case i > 0 && spec.Source:
			d.errorf(sc.usesNode, "%q is a source and can only be the first step", sc.Uses)
		}
		for _, r := range spec.Reads {
			if _, ok := fields[r]; !ok && !lazy[r] {
				d.errorf(sc.usesNode, "step %s reads field %q, which no earlier step writes", sc.ID, r)
			}
		}
		for name, node := range pf.varNodes {
			for _, w := range spec.Writes {
				if w.Name == name {
					d.errorf(node, "var %q has the name of a field that step %s writes; rename it", name, sc.ID)
				}
			}
		}
		st := &stage{index: i, id: sc.ID, uses: sc.Uses, spec: spec, concurrency: sc.Concurrency,
			timeout: sc.Timeout, retry: sc.Retry, line: sc.usesNode.Line}
		if sc.Limiter != "" {
			l, ok := p.limiters[sc.Limiter]
			if !ok {
				d.errorf(sc.limiterNode, "unknown limiter %q; declare it under `limiters:`", sc.Limiter)
			}
			st.limiter = l
		}
		// Fields that the step's own expression settings refer to are inputs of the step like its
		// declared reads: they belong in its memo key.
		before := &exprEnv{file: path, lines: ds.src[path], static: static, fields: copyMap(fields), now: p.clock.now,
			uses: func(f string) {
				if !slices.Contains(spec.Reads, f) && !slices.Contains(st.exprReads, f) {
					st.exprReads = append(st.exprReads, f)
				}
			}}
		if r := mapValue(sc.node, "retry"); r != nil && spec.Source {
			// A listing has no item to retry: a policy here would be silently ignored.
			d.errorf(r, "retry: does not apply to the source step, which has no item to retry; its own settings say how its requests are retried")
		}
		if sc.If != nil && spec.Source {
			d.errorf(mapValue(sc.node, "if"), "if: is not allowed on the source step; use filter:")
		} else if sc.If != nil {
			ifEnv := *before
			ifEnv.uses = nil // a field that only decides whether the step runs is not an input of it
			if prog, err := ifEnv.compile(sc.If, nil, true); err != nil {
				ds.Add(asDiag(err, path))
			} else {
				st.iff = prog
			}
		}
		b := &Build{StepID: sc.ID, File: path, StateDir: p.StateDir, DryRun: opts.DryRun, Env: env,
			compile: before.compile, limiter: st.limiter, secrets: p.Secrets.Add, diags: ds,
			with: sc.With, withKey: mapKey(sc.node, "with"), uses: sc.usesNode}
		b.progress = func(n int64) { st.units.Add(n) }
		collectSecrets(sc.With, spec.Settings, p.Secrets)
		checkSecretSpaces(d, sc.With, spec.Settings, listSrc, "")
		n0 := len(ds.List)
		impl, cfg, err := def.New(sc.With, b)
		if err != nil {
			if len(ds.List) == n0 {
				ds.Add(asDiag(err, path, sc.usesNode))
			}
		} else {
			st.impl = impl
			st.step, _ = impl.(Step)
			st.source, _ = impl.(Source)
			if spec.Source && st.source == nil || !spec.Source && st.step == nil {
				d.errorf(sc.usesNode, "step %s: constructor returned %T, which does not implement the spec", sc.Uses, impl)
			}
			if st.configJSON, err = MemoJSON(cfg); err != nil {
				d.errorf(sc.usesNode, "step %s: configuration cannot be encoded: %v", sc.Uses, err)
			}
		}
		for _, w := range spec.Writes {
			if slices.Contains(spec.Lazy, w.Name) {
				lazy[w.Name] = true
				continue
			}
			fields[w.Name] = w.Sample
			writer[w.Name] = sc.ID
		}
		for _, l := range spec.Lazy {
			if !slices.Contains(spec.Volatile, l) {
				d.errorf(sc.usesNode, "step %s: lazy field %q must also be volatile", sc.Uses, l)
			}
		}
		if len(spec.Lazy) > 0 {
			if _, ok := impl.(Resolver); !ok && impl != nil {
				d.errorf(sc.usesNode, "step %s declares lazy fields but cannot resolve them", sc.Uses)
			}
		}
		if sc.Filter != nil {
			after := &exprEnv{file: path, lines: ds.src[path], static: static, fields: copyMap(fields), now: before.now}
			if prog, err := after.compile(sc.Filter, nil, true); err != nil {
				ds.Add(asDiag(err, path))
			} else {
				st.filter = prog
			}
		}
		p.stages = append(p.stages, st)
	}
	if pf.Redact != nil {
		written := map[string]bool{}
		for f := range fields {
			written[f] = true
		}
		for f := range lazy {
			written[f] = true
		}
		p.redactor, p.redactOn = d.compileRedact(pf.Redact, written), pf.Redact.Fields
		if p.redactor != nil {
			p.Secrets.SetRedactor(p.redactor.Scrub)
		}
	}
	if pf.Retention != nil {
		p.Retention = *pf.Retention
	}
	if err := ds.Err(); err != nil {
		ds.sort()
		ds.Secrets = p.Secrets
		p.Close()
		return nil, ds
	}
	return p, nil
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

func asDiag(err error, file string, at ...*yaml.Node) Diagnostic {
	var d Diagnostic
	if errors.As(err, &d) {
		return d
	}
	d = Diagnostic{File: file, Msg: err.Error()}
	if len(at) > 0 && at[0] != nil {
		d.Line, d.Col = at[0].Line, at[0].Column
	}
	return d
}

func copyMap(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func stem(path string) string {
	b := filepath.Base(path)
	return b[:len(b)-len(filepath.Ext(b))]
}

// collectSecrets registers the values of secret settings found in a `with:` node.
// checkSecretSpaces refuses a secret setting whose value has leading or trailing white space, naming the
// variable it came from: a key pasted with a stray space or new line otherwise only earns "signature
// verification failed" from the service. A setting marked Spaces (a password) may hold them: warned.
// The value itself is never printed.
func checkSecretSpaces(d *decoder, n *yaml.Node, settings []Setting, raw map[*yaml.Node]string, prefix string) {
	if n == nil || n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		for _, st := range settings {
			if st.Name != k.Value {
				continue
			}
			if st.Type == "object" {
				checkSecretSpaces(d, v, st.Fields, raw, prefix+st.Name+".")
			}
			if !st.Secret || v.Kind != yaml.ScalarNode || v.Value == strings.TrimSpace(v.Value) || strings.TrimSpace(v.Value) == "" {
				continue
			}
			from := "its value"
			if names := varRefs(raw[v]); len(names) > 0 {
				from = "the value of " + strings.Join(names, " / ")
			}
			if st.Spaces {
				slog.Warn(fmt.Sprintf("%s%s: %s begins or ends with white space; kept as it is (a password may hold spaces)", prefix, st.Name, from),
					"file", d.file, "line", v.Line)
				continue
			}
			d.errorf(v, "%s%s: %s begins or ends with white space (a stray space or new line pasted with the key); remove it", prefix, st.Name, from)
		}
	}
}

func collectSecrets(n *yaml.Node, settings []Setting, s *Secrets) {
	if n == nil || n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		for _, st := range settings {
			if st.Name != k.Value {
				continue
			}
			switch {
			case st.Secret && v.Kind == yaml.ScalarNode:
				s.Add(v.Value)
			case st.Type == "object":
				collectSecrets(v, st.Fields, s)
			case st.Type == "list" && v.Kind == yaml.SequenceNode:
				for _, e := range v.Content {
					collectSecrets(e, st.Fields, s)
				}
			}
		}
	}
}
