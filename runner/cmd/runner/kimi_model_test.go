package main

import (
	"strings"
	"testing"

	"meetpipe/runner/internal/demo"
	"meetpipe/steps/store/storetest"
)

// TestUnknownKimiModelExits2: the binary refuses a model id the key cannot use before any listing,
// download or model call, naming the usable ids, with exit 2 — in a dry run too, and without the preflight
// (which finds it first) through the step's own check at the start of the run.
func TestUnknownKimiModelExits2(t *testing.T) {
	t.Parallel() // its own database, emulators and state
	e := newE2E(t, storetest.DB(t), 1, demo.ServerOptions{})
	e.setEnv(t, "KIMI_MODEL", "kimi-k2-0905-preview")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "Moonshot model kimi-k2-0905-preview: not among the models of this key"},
		{[]string{"--dry-run"}, `model "kimi-k2-0905-preview" is not available to this key; usable:`},
		{[]string{"--no-preflight"}, `model "kimi-k2-0905-preview" is not available to this key; usable:`},
	} {
		args := tc.args
		code, stdout, stderr := e.run(args...)
		if code != 2 || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "kimi-k3") {
			t.Fatalf("%v: exit %d:\n%s\nSTDOUT:%s", args, code, stderr, stdout)
		}
		if strings.Contains(stderr, demo.KimiKey) {
			t.Fatalf("the key in the output:\n%s", stderr)
		}
	}
	if c := e.counts(); c.chat != 0 || c.asr != 0 || c.bytes != 0 {
		t.Errorf("calls before the model check: %+v", c)
	}
}
