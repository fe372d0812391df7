package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"meetpipe/runner/step"
	"meetpipe/steps/store/storetest"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = cli(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// Every command has help with its synopsis, examples and the exit codes, on stdout with exit 0; and every
// command refuses an unknown flag with exit 2, pointing at its help.
func TestEveryCommandHasHelpAndExit2(t *testing.T) {
	for _, name := range commandNames() {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runCLI(name, "-h")
			if code != 0 {
				t.Fatalf("-h: exit %d:\n%s%s", code, out, errOut)
			}
			for _, want := range []string{"usage: runner " + name, "Examples:\n  ", "Exit codes:\n  0  all good"} {
				if !strings.Contains(out, want) {
					t.Errorf("-h lacks %q:\n%s", want, out)
				}
			}
			if ex := out[strings.Index(out, "Examples:"):]; !strings.Contains(ex, "runner "+name) {
				t.Errorf("no example of runner %s:\n%s", name, ex)
			}
			if errOut != "" {
				t.Errorf("-h wrote to stderr:\n%s", errOut)
			}
			if code, _, errOut = runCLI(name, "--no-such-flag-xyz"); code != 2 {
				t.Errorf("unknown flag: exit %d, want 2:\n%s", code, errOut)
			}
			if c, o, _ := runCLI("help", name); c != 0 || !strings.Contains(o, "usage: runner "+name) {
				t.Errorf("runner help %s: exit %d:\n%s", name, c, o)
			}
		})
	}
	if _, ok := commands["help"]; !ok || len(commands) != len(commandDocs) {
		t.Errorf("%d commands, %d documented", len(commands), len(commandDocs))
	}
}

func TestDidYouMean(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"statsu"}, `did you mean "status"?`},
		{[]string{"undeply"}, `did you mean "undeploy"?`},
		{[]string{"help", "migrat"}, `did you mean "migrate"?`},
		{[]string{"run", "x.yaml", "--dryrun"}, "did you mean --dry-run?"},
		{[]string{"status", "--ouptut", "json"}, "did you mean --output?"},
		{[]string{"deploy", "--prefx", "/opt/x"}, "did you mean --prefix?"},
	} {
		code, _, errOut := runCLI(c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("runner %v: exit %d, want 2 and %q:\n%s", c.args, code, c.want, errOut)
		}
		if strings.Contains(errOut, "Examples:") {
			t.Errorf("runner %v: a typo printed the whole help:\n%s", c.args, errOut)
		}
	}
	if s := suggest("zzzz", commandNames()); s != "" {
		t.Errorf("suggest(zzzz) = %q, want none", s)
	}
}

func TestVersionNamesCommit(t *testing.T) {
	code, out, _ := runCLI("version")
	if code != 0 || !strings.HasPrefix(out, "runner ") || !strings.Contains(out, "(commit ") {
		t.Fatalf("exit %d: %q", code, out)
	}
	code, out, _ = runCLI("version", "--output", "json")
	var b buildInfo
	if err := json.Unmarshal([]byte(out), &b); code != 0 || err != nil || b.Version == "" || b.Commit == "" || b.Go == "" {
		t.Fatalf("exit %d, %v: %q", code, err, out)
	}
	if code, _, _ = runCLI("version", "--output", "yaml"); code != 2 {
		t.Errorf("--output yaml: exit %d, want 2", code)
	}
}

// A database that refuses the configured user or does not exist is a configuration error (2) for status
// and migrate; one that does not answer is the environment (1).
func TestStatusMigrateExitCodes(t *testing.T) {
	dsn := storetest.DB(t)
	host := dsn[strings.Index(dsn, "@tcp(") : strings.Index(dsn, ")/")+1]
	env := filepath.Join(t.TempDir(), ".env")
	os.WriteFile(env, nil, 0o600)
	for _, c := range []struct {
		dsn  string
		want int
	}{
		{"root" + host + "/meetpipe_no_such_db_25", 2},
		{"no_such_user_25:pw" + host + "/x", 2},
		{"root@tcp(127.0.0.1:9)/x?timeout=2s", 1},
		{"not a dsn", 2},
	} {
		for _, cmd := range []string{"status", "migrate"} {
			if code, _, errOut := runCLI(cmd, "--env-file", env, "--dsn", c.dsn); code != c.want {
				t.Errorf("%s --dsn %q: exit %d, want %d:\n%s", cmd, c.dsn, code, c.want, errOut)
			}
		}
	}
}

