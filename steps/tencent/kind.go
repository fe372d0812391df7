package tencent

import (
	"errors"
	"fmt"
	"time"
)

// Kind says whether trying a failed call again can help. The step that uses this package maps it to its
// engine's error kinds; the words are the engine's.
type Kind int

const (
	// KindTransient failures may pass: a 5xx, a gateway page, a network error, a timeout, a rate limit.
	KindTransient Kind = iota
	// KindPermanent failures will not: a rejected signature, a missing permission, a deleted recording.
	KindPermanent
	// KindDeferred failures wait for a later run: the app's daily quota is spent.
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

// Error is a failure with its Kind, and the least wait before another attempt (After, for a rate limit
// or a server's Retry-After).
type Error struct {
	Kind  Kind
	After time.Duration
	Err   error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of err and the wait it asks for. Unmarked errors (a cancelled context, a
// network failure) are transient.
func KindOf(err error) (Kind, time.Duration) {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind, e.After
	}
	return KindTransient, 0
}

func mark(err error, k Kind, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: k, After: after, Err: err}
}

func permanent(err error) error { return mark(err, KindPermanent, 0) }
func transient(err error) error { return mark(err, KindTransient, 0) }

func permanentf(format string, args ...any) error { return permanent(fmt.Errorf(format, args...)) }
