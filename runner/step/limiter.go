package step

import (
	"context"
	"sync"
	"time"
)

// Limiter bounds the requests to one remote service: how many are in flight and how many start per minute.
// Several steps may share one (named under `limiters:`). A server's "wait N seconds" holds every user of
// the limiter, not only the request that was told.
type Limiter struct {
	name     string
	slots    chan struct{} // nil: no concurrency bound
	interval time.Duration // minimum spacing of starts; 0: no rate bound

	mu       sync.Mutex
	next     time.Time // earliest next start
	heldTill time.Time
}

// NewLimiter returns a limiter allowing concurrency requests at once (0: unbounded) and rpm starts per
// minute (0: unbounded). Starts are spaced evenly, so a burst never trips a per-minute limit.
func NewLimiter(name string, concurrency int, rpm float64) *Limiter {
	l := &Limiter{name: name}
	if concurrency > 0 {
		l.slots = make(chan struct{}, concurrency)
	}
	if rpm > 0 {
		l.interval = time.Duration(float64(time.Minute) / rpm)
	}
	return l
}

// Unlimited returns a limiter that never waits.
func Unlimited() *Limiter { return &Limiter{name: "unlimited"} }

// Name is the limiter's name in the pipeline file.
func (l *Limiter) Name() string { return l.name }

// Acquire waits for a slot and for the rate, then returns the function that frees the slot.
func (l *Limiter) Acquire(ctx context.Context) (release func(), err error) {
	if l.slots != nil {
		select {
		case l.slots <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	release = func() {
		if l.slots != nil {
			<-l.slots
		}
	}
	if err := l.wait(ctx); err != nil {
		release()
		return nil, err
	}
	return release, nil
}

func (l *Limiter) wait(ctx context.Context) error {
	l.mu.Lock()
	now := time.Now()
	start := now
	if l.heldTill.After(start) {
		start = l.heldTill
	}
	if l.interval > 0 {
		if l.next.After(start) {
			start = l.next
		}
		l.next = start.Add(l.interval)
	}
	l.mu.Unlock()
	if d := start.Sub(now); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Hold makes every caller wait until d from now (a server said "try again after d").
func (l *Limiter) Hold(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t := time.Now().Add(d); t.After(l.heldTill) {
		l.heldTill = t
	}
}
