package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	wecomemu "meetpipe/plugins/wecom_notify/emulator"
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
	// A space and a % in the prefix: the unit and the crontab line must quote and escape them.
	prefix = filepath.Join(t.TempDir(), "meet pipe%1")
	if err := os.MkdirAll(prefix, 0o755); err != nil {
		t.Fatal(err)
	}
	env = readFile(t, e.envFile)
	if err := os.WriteFile(filepath.Join(prefix, ".env"), []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	return prefix, env
}

// tools redirects every outside effect of deploy: a systemctl that logs its calls and remembers what is
// enabled, a crontab kept in a file (starting with the operator's own MAILTO line), no useradd, the
// current user as the service user, the unit and logrotate folders in temporary folders. systemd-analyze
// stays the real one where it exists.
type tools struct {
	units, logrotate, calls, tab string
	vars                         []string
}

func newTools(t *testing.T) *tools {
	t.Helper()
	dir := t.TempDir()
	tl := &tools{units: t.TempDir(), logrotate: t.TempDir(), calls: filepath.Join(dir, "systemctl.log"), tab: filepath.Join(dir, "crontab.txt")}
	os.WriteFile(tl.tab, []byte("MAILTO=ops@example.com\n"), 0o600)
	enabled := filepath.Join(dir, "enabled")
	systemctl := script(t, dir, "systemctl", `echo "$@" >> `+tl.calls+`
case "$1" in
enable) touch `+enabled+`.$(echo "$@" | awk '{print $NF}') ;;
disable) rm -f `+enabled+`.$(echo "$@" | awk '{print $NF}') ;;
is-enabled) test -e `+enabled+`.$3 ;;
esac
`)
	crontab := script(t, dir, "crontab", `case "$1" in
-l) cat `+tl.tab+` ;;
-) cat > `+tl.tab+` ;;
*) exit 2 ;;
esac
`)
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	tl.vars = []string{"MEETPIPE_UNIT_DIR=" + tl.units, "MEETPIPE_SYSTEMCTL=" + systemctl, "MEETPIPE_CRONTAB=" + crontab,
		"MEETPIPE_USERADD=", "MEETPIPE_USER=" + me.Username, "MEETPIPE_LOGROTATE_DIR=" + tl.logrotate}
	return tl
}

func (tl *tools) with(v ...string) []string { return append(append([]string{}, tl.vars...), v...) }

func (tl *tools) systemctlCalls(t *testing.T) string {
	b, _ := os.ReadFile(tl.calls)
	return string(b)
}

