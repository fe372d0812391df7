package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-multierror"
)

// RunOptions say what one run does.
type RunOptions struct {
	Since, Until time.Time // the window; Until zero: now
	DryRun       bool      // only side-effect-free steps run; nothing is written
	Explain      bool      // report, per item, why each step runs or is skipped
	From         string    // run this step and every later one even when memoized
	Force        []string  // run these steps even when memoized
	Only         []string  // only these item ids
	Report       io.Writer // dry-run and explain lines; nil: none
	JSON         bool      // report as JSON lines
	Logger       *slog.Logger
	Progress     *Terminal     // live progress line; nil: none
	Grace        time.Duration // after a stop, how long in-flight work may finish; 0: the pipeline's
}

// Hinter is implemented by sources that can say how to find an item again in a later run (for items that
// must be retried after the window has moved on).
type Hinter interface {
	Hint(in *Item) any
}

type ctxKey struct{}

// WithLogger returns ctx carrying l.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// Logger returns the logger of ctx, with the run, item and step attributes; slog.Default() outside a run.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(ctxKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// work is one item on its way through the stages.
type work struct {
	item       *Item
	next       int // first stage that still has to look at the item
	forceUntil int // stages before this run even when memoized (their memo was found stale)
	blocked    string
	trace      []stepTrace
	ended      bool
}

type stepTrace struct {
	Step     string `json:"step"`
	Action   string `json:"action"` // listed, memo, run, skip, filtered, failed, would-run, …
	Reason   string `json:"reason,omitempty"`
	Estimate string `json:"estimate,omitempty"`
}

type run struct {
	p       *Pipeline
	o       RunOptions
	st      *State
	vol     volatile
	info    RunInfo
	log     *slog.Logger
	workCtx context.Context
	stop    atomic.Bool
	forced  []bool
	only    map[string]bool
	hinter  Hinter
	resolve Resolver
	lazy    map[string]bool

	mu         sync.Mutex
	sum        Summary
	errs       *multierror.Error
	pendingOld map[string]Pending
	pending    map[string]Pending // after this run
	resolved   map[string]bool
	emitted    map[string]bool
	inflight   map[string]*Item
	envErr     error // set once a step reports an environment-wide fault; the run then stops
}

