package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"meetpipe/runner/internal/state"
	"meetpipe/runner/internal/term"
	"meetpipe/runner/step"

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
	Progress     *term.Terminal // live progress line; nil: none
	Grace        time.Duration  // after a stop, how long in-flight work may finish; 0: the pipeline's
	// Targets are items named from outside (a push event), with the source's hint to find them: the
	// source lists them alone, not the window, and they are pending until this run settles them.
	Targets []step.Pending
}

// work is one item on its way through the stages.
type work struct {
	item       *step.Item
	next       int       // first stage that still has to look at the item
	forceUntil int       // stages before this run even when memoized (their memo was found stale)
	blocked    string    // dry run: the step with side effects that would run; the rest is a preview
	decided    *decision // the plan's decision at stage next, for the worker there
	trace      []stepTrace
	ended      bool
}

type run struct {
	p       *Pipeline
	o       RunOptions
	st      *state.State
	vol     volatile
	info    step.RunInfo
	log     *slog.Logger
	workCtx context.Context
	stop    atomic.Bool
	forced  []bool
	only    map[string]bool
	hinter  step.Hinter
	resolve step.Resolver
	lazy    map[string]bool
	prog    []*stageProgress // the live display's counts, by stage

	mu         sync.Mutex
	sum        step.Summary
	errs       *multierror.Error
	pendingOld map[string]step.Pending
	pending    map[string]step.Pending // after this run
	resolved   map[string]bool
	emitted    map[string]bool
	inflight   map[string]*step.Item
	envErr     error                // set once a step reports an environment-wide fault; the run then stops
	estimated  map[string]step.Cost // dry run: the CostEstimators' estimates of would-run items, by step id
	uncovered  []step.Span          // what earlier runs left uncovered (widen), cleared by a complete listing (covered)
	coverKept  bool                 // the run's window is recorded in uncovered.json
	report     reportBuf            // dry run, --explain: the items' lines, printed in order at the end
}

// StartError is Run's error when the run could not start, so that no summary exists: an empty window, a
// state folder that cannot be opened or is locked by another run (errors.Is finds ErrLocked), a --from or
// --force naming no step, a corrupt pending list or uncovered record, or an Open refusing the configuration.
type StartError struct{ Err error }

func (e *StartError) Error() string { return e.Err.Error() }
func (e *StartError) Unwrap() error { return e.Err }

