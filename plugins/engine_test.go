package plugins

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meetpipe/runner"
	"meetpipe/runner/step"
)

// Through the engine: a pipeline whose first step is a test source of meetings and whose later steps are
// exec plugins.

type meetingsCfg struct {
	Count int `yaml:"count" doc:"meetings to list"`
}

type meetings struct{ n int }

func (m meetings) List(ctx context.Context, w step.Window, out step.Emitter) error {
	subjects := []string{"模拟面试 第3轮", "简历修改", "项目深挖：推荐系统"}
	for i := range m.n {
		if err := out.Emit(ctx, fmt.Sprintf("rec%03d", i), step.Fields{"subject": subjects[i%len(subjects)], "n": i}); err != nil {
			return err
		}
	}
	return nil
}

// engineRegistry holds the test source and the plugins of dir.
func engineRegistry(t *testing.T, dir string) *step.Registry {
	t.Helper()
	reg := step.NewRegistry()
	reg.Register(step.Define(step.Spec{Name: "meetings", Source: true, Version: "1",
		Writes: []step.Field{{Name: "subject", Sample: ""}, {Name: "n", Sample: 0}}},
		meetingsCfg{Count: 3}, func(cfg meetingsCfg, b *step.Build) (any, error) { return meetings{cfg.Count}, nil }))
	if err := Load(dir, reg); err != nil {
		t.Fatal(err)
	}
	return reg
}

type engine struct {
	t     *testing.T
	reg   *step.Registry
	state string
	log   bytes.Buffer
}

func newEngine(t *testing.T, pluginDir string) *engine {
	return &engine{t: t, reg: engineRegistry(t, pluginDir), state: t.TempDir()}
}

func (e *engine) load(yml string) (*runner.Pipeline, error) {
	return runner.LoadBytes("test.yaml", []byte(yml), runner.LoadOptions{Registry: e.reg, StateDir: e.state,
		Env: map[string]string{"PLUGIN_TOKEN": "tok-engine-secret-77"}})
}

func (e *engine) run(yml string, o runner.RunOptions) (*step.Summary, error) {
	e.t.Helper()
	p, err := e.load(yml)
	if err != nil {
		e.t.Fatalf("load: %v", err)
	}
	e.t.Cleanup(func() { p.Close() })
	if o.Report == nil {
		o.Report = io.Discard
	}
	o.Logger = jsonLog(&e.log, p.Secrets)
	return p.Run(context.Background(), o)
}

// countingPlugin is a plugin p whose script first appends a line to calls.txt.
func countingPlugin(t *testing.T, script string, sideEffects bool) string {
	t.Helper()
	dir := t.TempDir()
	writePlugin(t, dir, "p", fmt.Sprintf(`
name: p
version: "1"
command: [sh, run.sh]
side_effects: %v
reads: [subject, n]
writes: [{name: tag, type: string}]
settings:
  - {name: token, type: string, secret: true}
  - {name: fail_times, type: int, default: 0}
`, sideEffects), map[string]string{"run.sh": "echo \"$$\" >> calls.txt\n" + script})
	return dir
}

func calls(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "p", "calls.txt"))
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}

const pipeline = `
name: test
steps:
  - uses: meetings
    with: {count: 3}
  - uses: p
    with: {token: "${PLUGIN_TOKEN}"}
    concurrency: 2
    retry: {attempts: 3, backoff: 1ms}
`

