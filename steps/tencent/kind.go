package tencent

import (
	"errors"
	"fmt"
	"time"
)

// kind says whether trying a failed call again can help. The package's own retries read it (kindOf); an
// engine asks an Error how it behaves instead (Permanent, Deferred, RetryAfter, Environmental).
type kind int

const (
	// kindTransient failures may pass: a 5xx, a gateway page, a network error, a timeout, a rate limit.
	kindTransient kind = iota
	// kindPermanent failures will not: a rejected signature, a missing permission, a deleted recording.
	kindPermanent
	// kindDeferred failures wait for a later run: the app's daily quota is spent.
	kindDeferred
)

func (k kind) String() string {
	switch k {
	case kindPermanent:
		return "permanent"
	case kindDeferred:
		return "deferred"
	default:
		return "transient"
	}
}

// Error is a failure with its kind, and the least wait before another attempt (After, for a rate limit
// or a server's Retry-After).
type Error struct {
	kind  kind
	After time.Duration
	Err   error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Environmental reports a refusal every call would meet, whatever the recording (EveryCall): the app's
// credentials, clock, egress IP, enterprise or quota. Such an error is also Deferred: the work waits for
// the run after the fix.
func (e *Error) Environmental() bool { return EveryCall(e.Err) }

// Permanent reports a failure that trying again cannot fix, and that is this call's own.
func (e *Error) Permanent() bool { return e.kind == kindPermanent && !e.Environmental() }

// Deferred reports a failure that waits for a later run (a spent quota), or is the environment's.
func (e *Error) Deferred() bool { return e.kind == kindDeferred || e.Environmental() }

// RetryAfter is the least wait before another attempt of a transient failure (0: none asked).
func (e *Error) RetryAfter() time.Duration {
	if e.kind != kindTransient {
		return 0
	}
	return e.After
}

// kindOf returns the kind of err and the wait it asks for. Unmarked errors (a cancelled context, a
// network failure) are transient.
func kindOf(err error) (kind, time.Duration) {
	var e *Error
	if errors.As(err, &e) {
		return e.kind, e.After
	}
	return kindTransient, 0
}

func mark(err error, k kind, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &Error{kind: k, After: after, Err: err}
}

func permanent(err error) error { return mark(err, kindPermanent, 0) }
func transient(err error) error { return mark(err, kindTransient, 0) }

func permanentf(format string, args ...any) error { return permanent(fmt.Errorf(format, args...)) }
