package runner

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"meetpipe/runner/internal/yamlnode"
	"meetpipe/runner/step"

	"gopkg.in/yaml.v3"
)

// pipelineFile is the decoded YAML, with the nodes kept for positions.
type pipelineFile struct {
	Name          string
	StateDir      string
	LogFile       string
	PendingMaxAge time.Duration
	Grace         time.Duration
	Vars          map[string]any
	varNodes      map[string]*yaml.Node
	Limiters      map[string]limiterConf
	Steps         []stepConf
	Redact        *redactConf
	Retention     *step.Retention
	Schedule      Schedule
}

type limiterConf struct {
	Concurrency int
	RPM         float64
	node        *yaml.Node
}

type stepConf struct {
	ID          string
	Uses        string
	With        *yaml.Node
	Filter, If  *step.Expr
	Concurrency int
	Timeout     time.Duration
	Retry       RetryPolicy
	Limiter     string
	node        *yaml.Node // the step's mapping
	usesNode    *yaml.Node
	limiterNode *yaml.Node
}

// RetryPolicy says how often and how patiently a step is retried on transient errors.
type RetryPolicy struct {
	Attempts   int           `json:"attempts"`    // total tries, first included
	Backoff    time.Duration `json:"backoff"`     // base of the exponential backoff
	MaxBackoff time.Duration `json:"max_backoff"` // cap of one wait
	MaxElapsed time.Duration `json:"max_elapsed"` // cap of all tries and waits together; 0: none
}

var defaultRetry = RetryPolicy{Attempts: 3, Backoff: time.Second, MaxBackoff: time.Minute}

// decoder walks the node tree, records diagnostics and never stops at the first.
type decoder struct {
	file  string
	lines []string
	ds    *step.Diagnostics
	// listSrc is the text of each interpolated scalar before interpolation (`!list` names its variable).
	listSrc map[*yaml.Node]string
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	line, col := 0, 0
	if n != nil {
		line, col = n.Line, n.Column
	}
	d.ds.Addf(d.file, line, col, format, args...)
}

// fields iterates a mapping, reporting unknown and duplicate keys.
func (d *decoder) fields(n *yaml.Node, what string, known []string, f func(key string, k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: want a mapping, got %s", what, yamlnode.Describe(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind == yaml.AliasNode {
			v = v.Alias
		}
		if seen[k.Value] {
			d.errorf(k, "%s: duplicate key %q", what, k.Value)
			continue
		}
		seen[k.Value] = true
		if !contains(known, k.Value) {
			d.errorf(k, "%s: unknown key %q%s", what, k.Value, yamlnode.Suggest(k.Value, known))
			continue
		}
		f(k.Value, k, v)
	}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func (d *decoder) str(n *yaml.Node, what string) string {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		d.errorf(n, "%s: want a string, got %s", what, yamlnode.Describe(n))
		return ""
	}
	return n.Value
}

func (d *decoder) bool(n *yaml.Node, what string) bool {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		d.errorf(n, "%s: want true or false, got %s", what, yamlnode.Describe(n))
		return false
	}
	b, _ := strconv.ParseBool(n.Value)
	return b
}

func (d *decoder) strs(n *yaml.Node, what string) []string {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "%s: want a list of strings, got %s", what, yamlnode.Describe(n))
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for _, e := range n.Content {
		out = append(out, d.str(e, what+" item"))
	}
	return out
}

// oneOf decodes a string that must be one of known; a near miss gets its did-you-mean. A wrong value is
// returned too, so that later checks do not report it missing.
func (d *decoder) oneOf(n *yaml.Node, what string, known []string) string {
	s := d.str(n, what)
	if s != "" && !contains(known, s) {
		d.errorf(n, "%s %q: want one of %s%s", what, s, strings.Join(known, ", "), yamlnode.DidYouMean(s, known))
	}
	return s
}

// Upper bounds of the engine's counts, enforced at load: a count is a promise of memory, goroutines or
// requests, and a typo (a missing unit, a pasted id) must not become a billion of them.
const (
	// MaxConcurrency bounds a step's workers and a limiter's slots: far above what any remote service or
	// a machine's disks and cores serve, low enough that the workers' stacks stay in megabytes.
	MaxConcurrency = 256
	// MaxRPM bounds a limiter's starts per minute (1000/s): no remote API of a pipeline takes more.
	MaxRPM = 60000
	// MaxAttempts bounds a step's tries of one item: with backoff capped at max_backoff, 100 tries
	// already spans hours.
	MaxAttempts = 100
	// MaxTimeout bounds one attempt of a step: a day, the longest a nightly window can wait.
	MaxTimeout = 24 * time.Hour
	// MaxWait bounds backoffs and grace: a run that waits longer than an hour per pause looks hung.
	MaxWait = time.Hour
)

