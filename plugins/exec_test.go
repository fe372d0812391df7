package plugins

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"meetpipe/runner/step"
	"meetpipe/steps/steptest"
)

// writePlugin makes dir/name with a manifest and files and returns dir.
func writePlugin(t *testing.T, dir, name, manifest string, files map[string]string) string {
	t.Helper()
	pd := filepath.Join(dir, name)
	if err := os.MkdirAll(pd, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pd, ManifestFile), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	for n, body := range files {
		if err := os.WriteFile(filepath.Join(pd, n), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// shPlugin is a plugin named p that runs script with sh, reads subject and writes greeting and n.
func shPlugin(t *testing.T, script string) (dir string) {
	t.Helper()
	dir = t.TempDir()
	writePlugin(t, dir, "p", `
name: p
version: "1"
summary: test plugin
command: [sh, run.sh]
reads: [subject]
writes:
  - {name: greeting, type: string}
  - {name: n, type: int}
settings:
  - {name: token, type: string, secret: true}
  - {name: greeting_word, type: string, default: hi}
`, map[string]string{"run.sh": script})
	return dir
}

// buildStep loads dir's plugins and builds the named one with the given `with:` YAML.
func buildStep(t *testing.T, dir, name, with string) (step.Step, any) {
	t.Helper()
	reg := step.NewRegistry()
	if err := Load(dir, reg); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if _, ok := reg.Lookup(name); !ok {
		t.Fatalf("plugin %s not registered; have %v", name, reg.Names())
	}
	impl, cfg := steptest.BuildWith(t, name, with, steptest.Options{Registry: reg})
	return impl.(step.Step), cfg
}

func item(t *testing.T, f step.Fields) *step.Item {
	t.Helper()
	it, err := step.NewItem("rec-1", f)
	if err != nil {
		t.Fatal(err)
	}
	return it
}

// captureLog sends the default logger to a buffer for the test.
func captureLog(t *testing.T) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(old) })
	return &buf
}

