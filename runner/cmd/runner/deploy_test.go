package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"meetpipe/runner/internal/demo"
	"meetpipe/steps/store/storetest"
)

// deploy runs `runner deploy` or `runner undeploy` from the repository with env added to the environment.
func (e *e2e) deploy(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(e.bin, args...)
	cmd.Dir = e.root
	cmd.Env = append(append(os.Environ(), "LOG_LEVEL=warn"), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, out.String()
}

func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// prepared makes a prefix whose .env holds the demo's settings, as an operator would have filled it in.
func (e *e2e) prepared(t *testing.T) (prefix, env string) {
	prefix = t.TempDir()
	env = readFile(t, e.envFile)
	if err := os.WriteFile(filepath.Join(prefix, ".env"), []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	return prefix, env
}

func TestDeploySystemd(t *testing.T) {
	t.Parallel() // its own database, emulators and state
	e := newE2E(t, storetest.DB(t), 1, demo.ServerOptions{})
	prefix, env := e.prepared(t)
	units, tools := t.TempDir(), t.TempDir()
	calls := filepath.Join(tools, "systemctl.log")
	systemctl := script(t, tools, "systemctl", `echo "$@" >> `+calls+"\n")
	vars := []string{"MEETPIPE_SYSTEMD=yes", "MEETPIPE_UNIT_DIR=" + units, "MEETPIPE_SYSTEMCTL=" + systemctl}

	code, out := e.deploy(t, vars, "deploy", "--prefix", prefix)
	if code != 0 {
		t.Fatalf("deploy exit %d:\n%s", code, out)
	}
	e.noSecrets(out)
	for _, p := range []string{"bin/runner", "pipelines/meeting.yaml", "plugins/tag_subject/manifest.yaml", "plugins/tag_subject/tag.sh",
		"plugins/wecom_notify/manifest.yaml", "plugins/wecom_notify/wecom_notify"} {
		if _, err := os.Stat(filepath.Join(prefix, p)); err != nil {
			t.Errorf("not installed: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(prefix, "plugins/wecom_notify/main.go")); err == nil {
		t.Error("Go sources installed")
	}
	if got := readFile(t, filepath.Join(prefix, ".env")); got != env {
		t.Errorf(".env was overwritten:\n%s", got)
	}
	if !strings.Contains(out, "schema_migrations") && !strings.Contains(out, "migration(s): 0001_init") && !strings.Contains(out, "schema is up to date") {
		t.Errorf("migrate did not run:\n%s", out)
	}
	if !strings.Contains(out, "ok    mysql_upsert") || strings.Contains(out, "fail  ") {
		t.Errorf("doctor did not run green:\n%s", out)
	}
	service := readFile(t, filepath.Join(units, "meetpipe.service"))
	if !strings.Contains(service, "WorkingDirectory="+prefix+"\n") || !strings.Contains(service, "ExecStart="+prefix+"/bin/runner run pipelines/meeting.yaml --since 26h") {
		t.Errorf("service:\n%s", service)
	}
	if timer := readFile(t, filepath.Join(units, "meetpipe.timer")); !strings.Contains(timer, "OnCalendar=*-*-* 03:00:00") || !strings.Contains(timer, "Persistent=true") {
		t.Errorf("timer:\n%s", timer)
	}
	if got := readFile(t, calls); got != "daemon-reload\nenable --now meetpipe.timer\n" {
		t.Errorf("systemctl calls:\n%s", got)
	}

	// A second deploy changes nothing: no file rewritten, no systemctl call.
	before := treeDigest(t, prefix) + treeDigest(t, units)
	code, out = e.deploy(t, vars, "deploy", "--prefix", prefix)
	if code != 0 || strings.Contains(out, "installed") {
		t.Fatalf("second deploy exit %d:\n%s", code, out)
	}
	if after := treeDigest(t, prefix) + treeDigest(t, units); after != before {
		t.Errorf("second deploy changed files:\n%s\n---\n%s", before, after)
	}
	if got := readFile(t, calls); got != "daemon-reload\nenable --now meetpipe.timer\n" {
		t.Errorf("second deploy called systemctl:\n%s", got)
	}

	// An operator's edit of the pipeline is kept; the shipped one lands beside it.
	pipe := filepath.Join(prefix, "pipelines/meeting.yaml")
	os.WriteFile(pipe, []byte(readFile(t, pipe)+"# edited\n"), 0o644)
	if code, out = e.deploy(t, vars, "deploy", "--prefix", prefix); code != 0 || !strings.Contains(readFile(t, pipe), "# edited") {
		t.Fatalf("deploy over an edited pipeline: exit %d:\n%s", code, out)
	}
	if _, err := os.Stat(pipe + ".new"); err != nil {
		t.Errorf("no meeting.yaml.new: %v", err)
	}

	code, out = e.deploy(t, vars, "undeploy", "--prefix", prefix)
	if code != 0 {
		t.Fatalf("undeploy exit %d:\n%s", code, out)
	}
	for _, p := range []string{filepath.Join(units, "meetpipe.timer"), filepath.Join(units, "meetpipe.service"), filepath.Join(prefix, "bin/runner"), filepath.Join(prefix, "plugins")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("undeploy left %s", p)
		}
	}
	if got := readFile(t, filepath.Join(prefix, ".env")); got != env {
		t.Error("undeploy touched .env")
	}
	if !strings.HasSuffix(readFile(t, calls), "disable --now meetpipe.timer\ndaemon-reload\n") {
		t.Errorf("systemctl calls:\n%s", readFile(t, calls))
	}
}

func TestDeployCron(t *testing.T) {
	t.Parallel() // its own database, emulators and state
	e := newE2E(t, storetest.DB(t), 1, demo.ServerOptions{})
	prefix, env := e.prepared(t)
	tools := t.TempDir()
	tab := filepath.Join(tools, "crontab.txt")
	os.WriteFile(tab, []byte("MAILTO=ops@example.com\n"), 0o600)
	// A crontab(1) that keeps the table in a file: -l prints it, - replaces it.
	crontab := script(t, tools, "crontab", `case "$1" in
-l) cat `+tab+` ;;
-) cat > `+tab+` ;;
*) exit 2 ;;
esac
`)
	vars := []string{"MEETPIPE_SYSTEMD=no", "MEETPIPE_CRONTAB=" + crontab}
	for i := range 2 {
		if code, out := e.deploy(t, vars, "deploy", "--prefix", prefix, "--at", "02:30"); code != 0 {
			t.Fatalf("deploy %d exit %d:\n%s", i+1, code, out)
		}
	}
	got := readFile(t, tab)
	want := "MAILTO=ops@example.com\n30 2 * * * cd " + prefix + " && " + prefix + "/bin/runner run pipelines/meeting.yaml --since 26h >> logs/cron.log 2>&1 " + cronMarker + "\n"
	if got != want {
		t.Errorf("crontab after two deploys:\n%s\nwant:\n%s", got, want)
	}
	if code, out := e.deploy(t, vars, "undeploy", "--prefix", prefix); code != 0 {
		t.Fatalf("undeploy exit %d:\n%s", code, out)
	}
	if got := readFile(t, tab); got != "MAILTO=ops@example.com\n" {
		t.Errorf("crontab after undeploy:\n%s", got)
	}
	if readFile(t, filepath.Join(prefix, ".env")) != env {
		t.Error("undeploy touched .env")
	}
	if _, err := os.Stat(filepath.Join(prefix, "var")); err != nil {
		t.Errorf("undeploy removed data: %v", err)
	}
}

// A fresh prefix gets the .env template and the deploy says what to do next: doctor fails on it.
func TestDeployFreshPrefixWritesTemplate(t *testing.T) {
	t.Parallel() // its own prefix and unit folder
	e := &e2e{t: t, root: repoRoot(t), bin: runnerBinary(t)}
	prefix, units := t.TempDir(), t.TempDir()
	vars := []string{"MEETPIPE_SYSTEMD=yes", "MEETPIPE_UNIT_DIR=" + units, "MEETPIPE_SYSTEMCTL="}
	code, out := e.deploy(t, vars, "deploy", "--prefix", prefix)
	if code != 1 || !strings.Contains(out, "fill in "+prefix+"/.env") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if readFile(t, filepath.Join(prefix, ".env")) != readFile(t, filepath.Join(e.root, ".env.example")) {
		t.Error(".env is not the template")
	}
	if st, _ := os.Stat(filepath.Join(prefix, ".env")); st.Mode().Perm() != 0o600 {
		t.Errorf(".env mode %v, want 0600", st.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(units, "meetpipe.timer")); err != nil {
		t.Errorf("no timer: %v", err)
	}
}
