package steps

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"meetpipe/runner/step"
	"meetpipe/steps/kimi"
)

// kimiGuard is the one call guard of kimi_asr and kimi_classify: each request runs inside the step's
// limiter and timeout, a rejected key or an exhausted quota stops every later call of the run, and a
// failure is explained in the step's words (a 429's wait holds the limiter for every caller). It
// satisfies kimi.Guard, so the client package stays free of the engine. The guard lives as long as the
// step; what belongs to one run (the stop, the tokens) is in the run's scope (kimiRun).
type kimiGuard struct {
	lim     *step.Limiter
	timeout time.Duration // 0: none
	words   kimiWords
}

// kimiRun is what a Kimi step keeps for one run only.
type kimiRun struct {
	// stop holds an error that ends every later call of this run: an exhausted quota (deferred) or a
	// rejected key (permanent for the run, the items stay pending).
	stop atomic.Pointer[error]
	cls  *kimi.Run // kimi_classify: the classifier's tokens, answers and learned parameters of this run
	// chunks (kimi_asr) are the chunks transcribed in this run, so that when the engine retries an item
	// after one chunk failed, the chunks that succeeded are not paid for again.
	chunks *kimi.Cache[asrKey, *kimi.Transcription]
}

// run is the guard's state in ctx's run (a new one outside a run).
func (g *kimiGuard) run(ctx context.Context) *kimiRun {
	return step.RunValue(ctx, g, func() *kimiRun {
		return &kimiRun{cls: kimi.NewRun(), chunks: kimi.NewCache[asrKey](1024, cloneTranscription)}
	})
}

// kimiWords say, for one step, what a failure means to whoever reads the error.
type kimiWords struct {
	auth, quota func(err error) error // a rejected key (what to check), an exhausted quota
	// tooLarge and notFound explain those refusals; nil leaves the error as it is.
	tooLarge, notFound func(err error) error
}

var _ kimi.Guard = (*kimiGuard)(nil)

// Stopped is the error that stopped the calls of ctx's run, or nil.
func (g *kimiGuard) Stopped(ctx context.Context) error {
	if p := g.run(ctx).stop.Load(); p != nil {
		return *p
	}
	return nil
}

// Do runs f inside the limiter and the timeout and returns its error as it is.
func (g *kimiGuard) Do(ctx context.Context, f func(context.Context) error) error {
	if err := g.Stopped(ctx); err != nil {
		return err
	}
	release, err := g.lim.Acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	if g.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.timeout)
		defer cancel()
	}
	return f(ctx)
}

// Call is Do with the failure classified.
func (g *kimiGuard) Call(ctx context.Context, f func(context.Context) error) error {
	if err := g.Do(ctx, f); err != nil {
		return g.Fail(ctx, err)
	}
	return nil
}

// Fail explains a failed call and holds the run to it: the server's answer (kimi.APIError) tells the
// engine how it behaves by itself (Moonshot's three kinds of 429 differ only in error.type); the guard
// adds what the step's reader should check, holds the limiter for a server's wait, and makes a refusal
// every call meets (a rejected key, a spent quota, a retired model) the run's stop. An error that is not
// the server's answer passes unchanged, and so does the run's stop, which Do returns, so that it is not
// explained twice.
func (g *kimiGuard) Fail(ctx context.Context, err error) error {
	var ae *kimi.APIError
	if !errors.As(err, &ae) {
		return err
	}
	if stop := g.Stopped(ctx); stop != nil && errors.Is(err, stop) {
		return err
	}
	switch ae.Kind() {
	case kimi.ErrAuth:
		// The key, not the recording, is at fault: the items stay pending for the run after the fix.
		err = g.words.auth(err)
	case kimi.ErrQuota:
		// An exhausted balance or quota: every call of every item would meet it, so the run stops and the
		// items stay pending for the run after the top-up or the day's turn.
		err = g.words.quota(err)
	case kimi.ErrTooLarge:
		err = explain(g.words.tooLarge, err)
	case kimi.ErrNotFound, kimi.ErrUnavailable:
		// 404 "Not found the model … or Permission denied" (a retired model) and 400 "not available for your
		// organization" (a key moved elsewhere) meet every call, not one recording (corrections item 7). The
		// client calls no per-item path that could be missing.
		err = explain(g.words.notFound, err)
	}
	if w := ae.RetryAfter(); w > 0 {
		g.lim.Hold(w) // every caller of the limiter waits, not only the one told
	}
	if ae.Environmental() {
		return g.stopWith(ctx, err)
	}
	return err
}

// stopWith records e as the stop of ctx's run, unless another call got there first, and returns e.
func (g *kimiGuard) stopWith(ctx context.Context, e error) error {
	g.run(ctx).stop.CompareAndSwap(nil, &e)
	return e
}

func explain(f func(error) error, err error) error {
	if f == nil {
		return err
	}
	return f(err)
}