func (d *decoder) int(n *yaml.Node, what string, lo, hi int) int {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		d.errorf(n, "%s: want an integer, got %s", what, yamlnode.Describe(n))
		return 0
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil || v < lo || v > hi {
		d.errorf(n, "%s: want an integer from %d to %d, got %s", what, lo, hi, n.Value)
		return 0
	}
	return v
}

func (d *decoder) number(n *yaml.Node, what string, hi float64) float64 {
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		d.errorf(n, "%s: want a number, got %s", what, yamlnode.Describe(n))
		return 0
	}
	v, err := strconv.ParseFloat(n.Value, 64)
	if err != nil || !(v >= 0 && v <= hi) {
		d.errorf(n, "%s: want a number from 0 to %g, got %s", what, hi, n.Value)
		return 0
	}
	return v
}

// duration decodes a duration in lo..hi.
func (d *decoder) duration(n *yaml.Node, what string, lo, hi time.Duration) time.Duration {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, "%s: want a duration such as 30s, 5m or 7d, got %s", what, yamlnode.Describe(n))
		return 0
	}
	v, err := step.ParseDuration(n.Value)
	if err != nil || v < 0 {
		d.errorf(n, "%s: %q is not a duration (use 300ms, 30s, 5m, 2h or 7d)", what, n.Value)
		return 0
	}
	if v < lo || v > hi {
		d.errorf(n, "%s: want a duration from %s to %s, got %s", what, fmtDuration(lo), fmtDuration(hi), n.Value)
		return 0
	}
	return v
}

// fmtDuration writes d as a pipeline file would: 0s, 10s, 5m, 1h30m, 14d (trailing zero units dropped, a
// zero bound still shown, and 10s not cut to "1").
func fmtDuration(d time.Duration) string {
	if d > 24*time.Hour && d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func (d *decoder) expr(n *yaml.Node, what string) *step.Expr {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, "%s: want an expression (a string), got %s", what, yamlnode.Describe(n))
		return nil
	}
	return step.ExprAt(n, d.file, d.lines)
}

var topKeys = []string{"name", "state_dir", "log_file", "pending_max_age", "grace", "vars", "limiters", "steps", "redact", "retention", "schedule"}
var stepKeys = []string{"id", "uses", "with", "filter", "if", "concurrency", "timeout", "retry", "limiter"}

func (d *decoder) pipeline(root *yaml.Node) *pipelineFile {
	p := &pipelineFile{StateDir: "./var", PendingMaxAge: 14 * 24 * time.Hour, Grace: 30 * time.Second, Schedule: DefaultSchedule,
		Vars: map[string]any{}, varNodes: map[string]*yaml.Node{}, Limiters: map[string]limiterConf{}}
	var stepsNode *yaml.Node
	d.fields(root, "pipeline", topKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "name":
			p.Name = d.str(v, key)
		case "state_dir":
			p.StateDir = d.str(v, key)
		case "log_file":
			p.LogFile = d.str(v, key)
		case "pending_max_age":
			p.PendingMaxAge = d.duration(v, key, 0, 365*24*time.Hour)
		case "grace":
			p.Grace = d.duration(v, key, 0, MaxWait)
		case "vars":
			d.vars(v, p)
		case "limiters":
			d.limiters(v, p)
		case "steps":
			stepsNode = v
		case "redact":
			p.Redact = d.redact(v)
		case "retention":
			p.Retention = d.retention(v)
		case "schedule":
			p.Schedule = d.schedule(v)
		}
	})
	if root.Kind != yaml.MappingNode {
		return p
	}
	if stepsNode == nil {
		d.errorf(root, "pipeline: no steps: add a `steps:` list")
		return p
	}
	if stepsNode.Kind != yaml.SequenceNode {
		d.errorf(stepsNode, "steps: want a list, got %s", yamlnode.Describe(stepsNode))
		return p
	}
	if len(stepsNode.Content) == 0 {
		d.errorf(stepsNode, "steps: the list is empty")
	}
	for _, sn := range stepsNode.Content {
		p.Steps = append(p.Steps, d.step(sn))
	}
	return p
}