func (tl *tools) unitNames(t *testing.T) []string {
	t.Helper()
	es, err := os.ReadDir(tl.units)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestDeploySystemd(t *testing.T) {
	t.Parallel() // its own database, emulators and state
	e := newE2E(t, storetest.DB(t), 1, demo.ServerOptions{})
	prefix, env := e.prepared(t)
	tl := newTools(t)
	vars := tl.with("MEETPIPE_SYSTEMD=yes")

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
	if _, err := exec.LookPath("systemd-analyze"); err == nil && !strings.Contains(out, "verified the units with systemd-analyze") {
		t.Errorf("units not verified:\n%s", out)
	}
	esc := strings.ReplaceAll(prefix, "%", "%%")
	service := readFile(t, filepath.Join(tl.units, "meetpipe.service"))
	for _, want := range []string{
		"WorkingDirectory=" + esc + "\n",
		`ExecStart="` + esc + `/bin/runner" run pipelines/meeting.yaml --since "26h"` + "\n",
		"OnFailure=meetpipe-failure@%n.service\n",
		"User=" + strings.TrimPrefix(tl.vars[4], "MEETPIPE_USER=") + "\n",
		"NoNewPrivileges=yes\n", "ProtectSystem=strict\n", "PrivateTmp=yes\n", "CapabilityBoundingSet=\n",
		`ReadWritePaths="` + esc + `/var" "` + esc + `/logs" "-`, // and the demo's state folder, outside the prefix
	} {
		if !strings.Contains(service, want) {
			t.Errorf("service lacks %q:\n%s", want, service)
		}
	}
	failure := readFile(t, filepath.Join(tl.units, "meetpipe-failure@.service"))
	if !strings.Contains(failure, `ExecStart="`+esc+`/bin/runner" notify-failure --env-file "`+esc+`/.env" %i`) || !strings.Contains(failure, "ProtectSystem=strict") {
		t.Errorf("failure unit:\n%s", failure)
	}
	if timer := readFile(t, filepath.Join(tl.units, "meetpipe.timer")); !strings.Contains(timer, "OnCalendar=*-*-* 03:00:00") || !strings.Contains(timer, "Persistent=true") {
		t.Errorf("timer:\n%s", timer)
	}
	if got := tl.systemctlCalls(t); got != "daemon-reload\nenable --now meetpipe.timer\n" {
		t.Errorf("systemctl calls:\n%s", got)
	}
	if rot := readFile(t, filepath.Join(tl.logrotate, "meetpipe")); !strings.Contains(rot, `"`+prefix+`/logs/*.log" {`) || !strings.Contains(rot, "maxsize") {
		t.Errorf("logrotate snippet:\n%s", rot)
	} else if lr, err := exec.LookPath("logrotate"); err == nil {
		if b, err := exec.Command(lr, "--debug", "--state", filepath.Join(t.TempDir(), "state"), filepath.Join(tl.logrotate, "meetpipe")).CombinedOutput(); err != nil {
			t.Errorf("logrotate refuses the snippet: %v\n%s", err, b)
		}
	}

	// A second deploy changes nothing: no file rewritten, the timer only asked about.
	before := treeDigest(t, prefix) + treeDigest(t, tl.units)
	code, out = e.deploy(t, vars, "deploy", "--prefix", prefix)
	if code != 0 || strings.Contains(out, "installed") {
		t.Fatalf("second deploy exit %d:\n%s", code, out)
	}
	if after := treeDigest(t, prefix) + treeDigest(t, tl.units); after != before {
		t.Errorf("second deploy changed files:\n%s\n---\n%s", before, after)
	}
	if got := tl.systemctlCalls(t); got != "daemon-reload\nenable --now meetpipe.timer\nis-enabled --quiet meetpipe.timer\n" {
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
	for _, p := range []string{filepath.Join(prefix, "bin/runner"), filepath.Join(prefix, "plugins/tag_subject"), filepath.Join(tl.logrotate, "meetpipe")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("undeploy left %s", p)
		}
	}
	if names := tl.unitNames(t); len(names) != 0 {
		t.Errorf("undeploy left units %v", names)
	}
	if got := readFile(t, filepath.Join(prefix, ".env")); got != env {
		t.Error("undeploy touched .env")
	}
	if !strings.HasSuffix(tl.systemctlCalls(t), "disable --now meetpipe.timer\ndaemon-reload\n") {
		t.Errorf("systemctl calls:\n%s", tl.systemctlCalls(t))
	}
}

func TestDeployCron(t *testing.T) {
	t.Parallel() // its own database, emulators and state
	e := newE2E(t, storetest.DB(t), 1, demo.ServerOptions{})
	prefix, env := e.prepared(t)
	tl := newTools(t)
	vars := tl.with("MEETPIPE_SYSTEMD=no")
	for i := range 2 {
		if code, out := e.deploy(t, vars, "deploy", "--prefix", prefix, "--at", "02:30"); code != 0 {
			t.Fatalf("deploy %d exit %d:\n%s", i+1, code, out)
		}
	}
	got := readFile(t, tl.tab)
	q := "'" + strings.ReplaceAll(prefix, "%", `\%`) + "'"
	want := "MAILTO=ops@example.com\n30 2 * * * cd " + q + " && " + q[:len(q)-1] + "/bin/runner' run pipelines/meeting.yaml --since '26h' >> logs/cron.log 2>&1 " + cronMarker + "\n"
	if got != want {
		t.Errorf("crontab after two deploys:\n%s\nwant:\n%s", got, want)
	}
	// The line runs under sh as cron runs it (cron turns \% into %): the quoted cd and binary work.
	line := strings.SplitN(strings.TrimSuffix(strings.Split(got, "\n")[1], " "+cronMarker), " ", 6)[5]
	line = strings.ReplaceAll(strings.Replace(line, "run pipelines/meeting.yaml --since '26h'", "version", 1), `\%`, "%")
	if b, err := exec.Command("sh", "-c", line).CombinedOutput(); err != nil {
		t.Errorf("the crontab command fails under sh: %v\n%s", err, b)
	} else if log := readFile(t, filepath.Join(prefix, "logs/cron.log")); !strings.Contains(log, "runner") {
		t.Errorf("cron.log: %q", log)
	}
	if code, out := e.deploy(t, vars, "undeploy", "--prefix", prefix); code != 0 {
		t.Fatalf("undeploy exit %d:\n%s", code, out)
	}
	if got := readFile(t, tl.tab); got != "MAILTO=ops@example.com\n" {
		t.Errorf("crontab after undeploy:\n%s", got)
	}
	if readFile(t, filepath.Join(prefix, ".env")) != env {
		t.Error("undeploy touched .env")
	}
	if _, err := os.Stat(filepath.Join(prefix, "var")); err != nil {
		t.Errorf("undeploy removed data: %v", err)
	}
}

// Switching between cron, the timer and the serve service leaves exactly one schedule each time, and
// undeploy leaves none: no stale crontab line, no stale unit.
func TestDeploySwitchesSchedules(t *testing.T) {
	t.Parallel() // its own database, emulators, prefix and unit folder
	e := newE2E(t, storetest.DB(t), 1, demo.ServerOptions{})
	prefix, _ := e.prepared(t)
	tl := newTools(t)
	cronLines := func() int { return strings.Count(readFile(t, tl.tab), cronMarker) }
	step := func(name string, extra ...string) {
		t.Helper()
		mode := extra[0]
		code, out := e.deploy(t, tl.with(mode), append([]string{"deploy", "--prefix", prefix}, extra[1:]...)...)
		if code != 0 {
			t.Fatalf("%s: exit %d:\n%s", name, code, out)
		}
	}
	step("cron", "MEETPIPE_SYSTEMD=no")
	if cronLines() != 1 || len(tl.unitNames(t)) != 0 {
		t.Fatalf("cron: %d lines, units %v", cronLines(), tl.unitNames(t))
	}
	step("timer", "MEETPIPE_SYSTEMD=yes")
	if cronLines() != 0 || !slices.Equal(tl.unitNames(t), []string{"meetpipe-failure@.service", "meetpipe.service", "meetpipe.timer"}) {
		t.Fatalf("timer: %d crontab lines, units %v", cronLines(), tl.unitNames(t))
	}
	step("serve", "MEETPIPE_SYSTEMD=yes", "--serve", "--listen", "127.0.0.1:9100")
	if !slices.Equal(tl.unitNames(t), []string{"meetpipe-failure@.service", "meetpipe-serve.service"}) {
		t.Fatalf("serve: units %v", tl.unitNames(t))
	}
	serve := readFile(t, filepath.Join(tl.units, "meetpipe-serve.service"))
	esc := strings.ReplaceAll(prefix, "%", "%%")
	for _, want := range []string{`ExecStart="` + esc + `/bin/runner" serve "` + esc + `/pipelines/meeting.yaml" --env-file "` + esc + `/.env" --listen "127.0.0.1:9100"`,
		"Restart=on-failure", "ProtectSystem=strict", "NoNewPrivileges=yes", "WantedBy=multi-user.target"} {
		if !strings.Contains(serve, want) {
			t.Errorf("serve unit lacks %q:\n%s", want, serve)
		}
	}
	if calls := tl.systemctlCalls(t); !strings.Contains(calls, "disable --now meetpipe.timer\n") || !strings.Contains(calls, "enable meetpipe-serve.service\nrestart meetpipe-serve.service\n") {
		t.Errorf("systemctl calls:\n%s", calls)
	}
	step("cron again", "MEETPIPE_SYSTEMD=no")
	if cronLines() != 1 || len(tl.unitNames(t)) != 0 {
		t.Fatalf("cron again: %d lines, units %v", cronLines(), tl.unitNames(t))
	}
	if calls := tl.systemctlCalls(t); !strings.HasSuffix(calls, "disable --now meetpipe-serve.service\ndaemon-reload\n") {
		t.Errorf("systemctl calls:\n%s", calls)
	}
	step("timer again", "MEETPIPE_SYSTEMD=yes")
	// undeploy with the other mode's setting still removes both kinds.
	if code, out := e.deploy(t, tl.with("MEETPIPE_SYSTEMD=no"), "undeploy", "--prefix", prefix); code != 0 {
		t.Fatalf("undeploy: exit %d:\n%s", code, out)
	}
	if cronLines() != 0 || len(tl.unitNames(t)) != 0 || readFile(t, tl.tab) != "MAILTO=ops@example.com\n" {
		t.Fatalf("undeploy: crontab %q, units %v", readFile(t, tl.tab), tl.unitNames(t))
	}
}

// A plugin the operator edited survives deploy (the shipped file lands beside it as .new) and undeploy; a
// plugin the operator added is never touched.
func TestDeployKeepsOperatorPlugins(t *testing.T) {
	t.Parallel() // its own database, emulators, prefix and unit folder
	e := newE2E(t, storetest.DB(t), 1, demo.ServerOptions{})
	prefix, _ := e.prepared(t)
	tl := newTools(t)
	vars := tl.with("MEETPIPE_SYSTEMD=yes")
	if code, out := e.deploy(t, vars, "deploy", "--prefix", prefix); code != 0 {
		t.Fatalf("deploy: exit %d:\n%s", code, out)
	}
	tag := filepath.Join(prefix, "plugins/tag_subject/tag.sh")
	edited := readFile(t, tag) + "# mine\n"
	os.WriteFile(tag, []byte(edited), 0o755)
	mine := filepath.Join(prefix, "plugins/my_plugin/manifest.yaml")
	mineText := strings.Replace(readFile(t, filepath.Join(e.root, "plugins/tag_subject/manifest.yaml")), "name: tag_subject", "name: my_plugin", 1)
	os.MkdirAll(filepath.Dir(mine), 0o755)
	os.WriteFile(mine, []byte(mineText), 0o644)
	os.WriteFile(filepath.Join(prefix, "plugins/my_plugin/tag.sh"), []byte(readFile(t, tag)), 0o755)

	if code, out := e.deploy(t, vars, "deploy", "--prefix", prefix); code != 0 {
		t.Fatalf("second deploy: exit %d:\n%s", code, out)
	}
	if readFile(t, tag) != edited {
		t.Error("deploy overwrote the edited plugin")
	}
	if readFile(t, tag+".new") != readFile(t, filepath.Join(e.root, "plugins/tag_subject/tag.sh")) {
		t.Error("no shipped tag.sh.new beside the edit")
	}
	if code, out := e.deploy(t, vars, "undeploy", "--prefix", prefix); code != 0 {
		t.Fatalf("undeploy: exit %d:\n%s", code, out)
	}
	if readFile(t, tag) != edited || readFile(t, mine) != mineText {
		t.Error("undeploy removed the operator's plugin files")
	}
	if _, err := os.Stat(filepath.Join(prefix, "plugins/tag_subject/manifest.yaml")); err == nil {
		t.Error("undeploy left the shipped, unedited manifest")
	}
	if _, err := os.Stat(filepath.Join(prefix, "plugins/wecom_notify")); err == nil {
		t.Error("undeploy left the shipped wecom_notify folder")
	}
}

// A fresh prefix gets the .env template; deploy names the placeholders to fill, writes the units but
// enables no schedule, and exits 1.
func TestDeployFreshPrefixWritesTemplate(t *testing.T) {
	t.Parallel() // its own prefix and unit folder
	e := &e2e{t: t, root: repoRoot(t), bin: runnerBinary(t)}
	prefix := t.TempDir()
	tl := newTools(t)
	code, out := e.deploy(t, tl.with("MEETPIPE_SYSTEMD=yes"), "deploy", "--prefix", prefix)
	if code != 1 || !strings.Contains(out, "TQM_SECRET_ID") || !strings.Contains(out, "KIMI_API_KEY") || !strings.Contains(out, "not enabled") || !strings.Contains(out, prefix+"/.env") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if readFile(t, filepath.Join(prefix, ".env")) != readFile(t, filepath.Join(e.root, ".env.example")) {
		t.Error(".env is not the template")
	}
	if st, _ := os.Stat(filepath.Join(prefix, ".env")); st.Mode().Perm() != 0o600 {
		t.Errorf(".env mode %v, want 0600", st.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(tl.units, "meetpipe.timer")); err != nil {
		t.Errorf("no timer: %v", err)
	}
	if calls := tl.systemctlCalls(t); strings.Contains(calls, "enable") {
		t.Errorf("a schedule was enabled while doctor fails:\n%s", calls)
	}
	// With cron, no line is written either.
	code, out = e.deploy(t, tl.with("MEETPIPE_SYSTEMD=no"), "deploy", "--prefix", prefix)
	if code != 1 || strings.Contains(readFile(t, tl.tab), cronMarker) {
		t.Fatalf("cron: exit %d, crontab %q:\n%s", code, readFile(t, tl.tab), out)
	}
}

// Deploy creates the dedicated user when it is missing.
func TestDeployCreatesUser(t *testing.T) {
	t.Parallel() // its own prefix and unit folder
	e := &e2e{t: t, root: repoRoot(t), bin: runnerBinary(t)}
	prefix := filepath.Join(t.TempDir(), "p q")
	tl := newTools(t)
	log := filepath.Join(t.TempDir(), "useradd.log")
	useradd := script(t, filepath.Dir(log), "useradd", `echo "$@" > `+log+"\n")
	_, out := e.deploy(t, tl.with("MEETPIPE_SYSTEMD=yes", "MEETPIPE_USERADD="+useradd, "MEETPIPE_USER=meetpipe-no-such-user"), "deploy", "--prefix", prefix)
	if got := readFile(t, log); got != "--system --user-group --home-dir "+prefix+" --no-create-home --shell /usr/sbin/nologin meetpipe-no-such-user\n" {
		t.Errorf("useradd %q:\n%s", got, out)
	}
	if !strings.Contains(readFile(t, filepath.Join(tl.units, "meetpipe.service")), "User=meetpipe-no-such-user\n") {
		t.Error("the unit does not run as the dedicated user")
	}
}

// The OnFailure= unit's command posts to the WeCom robot when a key is set, and does nothing without one.
func TestNotifyFailure(t *testing.T) {
	robot, err := wecomemu.Start(wecomemu.Options{Key: "robot-key-7"})
	if err != nil {
		t.Fatal(err)
	}
	defer robot.Close()
	dir := t.TempDir()
	env := filepath.Join(dir, ".env")
	os.WriteFile(env, []byte("WECOM_WEBHOOK_KEY=robot-key-7\nWECOM_BASE_URL="+robot.URL()+"\n"), 0o600)
	var out, errOut bytes.Buffer
	if code := cli(context.Background(), []string{"notify-failure", "--env-file", env, "meetpipe.service"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, out.String(), errOut.String())
	}
	msgs := robot.Messages()
	if len(msgs) != 1 || !strings.Contains(msgs[0].Content, "meetpipe.service failed") {
		t.Fatalf("messages %+v", msgs)
	}
	if strings.Contains(out.String()+errOut.String(), "robot-key-7") {
		t.Error("the key was printed")
	}
	os.WriteFile(env, []byte("WECOM_WEBHOOK_KEY=\n"), 0o600)
	out.Reset()
	if code := cli(context.Background(), []string{"notify-failure", "--env-file", env, "meetpipe.service"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "nothing sent") {
		t.Fatalf("without a key: exit %d: %s", code, out.String())
	}
	if code := cli(context.Background(), []string{"notify-failure", "--env-file", env}, &out, &errOut); code != 2 {
		t.Errorf("without a unit: exit %d, want 2", code)
	}
}
