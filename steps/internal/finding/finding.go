// Package finding is the result of a client's check, in the shape of the engine's doctor findings, for the
// client packages that may not import the engine; a step converts it with runner.Finding(f).
package finding

// Statuses of a Finding: the words of the engine's doctor.
const (
	OK   = "ok"
	Warn = "warn"
	Fail = "fail"
)

// Finding is one result of a check: what was checked, what was found, and what to do when it is not ok.
type Finding struct {
	Status  string // OK, Warn or Fail
	Subject string
	Detail  string
	Remedy  string
	// Config is set on a failure of the configuration (a key refused, a model not served, settings that do
	// not parse), as opposed to a service that is down: a run's preflight then exits 2, not 1.
	Config bool
}

// Configuration is a failed Finding about the configuration (see Config).
func Configuration(subject, detail, remedy string) Finding {
	return Finding{Status: Fail, Subject: subject, Detail: detail, Remedy: remedy, Config: true}
}

// New is a Finding with its four fields in order.
func New(status, subject, detail, remedy string) Finding {
	return Finding{Status: status, Subject: subject, Detail: detail, Remedy: remedy}
}