// Run lists the window and streams its items through the steps. It returns the run's summary and, when
// any item failed or the listing failed, an error listing every failure. Cancelling ctx stops the run:
// no new items are taken, in-flight steps get the grace period to finish, then they are cancelled;
// unfinished items stay pending for the next run.
func (p *Pipeline) Run(ctx context.Context, o RunOptions) (*Summary, error) {
	started := time.Now()
	if o.Until.IsZero() {
		o.Until = started
	}
	if o.Since.IsZero() {
		o.Since = o.Until.Add(-24 * time.Hour)
	}
	if !o.Since.Before(o.Until) {
		return nil, fmt.Errorf("run: window %s..%s is empty", o.Since.Format(time.RFC3339), o.Until.Format(time.RFC3339))
	}
	*p.now = o.Until
	if o.Grace == 0 {
		o.Grace = p.Grace
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	st, err := OpenState(p.StateDir, o.DryRun)
	if err != nil {
		return nil, err
	}
	defer st.Close()

	r := &run{p: p, o: o, st: st, vol: volatileOf(p.stages), forced: make([]bool, len(p.stages)),
		only: map[string]bool{}, pending: map[string]Pending{}, pendingOld: map[string]Pending{},
		resolved: map[string]bool{}, emitted: map[string]bool{}, inflight: map[string]*Item{},
		sum: Summary{Steps: map[string]int{}}}
	r.info = RunInfo{ID: newRunID(started), Pipeline: p.Name, Since: o.Since, Until: o.Until, Started: started, DryRun: o.DryRun}
	r.log = o.Logger.With("run", r.info.ID)
	r.hinter, _ = p.stages[0].impl.(Hinter)
	r.resolve, _ = p.stages[0].impl.(Resolver)
	r.lazy = map[string]bool{}
	for _, f := range p.stages[0].spec.Lazy {
		r.lazy[f] = true
	}
	for _, id := range o.Only {
		r.only[id] = true
	}
	if err := r.markForced(); err != nil {
		return nil, err
	}
	if err := r.loadPending(); err != nil {
		return nil, err
	}
	if config, err := r.open(ctx); err != nil {
		if config {
			return nil, err
		}
		return &Summary{Status: "failed", Finished: time.Now()}, err
	}

	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	r.workCtx = workCtx
	go func() {
		select {
		case <-ctx.Done():
		case <-workCtx.Done():
			return
		}
		r.stop.Store(true)
		r.log.Warn("stopping: no new items; in-flight work may finish", "grace", o.Grace)
		t := time.NewTimer(o.Grace)
		defer t.Stop()
		select {
		case <-t.C:
			r.log.Warn("grace period over: cancelling in-flight work")
			cancelWork()
		case <-workCtx.Done():
		}
	}()

	if !o.DryRun {
		r.observe(func(ob RunObserver) error { return ob.RunStarted(workCtx, r.info) })
	}
	for _, s := range p.stages {
		s.progress = &stageProgress{id: s.id}
	}
	if o.Progress != nil {
		o.Progress.SetStatus(r.statusLine)
		defer o.Progress.SetStatus(nil)
	}

	n := len(p.stages)
	chans := make([]chan *work, n)
	var wgs = make([]sync.WaitGroup, n)
	for i := 1; i < n; i++ {
		chans[i] = make(chan *work)
		for range p.stages[i].concurrency {
			wgs[i].Add(1)
			go func() {
				defer wgs[i].Done()
				r.worker(i, chans)
			}()
		}
	}

	r.log.Info("run started", "pipeline", p.Name, "since", o.Since.Format(time.RFC3339), "until", o.Until.Format(time.RFC3339), "dry_run", o.DryRun)
	win := Window{Since: o.Since, Until: o.Until, Pending: r.pendingList()}
	src := p.stages[0]
	src.progress.running.Add(1)
	listErr := src.source.List(WithLogger(ctx, r.log.With("step", src.id)), win, &emitter{r: r, ctx: ctx, chans: chans})
	src.progress.running.Add(-1)
	if listErr != nil && !((ctx.Err() != nil || r.stop.Load()) && errors.Is(listErr, context.Canceled)) {
		listErr = fmt.Errorf("step %s: list %s..%s: %w", src.id, o.Since.Format(time.RFC3339), o.Until.Format(time.RFC3339), listErr)
		r.log.Error("listing failed", "step", src.id, "err", p.Secrets.Scrub(listErr.Error()))
		r.mu.Lock()
		r.errs = multierror.Append(r.errs, errors.New(p.Secrets.Scrub(listErr.Error())))
		r.mu.Unlock()
	}
	if !o.DryRun {
		r.savePending()
	}
	for i := 1; i < n; i++ {
		close(chans[i])
		wgs[i].Wait()
	}

	costs := r.costs(o.Report)
	r.mu.Lock()
	if err := r.stuckError(); err != nil && !r.stop.Load() {
		r.errs = multierror.Append(r.errs, err)
	}
	r.sum.Finished = time.Now()
	r.sum.Costs = costs
	switch {
	case r.envErr != nil:
		r.sum.Status = "failed"
	case r.stop.Load():
		r.sum.Status = "interrupted"
	case r.errs != nil && r.sum.Failed == 0 && (r.sum.Pending > 0 || r.sum.Stuck > 0):
		r.sum.Status = "pending"
	case r.errs != nil:
		r.sum.Status = "failed"
	default:
		r.sum.Status = "ok"
	}
	sum := r.sum
	errs := r.errs
	r.mu.Unlock()
	if !o.DryRun {
		r.savePending()
		if err := st.PutRun(RunRecord{RunInfo: r.info, Summary: sum}); err != nil {
			r.log.Error("cannot save run history", "err", err)
		}
		r.observe(func(ob RunObserver) error { return ob.RunFinished(workCtx, r.info, sum) })
	}
	r.log.Info("run finished", "status", sum.Status, "items", sum.Items, "done", sum.Done, "skipped", sum.Skipped,
		"failed", sum.Failed, "pending", sum.Pending, "not_ready", sum.NotReady, "stuck", sum.Stuck, "ran", sum.Ran, "memo", sum.Memo,
		"elapsed", sum.Finished.Sub(started).Round(time.Millisecond).String())
	if errs != nil {
		errs.ErrorFormat = listFormat
		return &sum, errs
	}
	if r.stop.Load() {
		return &sum, errors.New("run interrupted; unfinished items stay pending for the next run")
	}
	return &sum, nil
}

func listFormat(es []error) string {
	s := fmt.Sprintf("%d failure(s):", len(es))
	for _, e := range es {
		s += "\n  * " + e.Error()
	}
	return s
}

func (r *run) markForced() error {
	ids := r.p.Stages()
	check := func(id string) (int, error) {
		i := slices.Index(ids, id)
		if i < 0 {
			return 0, fmt.Errorf("no step %q in %s (steps: %v)", id, r.p.File, ids)
		}
		return i, nil
	}
	for _, f := range r.o.Force {
		i, err := check(f)
		if err != nil {
			return err
		}
		r.forced[i] = true
	}
	if r.o.From != "" {
		i, err := check(r.o.From)
		if err != nil {
			return err
		}
		for j := i; j < len(ids); j++ {
			r.forced[j] = true
		}
	}
	return nil
}

func (r *run) observe(f func(RunObserver) error) {
	for _, s := range r.p.stages {
		if ob, ok := s.impl.(RunObserver); ok {
			if err := f(ob); err != nil {
				r.log.Warn("run observer failed", "step", s.id, "err", r.p.Secrets.Scrub(err.Error()))
			}
		}
	}
}

// emitter receives the source's items, plans them and feeds the first stage.
type emitter struct {
	r     *run
	ctx   context.Context
	chans []chan *work
}

func (e *emitter) Emit(ctx context.Context, id string, f Fields) error {
	r := e.r
	if r.stop.Load() {
		return e.stopped(id, f)
	}
	if len(r.only) > 0 && !r.only[id] {
		return nil
	}
	r.mu.Lock()
	dup := r.emitted[id]
	r.emitted[id] = true
	r.mu.Unlock()
	if dup {
		return nil
	}
	src := r.p.stages[0]
	it, err := NewItem(id, f)
	if err != nil {
		r.mu.Lock()
		r.sum.Items++
		r.mu.Unlock()
		r.finish(&work{item: &Item{id: id, fields: map[string]json.RawMessage{}}}, "failed", src.id, Permanent(err))
		return nil
	}
	w := &work{item: it, next: 1}
	r.mu.Lock()
	r.sum.Items++
	r.inflight[id] = it
	r.mu.Unlock()
	src.progress.done.Add(1)
	w.trace = append(w.trace, stepTrace{Step: src.id, Action: "listed"})
	if ok, reason := r.keep(src, w); !ok {
		r.finishSkipped(w, src, reason)
		return nil
	}
	r.plan(w)
	if w.ended {
		return nil
	}
	if len(r.p.stages) == 1 {
		r.finish(w, "done", "", nil)
		return nil
	}
	select {
	case e.chans[1] <- w:
		return nil
	case <-ctx.Done():
		r.finish(w, "pending", r.p.stages[w.next].id, Deferred(errors.New("interrupted before it started")))
		return ctx.Err()
	}
}

func (e *emitter) NotReady(id string, hint any, reason string) {
	r := e.r
	raw, _ := json.Marshal(hint)
	now := time.Now().UTC()
	r.mu.Lock()
	p := Pending{ID: id, Hint: raw, Reason: reason, FirstSeen: now, LastSeen: now}
	if old, ok := r.pendingOld[id]; ok {
		p.FirstSeen = old.FirstSeen
	}
	r.pending[id] = p
	r.sum.NotReady++
	r.mu.Unlock()
	r.log.Info("not ready yet; will look again in later runs", "item", id, "reason", reason)
	r.reportLine(id, "not-ready", reason, nil)
}

// plan serves the item from the memo as far as the memo goes, then checks that the memoized artifacts
// the first step to run depends on still exist; where they do not, it moves the start back.
func (r *run) plan(w *work) {
	stages := r.p.stages
	n := len(stages)
	snaps := make([]*Item, n+1)
	served := make([]bool, n)
	m := n
	for i := 1; i < n; i++ {
		s := stages[i]
		snaps[i] = w.item.Clone()
		if r.forced[i] {
			m = i
			break
		}
		if r.skipIf(s, w) {
			continue
		}
		if w.ended {
			return
		}
		key, _ := memoKey(s, w.item, r.vol)
		rec, err := r.st.Record(w.item.id, s.id)
		if err != nil || rec == nil || rec.Status != "done" || rec.Key != key {
			m = i
			break
		}
		r.apply(w, rec.Output)
		served[i] = true
		w.trace = append(w.trace, stepTrace{Step: s.id, Action: "memo"})
		s.progress.memo.Add(1)
		r.count(func(sum *Summary) { sum.Memo++ })
		if ok, reason := r.keep(s, w); !ok {
			r.finishSkipped(w, s, reason)
			return
		}
	}
	if m == n {
		r.finish(w, "done", "", nil)
		return
	}
	start := m
	for start > 1 && served[start-1] {
		prev := stages[start-1]
		v, ok := prev.impl.(Verifier)
		if !ok {
			break
		}
		err := v.Verify(r.workCtx, snaps[start])
		if err == nil {
			break
		}
		r.log.Info("memoized output is gone; running the step again", "item", w.item.id, "step", prev.id, "reason", r.p.Secrets.Scrub(err.Error()))
		start--
	}
	if start < m {
		w.item = snaps[start]
		w.forceUntil = m
		w.trace = slices.DeleteFunc(w.trace, func(t stepTrace) bool {
			i := slices.Index(r.p.Stages(), t.Step)
			return i >= start
		})
		for i := start; i < m; i++ {
			stages[i].progress.memo.Add(-1)
			r.count(func(sum *Summary) { sum.Memo-- })
		}
	}
	w.next = start
}

// skipIf evaluates a stage's if: and reports whether the item skips the stage. An evaluation error fails
// the item (w.ended).
func (r *run) skipIf(s *stage, w *work) bool {
	if s.iff == nil {
		return false
	}
	ok, err := s.iff.Bool(w.item, nil)
	if err != nil {
		r.finish(w, "failed", s.id, Permanent(fmt.Errorf("if: %w", err)))
		return false
	}
	if !ok {
		w.trace = append(w.trace, stepTrace{Step: s.id, Action: "skip", Reason: "if false: " + s.iff.Why(w.item, nil)})
		s.progress.skipped.Add(1)
	}
	return !ok
}

func (r *run) count(f func(*Summary)) {
	r.mu.Lock()
	f(&r.sum)
	r.mu.Unlock()
}

// keep evaluates a stage's filter after the stage.
func (r *run) keep(s *stage, w *work) (bool, string) {
	if s.filter == nil {
		return true, ""
	}
	ok, err := s.filter.Bool(w.item, nil)
	if err != nil {
		return false, fmt.Sprintf("filter of step %s failed: %v", s.id, err)
	}
	if !ok {
		return false, fmt.Sprintf("filter of step %s: %s", s.id, s.filter.Why(w.item, nil))
	}
	return true, ""
}

func (r *run) apply(w *work, out map[string]json.RawMessage) {
	w.item.setRaw(out)
}

func (r *run) worker(i int, chans []chan *work) {
	s := r.p.stages[i]
	last := i == len(r.p.stages)-1
	for w := range chans[i] {
		if !w.ended && i >= w.next {
			r.process(w, s)
		}
		if w.ended {
			continue
		}
		if last {
			if w.blocked != "" {
				r.finish(w, "would-run", "", nil)
			} else {
				r.finish(w, "done", "", nil)
			}
			continue
		}
		chans[i+1] <- w
	}
}

func (r *run) process(w *work, s *stage) {
	id := w.item.id
	if w.blocked != "" {
		// A dry run previews the if: on what it knows; a step whose if: is false is not "would-run".
		if s.iff != nil {
			if missing := s.iff.missing(w.item); len(missing) > 0 {
				w.trace = append(w.trace, stepTrace{Step: s.id, Action: "may-run",
					Reason: fmt.Sprintf("after %s; if: %s depends on %v, which it would write", w.blocked, oneLine(s.iff.Source()), missing)})
				return
			}
			if r.skipIf(s, w) || w.ended {
				return
			}
		}
		tr := stepTrace{Step: s.id, Action: "would-run", Reason: "after " + w.blocked}
		if e, ok := s.impl.(Estimator); ok {
			tr.Estimate = e.Estimate(w.item)
		}
		w.trace = append(w.trace, tr)
		return
	}
	if r.stop.Load() {
		r.finish(w, "pending", s.id, Deferred(errors.New("run stopped before this step")))
		return
	}
	if r.skipIf(s, w) || w.ended {
		return
	}
	key, inputs := memoKey(s, w.item, r.vol)
	why := "no record"
	rec, err := r.st.Record(id, s.id)
	if err != nil {
		r.log.Warn("cannot read state; running the step", "item", id, "step", s.id, "err", err)
	}
	switch {
	case r.forced[s.index]:
		why = "forced"
	case s.index < w.forceUntil:
		why = "memoized output was gone"
	case rec != nil && rec.Status == "done" && rec.Key == key:
		r.apply(w, rec.Output)
		w.trace = append(w.trace, stepTrace{Step: s.id, Action: "memo"})
		s.progress.memo.Add(1)
		r.count(func(sum *Summary) { sum.Memo++ })
		r.afterStep(w, s)
		return
	case rec != nil && rec.Status == "failed" && rec.Key == key:
		why = "failed last time: " + rec.Error
	case rec != nil:
		if c := changed(rec.Inputs, inputs); len(c) > 0 {
			why = fmt.Sprintf("changed: %v", c)
		} else {
			why = "key changed"
		}
	}
	if r.o.DryRun && s.spec.SideEffects {
		w.blocked = s.id
		tr := stepTrace{Step: s.id, Action: "would-run", Reason: why}
		if e, ok := s.impl.(Estimator); ok {
			tr.Estimate = e.Estimate(w.item)
		}
		w.trace = append(w.trace, tr)
		return
	}
	r.execute(w, s, key, inputs, why)
	if !w.ended {
		r.afterStep(w, s)
	}
}

func (r *run) afterStep(w *work, s *stage) {
	if ok, reason := r.keep(s, w); !ok {
		r.finishSkipped(w, s, reason)
	}
}

// execute runs the step with its retry policy and stores the record only once the output is safe.
func (r *run) execute(w *work, s *stage, key string, inputs map[string]string, why string) {
	id := w.item.id
	log := r.log.With("item", id, "step", s.id)
	rec := &Record{Step: s.id, Key: key, Inputs: inputs, Started: time.Now().UTC(), Run: r.info.ID}
	s.progress.running.Add(1)
	defer s.progress.running.Add(-1)
	log.Debug("step starts", "why", why)
	begin := time.Now()
	var lastErr error
	for attempt := 1; ; attempt++ {
		rec.Attempts = attempt
		actx, cancel := context.WithTimeout(r.workCtx, s.timeout)
		err := r.resolveLazy(WithLogger(actx, log), s, w)
		var out Fields
		if err == nil {
			out, err = s.step.Process(WithLogger(actx, log), w.item.Clone())
		}
		timedOut := actx.Err() == context.DeadlineExceeded && r.workCtx.Err() == nil
		cancel()
		if err == nil {
			raw, err := r.encodeOutput(s, out)
			if err != nil {
				lastErr = Permanent(err)
				break
			}
			rec.Status, rec.Output, rec.Finished = "done", raw, time.Now().UTC()
			if !r.o.DryRun {
				if err := r.st.PutRecord(id, rec); err != nil {
					lastErr = err
					break
				}
			}
			w.item.setRaw(raw)
			for k, v := range out { // volatile parts are not stored, but later steps of this run see them
				if b, err := marshalField(v); err == nil {
					w.item.fields[k] = b
				}
			}
			w.trace = append(w.trace, stepTrace{Step: s.id, Action: "run", Reason: why})
			s.progress.done.Add(1)
			r.count(func(sum *Summary) { sum.Ran++; sum.Steps[s.id]++ })
			log.Debug("step done", "attempts", attempt, "elapsed", time.Since(begin).Round(time.Millisecond).String())
			return
		}
		if timedOut {
			err = Transient(fmt.Errorf("timed out after %s: %w", s.timeout, err))
		}
		lastErr = err
		if r.workCtx.Err() != nil {
			rec.Status, rec.Error = "failed", r.p.Secrets.Scrub(err.Error())
			r.finish(w, "pending", s.id, Deferred(fmt.Errorf("interrupted: %w", err)))
			return
		}
		kind, after := Classify(err)
		if kind != KindTransient {
			break
		}
		if attempt >= s.retry.Attempts {
			break
		}
		wait := backoff(s.retry, attempt)
		if after > wait {
			wait = min(after, MaxWait) // a hostile Retry-After must not park the item for days
		}
		if s.retry.MaxElapsed > 0 && time.Since(begin)+wait > s.retry.MaxElapsed {
			break
		}
		log.Warn("step failed; retrying", "attempt", attempt, "wait", wait.Round(time.Millisecond).String(),
			"err", r.p.Secrets.Scrub(err.Error()))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-r.workCtx.Done():
			t.Stop()
		}
	}
	rec.Status, rec.Error, rec.Finished = "failed", r.p.Secrets.Scrub(lastErr.Error()), time.Now().UTC()
	if !r.o.DryRun {
		if err := r.st.PutRecord(id, rec); err != nil {
			log.Error("cannot save state", "err", err)
		}
	}
	kind, _ := Classify(lastErr)
	status := "failed"
	if kind == KindDeferred {
		status = "pending"
	}
	if IsEnvironmental(lastErr) {
		r.abort(s, lastErr)
	}
	r.finish(w, status, s.id, lastErr)
}

