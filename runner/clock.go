package runner

import (
	"sync/atomic"
	"time"
)

// clock is the logical time now() of expressions reads: the end of the run's window, so that a rule gives
// the same answer when a run is repeated. Load sets it (LoadOptions.Now) and each Run sets it to its Until
// before any step starts; it is the one value of a loaded Pipeline that a run sets, and a run of the same
// options sets the same.
type clock struct{ t atomic.Pointer[time.Time] }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.set(t)
	return c
}

func (c *clock) set(t time.Time) { c.t.Store(&t) }

func (c *clock) now() time.Time { return *c.t.Load() }
