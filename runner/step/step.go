package step

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"meetpipe/runner/internal/yamlnode"

	"gopkg.in/yaml.v3"
)

// Step processes one item. It reads the fields its Spec declares in Reads and returns the fields it writes
// (a subset of Spec.Writes). It must not keep the item. Zero fields and a nil error means "done, nothing to
// add". Concurrency, retries, timeouts and memo are the engine's business, not the step's.
type Step interface {
	Process(ctx context.Context, in *Item) (Fields, error)
}

// Source produces the items of a run. It is the first step of a pipeline. It emits every ready item of the
// window and of w.Pending, and reports items that exist but are not ready yet with NotReady so that later
// runs offer them again. Returning an error fails the listing; items already emitted go on.
type Source interface {
	List(ctx context.Context, w Window, out Emitter) error
}

// Emitter receives a source's items. Emit blocks while the pipeline is full and returns an error when the
// run is stopping; the source should then return.
type Emitter interface {
	Emit(ctx context.Context, id string, f Fields) error
	NotReady(id string, hint any, reason string)
}

// Resolver is implemented by sources with Lazy fields: it returns them for an item about to enter a step
// that reads them. Its errors are classified and retried like the step's own.
type Resolver interface {
	Resolve(ctx context.Context, in *Item) (Fields, error)
}

// Closer is implemented by steps that hold resources (connection pools, child processes).
type Closer interface {
	Close() error
}

// Verifier is implemented by steps whose output points at artifacts that may disappear (downloaded media,
// audio chunks). Before a later step runs on a memoized output, the engine calls Verify; an error means the
// output is gone and the step runs again.
type Verifier interface {
	Verify(ctx context.Context, out *Item) error
}

// Checker is implemented by steps that can tell, before a run, whether it can do its job: credentials
// accepted, a service reachable, a tool present, a database writable (`runner doctor`, and the preflight of
// `runner run` for steps with side effects). Checks have no side effects and cost nothing unless o.Spend.
type Checker interface {
	Check(ctx context.Context, o CheckOptions) []Finding
}

// RunObserver is implemented by steps that want to record runs (for monitoring). Errors are logged, never
// fatal.
type RunObserver interface {
	RunStarted(ctx context.Context, r RunInfo) error
	RunFinished(ctx context.Context, r RunInfo, s Summary) error
}

// Estimator is implemented by steps that can say, in a dry run, what running them on an item would cost
// ("12.5 audio min", "~9k tokens"). Estimate is pure: decide calls it and promises to change nothing.
type Estimator interface {
	Estimate(in *Item) string
}

// Opener is implemented by steps that check their environment once per run before any item is taken
// (in dry runs too): that a configured remote model exists, say. An error stops the run with no item
// touched; a Diagnostic (Build.Errorf) is a configuration error (exit 2), anything else a failed run.
type Opener interface {
	Open(ctx context.Context) error
}

// CostReporter is implemented by steps that spend metered resources (tokens, audio minutes). At the end
// of a run the engine logs what they report for ctx's run (RunValue) and keeps it in the summary.
type CostReporter interface {
	Cost(ctx context.Context) Cost
}

// CostEstimator is implemented by steps that can put a number on what running them on an item would
// spend. It must be pure, as Estimate is: in a dry run the engine adds the estimates of the items that
// would run to the step's cost line.
type CostEstimator interface {
	EstimateCost(in *Item) Cost
}

// Cost is what a step spent in a run, or would spend (Estimate).
type Cost struct {
	Units    map[string]int64 `json:"units,omitempty"` // e.g. {"prompt_tokens": 12000}
	Money    float64          `json:"money,omitempty"` // 0 when no price is configured
	Currency string           `json:"currency,omitempty"`
	Estimate bool             `json:"estimate,omitempty"`
}

// Field declares an item field a step writes. Sample is a zero value of the Go type the field decodes into:
// expressions are type-checked against it and filters see values of that type.
type Field struct {
	Name   string
	Sample any
	Doc    string
}