// runner status reads MEETPIPE_STATE_DIR from --env-file for the pending list.
func TestStatusHonoursEnvFileStateDir(t *testing.T) {
	t.Parallel() // its own database and state
	dsn := storetest.DB(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "elsewhere-state")
	env := filepath.Join(dir, ".env")
	os.WriteFile(env, []byte("MEETPIPE_STATE_DIR="+state+"\n"), 0o600)
	if code, _, errOut := runCLI("migrate", "--env-file", env, "--dsn", dsn); code != 0 {
		t.Fatalf("migrate: exit %d:\n%s", code, errOut)
	}
	code, out, errOut := runCLI("status", "--env-file", env, "--dsn", dsn)
	if code != 0 || !strings.Contains(out, "pending recordings ("+state+")") {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
}

// doctor fails each setting still holding a placeholder of .env.example, ends with its counts, and takes
// --output json (and the deprecated --json).
func TestDoctorPlaceholdersAndCounts(t *testing.T) {
	file, _, envFile := tinyFixture(t, "")
	os.WriteFile(envFile, []byte("TQM_SECRET_ID=your_secret_id\nASR_BASE_URL=http://your-asr-host:8000/v1\nDB_PASS=real-pass-SECRET\n"), 0o600)
	code, out, _ := runCLI("doctor", file, "--env-file", envFile)
	if code != 1 || !strings.Contains(out, "fail  setting TQM_SECRET_ID: still the template's placeholder — fill it in "+envFile) ||
		!strings.Contains(out, "fail  setting ASR_BASE_URL") || strings.Contains(out, "DB_PASS") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "doctor: ") || !strings.Contains(last, " ok, ") || !strings.Contains(last, " fail") {
		t.Errorf("last line %q", last)
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("colours when stdout is not a terminal")
	}
	for _, flags := range [][]string{{"--output", "json"}, {"--json"}} {
		code, out, _ = runCLI(append([]string{"doctor", file, "--env-file", envFile}, flags...)...)
		var fs []map[string]any
		if err := json.Unmarshal([]byte(out), &fs); code != 1 || err != nil || len(fs) < 2 {
			t.Errorf("%v: exit %d, %v:\n%s", flags, code, err, out)
		}
	}
	if code, _, _ = runCLI("doctor", file, "--env-file", envFile, "--output", "yaml"); code != 2 {
		t.Errorf("--output yaml: exit %d, want 2", code)
	}
}

// At --log-level warn a run still ends with its one-line summary.
func TestWarnLevelKeepsSummary(t *testing.T) {
	file, _, envFile := tinyFixture(t, "")
	code, _, errOut := runCLI("run", file, "--env-file", envFile, "--log-level", "warn", "--log-format", "json", "--no-preflight")
	if code != 1 || !strings.Contains(errOut, `"level":"WARN","msg":"run finished","status":"failed"`) {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
	if strings.Count(errOut, `"msg":"run finished"`) != 1 {
		t.Errorf("the summary twice:\n%s", errOut)
	}
}

// The binary to deploy links neither the emulators nor the demo's media generator: they are in the
// development build (build tag dev) only. The dev build's list is checked too, so that the test cannot
// pass for a pattern that never matches.
func TestProductionBuildLinksNoEmulator(t *testing.T) {
	deps := func(tags ...string) string {
		t.Helper()
		out, err := exec.Command("go", append(append([]string{"list"}, tags...), "-deps", ".")...).Output()
		if err != nil {
			t.Fatalf("go list %v: %v", tags, err)
		}
		return string(out)
	}
	dev := regexp.MustCompile(`(?m)^meetpipe/.*(emulator|mediatest|internal/demo)$`)
	if got := dev.FindAllString(deps(), -1); len(got) > 0 {
		t.Errorf("the production build links %v", got)
	}
	if got := dev.FindAllString(deps("-tags", "dev"), -1); len(got) < 5 {
		t.Errorf("the dev build links only %v; want the three emulators, mediatest and the demo", got)
	}
}

// docMax is the longest doc of a setting: one sentence that fits beside its name in `runner steps NAME`.
const docMax = 160

// sentenceEnd is the end of a sentence with another after it ("e.g. kimi-k3" is not one).
var sentenceEnd = regexp.MustCompile(`[.!?]["')]?\s+[A-Z]|。.`)

// Every setting of every step, built in or a shipped plugin, has a doc of one sentence; what more an operator
// needs is its details, which `runner steps NAME` prints under it.
func TestConventionSettingDocs(t *testing.T) {
	reg, err := registry(filepath.Join(repoRoot(t), "plugins"), "x/x")
	if err != nil {
		t.Fatal(err)
	}
	var check func(at string, ss []step.Setting)
	check = func(at string, ss []step.Setting) {
		for _, s := range ss {
			name := at + s.Name
			switch n := utf8.RuneCountInString(s.Doc); {
			case n == 0:
				t.Errorf("%s: no doc", name)
			case n > docMax:
				t.Errorf("%s: a doc of %d characters, want at most %d (the rest goes in its details): %q", name, n, docMax, s.Doc)
			}
			if sentenceEnd.MatchString(s.Doc) || strings.Contains(s.Doc, "\n") {
				t.Errorf("%s: a doc of more than one sentence (the rest goes in its details): %q", name, s.Doc)
			}
			check(name+".", s.Fields)
		}
	}
	for _, n := range reg.Names() {
		d, _ := reg.Lookup(n)
		check(n+": ", d.Spec.Settings)
	}
	if _, ok := reg.Lookup("wecom_notify"); !ok {
		t.Error("the shipped plugins were not checked")
	}

	code, out, errOut := runCLI("steps", "tencent_list")
	_, after, _ := strings.Cut(out, "\n  teachers ")
	_, details, _ := strings.Cut(after, "\n")
	if code != 0 || !strings.HasPrefix(details, strings.Repeat(" ", 32)+"In per_teacher mode") {
		t.Errorf("runner steps tencent_list: exit %d, no details under teachers:\n%s%s", code, out, errOut)
	}
}
