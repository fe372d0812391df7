package runner

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"meetpipe/runner/internal/yamlnode"
	"meetpipe/runner/step"

	"gopkg.in/yaml.v3"
)

// stage is one built step of a pipeline: what the executor needs to run it.
type stage struct {
	index       int
	id, uses    string
	spec        step.Spec
	step        step.Step
	source      step.Source
	impl        any
	configJSON  []byte   // effective configuration without secrets, for memo keys and echo
	exprReads   []string // item fields the step's expression settings refer to, beyond spec.Reads
	filter, iff *step.Program
	concurrency int
	timeout     time.Duration
	retry       RetryPolicy
	limiter     *step.Limiter
	units       atomic.Int64 // work its step reported (Build.Progress) over the pipeline's life; a run shows its share
}

// builder builds a pipeline's stages in order. It keeps the fields written so far, against which the
// expressions of later steps (`if:`, `filter:`, expression settings) are checked.
type builder struct {
	p      *Pipeline
	d      *decoder
	env    map[string]string
	dryRun bool
	static map[string]any  // vars (top level and under vars) and env, for expressions
	fields map[string]any  // samples of the fields written so far
	lazy   map[string]bool // lazy fields of the source: readable by steps, not by expressions
}

func newBuilder(p *Pipeline, d *decoder, pf *pipelineFile, env map[string]string, dryRun bool) *builder {
	static := map[string]any{"env": env, "vars": pf.Vars}
	for k, v := range pf.Vars {
		static[k] = v
	}
	return &builder{p: p, d: d, env: env, dryRun: dryRun, static: static, fields: map[string]any{}, lazy: map[string]bool{}}
}

// stage builds step i, whose flow checkFlow has checked: its limiter, its `if:`, its constructor on the
// `with:` block, its lazy fields and its `filter:`. Problems become diagnostics; the stage is returned
// either way, so that the problems of every step are reported at once.
func (b *builder) stage(i int, sc stepConf, def step.Definition) *stage {
	spec := def.Spec
	st := &stage{index: i, id: sc.ID, uses: sc.Uses, spec: spec, concurrency: sc.Concurrency, timeout: sc.Timeout, retry: sc.Retry}
	if sc.Limiter != "" {
		l, ok := b.p.limiters[sc.Limiter]
		if !ok {
			b.d.errorf(sc.limiterNode, "unknown limiter %q; declare it under `limiters:`", sc.Limiter)
		}
		st.limiter = l
	}
	// Fields that the step's own expression settings refer to are inputs of the step like its
	// declared reads: they belong in its memo key.
	before := b.compiler(func(f string) {
		if !slices.Contains(spec.Reads, f) && !slices.Contains(st.exprReads, f) {
			st.exprReads = append(st.exprReads, f)
		}
	})
	if sc.If != nil && !spec.Source { // on the source, checkFlow refused it
		ifEnv := *before
		ifEnv.Uses = nil // a field that only decides whether the step runs is not an input of it
		st.iff = b.compile(&ifEnv, sc.If)
	}
	b.construct(st, sc, def, before)
	addWrites(spec, b.fields, b.lazy)
	for _, l := range spec.Lazy {
		if !slices.Contains(spec.Volatile, l) {
			b.d.errorf(sc.usesNode, "step %s: lazy field %q must also be volatile", sc.Uses, l)
		}
	}
	if len(spec.Lazy) > 0 {
		if _, ok := st.impl.(step.Resolver); !ok && st.impl != nil {
			b.d.errorf(sc.usesNode, "step %s declares lazy fields but cannot resolve them", sc.Uses)
		}
	}
	if sc.Filter != nil {
		st.filter = b.compile(b.compiler(nil), sc.Filter)
	}
	return st
}

// construct runs the step's constructor on its `with:` block, the secret settings registered first; on
// success st holds the step and its configuration for memo keys.
func (b *builder) construct(st *stage, sc stepConf, def step.Definition, x *step.Compiler) {
	ds, spec := b.d.ds, def.Spec
	bd := step.NewBuild(sc.ID, b.d.file, b.p.StateDir, b.dryRun, step.Host{
		Compiler: x, Limiter: st.limiter, Secret: b.p.Secrets.Add, Diags: ds,
		Progress: func(n int64) { st.units.Add(n) },
		With:     sc.With, WithKey: yamlnode.MapKey(sc.node, "with"), Uses: sc.usesNode,
	})
	collectSecrets(sc.With, spec.Settings, b.p.Secrets)
	checkSecretSpaces(b.d, sc.With, spec.Settings, b.d.listSrc, "")
	n0 := len(ds.List)
	impl, cfg, err := def.New(sc.With, bd)
	if err != nil {
		if len(ds.List) == n0 {
			ds.Add(asDiag(err, b.d.file, sc.usesNode))
		}
		return
	}
	st.impl = impl
	st.step, _ = impl.(step.Step)
	st.source, _ = impl.(step.Source)
	if spec.Source && st.source == nil || !spec.Source && st.step == nil {
		b.d.errorf(sc.usesNode, "step %s: constructor returned %T, which does not implement the spec", sc.Uses, impl)
	}
	if st.configJSON, err = step.MemoJSON(cfg); err != nil {
		b.d.errorf(sc.usesNode, "step %s: configuration cannot be encoded: %v", sc.Uses, err)
	}
}

// compiler compiles what an expression sees at this point of the pipeline; uses, when set, is told of
// every item field a compiled expression refers to.
func (b *builder) compiler(uses func(string)) *step.Compiler {
	return &step.Compiler{File: b.d.file, Lines: b.d.lines, Static: b.static, Fields: maps.Clone(b.fields), Now: b.p.clock.now, Uses: uses}
}

func (b *builder) compile(x *step.Compiler, e *step.Expr) *step.Program {
	prog, err := x.Compile(e, nil, true)
	if err != nil {
		b.d.ds.Add(asDiag(err, b.d.file))
		return nil
	}
	return prog
}

// written is every field the steps write, lazy ones included: what `redact:` may name.
func (b *builder) written() map[string]bool {
	w := maps.Clone(b.lazy)
	for f := range b.fields {
		w[f] = true
	}
	return w
}

// checkSecretSpaces refuses a secret setting whose value has leading or trailing white space, naming the
// variable it came from: a key pasted with a stray space or new line otherwise only earns "signature
// verification failed" from the service. A setting marked Spaces (a password) may hold them: warned.
// The value itself is never printed.
func checkSecretSpaces(d *decoder, n *yaml.Node, settings []step.Setting, raw map[*yaml.Node]string, prefix string) {
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

// collectSecrets registers the values of secret settings found in a `with:` node.
func collectSecrets(n *yaml.Node, settings []step.Setting, s *step.Secrets) {
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