func TestEngineRunsAndMemoizes(t *testing.T) {
	dir := countingPlugin(t, `echo "token is $(cat)" >&2; echo '{"tag": "ok"}'`, true)
	e := newEngine(t, dir)
	sum, err := e.run(pipeline, runner.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Done != 3 || calls(t, dir) != 3 {
		t.Fatalf("summary %+v, %d calls", sum, calls(t, dir))
	}
	sum, err = e.run(pipeline, runner.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Memo != 3 || sum.Ran != 0 || calls(t, dir) != 3 {
		t.Fatalf("rerun: summary %+v, %d calls; want the plugin served from the memo", sum, calls(t, dir))
	}
	logs := e.log.String()
	if strings.Contains(logs, "tok-engine-secret-77") {
		t.Errorf("the log shows the secret:\n%s", logs)
	}
	if !strings.Contains(logs, `"msg":"token is `) || !strings.Contains(logs, `"item":"rec001"`) {
		t.Errorf("the plugin's stderr is not in the log with its item:\n%s", logs)
	}
	// The secret is not part of the memo key: changing it does not run the plugin again.
	e2 := &engine{t: t, reg: e.reg, state: e.state}
	if _, err := e2.run(strings.Replace(pipeline, "${PLUGIN_TOKEN}", "another-token", 1), runner.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if calls(t, dir) != 3 {
		t.Errorf("a new secret re-ran the plugin: %d calls", calls(t, dir))
	}
	// Another setting is: the plugin runs again.
	if _, err := e2.run(strings.Replace(pipeline, `{token:`, `{fail_times: 1, token:`, 1), runner.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if calls(t, dir) != 6 {
		t.Errorf("a changed setting did not re-run the plugin: %d calls", calls(t, dir))
	}
	filepath.Walk(e.state, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			if b, _ := os.ReadFile(path); bytes.Contains(b, []byte("tok-engine-secret-77")) {
				t.Errorf("state file %s holds the secret", path)
			}
		}
		return nil
	})
}

func TestEngineRetriesTransientExit(t *testing.T) {
	// Fails with 75 until it has been called twice for the item, then succeeds.
	dir := countingPlugin(t, `in=$(cat)
id=$(echo "$in" | sed 's/.*"item_id":"\([^"]*\)".*/\1/')
echo x >> "tries-$id"
if [ "$(wc -l < "tries-$id")" -le 2 ]; then echo "busy" >&2; exit 75; fi
echo '{"tag": "third time"}'`, true)
	e := newEngine(t, dir)
	sum, err := e.run(pipeline, runner.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Done != 3 || calls(t, dir) != 9 {
		t.Fatalf("summary %+v, %d calls; want 3 items done after 3 tries each", sum, calls(t, dir))
	}
}

func TestEngineFailsPermanentExitOnce(t *testing.T) {
	dir := countingPlugin(t, `cat >/dev/null; echo "no such teacher" >&2; exit 1`, true)
	e := newEngine(t, dir)
	sum, err := e.run(pipeline, runner.RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "no such teacher") {
		t.Fatalf("err = %v, want the plugin's stderr in the failure", err)
	}
	if sum.Failed != 3 || calls(t, dir) != 3 {
		t.Fatalf("summary %+v, %d calls; a permanent failure must not be retried", sum, calls(t, dir))
	}
	if sum.Failures[0].Kind != "permanent" {
		t.Errorf("failure %+v", sum.Failures[0])
	}
}

func TestEngineTimeoutKillsGroup(t *testing.T) {
	dir := countingPlugin(t, `sleep 1000 >/dev/null 2>&1 &
echo $! >> children.txt
wait`, true)
	e := newEngine(t, dir)
	sum, err := e.run(strings.Replace(pipeline, "concurrency: 2", "timeout: 300ms", 1), runner.RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if sum.Failed != 3 || calls(t, dir) != 9 {
		t.Errorf("summary %+v, %d calls; want 3 attempts per item", sum, calls(t, dir))
	}
	b, err := os.ReadFile(filepath.Join(dir, "p", "children.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(b)) {
		var pid int
		fmt.Sscan(f, &pid)
		waitGone(t, pid)
	}
}

func TestEngineDryRun(t *testing.T) {
	side := countingPlugin(t, `cat >/dev/null; echo '{"tag": "x"}'`, true)
	e := newEngine(t, side)
	var rep bytes.Buffer
	if _, err := e.run(pipeline, runner.RunOptions{DryRun: true, Report: &rep}); err != nil {
		t.Fatal(err)
	}
	if calls(t, side) != 0 {
		t.Fatalf("a dry run ran a plugin with side effects %d times", calls(t, side))
	}
	if !strings.Contains(rep.String(), "would") {
		t.Errorf("dry-run report:\n%s", rep.String())
	}
	pure := countingPlugin(t, `cat >/dev/null; echo '{"tag": "x"}'`, false)
	e = newEngine(t, pure)
	if _, err := e.run(pipeline, runner.RunOptions{DryRun: true}); err != nil {
		t.Fatal(err)
	}
	if calls(t, pure) != 3 {
		t.Errorf("a dry run ran a side-effect-free plugin %d times, want 3", calls(t, pure))
	}
}

func TestEngineValidates(t *testing.T) {
	dir := countingPlugin(t, "", false)
	writePlugin(t, dir, "q", "name: q\nversion: \"1\"\ncommand: [sh, q.sh]\nreads: [transcript]\n", nil)
	e := newEngine(t, dir)
	tests := []struct{ name, yml, want string }{
		{"unknown setting", `
steps:
  - uses: meetings
  - uses: p
    with: {tokn: x}
`, `test.yaml:5:12: unknown setting "tokn"; did you mean "token"?`},
		{"wrong type", `
steps:
  - uses: meetings
  - uses: p
    with: {fail_times: many}
`, `test.yaml:5:24: fail_times: want an integer`},
		{"read not written", `
steps:
  - uses: meetings
  - uses: q
`, `transcript`},
		{"expression over a plugin's write", `
steps:
  - uses: meetings
  - uses: p
  - uses: p
    id: again
    if: tag == 3
`, `test.yaml:7`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.load(tt.yml)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := e.load("steps:\n  - uses: meetings\n  - uses: p\n  - uses: p\n    id: again\n    if: tag != \"\"\n"); err != nil {
		t.Errorf("a valid pipeline: %v", err)
	}
}

func TestSpecSeenByDocsAndSchema(t *testing.T) {
	reg := engineRegistry(t, ".")
	def, ok := reg.Lookup("wecom_notify")
	if !ok {
		t.Fatalf("wecom_notify not loaded: %v", reg.Names())
	}
	var doc bytes.Buffer
	runner.Describe(&doc, def)
	// The template's details (manifest key details:) are printed under it.
	for _, want := range []string{"wecom_notify", "key", "secret", "base_url", "https://qyapi.weixin.qq.com", "notified",
		"\n                                It sees the item's fields"} {
		if !strings.Contains(doc.String(), want) {
			t.Errorf("runner steps wecom_notify lacks %q:\n%s", want, doc.String())
		}
	}
	schema, err := runner.Schema(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"wecom_notify"`, `"tag_subject"`, `"throttle_wait"`} {
		if !bytes.Contains(schema, []byte(want)) {
			t.Errorf("schema lacks %s", want)
		}
	}
}

// jsonLog is the JSON logger the CLI makes, reduced to what these tests read: every value the pipeline
// holds secret is scrubbed, as the host's logger scrubs it.
func jsonLog(w io.Writer, s *step.Secrets) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Value.Kind() == slog.KindString {
				a.Value = slog.StringValue(s.Scrub(a.Value.String()))
			}
			return a
		}}))
}
