package runner

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"meetpipe/runner/step"

	"github.com/hashicorp/go-multierror"
)

// loadPending reads the items earlier runs left to look at again and drops those older than the
// pipeline's pending_max_age: a recording that never finishes transcoding must not be polled forever.
func (r *run) loadPending() error {
	list, note, err := r.st.LoadPending()
	if err != nil {
		return err
	}
	if note != "" {
		r.log.Warn("pending list recovered from its backup", "note", note)
	}
	cutoff := time.Now().Add(-r.p.PendingMaxAge)
	for _, p := range list {
		if r.p.PendingMaxAge > 0 && p.FirstSeen.Before(cutoff) {
			r.log.Warn("giving up on a pending item: older than pending_max_age", "item", p.ID,
				"first_seen", p.FirstSeen.Format(time.RFC3339), "reason", p.Reason)
			continue
		}
		r.pendingOld[p.ID] = p
	}
	return nil
}

func (r *run) pendingList() []step.Pending {
	out := make([]step.Pending, 0, len(r.pendingOld))
	for _, p := range r.pendingOld {
		if len(r.only) > 0 && !r.only[p.ID] {
			continue
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// savePending writes what later runs must look at again: earlier entries not settled by this run, the
// items reported not ready or left pending, and the items still in flight — so that a run killed at any
// moment loses no item even when the next run's window has moved on. When the list cannot be written the
// run says so in its summary and fails: the items it should name are not kept.
func (r *run) savePending() error {
	list := r.finalPending()
	if err := r.st.PutPending(list); err != nil {
		msg := r.p.Secrets.Scrub(err.Error())
		r.log.Error("cannot save the pending list: the items it should name may not be found again", "items", len(list), "err", msg)
		r.mu.Lock()
		if r.sum.PendingLost == "" {
			r.errs = multierror.Append(r.errs, fmt.Errorf("the pending list (%d items) could not be kept: %s; "+
				"free space under state_dir and run again with a --since that covers this run's window", len(list), msg))
		}
		r.sum.PendingLost = msg
		r.sum.Pending = len(list)
		r.mu.Unlock()
		return err
	}
	r.mu.Lock()
	r.sum.PendingLost = ""
	r.sum.Pending = len(list) // the one count of pending items (Summary.Pending)
	r.mu.Unlock()
	return nil
}

// finalPending is the pending list as the run would leave it now, by id.
func (r *run) finalPending() []step.Pending {
	r.mu.Lock()
	final := map[string]step.Pending{}
	for id, p := range r.pendingOld {
		if !r.resolved[id] {
			final[id] = p
		}
	}
	for id, p := range r.pending {
		final[id] = p
	}
	now := time.Now().UTC()
	for id, it := range r.inflight {
		if _, ok := final[id]; ok {
			continue
		}
		p := step.Pending{ID: id, Reason: "in progress when the run stopped", FirstSeen: now, LastSeen: now}
		if r.hinter != nil {
			p.Hint, _ = json.Marshal(r.hinter.Hint(it))
		}
		final[id] = p
	}
	list := make([]step.Pending, 0, len(final))
	for _, p := range final {
		// A source's reason may quote a remote error that echoes a credential.
		p.Reason = r.p.Secrets.Scrub(p.Reason)
		list = append(list, p)
	}
	r.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	return list
}