// Setting documents one key of a step's `with:` block.
type Setting struct {
	Name    string `json:"name"`
	Type    string `json:"type"` // string, int, number, bool, duration, list, map, expr, object
	Default any    `json:"default,omitempty"`
	Doc     string `json:"doc,omitempty"` // one sentence
	// Details is what an operator needs beyond Doc (each choice of an enum, a caveat); `runner steps NAME`
	// prints it under the setting. A step fills it with a SettingDetails method on its configuration struct.
	Details string `json:"details,omitempty"`
	Secret  bool   `json:"secret,omitempty"`
	// Spaces marks a secret that may hold leading or trailing spaces (a password; tag `spaces:"allowed"`):
	// such a value is warned about at load. Any other secret with them (a key pasted with a stray space)
	// is refused, naming its variable.
	Spaces   bool      `json:"spaces,omitempty"`
	Required bool      `json:"required,omitempty"`
	Enum     []string  `json:"enum,omitempty"`
	Min      string    `json:"min,omitempty"`    // lowest value of an int, number or duration (tag `min:"1"`)
	Max      string    `json:"max,omitempty"`    // highest value (tag `max:"16"`)
	Items    string    `json:"items,omitempty"`  // element type of a list
	Fields   []Setting `json:"fields,omitempty"` // of an object, or of a list's object elements

	// NotMemo is set by the tag memo:"-": the setting is not part of the memo key, so changing it (a
	// server address, a timeout, a price) re-runs nothing.
	NotMemo bool `json:"not_memo,omitempty"`
	// RequiredIf ("mode=corp", tag `required_if:"mode=corp"`) is a rule across settings: when the other
	// setting has that value (written, or by default), this one must be written and not empty.
	RequiredIf string `json:"required_if,omitempty"`
}

// Spec describes a step: the one source for decoding, validate, `runner steps`, `runner schema` and memo keys.
type Spec struct {
	Name    string
	Summary string
	// Version is part of every memo key: bump it when the step's output for the same input changes.
	Version  string
	Settings []Setting
	// Reads are the item fields the step reads; each must be written by an earlier step.
	Reads []string
	// Writes are the item fields the step writes.
	Writes []Field
	// Volatile are written fields, or dotted paths into them ("a.b"; a list is traversed), whose values change
	// on every run and are credentials or noise (signed download addresses): they are left out of memo keys
	// and never stored in state files.
	Volatile []string
	// Lazy are fields a source declares in Writes but does not emit: it resolves them (Resolver) only when a
	// step that reads them is about to run. Download addresses are the case: fetching them for recordings
	// whose downloads are memoized would cost a call per recording on every run. Lazy fields must also be
	// Volatile, and expressions cannot read them.
	Lazy []string
	// SideEffects is true when running the step changes something outside the process (downloads, calls
	// that cost money, database writes). A dry run never runs such a step.
	SideEffects bool
	// Source is true for a step that implements Source rather than Step.
	Source bool
	// Label are written fields (of a source) that name an item to a person in dry-run and --explain lines
	// (when, who, what); OrderBy is the written field those lines are sorted by.
	Label   []string
	OrderBy string
}

// Definition is what a step registers: its Spec and a constructor from the `with:` node.
type Definition struct {
	Spec Spec
	// New decodes with (nil when absent) and builds the step. It returns the step (a Step or a Source) and
	// its effective configuration with defaults applied, used for memo keys and echo; secret settings in
	// it must already be blank. Configuration errors should be Diagnostics (see Build.Errorf).
	New func(with *yaml.Node, b *Build) (impl any, config any, err error)
}

// Build is what a constructor gets besides its `with:` node. The engine makes it with NewBuild.
type Build struct {
	StepID   string
	File     string
	StateDir string
	DryRun   bool

	h Host
}

