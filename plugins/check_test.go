package plugins

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"meetpipe/runner"
	"meetpipe/runner/step"
)

// checkPlugin is a plugin whose manifest declares `check: [sh, check.sh]`.
func checkPlugin(t *testing.T, script string, sideEffects bool) string {
	t.Helper()
	dir := t.TempDir()
	writePlugin(t, dir, "p", fmt.Sprintf(`
name: p
version: "1"
command: [sh, run.sh]
check: [sh, check.sh]
side_effects: %v
reads: [subject]
writes: [{name: tag, type: string}]
settings:
  - {name: token, type: string, secret: true}
`, sideEffects), map[string]string{"run.sh": "cat >/dev/null; echo '{}'\n", "check.sh": script})
	return dir
}

func pluginFindings(t *testing.T, dir string, o step.CheckOptions) []runner.StepFinding {
	t.Helper()
	p, err := newEngine(t, dir).load(pipeline)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var out []runner.StepFinding
	for _, f := range p.Check(context.Background(), o) {
		if f.Step == "p" {
			out = append(out, f)
		}
	}
	return out
}

func TestPluginCheck(t *testing.T) {
	t.Run("findings from stdout, secret scrubbed", func(t *testing.T) {
		// The script reads its settings and echoes the token back in a finding.
		dir := checkPlugin(t, `in=$(cat)
tok=$(printf '%s' "$in" | sed 's/.*"token":"\([^"]*\)".*/\1/')
echo '{"status":"ok","subject":"webhook","detail":"reachable"}'
echo "{\"status\":\"fail\",\"subject\":\"key\",\"detail\":\"key $tok refused\",\"remedy\":\"set the key\"}"
`, true)
		fs := pluginFindings(t, dir, step.CheckOptions{})
		if len(fs) != 2 || fs[0].Status != "ok" || fs[1].Status != "fail" || fs[1].Remedy != "set the key" {
			t.Fatalf("%+v", fs)
		}
		if strings.Contains(fs[1].Detail, "tok-engine-secret-77") || !strings.Contains(fs[1].Detail, "***") {
			t.Errorf("secret not scrubbed: %q", fs[1].Detail)
		}
	})
	t.Run("exit without findings", func(t *testing.T) {
		dir := checkPlugin(t, "cat >/dev/null; echo 'no route to robot' >&2; exit 3\n", true)
		fs := pluginFindings(t, dir, step.CheckOptions{})
		if len(fs) != 1 || fs[0].Status != "fail" || !strings.Contains(fs[0].Detail, "no route to robot") {
			t.Errorf("%+v", fs)
		}
	})
	t.Run("silent success", func(t *testing.T) {
		dir := checkPlugin(t, "cat >/dev/null\n", true)
		if fs := pluginFindings(t, dir, step.CheckOptions{}); len(fs) != 1 || fs[0].Status != "ok" {
			t.Errorf("%+v", fs)
		}
	})
	t.Run("bad output", func(t *testing.T) {
		dir := checkPlugin(t, "cat >/dev/null; echo '{\"status\":\"great\",\"subject\":\"x\"}'\n", true)
		if fs := pluginFindings(t, dir, step.CheckOptions{}); len(fs) != 1 || fs[0].Status != "fail" || !strings.Contains(fs[0].Detail, "great") {
			t.Errorf("%+v", fs)
		}
	})
	t.Run("preflight skips steps without side effects", func(t *testing.T) {
		dir := checkPlugin(t, "cat >/dev/null; echo '{\"status\":\"fail\",\"subject\":\"x\"}'\n", false)
		if fs := pluginFindings(t, dir, step.CheckOptions{Preflight: true}); len(fs) != 0 {
			t.Errorf("preflight checked a step without side effects: %+v", fs)
		}
		if fs := pluginFindings(t, dir, step.CheckOptions{}); len(fs) != 1 {
			t.Errorf("doctor: %+v", fs)
		}
	})
}
