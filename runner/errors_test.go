package runner

import (
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"meetpipe/runner/step"
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
		kind  step.Kind
		after time.Duration
		env   bool
	}{
		{"nil", nil, step.KindTransient, 0, false},
		{"unmarked", io.ErrUnexpectedEOF, step.KindTransient, 0, false},
		{"client permanent", wrap(clientError{msg: "deleted", permanent: true}), step.KindPermanent, 0, false},
		{"client deferred", wrap(clientError{msg: "quota", deferred: true}), step.KindDeferred, 0, false},
		{"client environmental", wrap(clientError{msg: "bad key", env: true}), step.KindDeferred, 0, true},
		{"client retry after", wrap(clientError{msg: "429", after: time.Minute}), step.KindTransient, time.Minute, false},
		{"client transient", wrap(clientError{msg: "502"}), step.KindTransient, 0, false},
		{"one method only", wrap(onlyWait(3 * time.Second)), step.KindTransient, 3 * time.Second, false},
		{"negative wait", wrap(onlyWait(-time.Second)), step.KindTransient, 0, false},
		{"joined", errors.Join(io.EOF, wrap(clientError{msg: "deleted", permanent: true})), step.KindPermanent, 0, false},
		// The engine's marks answer every question, so they override the client's answer they wrap.
		{"mark over client", step.Transient(wrap(clientError{msg: "deleted", permanent: true})), step.KindTransient, 0, false},
		{"environmental mark over client", step.Environmental(wrap(clientError{msg: "429", after: time.Minute})), step.KindDeferred, 0, true},
		{"environmental before a wait", wrap(clientError{msg: "bad key", env: true, after: time.Second}), step.KindDeferred, 0, true},
		{"marks", step.RetryAfter(step.Permanent(io.EOF), time.Second), step.KindTransient, time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, after := step.Classify(tt.err)
			if kind != tt.kind || after != tt.after || step.IsEnvironmental(tt.err) != tt.env {
				t.Errorf("Classify(%v) = %v, %v, environmental %v; want %v, %v, %v", tt.err, kind, after, step.IsEnvironmental(tt.err), tt.kind, tt.after, tt.env)
			}
		})
	}
}
