package step

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Kind says what the engine does with a step's error.
type Kind int

const (
	// KindTransient errors are retried with backoff until the step's retry policy gives up.
	KindTransient Kind = iota
	// KindPermanent errors fail the item at once: retrying cannot help (a corrupt file, a rejected key).
	KindPermanent
	// KindDeferred errors leave the item pending for the next run without retrying now and without
	// counting as a failure of the item (an exhausted quota, a service switched off for this run).
	KindDeferred
)

func (k Kind) String() string {
	switch k {
	case KindPermanent:
		return "permanent"
	case KindDeferred:
		return "deferred"
	default:
		return "transient"
	}
}

// markedError carries a classification and an optional wait requested by the remote side. It answers the
// four questions Classify asks (Permanent, Deferred, RetryAfter, Environmental), so a mark overrides any
// answer of the errors it wraps.
type markedError struct {
	Kind  Kind
	After time.Duration // wait at least this long before the next attempt (a server's Retry-After)
	Env   bool          // the environment is at fault, not the item: see Environmental
	Err   error
}

func (e *markedError) Error() string { return e.Err.Error() }
func (e *markedError) Unwrap() error { return e.Err }

// Permanent, Deferred, RetryAfter and Environmental answer Classify's questions from the mark.
func (e *markedError) Permanent() bool           { return e.Kind == KindPermanent }
func (e *markedError) Deferred() bool            { return e.Kind == KindDeferred }
func (e *markedError) RetryAfter() time.Duration { return e.After }
func (e *markedError) Environmental() bool       { return e.Env }

// Permanent marks err as not worth retrying.
func Permanent(err error) error { return wrapKind(err, KindPermanent, 0) }

// Transient marks err as worth retrying.
func Transient(err error) error { return wrapKind(err, KindTransient, 0) }

// RetryAfter marks err as transient and asks for at least d before the next attempt.
func RetryAfter(err error, d time.Duration) error { return wrapKind(err, KindTransient, d) }

// Deferred marks err as leaving the item pending for a later run.
func Deferred(err error) error { return wrapKind(err, KindDeferred, 0) }

// Environmental marks err as a fault of the environment, not of the item: a rejected key, a database user
// without the privileges it needs, a schema of another shape. Every item would fail the same way until
// someone fixes it, so the item stays pending (as Deferred) and the run stops taking new items and ends
// with a failure (exit 1); the next run after the fix does the work.
func Environmental(err error) error {
	if err == nil {
		return nil
	}
	return &markedError{Kind: KindDeferred, Env: true, Err: err}
}

// IsEnvironmental reports whether err is the environment's fault: marked by Environmental, or the first
// error along its chain with an Environmental() bool method says so.
func IsEnvironmental(err error) bool {
	var e interface{ Environmental() bool }
	return errors.As(err, &e) && e.Environmental()
}

// Permanentf is fmt.Errorf plus Permanent.
func Permanentf(format string, args ...any) error { return Permanent(fmt.Errorf(format, args...)) }

func wrapKind(err error, k Kind, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &markedError{Kind: k, After: after, Err: err}
}

// Classify returns the kind of err and any requested wait. Like net.Error's Timeout, it asks the error
// how it behaves, so a client package can answer without importing the engine: for each of these methods,
// the first error along err's chain (errors.As) that has it answers.
//
//	Environmental() bool        true: deferred, and the run stops taking items (see Environmental)
//	Permanent() bool            true: permanent
//	Deferred() bool             true: deferred
//	RetryAfter() time.Duration  otherwise transient, after at least that wait
//
// The marks of Permanent, Transient, RetryAfter, Deferred and Environmental answer all four, so a mark
// overrides what it wraps. Errors that answer none are transient: the retry policy bounds them, and a
// step that knows better says so.
func Classify(err error) (Kind, time.Duration) {
	if err == nil {
		return KindTransient, 0
	}
	var p interface{ Permanent() bool }
	var d interface{ Deferred() bool }
	switch {
	case IsEnvironmental(err):
		return KindDeferred, 0
	case errors.As(err, &p) && p.Permanent():
		return KindPermanent, 0
	case errors.As(err, &d) && d.Deferred():
		return KindDeferred, 0
	}
	var r interface{ RetryAfter() time.Duration }
	if errors.As(err, &r) {
		return KindTransient, max(r.RetryAfter(), 0)
	}
	return KindTransient, 0
}

// IsCanceled reports whether err comes from the run being stopped rather than from the step.
func IsCanceled(ctx context.Context, err error) bool {
	return ctx.Err() != nil && errors.Is(err, context.Canceled)
}
