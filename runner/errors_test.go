package runner

import (
	"errors"
	"fmt"
	"io"
	"testing"
	"time"
)

// clientError is a client package's own error type: it imports nothing of the engine and tells how it
// behaves through the methods Classify asks for.
type clientError struct {
	msg                 string
	permanent, deferred bool
	env                 bool
	after               time.Duration
}

func (e clientError) Error() string             { return e.msg }
func (e clientError) Permanent() bool           { return e.permanent }
func (e clientError) Deferred() bool            { return e.deferred }
func (e clientError) RetryAfter() time.Duration { return e.after }
func (e clientError) Environmental() bool       { return e.env }

// onlyWait answers one question only, as a client may.
type onlyWait time.Duration

func (w onlyWait) Error() string             { return "rate limited" }
func (w onlyWait) RetryAfter() time.Duration { return time.Duration(w) }

func TestClassifyByBehaviour(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("list recordings: %w", err) }
	tests := []struct {
		name  string
		err   error
		kind  Kind
		after time.Duration
		env   bool
	}{
		{"nil", nil, KindTransient, 0, false},
		{"unmarked", io.ErrUnexpectedEOF, KindTransient, 0, false},
		{"client permanent", wrap(clientError{msg: "deleted", permanent: true}), KindPermanent, 0, false},
		{"client deferred", wrap(clientError{msg: "quota", deferred: true}), KindDeferred, 0, false},
		{"client environmental", wrap(clientError{msg: "bad key", env: true}), KindDeferred, 0, true},
		{"client retry after", wrap(clientError{msg: "429", after: time.Minute}), KindTransient, time.Minute, false},
		{"client transient", wrap(clientError{msg: "502"}), KindTransient, 0, false},
		{"one method only", wrap(onlyWait(3 * time.Second)), KindTransient, 3 * time.Second, false},
		{"negative wait", wrap(onlyWait(-time.Second)), KindTransient, 0, false},
		{"joined", errors.Join(io.EOF, wrap(clientError{msg: "deleted", permanent: true})), KindPermanent, 0, false},
		// The engine's marks answer every question, so they override the client's answer they wrap.
		{"mark over client", Transient(wrap(clientError{msg: "deleted", permanent: true})), KindTransient, 0, false},
		{"environmental mark over client", Environmental(wrap(clientError{msg: "429", after: time.Minute})), KindDeferred, 0, true},
		{"environmental before a wait", wrap(clientError{msg: "bad key", env: true, after: time.Second}), KindDeferred, 0, true},
		{"marks", RetryAfter(Permanent(io.EOF), time.Second), KindTransient, time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, after := Classify(tt.err)
			if kind != tt.kind || after != tt.after || IsEnvironmental(tt.err) != tt.env {
				t.Errorf("Classify(%v) = %v, %v, environmental %v; want %v, %v, %v", tt.err, kind, after, IsEnvironmental(tt.err), tt.kind, tt.after, tt.env)
			}
		})
	}
}
