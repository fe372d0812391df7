package plugins

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"meetpipe/runner/step"
)

// ExitTempFail is the exit status (EX_TEMPFAIL from sysexits.h) by which a plugin says "try again later".
const ExitTempFail = 75

const (
	maxOutput = 32 << 20 // bytes of stdout kept; more fails the item
	quoteLen  = 200      // bytes of bad output quoted in an error
	tailLines = 10       // stderr lines quoted when a plugin fails
	maxLine   = 8 << 10  // a longer stderr line is cut
	// waitDelay bounds how long a finished plugin's children may keep its pipes open.
	waitDelay = 2 * time.Second
)

// passEnv are the environment variables a plugin inherits. Everything else (keys and DSNs of other steps)
// stays out: a plugin gets its configuration on stdin.
var passEnv = []string{"PATH", "HOME", "TMPDIR", "TZ", "LANG", "LC_ALL", "LC_CTYPE"}

// execStep runs a plugin's command once per item.
type execStep struct {
	m        *Manifest
	argv     []string
	settings map[string]any
	secrets  []string
	lim      *step.Limiter
	stepID   string
}

func newStep(m *Manifest, values map[string]any, b *step.Build) *execStep {
	lim, _ := b.Limiter()
	s := &execStep{m: m, settings: values, lim: lim, stepID: b.StepID}
	s.argv = append([]string(nil), m.Command...)
	if strings.Contains(s.argv[0], "/") {
		s.argv[0] = filepath.Join(m.Dir, s.argv[0])
	}
	for _, st := range m.Settings {
		if v, ok := values[st.Name].(string); ok && st.Secret && v != "" {
			b.Secret(v)
			s.secrets = append(s.secrets, v)
		}
	}
	return s
}

// input is what a plugin reads on stdin.
type input struct {
	ItemID   string                     `json:"item_id"`
	Settings map[string]any             `json:"settings"`
	Fields   map[string]json.RawMessage `json:"fields"`
}

// Process starts the command, writes the item on its stdin and reads the fields it writes from its
// stdout. A deadline or cancellation of ctx kills the command's whole process group.
func (s *execStep) Process(ctx context.Context, in *step.Item) (step.Fields, error) {
	req := input{ItemID: in.ID(), Settings: s.settings, Fields: map[string]json.RawMessage{}}
	for _, name := range s.m.Reads {
		if raw := in.Raw(name); raw != nil {
			req.Fields[name] = raw
		}
	}
	stdin, err := json.Marshal(req)
	if err != nil {
		return nil, step.Permanent(fmt.Errorf("plugin %s: encode input: %w", s.m.Name, err))
	}
	release, err := s.lim.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return s.run(ctx, in.ID(), stdin)
}

func (s *execStep) run(ctx context.Context, itemID string, stdin []byte) (step.Fields, error) {
	name := s.m.Name
	log := logger(ctx, itemID, s.stepID).With("plugin", name)
	stderr := &lineLogger{log: log, scrub: s.scrub}
	stdout := &capped{max: maxOutput}

	cmd := s.command(ctx, s.argv, stdin, stdout, stderr)
	if err := cmd.Start(); err != nil {
		hint := ""
		if errors.Is(err, fs.ErrNotExist) {
			hint = " (is it built? run `just build`)"
		}
		return nil, step.Permanent(fmt.Errorf("plugin %s: start %s: %w%s", name, s.m.Command[0], err, hint))
	}
	err := cmd.Wait()
	// Children left behind by a plugin that has exited are killed too: a plugin handles one item.
	_ = killGroup(cmd.Process)
	stderr.flush()

	if ctx.Err() != nil {
		return nil, fmt.Errorf("plugin %s: killed: %w", name, context.Cause(ctx))
	}
	code := cmd.ProcessState.ExitCode()
	switch {
	case err != nil && !errors.Is(err, exec.ErrWaitDelay) && code == 0:
		return nil, fmt.Errorf("plugin %s: %w", name, err)
	case code == 0:
		if stdout.over {
			return nil, step.Permanentf("plugin %s: output larger than %d MiB", name, maxOutput>>20)
		}
		f, err := decodeOutput(stdout.Bytes(), s.m.Writes, s.scrub)
		if err != nil {
			return nil, step.Permanent(fmt.Errorf("plugin %s: %w", name, err))
		}
		return f, nil
	case code == ExitTempFail:
		err := fmt.Errorf("plugin %s: temporary failure (exit %d)%s", name, code, stderr.tail())
		if d := retryAfter(stdout.Bytes()); d > 0 {
			s.lim.Hold(d)
			return nil, step.RetryAfter(err, d)
		}
		return nil, step.Transient(err)
	case code < 0:
		return nil, step.Permanentf("plugin %s: %s%s", name, cmd.ProcessState, stderr.tail())
	}
	return nil, step.Permanentf("plugin %s: exit %d%s", name, code, stderr.tail())
}

// command prepares argv in the plugin's folder with the allow-listed environment, in a process group of its
// own, so that a timeout kills the children the plugin started as well.
func (s *execStep) command(ctx context.Context, argv []string, stdin []byte, stdout, stderr io.Writer) *exec.Cmd {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = s.m.Dir
	cmd.Env = environ()
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.SysProcAttr = groupAttr()
	cmd.Cancel = func() error { return killGroup(cmd.Process) }
	cmd.WaitDelay = waitDelay
	return cmd
}