// resolveLazy asks the source for the lazy fields the step reads and the item lacks.
func (r *run) resolveLazy(ctx context.Context, s *stage, w *work) error {
	if r.resolve == nil {
		return nil
	}
	need := false
	for _, f := range s.spec.Reads {
		if r.lazy[f] && !w.item.Has(f) {
			need = true
		}
	}
	if !need {
		return nil
	}
	out, err := r.resolve.Resolve(ctx, w.item.Clone())
	if err != nil {
		return fmt.Errorf("resolve %s: %w", r.p.stages[0].id, err)
	}
	for k, v := range out {
		if !r.lazy[k] {
			return Permanent(fmt.Errorf("source %s resolved field %q, which it does not declare lazy", r.p.stages[0].uses, k))
		}
		b, err := marshalField(v)
		if err != nil {
			return Permanent(fmt.Errorf("source %s field %q: %w", r.p.stages[0].uses, k, err))
		}
		w.item.fields[k] = b // volatile: never stored
	}
	return nil
}

// backoff is exponential with full jitter: a random wait up to base·2^(attempt-1), capped.
func backoff(p RetryPolicy, attempt int) time.Duration {
	ceil := p.Backoff << (attempt - 1)
	if ceil <= 0 || ceil > p.MaxBackoff {
		ceil = p.MaxBackoff
	}
	if ceil <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(ceil)) + 1)
}