// Host is what the engine lends a step's constructor: how to compile, limit, report and keep secrets.
// A test kit (steps/steptest) fills only what it needs.
type Host struct {
	Compiler *Compiler     // nil: expressions compile on their own (no vars, no earlier fields)
	Limiter  *Limiter      // the step's `limiter:`; nil: none named
	Progress func(n int64) // live units of work
	Secret   func(string)  // values to scrub from every output
	Diags    *Diagnostics  // where configuration problems gather
	With     *yaml.Node    // the step's `with:` value, for ErrorAt
	WithKey  *yaml.Node    // its `with` key
	Uses     *yaml.Node    // its `uses:` value
	Lines    []string      // the file's lines, for expressions built outside a pipeline
}

// NewBuild is the Build of step id in file, for the engine and for test kits.
func NewBuild(id, file, stateDir string, dryRun bool, h Host) *Build {
	return &Build{StepID: id, File: file, StateDir: stateDir, DryRun: dryRun, h: h}
}

// CompileBool compiles an expression-valued setting that must yield a bool, against the item as it is at
// this step plus extra names (the element a rule runs over). Errors carry the expression's YAML position.
func (b *Build) CompileBool(e *Expr, extra map[string]any) (*Program, error) {
	return b.compiler().Compile(e, extra, true)
}

// compiler is the engine's compiler for this step, or one that sees nothing but the expression.
func (b *Build) compiler() *Compiler {
	if b.h.Compiler != nil {
		return b.h.Compiler
	}
	return &Compiler{File: b.File, Lines: b.h.Lines, Static: map[string]any{}, Fields: map[string]any{}, Now: time.Now}
}

// Limiter returns the limiter named in the step's `limiter:` key and named true, or an unlimited one and
// named false (a step may then use limits of its own). Steps that call a remote service acquire it around
// each request.
func (b *Build) Limiter() (l *Limiter, named bool) {
	if b.h.Limiter == nil {
		return Unlimited(), false
	}
	return b.h.Limiter, true
}

// Progress reports n units of work (bytes downloaded, say) to the live display.
func (b *Build) Progress(n int64) {
	if b.h.Progress != nil {
		b.h.Progress(n)
	}
}

// Secret registers a value that must never be printed (a key read at run time, a signed URL); the log
// handler and every echo scrub it.
func (b *Build) Secret(v string) {
	if b.h.Secret != nil && v != "" {
		b.h.Secret(v)
	}
}

// Errorf records a configuration diagnostic at node (nil: the step's `with:` key, else its `uses:` line)
// and returns it.
func (b *Build) Errorf(node *yaml.Node, format string, args ...any) error {
	if node == nil {
		node = b.place("")
	}
	d := Diagnostic{File: b.File, Msg: fmt.Sprintf(format, args...)}
	if node != nil {
		d.Line, d.Col = node.Line, node.Column
	}
	if b.h.Diags != nil {
		b.h.Diags.Add(d)
	}
	return d
}

// ErrorAt records a configuration diagnostic at the value of setting key in the step's `with:`, so that
// a rule checked after decoding (a cross-field rule, a parse of the value) is reported where the operator
// wrote it. A dotted key ("default_limit.rpm", "pre_rules.0.phase") reaches into objects and lists; "a,b"
// is the first of a and b that is written. A key the operator did not write (a default that is wrong with
// another setting) is reported at the `with:` key, else at the `uses:` line.
func (b *Build) ErrorAt(key string, format string, args ...any) error {
	return b.Errorf(b.place(key), format, args...)
}

// place finds where to report a problem with setting key ("": the step as a whole).
func (b *Build) place(key string) *yaml.Node {
	for k := range strings.SplitSeq(key, ",") {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		n := b.h.With
		for part := range strings.SplitSeq(k, ".") {
			if n = childNode(n, part); n == nil {
				break
			}
		}
		if n != nil {
			return n
		}
	}
	switch {
	case b.h.WithKey != nil:
		return b.h.WithKey
	case b.h.With != nil && b.h.With.Line > 0:
		return b.h.With
	}
	return b.h.Uses
}

