package main

import (
	"strings"
	"testing"
	"time"

	"meetpipe/runner/internal/demo"
	kimiemu "meetpipe/steps/kimi/emulator"
	"meetpipe/steps/store/storetest"
)

// A model that refuses every call (retired: 404; the key's organisation moved: 400; the balance gone: 403)
// fails no recording: the run stops at the first refusal with exit 1, the recordings stay pending, and the
// next run — its window moved past them — stores every one once the model answers again.
func TestModelRefusingEveryCallThenComingBack(t *testing.T) {
	t.Parallel()
	for _, f := range []kimiemu.Fault{kimiemu.FaultModelGone, kimiemu.FaultOtherOrg, kimiemu.FaultBalance} {
		t.Run(string(f), func(t *testing.T) {
			t.Parallel() // each owns its database, emulators and state_dir; the runs mostly wait
			dsn := storetest.DB(t)
			e := newE2E(t, dsn, 1, demo.ServerOptions{})
			e.srv.Moonshot.RefuseAll(f)
			code, _, stderr := e.run()
			if code != 1 || !strings.Contains(stderr, "the environment, not the items, is at fault") {
				t.Fatalf("refusing model: exit %d, want 1 naming the environment:\n%s", code, stderr)
			}
			if strings.Contains(stderr, `"msg":"item failed"`) {
				t.Errorf("a recording failed for the model's refusal:\n%s", stderr)
			}
			if n := e.srv.Moonshot.Counters().Chat; n > 2 {
				t.Errorf("%d chat calls after the model refused the first", n)
			}
			var stored int
			openDB(t, dsn).QueryRow("SELECT COUNT(*) FROM recordings").Scan(&stored)
			if stored != 0 {
				t.Errorf("%d recordings stored without a classification", stored)
			}

			e.srv.Moonshot.RefuseAll("")
			code, _, stderr = e.run("--since", demo.Until.Format(time.RFC3339), "--until", demo.Until.Add(26*time.Hour).Format(time.RFC3339))
			if code != 0 {
				t.Fatalf("the model is back: exit %d:\n%s", code, stderr)
			}
			assertDB(t, openDB(t, dsn), demo.Expected(1))
		})
	}
}
