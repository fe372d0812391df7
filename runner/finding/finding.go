// Package finding is the result of a check (`runner doctor`, a run's preflight): the one type the engine
// reports and the client packages produce. It is a leaf: it imports nothing of meetpipe, so a client that
// may not import the engine still returns the engine's findings, with no copy and no conversion.
package finding

// Status says how a check went. It is a type of its own so that it cannot be mistaken for a run's status,
// which also has an "ok".
type Status string

// The statuses of a Finding: the words `runner doctor` prints and its JSON carries.
const (
	StatusOK   Status = "ok"
	StatusWarn Status = "warn"
	StatusFail Status = "fail"
)

// Finding is one result of a check: what was checked, what was found and, unless it is ok, what to do
// about it in one sentence.
type Finding struct {
	Status  Status `json:"status"`
	Subject string `json:"subject"`
	Detail  string `json:"detail,omitempty"`
	Remedy  string `json:"remedy,omitempty"`
	// Config marks a failure of the configuration (a key refused, a model not served, settings that do not
	// parse), as opposed to a service that is down: a run's preflight exits 2 for it, 1 for an outage.
	Config bool `json:"config,omitempty"`
}

// OK is a passed check.
func OK(subject, detail string) Finding {
	return Finding{Status: StatusOK, Subject: subject, Detail: detail}
}

// Warn is a check that passed with a concern, and what to do about it.
func Warn(subject, detail, remedy string) Finding {
	return Finding{Status: StatusWarn, Subject: subject, Detail: detail, Remedy: remedy}
}

// Fail is a failed check, and what to do about it.
func Fail(subject, detail, remedy string) Finding {
	return Finding{Status: StatusFail, Subject: subject, Detail: detail, Remedy: remedy}
}

// Configuration is a failed check whose cause is the configuration (see Finding.Config).
func Configuration(subject, detail, remedy string) Finding {
	f := Fail(subject, detail, remedy)
	f.Config = true
	return f
}