// childNode is the value of key in mapping n, or the element at index key of list n.
func childNode(n *yaml.Node, key string) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.SequenceNode {
		i, err := strconv.Atoi(key)
		if err != nil || i < 0 || i >= len(n.Content) {
			return nil
		}
		return n.Content[i]
	}
	return yamlnode.MapValue(n, key)
}

// Registry maps step names to definitions.
type Registry struct {
	mu   sync.RWMutex
	defs map[string]Definition
}

// Builtins is the registry that built-in steps add themselves to from init. It is the only package-level
// state of the engine.
var Builtins = NewRegistry()

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{defs: map[string]Definition{}} }

// Register adds a definition; a duplicate name panics, since it is a programming error.
func (r *Registry) Register(d Definition) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.defs[d.Spec.Name]; dup {
		panic("runner: step registered twice: " + d.Spec.Name)
	}
	r.defs[d.Spec.Name] = d
}

// Lookup finds a definition by name.
func (r *Registry) Lookup(name string) (Definition, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d, ok := r.defs[name]
	return d, ok
}

// Names lists the registered steps in order.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.defs))
	for n := range r.defs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Clone copies the registry so that a caller can add plugins without touching the original.
func (r *Registry) Clone() *Registry {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c := NewRegistry()
	for k, v := range r.defs {
		c.defs[k] = v
	}
	return c
}

// Register adds a built-in step with a typed configuration C, decoded strictly from `with:` over a copy of
// defaults. Settings are derived from C's fields and their tags:
//
//	yaml:"name"  doc:"what it is, in one sentence"  secret:"true"  spaces:"allowed"  required:"true"
//	enum:"a,b,c"  min:"1"  max:"16"  required_if:"mode=corp"  memo:"-"
//
// A setting that needs more than one sentence gets it from a method of C (or of a nested struct),
//
//	func (C) SettingDetails() map[string]string // setting name → Setting.Details
//
// build gets the decoded configuration and returns a Step or a Source.
func Register[C any](spec Spec, defaults C, build func(cfg C, b *Build) (any, error)) {
	Builtins.Register(Define(spec, defaults, build))
}

// Define is Register without the registration, for registries other than Builtins and for tests.
func Define[C any](spec Spec, defaults C, build func(cfg C, b *Build) (any, error)) Definition {
	t := reflect.TypeOf(defaults)
	spec.Settings = settingsOf(t, reflect.ValueOf(defaults))
	return Definition{
		Spec: spec,
		New: func(with *yaml.Node, b *Build) (any, any, error) {
			cfg := defaults
			cfg = deepCopy(cfg)
			b.h.With = with
			if err := decodeWith(with, &cfg, spec.Settings, b); err != nil {
				return nil, nil, err
			}
			impl, err := build(cfg, b)
			if err != nil {
				return nil, nil, err
			}
			return impl, redactConfig(cfg), nil
		},
	}
}

// Hinter is implemented by sources that can say how to find an item again in a later run (for items that
// must be retried after the window has moved on).
type Hinter interface {
	Hint(in *Item) any
}

// StuckReporter is implemented by the engine's Emitter. A source reports with Stuck an item it found but
// could not produce for a problem (its details could not be read), as opposed to NotReady, which means
// "not ready yet, and that is normal" (still being transcoded). Both keep the item pending for later
// runs; a run that leaves any item stuck fails (exit 1), naming the items and the reasons.
type StuckReporter interface {
	Stuck(id string, hint any, reason string)
}

// ReportStuck reports a stuck item through out when it can tell stuck from not ready, else as not ready.
func ReportStuck(out Emitter, id string, hint any, reason string) {
	if s, ok := out.(StuckReporter); ok {
		s.Stuck(id, hint, reason)
		return
	}
	out.NotReady(id, hint, reason)
}
