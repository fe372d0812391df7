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

// StepError carries a classification and an optional wait requested by the remote side.
type StepError struct {
	Kind  Kind
	After time.Duration // wait at least this long before the next attempt (a server's Retry-After)
	Env   bool          // the environment is at fault, not the item: see Environmental
	Err   error
}

func (e *StepError) Error() string { return e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }

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
	return &StepError{Kind: KindDeferred, Env: true, Err: err}
}

// IsEnvironmental reports whether err was marked by Environmental.
func IsEnvironmental(err error) bool {
	var se *StepError
	return errors.As(err, &se) && se.Env
}

// Permanentf is fmt.Errorf plus Permanent.
func Permanentf(format string, args ...any) error { return Permanent(fmt.Errorf(format, args...)) }

func wrapKind(err error, k Kind, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &StepError{Kind: k, After: after, Err: err}
}

// Classify returns the kind of err and any requested wait. Unmarked errors are transient: the retry
// policy bounds them, and a step that knows better says so.
func Classify(err error) (Kind, time.Duration) {
	var se *StepError
	if errors.As(err, &se) {
		return se.Kind, se.After
	}
	return KindTransient, 0
}

// IsCanceled reports whether err comes from the run being stopped rather than from the step.
func IsCanceled(ctx context.Context, err error) bool {
	return ctx.Err() != nil && errors.Is(err, context.Canceled)
}