// Run lists the window and streams its items through the steps. It returns the run's summary and, when
// any item failed or the listing failed, an error listing every failure; when the run could not start,
// no summary and a *StartError. Cancelling ctx stops the run: no new items are taken, in-flight steps get
// the grace period to finish, then they are cancelled; unfinished items stay pending for the next run.
// Run leaves the Pipeline as Load made it (but for the clock of now(), which it sets to o.Until), so a
// loaded Pipeline can be run again.
func (p *Pipeline) Run(ctx context.Context, o RunOptions) (*step.Summary, error) {
	notStarted := func(err error) (*step.Summary, error) { return nil, &StartError{Err: err} }
	started := time.Now()
	if o.Until.IsZero() {
		o.Until = started
	}
	if o.Since.IsZero() {
		o.Since = o.Until.Add(-24 * time.Hour)
	}
	if !o.Since.Before(o.Until) {
		return notStarted(fmt.Errorf("run: window %s..%s is empty", o.Since.Format(time.RFC3339), o.Until.Format(time.RFC3339)))
	}
	p.clock.set(o.Until)
	if o.Grace == 0 {
		o.Grace = p.Grace
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	st, err := state.Open(p.StateDir, o.DryRun)
	if err != nil {
		return notStarted(err)
	}
	defer st.Close()
	ctx = step.WithRunScope(ctx) // what steps keep for this run only (RunValue)
	r, err := newRun(p, o, st, started)
	if err != nil {
		return notStarted(err)
	}
	if config, err := r.widen(); err != nil {
		if config {
			return notStarted(err)
		}
		return &step.Summary{Status: step.RunFailed, Finished: time.Now()}, err
	}
	o = r.o
	if config, err := r.open(ctx); err != nil {
		if config {
			return notStarted(err)
		}
		return &step.Summary{Status: step.RunFailed, Finished: time.Now()}, err
	}

	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	r.workCtx = workCtx
	watched := make(chan struct{})
	go func() { r.watch(ctx, cancelWork); close(watched) }()
	// The watch ends with the run: nothing of it may log after Run returns (the caller's output is theirs).
	defer func() { cancelWork(); <-watched }()
	if !o.DryRun {
		r.observe(func(ob step.RunObserver) error { return ob.RunStarted(workCtx, r.info) })
	}
	if o.Progress != nil {
		o.Progress.SetStatus(r.statusLine)
		defer o.Progress.SetStatus(nil)
	}

	chans, wait := r.startStages()
	r.log.Info("run started", "pipeline", p.Name, "since", o.Since.Format(time.RFC3339), "until", o.Until.Format(time.RFC3339), "dry_run", o.DryRun)
	complete := r.list(ctx, chans)
	if !o.DryRun && r.savePending() == nil && complete {
		r.covered()
	}
	wait()
	return r.end(started)
}

func newRun(p *Pipeline, o RunOptions, st *state.State, started time.Time) (*run, error) {
	r := &run{p: p, o: o, st: st, vol: volatileOf(p.stages), forced: make([]bool, len(p.stages)),
		only: map[string]bool{}, pending: map[string]step.Pending{}, pendingOld: map[string]step.Pending{},
		resolved: map[string]bool{}, emitted: map[string]bool{}, inflight: map[string]*step.Item{},
		sum: step.Summary{Steps: map[string]int{}}, lazy: map[string]bool{}}
	for _, s := range p.stages {
		r.prog = append(r.prog, &stageProgress{id: s.id, units: &s.units, unitsBase: s.units.Load()})
	}
	r.info = step.RunInfo{ID: newRunID(started), Pipeline: p.Name, Since: o.Since, Until: o.Until, Started: started, DryRun: o.DryRun}
	r.log = o.Logger.With("run", r.info.ID)
	r.hinter, _ = p.stages[0].impl.(step.Hinter)
	r.resolve, _ = p.stages[0].impl.(step.Resolver)
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
	r.addTargets()
	return r, nil
}

// watch stops the run when ctx is cancelled: no new items at once, in-flight work cancelled after the
// grace period.
func (r *run) watch(ctx context.Context, cancelWork context.CancelFunc) {
	select {
	case <-ctx.Done():
		if r.workCtx.Err() != nil {
			return // the run had ended; its caller's context ended after it (cmdRun's signal context)
		}
	case <-r.workCtx.Done():
		return
	}
	r.stop.Store(true)
	r.log.Warn("stopping: no new items; in-flight work may finish", "grace", r.o.Grace)
	t := time.NewTimer(r.o.Grace)
	defer t.Stop()
	select {
	case <-t.C:
		r.log.Warn("grace period over: cancelling in-flight work")
		cancelWork()
	case <-r.workCtx.Done():
	}
}

// startStages starts every stage's workers after the source, each stage fed by its own channel. wait
// closes the channels in order and waits for the workers to drain them.
func (r *run) startStages() (chans []chan *work, wait func()) {
	n := len(r.p.stages)
	chans = make([]chan *work, n)
	wgs := make([]sync.WaitGroup, n)
	for i := 1; i < n; i++ {
		chans[i] = make(chan *work)
		for range r.p.stages[i].concurrency {
			wgs[i].Go(func() { r.worker(i, chans) })
		}
	}
	return chans, func() {
		for i := 1; i < n; i++ {
			close(chans[i])
			wgs[i].Wait()
		}
	}
}

// list runs the source over the window; the emitter plans each item and hands it to the first stage. It
// reports whether the listing ended (every item of the window was offered): not after a signal or a
// failure.
func (r *run) list(ctx context.Context, chans []chan *work) (complete bool) {
	src, o := r.p.stages[0], r.o
	win := step.Window{Since: o.Since, Until: o.Until, Pending: r.pendingList(), Targeted: len(o.Targets) > 0}
	r.prog[0].running.Add(1)
	err := src.source.List(step.WithLogger(ctx, r.log.With("step", src.id)), win, &emitter{r: r, ctx: ctx, chans: chans})
	r.prog[0].running.Add(-1)
	if err == nil {
		return ctx.Err() == nil
	}
	if (ctx.Err() != nil || r.stop.Load()) && errors.Is(err, context.Canceled) {
		r.log.Warn("listing stopped before its end; the window stays recorded for the next run", "window", step.Span{Since: o.Since, Until: o.Until}.String())
		return false
	}
	msg := r.p.Secrets.Scrub(fmt.Sprintf("step %s: list %s..%s: %v", src.id, o.Since.Format(time.RFC3339), o.Until.Format(time.RFC3339), err))
	r.log.Error("listing failed", "step", src.id, "err", msg)
	r.mu.Lock()
	r.errs = multierror.Append(r.errs, errors.New(msg))
	r.mu.Unlock()
	if !r.o.DryRun {
		r.log.Warn("the window stays recorded: the next run lists it again, whatever its --since", "window", step.Span{Since: o.Since, Until: o.Until}.String())
	}
	return false
}

// end settles the run's status, saves the pending list and history, and tells the observers.
func (r *run) end(started time.Time) (*step.Summary, error) {
	costs := r.costs(r.workCtx)
	r.endReport(costs)
	if !r.o.DryRun {
		r.savePending() // before the status: a list that cannot be kept fails the run
	} else {
		n := len(r.finalPending()) // what the list would hold: the dry run writes nothing
		r.mu.Lock()
		r.sum.Pending = n
		r.mu.Unlock()
	}
	r.mu.Lock()
	if err := r.stuckError(); err != nil && !r.stop.Load() {
		r.errs = multierror.Append(r.errs, err)
	}
	r.sum.Finished = time.Now()
	r.sum.Costs = costs
	switch {
	case r.envErr != nil, r.sum.PendingLost != "":
		r.sum.Status = step.RunFailed
	case r.stop.Load():
		r.sum.Status = step.RunInterrupted
	case r.errs != nil && r.sum.Failed == 0 && (r.sum.Deferred > 0 || r.sum.Stuck > 0):
		r.sum.Status = step.RunPending
	case r.errs != nil:
		r.sum.Status = step.RunFailed
	default:
		r.sum.Status = step.RunOK
	}
	sum := r.sum
	errs := r.errs
	r.mu.Unlock()
	if !r.o.DryRun {
		if err := r.st.PutRun(state.RunRecord{RunInfo: r.info, Summary: sum}); err != nil {
			r.log.Error("cannot save run history", "err", err)
		}
		r.observe(func(ob step.RunObserver) error { return ob.RunFinished(r.workCtx, r.info, sum) })
	}
	if sum.Status != step.RunInterrupted {
		r.retain()
	}
	if len(sum.Backfill) > 0 {
		r.log.Warn("this run also listed windows earlier runs could not list", "windows", spansText(sum.Backfill))
	}
	if len(sum.Uncovered) > 0 {
		r.log.Warn("windows left for the next run to list (it lists them whatever its --since)", "windows", spansText(sum.Uncovered))
	}
	r.log.Info("run finished", "status", sum.Status, "items", sum.Items, "done", sum.Done, "skipped", sum.Skipped,
		"failed", sum.Failed, "pending", sum.Pending, "deferred", sum.Deferred, "not_ready", sum.NotReady, "stuck", sum.Stuck, "ran", sum.Ran, "memo", sum.Memo,
		"elapsed", sum.Finished.Sub(started).Round(time.Millisecond).String())
	r.logFiltered(sum)
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

func (r *run) observe(f func(step.RunObserver) error) {
	for _, s := range r.p.stages {
		if ob, ok := s.impl.(step.RunObserver); ok {
			if err := f(ob); err != nil {
				r.log.Warn("run observer failed", "step", s.id, "err", r.p.Secrets.Scrub(err.Error()))
			}
		}
	}
}

// newRunID is sortable by time and unique enough for one state directory.
func newRunID(t time.Time) string {
	return t.UTC().Format("20060102T150405.000Z") + "-" + strconv.Itoa(os.Getpid())
}