func environ() []string {
	var env []string
	for _, k := range passEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// scrub replaces the values of secret settings: a plugin may echo its input.
func (s *execStep) scrub(str string) string {
	for _, v := range s.secrets {
		str = strings.ReplaceAll(str, v, "***")
	}
	return str
}

// logger is the logger for a plugin's stderr: the run's, which names the item and step, or the default
// one with those attributes added outside a run.
func logger(ctx context.Context, itemID, stepID string) *slog.Logger {
	l := step.Logger(ctx)
	if l != slog.Default() {
		return l
	}
	l = l.With("item", itemID)
	if stepID != "" {
		l = l.With("step", stepID)
	}
	return l
}

// decodeOutput checks a plugin's stdout against its declared writes: one JSON object whose keys are
// declared writes with values of the declared types. Empty output writes nothing. Declared fields may be
// left out, as a built-in step may return a subset of its writes. Quoted output passes through scrub
// first, so that a secret is never shown, not even cut in half.
func decodeOutput(out []byte, writes []Write, scrub func(string) string) (step.Fields, error) {
	if len(bytes.TrimSpace(out)) == 0 {
		return step.Fields{}, nil
	}
	began := func() string { return quote([]byte(scrub(string(out)))) }
	dec := json.NewDecoder(bytes.NewReader(out))
	var obj map[string]json.RawMessage
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, fmt.Errorf("output is not a JSON object; it began %s", began())
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("output has more than one JSON value; it began %s", began())
	}
	f := make(step.Fields, len(obj))
	for k, raw := range obj {
		i := indexWrite(writes, k)
		if i < 0 {
			return nil, fmt.Errorf("output has field %q, which the manifest does not declare in writes; it began %s",
				k, began())
		}
		if err := checkType(raw, writes[i].Type); err != nil {
			return nil, fmt.Errorf("output field %q: %s; it began %s", k, scrub(err.Error()), began())
		}
		f[k] = raw
	}
	return f, nil
}

func indexWrite(writes []Write, name string) int {
	for i, w := range writes {
		if w.Name == name {
			return i
		}
	}
	return -1
}

// checkType reports whether raw is a JSON value of a manifest type.
func checkType(raw json.RawMessage, typ string) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return fmt.Errorf("null; leave a field out rather than writing null")
	}
	var ok bool
	switch c := raw[0]; typ {
	case "string":
		ok = c == '"'
	case "int":
		_, err := strconv.ParseInt(string(raw), 10, 64)
		ok = err == nil
	case "number":
		ok = c == '-' || (c >= '0' && c <= '9')
	case "bool":
		ok = c == 't' || c == 'f'
	case "list":
		ok = c == '['
	case "object":
		ok = c == '{'
	}
	if !ok {
		return fmt.Errorf("want a JSON %s, got %s", typ, quote(raw))
	}
	return nil
}

// retryAfter reads the optional {"retry_after": "60s"} (or a number of seconds) a plugin may print
// when it exits with ExitTempFail.
func retryAfter(out []byte) time.Duration {
	var v struct {
		RetryAfter any `json:"retry_after"`
	}
	if json.Unmarshal(out, &v) != nil {
		return 0
	}
	switch r := v.RetryAfter.(type) {
	case string:
		d, _ := step.ParseDuration(r)
		return max(d, 0)
	case float64:
		return max(time.Duration(r*float64(time.Second)), 0)
	}
	return 0
}

// quote returns the first bytes of b, cut on a character boundary, as a Go string literal.
func quote(b []byte) string {
	if len(b) <= quoteLen {
		return strconv.Quote(string(b))
	}
	n := quoteLen
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return strconv.Quote(string(b[:n])) + "…"
}

// capped keeps the first max bytes written to it and remembers whether there were more.
type capped struct {
	bytes.Buffer
	max  int
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.Len(); room < len(p) {
		c.over = true
		c.Buffer.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return c.Buffer.Write(p)
}

// lineLogger logs each line a plugin writes to stderr and keeps the last few for error messages. A line
// starting with "error:", "warn:" or "debug:" is logged at that level, others at info.
type lineLogger struct {
	log   *slog.Logger
	scrub func(string) string

	mu      sync.Mutex
	partial []byte
	last    []string
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.emit(l.partial[:i])
		l.partial = l.partial[i+1:]
	}
	if len(l.partial) > maxLine {
		l.emit(l.partial)
		l.partial = nil
	}
	return len(p), nil
}

func (l *lineLogger) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		l.emit(l.partial)
		l.partial = nil
	}
}

func (l *lineLogger) emit(b []byte) {
	line := l.scrub(strings.TrimRight(strings.ToValidUTF8(string(b), "\uFFFD"), "\r"))
	if len(line) > maxLine {
		line = strings.ToValidUTF8(line[:maxLine], "") + "…"
	}
	if strings.TrimSpace(line) == "" {
		return
	}
	level := slog.LevelInfo
	lower := strings.ToLower(line)
	for _, p := range []struct {
		prefix string
		level  slog.Level
	}{{"error:", slog.LevelError}, {"warn:", slog.LevelWarn}, {"warning:", slog.LevelWarn}, {"debug:", slog.LevelDebug}} {
		if strings.HasPrefix(lower, p.prefix) {
			level = p.level
			break
		}
	}
	l.log.Log(context.Background(), level, line)
	l.last = append(l.last, line)
	if len(l.last) > tailLines {
		l.last = l.last[1:]
	}
}

// tail returns the last stderr lines for an error message, or "".
func (l *lineLogger) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.last) == 0 {
		return ""
	}
	return ": " + strings.Join(l.last, " | ")
}