func TestProcessSuccess(t *testing.T) {
	dir := shPlugin(t, `cat > input.json
echo "warn: looking at it" >&2
echo "plain line" >&2
printf '{"greeting": "hi", "n": 3}'
`)
	log := captureLog(t)
	s, cfg := buildStep(t, dir, "p", "token: tok-12345")
	out, err := s.Process(context.Background(), item(t, step.Fields{"subject": "简历优化", "other": 1}))
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	if got := string(out["greeting"].(json.RawMessage)); got != `"hi"` {
		t.Errorf("greeting = %s", got)
	}
	if got := string(out["n"].(json.RawMessage)); got != `3` {
		t.Errorf("n = %s", got)
	}
	var n int
	if err := item(t, out).Get("n", &n); err != nil || n != 3 {
		t.Errorf("output does not decode into the sample type: n=%d err=%v", n, err)
	}

	raw, err := os.ReadFile(filepath.Join(dir, "p", "input.json"))
	if err != nil {
		t.Fatal(err)
	}
	var in struct {
		ItemID   string                     `json:"item_id"`
		Settings map[string]any             `json:"settings"`
		Fields   map[string]json.RawMessage `json:"fields"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		t.Fatalf("stdin is not JSON: %v: %s", err, raw)
	}
	if in.ItemID != "rec-1" {
		t.Errorf("item_id = %q", in.ItemID)
	}
	if in.Settings["token"] != "tok-12345" || in.Settings["greeting_word"] != "hi" {
		t.Errorf("settings = %v, want the secret and the default", in.Settings)
	}
	if len(in.Fields) != 1 || string(in.Fields["subject"]) != `"简历优化"` {
		t.Errorf("fields = %s, want only the declared read", raw)
	}

	c := cfg.(map[string]any)
	if c["token"] != "" || c["greeting_word"] != "hi" {
		t.Errorf("effective config = %v, want the secret blank and the default filled", c)
	}

	logs := log.String()
	for _, want := range []string{"level=WARN msg=\"warn: looking at it\"", "level=INFO msg=\"plain line\"", "plugin=p", "item=rec-1"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

func TestProcessErrors(t *testing.T) {
	long := strings.Repeat("界", 300)
	tests := []struct {
		name   string
		script string
		kind   step.Kind
		after  time.Duration
		want   []string // in the error message
		absent []string
	}{
		{name: "transient exit", script: "echo 'busy, later' >&2; exit 75",
			kind: step.KindTransient, want: []string{"temporary failure", "busy, later"}},
		{name: "transient with retry_after", script: `echo '{"retry_after": "60s"}'; exit 75`,
			kind: step.KindTransient, after: time.Minute},
		{name: "transient with retry_after seconds", script: `echo '{"retry_after": 1.5}'; exit 75`,
			kind: step.KindTransient, after: 1500 * time.Millisecond},
		{name: "permanent exit", script: "echo one >&2; echo 'bad input: no subject' >&2; exit 3",
			kind: step.KindPermanent, want: []string{"exit 3", "one | bad input: no subject"}},
		{name: "garbage", script: "echo 'hello world'",
			kind: step.KindPermanent, want: []string{"not a JSON object", `"hello world\n"`}},
		{name: "long garbage quoted in part", script: "printf '" + long + "'",
			kind: step.KindPermanent, want: []string{`"` + strings.Repeat("界", 66) + `"…`},
			absent: []string{strings.Repeat("界", 67)}},
		{name: "two values", script: `echo '{"n":1} {"n":2}'`,
			kind: step.KindPermanent, want: []string{"more than one JSON value"}},
		{name: "undeclared field", script: `echo '{"n":1,"extra":2}'`,
			kind: step.KindPermanent, want: []string{`"extra"`, "does not declare"}},
		{name: "wrong type", script: `echo '{"n":"three"}'`,
			kind: step.KindPermanent, want: []string{`field "n"`, "want a JSON int"}},
		{name: "not an int", script: `echo '{"n":1.5}'`,
			kind: step.KindPermanent, want: []string{"want a JSON int"}},
		{name: "null", script: `echo '{"greeting":null}'`,
			kind: step.KindPermanent, want: []string{"null"}},
		{name: "json array", script: `echo '[1,2]'`,
			kind: step.KindPermanent, want: []string{"not a JSON object"}},
		{name: "killed by a signal", script: `kill -TERM $$`,
			kind: step.KindPermanent, want: []string{"signal"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := buildStep(t, shPlugin(t, tt.script), "p", "")
			_, err := s.Process(context.Background(), item(t, step.Fields{"subject": "x"}))
			if err == nil {
				t.Fatal("Process succeeded")
			}
			kind, after := step.Classify(err)
			if kind != tt.kind || after != tt.after {
				t.Errorf("Classify = %v, %v; want %v, %v (%v)", kind, after, tt.kind, tt.after, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(err.Error(), a) {
					t.Errorf("error %q contains %q", err, a)
				}
			}
		})
	}
}

func TestProcessEmptyOutput(t *testing.T) {
	s, _ := buildStep(t, shPlugin(t, "cat >/dev/null"), "p", "")
	out, err := s.Process(context.Background(), item(t, step.Fields{"subject": "x"}))
	if err != nil || len(out) != 0 {
		t.Fatalf("Process = %v, %v; want no fields", out, err)
	}
}

func TestProcessMissingCommand(t *testing.T) {
	dir := t.TempDir()
	writePlugin(t, dir, "bin", "name: bin\nversion: \"1\"\ncommand: [./bin]\n", nil)
	s, _ := buildStep(t, dir, "bin", "")
	_, err := s.Process(context.Background(), item(t, nil))
	if k, _ := step.Classify(err); k != step.KindPermanent || !strings.Contains(fmtErr(err), "just build") {
		t.Fatalf("err = %v (%v), want a permanent error naming `just build`", err, k)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestProcessEnvironment(t *testing.T) {
	t.Setenv("MEETPIPE_OTHER_SECRET", "db-password-1")
	s, _ := buildStep(t, shPlugin(t, "env > env.txt"), "p", "")
	if _, err := s.Process(context.Background(), item(t, nil)); err != nil {
		t.Fatal(err)
	}
	env, err := os.ReadFile(filepath.Join(s.(*execStep).m.Dir, "env.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(env, []byte("db-password-1")) {
		t.Errorf("the plugin inherited the runner's environment:\n%s", env)
	}
	if !bytes.Contains(env, []byte("PATH=")) {
		t.Errorf("the plugin has no PATH:\n%s", env)
	}
}

func TestProcessSecretsNeverLogged(t *testing.T) {
	const secret = "sk-very-secret-42"
	tests := []struct {
		name, script, with string
		fail               bool
	}{
		{name: "echoed to stderr", script: `in=$(cat); echo "$in" > input.json; echo "got $in" >&2; echo '{}'`},
		{name: "echoed to stderr, then failing", script: `in=$(cat); echo "$in" > input.json; echo "bad: $in" >&2; exit 1`, fail: true},
		{name: "echoed to stdout", script: `cat | tee input.json`, fail: true},
		// The secret straddles the 200th byte, where the quote of bad output is cut.
		{name: "echoed to stdout, quote cut", script: `cat | tee input.json`, fail: true,
			with: "greeting_word: " + strings.Repeat("w", 133)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := captureLog(t)
			s, cfg := buildStep(t, shPlugin(t, tt.script), "p", "token: "+secret+"\n"+tt.with)
			_, err := s.Process(context.Background(), item(t, step.Fields{"subject": "x"}))
			if (err != nil) != tt.fail {
				t.Fatalf("err = %v, want failure %v", err, tt.fail)
			}
			in, rerr := os.ReadFile(filepath.Join(s.(*execStep).m.Dir, "input.json"))
			if rerr != nil || !bytes.Contains(in, []byte(secret)) {
				t.Fatalf("the plugin did not receive the secret: %s %v", in, rerr)
			}
			for what, text := range map[string]string{"log": log.String(), "error": fmtErr(err)} {
				if strings.Contains(text, secret) || strings.Contains(text, secret[:8]) {
					t.Errorf("%s shows the secret:\n%s", what, text)
				}
			}
			if !strings.Contains(log.String()+fmtErr(err), "***") {
				t.Errorf("nothing was scrubbed; log:\n%s\nerror: %v", log, err)
			}
			if b, _ := json.Marshal(cfg); bytes.Contains(b, []byte(secret)) {
				t.Errorf("effective config shows the secret: %s", b)
			}
		})
	}
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) S ...: the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// waitGone waits for pid to disappear; reaping an orphan is up to init and takes a moment.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for range 500 {
		if !alive(pid) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("process %d is still alive", pid)
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	for range 1000 {
		b, err := os.ReadFile(path)
		if err == nil && bytes.HasSuffix(b, []byte("\n")) {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", path)
	return 0
}

func TestProcessTimeoutKillsGroup(t *testing.T) {
	// The plugin starts a child that ignores its stdout, then waits forever.
	dir := shPlugin(t, `sleep 1000 >/dev/null 2>&1 &
echo $! > child.tmp && mv child.tmp child.pid
echo $$ > self.tmp && mv self.tmp self.pid
wait
`)
	s, _ := buildStep(t, dir, "p", "")
	pd := filepath.Join(dir, "p")

	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.Process(ctx, item(t, nil))
		done <- err
	}()
	child := readPID(t, filepath.Join(pd, "child.pid"))
	self := readPID(t, filepath.Join(pd, "self.pid"))
	if !alive(child) || !alive(self) {
		t.Fatal("the plugin and its child should be running")
	}
	// What the engine's per-step timeout does to the context.
	cancel(context.DeadlineExceeded)
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Process did not return after the deadline")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the deadline", err)
	}
	waitGone(t, self)
	waitGone(t, child)
}

func TestProcessKillsLeftoverChildren(t *testing.T) {
	dir := shPlugin(t, `sleep 1000 >/dev/null 2>&1 &
echo $! > child.pid
echo '{"n": 1}'
`)
	s, _ := buildStep(t, dir, "p", "")
	if _, err := s.Process(context.Background(), item(t, nil)); err != nil {
		t.Fatal(err)
	}
	waitGone(t, readPID(t, filepath.Join(dir, "p", "child.pid")))
}

func TestProcessBadWith(t *testing.T) {
	reg := step.NewRegistry()
	if err := Load(shPlugin(t, "true"), reg); err != nil {
		t.Fatal(err)
	}
	for _, with := range []string{"greting_word: x", "token: [a]"} {
		steptest.ErrWith(t, "p", with, steptest.Options{Registry: reg}) // fails the test when accepted
	}
}

func TestRetryAfterHoldsLimiter(t *testing.T) {
	dir := shPlugin(t, `echo run >> runs.txt; echo '{"retry_after": "1h"}'; exit 75`)
	s, _ := buildStep(t, dir, "p", "")
	_, err := s.Process(context.Background(), item(t, nil))
	if k, after := step.Classify(err); k != step.KindTransient || after != time.Hour {
		t.Fatalf("err = %v (%v, %v)", err, k, after)
	}
	// Every later item of the step waits for the hour, so it gives up at its own deadline unstarted.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := s.Process(ctx, item(t, nil)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second call: err = %v, want it to wait for the hold", err)
	}
	runs, _ := os.ReadFile(filepath.Join(dir, "p", "runs.txt"))
	if n := bytes.Count(runs, []byte("run")); n != 1 {
		t.Errorf("the plugin ran %d times, want 1", n)
	}
}