func (d *decoder) vars(n *yaml.Node, p *pipelineFile) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "vars: want a mapping, got %s", yamlnode.Describe(n))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !validVarName(k.Value) {
			d.errorf(k, "vars: %q is not a valid name (letters, digits, _)", k.Value)
			continue
		}
		if _, dup := p.Vars[k.Value]; dup {
			d.errorf(k, "vars: duplicate key %q", k.Value)
			continue
		}
		var val any
		if v.Tag == "!list" {
			// `teachers: !list ${TEACHER_WHITELIST}` accepts a JSON array (as .env.example writes it) or a comma list.
			l, err := step.ParseList(v.Value)
			if err != nil {
				d.errorf(v, "vars.%s: %v", k.Value, err)
				continue
			}
			if len(l) == 0 {
				// An empty whitelist filters out every recording and the night looks green: refused here.
				d.errorf(v, "vars.%s: the list is empty%s", k.Value, emptyListHint(d.listSrc[v]))
			}
			val = l
		} else if err := v.Decode(&val); err != nil {
			d.errorf(v, "vars.%s: %v", k.Value, err)
			continue
		}
		p.Vars[k.Value] = normalizeVar(val)
		p.varNodes[k.Value] = k
	}
}

// emptyListHint names the variables an empty `!list` came from, and the forms it accepts.
func emptyListHint(src string) string {
	names := varRefs(src)
	if len(names) == 0 {
		return "; write at least one entry"
	}
	return fmt.Sprintf(": %s is empty or unset; set it to at least one entry, e.g. %s=teacher_001,teacher_002 "+
		"(a JSON array, or entries separated by commas, ，, 、, spaces or new lines)", strings.Join(names, " / "), names[0])
}

// normalizeVar makes lists of strings []string so that `x in teachers` type-checks as strings.
func normalizeVar(v any) any {
	l, ok := v.([]any)
	if !ok {
		return v
	}
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, ok := e.(string)
		if !ok {
			return v
		}
		out = append(out, s)
	}
	return out
}

func (d *decoder) limiters(n *yaml.Node, p *pipelineFile) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "limiters: want a mapping, got %s", yamlnode.Describe(n))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		lc := limiterConf{node: k}
		d.fields(v, "limiters."+k.Value, []string{"concurrency", "rpm"}, func(key string, _, v *yaml.Node) {
			switch key {
			case "concurrency":
				lc.Concurrency = d.int(v, key, 1, MaxConcurrency)
			case "rpm":
				lc.RPM = d.number(v, key, MaxRPM)
			}
		})
		p.Limiters[k.Value] = lc
	}
}

func (d *decoder) step(n *yaml.Node) stepConf {
	s := stepConf{node: n, Concurrency: 1, Retry: defaultRetry, Timeout: time.Hour}
	d.fields(n, "step", stepKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "id":
			s.ID = d.str(v, key)
		case "uses":
			s.Uses, s.usesNode = d.str(v, key), v
		case "with":
			s.With = v
		case "filter":
			s.Filter = d.expr(v, key)
		case "if":
			s.If = d.expr(v, key)
		case "concurrency":
			s.Concurrency = d.int(v, key, 1, MaxConcurrency)
		case "timeout":
			// 0 would fail every attempt at once: a step that needs no limit gets the largest one.
			s.Timeout = d.duration(v, key, time.Millisecond, MaxTimeout)
		case "retry":
			d.retry(v, &s.Retry)
		case "limiter":
			s.Limiter, s.limiterNode = d.str(v, key), v
		}
	})
	if n.Kind == yaml.MappingNode && s.usesNode == nil {
		d.errorf(n, "step: missing `uses:` (the name of a step; `runner steps` lists them)")
	}
	if s.ID == "" {
		s.ID = s.Uses
	}
	return s
}

func (d *decoder) retry(n *yaml.Node, r *RetryPolicy) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" { // `retry: 5` is the short form
		r.Attempts = d.int(n, "retry", 1, MaxAttempts)
		return
	}
	d.fields(n, "retry", []string{"attempts", "backoff", "max_backoff", "max_elapsed"}, func(key string, _, v *yaml.Node) {
		switch key {
		case "attempts":
			r.Attempts = d.int(v, key, 1, MaxAttempts)
		case "backoff":
			r.Backoff = d.duration(v, key, 0, MaxWait)
		case "max_backoff":
			r.MaxBackoff = d.duration(v, key, 0, MaxWait)
		case "max_elapsed":
			r.MaxElapsed = d.duration(v, key, 0, 7*24*time.Hour)
		}
	})
	if r.MaxBackoff < r.Backoff {
		r.MaxBackoff = r.Backoff
	}
}
