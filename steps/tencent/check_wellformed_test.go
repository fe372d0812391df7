package tencent

import (
	"context"
	"strings"
	"testing"

	"meetpipe/runner/finding"
	"meetpipe/steps/tencent/emulator"
)

// A check passes only on a well-formed answer: an HTML page or `{}` with HTTP 200 is a proxy or a wrong
// base URL, not Tencent accepting the signature.
func TestCheckRefusesAnswersThatAreNoListing(t *testing.T) {
	for _, kind := range []emulator.FaultKind{emulator.FaultPortal, emulator.FaultEmpty} {
		t.Run(string(kind), func(t *testing.T) {
			s, c := newEnv(t, emulator.Options{})
			s.FailNext(emulator.EndpointCorpRecords, 1, emulator.Fault{Kind: kind})
			fs := c.Check(context.Background(), CheckConfig{Mode: ModeCorp, Operator: "admin"})
			f := last(fs)
			if f.Status != finding.StatusFail || !strings.Contains(f.Detail, "not a listing answer") || !strings.Contains(f.Remedy, "TQM_BASE_URL") {
				t.Fatalf("HTTP 200 %s: %+v", kind, fs)
			}
		})
	}
}

// The listing refuses `{}` with HTTP 200 too: it is no empty night, and the window must not move on.
func TestListingRefusesEmptyObject(t *testing.T) {
	s, c := newEnv(t, emulator.Options{})
	s.FailNext(emulator.EndpointCorpRecords, 10, emulator.Fault{Kind: emulator.FaultEmpty})
	l := newLister(t, c, ListerConfig{})
	if err := l.List(context.Background(), day, newSink()); err == nil || !strings.Contains(err.Error(), "not a listing answer") {
		t.Fatalf("a {} listing: %v", err)
	}
}
