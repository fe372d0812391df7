package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"meetpipe/runner/internal/demo"
	"meetpipe/steps/store/storetest"
)

// `runner report` on a database never migrated says what to run, once; a window longer than a report
// covers is refused with exit 2, naming the bound.
func TestReportWithoutTablesAndOverlongWindow(t *testing.T) {
	e := newE2E(t, storetest.DB(t), 1, demo.ServerOptions{})
	report := func(args ...string) (int, string) {
		full := append([]string{"report", e.pipeline, "--env-file", e.envFile, "--plugins", filepath.Join(e.root, "plugins"),
			"--out", filepath.Join(e.dir, "r.html")}, args...)
		cmd := exec.Command(e.bin, full...)
		cmd.Dir = e.root
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, string(out)
	}
	code, out := report()
	if code != 1 || strings.Count(out, "runner migrate") != 1 || strings.Contains(out, "report: report:") ||
		strings.Contains(out, "Error 1146") || !strings.Contains(out, "has no meetpipe tables yet") {
		t.Errorf("report without tables: exit %d:\n%s", code, out)
	}
	code, out = report("--since", "400d")
	if code != 2 || !strings.Contains(out, "longer than 366d") {
		t.Errorf("report over 400 days: exit %d:\n%s", code, out)
	}
}