func (r *run) encodeOutput(s *stage, out Fields) (map[string]json.RawMessage, error) {
	raw := make(map[string]json.RawMessage, len(out))
	for k, v := range out {
		if !slices.ContainsFunc(s.spec.Writes, func(f Field) bool { return f.Name == k }) {
			return nil, fmt.Errorf("step %s wrote field %q, which its spec does not declare", s.uses, k)
		}
		b, err := marshalField(v)
		if err != nil {
			return nil, fmt.Errorf("step %s field %q: %w", s.uses, k, err)
		}
		raw[k] = r.vol.strip(k, b)
	}
	return raw, nil
}

func (r *run) finishSkipped(w *work, s *stage, reason string) {
	w.trace = append(w.trace, stepTrace{Step: s.id, Action: "filtered", Reason: reason})
	s.progress.skipped.Add(1)
	r.finish(w, "skipped", s.id, errors.New(reason))
}

// finish records an item's outcome: counts, failures, the pending list, state and report.
func (r *run) finish(w *work, status, step string, err error) {
	if w.ended {
		return
	}
	w.ended = true
	id := w.item.id
	reason := ""
	if err != nil {
		reason = r.p.Secrets.Scrub(err.Error())
	}
	kind, _ := Classify(err)
	retryLater := status == "pending" || status == "failed" && kind == KindTransient
	var hint json.RawMessage
	if retryLater && r.hinter != nil {
		hint, _ = json.Marshal(r.hinter.Hint(w.item))
	}
	r.mu.Lock()
	delete(r.inflight, id)
	switch status {
	case "done", "would-run":
		r.sum.Done++
	case "skipped":
		r.sum.Skipped++
	case "failed":
		r.sum.Failed++
		r.sum.Failures = append(r.sum.Failures, ItemFailure{Item: id, Step: step, Error: reason, Kind: kind.String()})
		r.errs = multierror.Append(r.errs, fmt.Errorf("item %s: step %s: %s", id, step, reason))
	case "pending":
		r.sum.Pending++
		if !r.stop.Load() {
			r.errs = multierror.Append(r.errs, fmt.Errorf("item %s: step %s: left for the next run: %s", id, step, reason))
		}
	}
	if retryLater {
		p := Pending{ID: id, Hint: hint, Reason: status + " at " + step + ": " + reason, FirstSeen: time.Now().UTC(), LastSeen: time.Now().UTC()}
		if old, ok := r.pendingOld[id]; ok {
			p.FirstSeen = old.FirstSeen
			if hint == nil || string(hint) == "null" {
				p.Hint = old.Hint
			}
		}
		r.pending[id] = p
	} else {
		r.resolved[id] = true
		delete(r.pending, id)
	}
	r.mu.Unlock()

	if step != "" {
		for _, s := range r.p.stages {
			if s.id == step && status == "failed" {
				s.progress.failed.Add(1)
			}
		}
	}
	switch status {
	case "failed":
		r.log.Error("item failed", "item", id, "step", step, "err", reason)
	case "pending":
		r.log.Warn("item left pending", "item", id, "step", step, "reason", reason)
	case "skipped":
		r.log.Info("item skipped", "item", id, "reason", reason)
	default:
		r.log.Debug("item finished", "item", id, "status", status)
	}
	if !r.o.DryRun {
		if err := r.st.PutItem(&ItemState{ID: id, Status: status, Step: step, Reason: reason, Run: r.info.ID, Updated: time.Now().UTC()}); err != nil {
			r.log.Error("cannot save item state", "item", id, "err", err)
		}
	}
	decision := status
	if status == "would-run" {
		decision = "would-process"
	}
	r.reportLine(id, decision, reason, w.trace)
}
