package runner

import "time"

// addTargets makes the run's targets pending items of this run: the source lists them like items left by
// an earlier run, and one the run does not settle (it is stopped, or the item is not ready) stays in the
// pending list for the next run, so a pushed item is never forgotten.
func (r *run) addTargets() {
	now := time.Now().UTC()
	for _, t := range r.o.Targets {
		r.only[t.ID] = true
		old, ok := r.pendingOld[t.ID]
		if !ok {
			t.FirstSeen, t.LastSeen = now, now
			if t.Reason == "" {
				t.Reason = "named by an event"
			}
			r.pendingOld[t.ID] = t
			continue
		}
		if len(t.Hint) > 0 {
			old.Hint = t.Hint // the fresher hint
		}
		r.pendingOld[t.ID] = old
	}
}

// Source returns the pipeline's source step (its first), for a host that must ask it something the
// engine does not know of, such as which item a push event names.
func (p *Pipeline) Source() any { return p.stages[0].impl }
