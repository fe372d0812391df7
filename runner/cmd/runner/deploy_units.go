package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strings"

	"meetpipe/runner"
)

// generatedMark opens every file deploy writes outside the prefix: undeploy and a switch of schedule
// remove only files that carry it.
const generatedMark = "# Installed by runner deploy"

// unitQuote is one ExecStart= word: quoted for spaces, with systemd's specifier (%) and variable ($)
// expansion escaped (systemd.service(5) "Command lines", systemd.unit(5) "Specifiers").
func unitQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%", "$", "$$").Replace(s) + `"`
}

// unitPathWord is one word of a path list such as ReadWritePaths= (quotes and specifiers, no variables).
func unitPathWord(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%").Replace(s) + `"`
}

// shellQuote is one word for sh, safe in a crontab line, where an unescaped % ends the command
// (crontab(5)).
func shellQuote(s string) string {
	return strings.ReplaceAll(`'`+strings.ReplaceAll(s, `'`, `'\''`)+`'`, "%", `\%`)
}

// writablePaths are the folders the hardened units may write: var/ and logs/, and the state and log
// folders .env names elsewhere (prefixed "-": systemd skips one that does not exist yet).
func (d *deployment) writablePaths(envFile string) []string {
	paths := []string{unitPathWord(filepath.Join(d.prefix, "var")), unitPathWord(filepath.Join(d.prefix, "logs"))}
	dot, err := runner.ReadDotEnv(envFile)
	if err != nil {
		return paths
	}
	var extra []string
	for k, dir := range map[string]string{"MEETPIPE_STATE_DIR": dot["MEETPIPE_STATE_DIR"], "MEETPIPE_LOG_FILE": filepath.Dir(dot["MEETPIPE_LOG_FILE"])} {
		if dot[k] == "" {
			continue
		}
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(d.prefix, dir)
		}
		dir = filepath.Clean(dir)
		inside := false
		for _, base := range []string{"var", "logs"} {
			b := filepath.Join(d.prefix, base)
			if dir == b || strings.HasPrefix(dir, b+string(filepath.Separator)) {
				inside = true
			}
		}
		if !inside {
			extra = append(extra, unitPathWord("-"+dir))
		}
	}
	sort.Strings(extra)
	return append(paths, extra...)
}

// hardening is the [Service] block every unit shares: the dedicated user, a read-only system but for
// the state and log folders, no privileges to gain (systemd.exec(5)).
func (d *deployment) hardening(envFile string) string {
	home := "yes"
	for _, h := range []string{"/home", "/root", "/run/user"} {
		if d.prefix == h || strings.HasPrefix(d.prefix, h+"/") {
			home = "read-only" // the install itself lives there
		}
	}
	return fmt.Sprintf(`User=%[1]s
Group=%[1]s
UMask=0027
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=%[2]s
ProtectHome=%[3]s
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
LockPersonality=yes
SystemCallArchitectures=native
CapabilityBoundingSet=
`, d.user, strings.Join(d.writablePaths(envFile), " "), home)
}

// units returns the unit files of the chosen mode by name.
func (d *deployment) units(bin, envFile string) map[string]string {
	head := generatedMark + "; runner undeploy removes it.\n"
	pipe := filepath.Join(d.prefix, "pipelines", "meeting.yaml")
	wd := "WorkingDirectory=" + strings.ReplaceAll(d.prefix, "%", "%%") + "\n"
	hard := d.hardening(envFile)
	u := map[string]string{
		failureUnit: head + `[Unit]
Description=meetpipe: tell the WeCom robot that %i failed (when WECOM_WEBHOOK_KEY is set)

[Service]
Type=oneshot
` + wd + "ExecStart=" + unitQuote(bin) + " notify-failure --env-file " + unitQuote(envFile) + " %i\n" + hard,
	}
	if d.serve {
		u[serveUnit] = head + `[Unit]
Description=meetpipe serve: Tencent Meeting event pushes
After=network-online.target
Wants=network-online.target
OnFailure=meetpipe-failure@%n.service
StartLimitIntervalSec=600
StartLimitBurst=5

[Service]
Type=simple
` + wd + "ExecStart=" + unitQuote(bin) + " serve " + unitQuote(pipe) + " --env-file " + unitQuote(envFile) + " --listen " + unitQuote(d.listen) + `
Restart=on-failure
RestartSec=5
TimeoutStopSec=90
` + hard + `
[Install]
WantedBy=multi-user.target
`
		return u
	}
	u[unitName+".service"] = head + `[Unit]
Description=meetpipe nightly run (Tencent Meeting recordings to MySQL)
After=network-online.target
Wants=network-online.target
OnFailure=meetpipe-failure@%n.service

[Service]
Type=oneshot
# The runner reads .env from its working folder (systemd's EnvironmentFile parses quotes differently).
` + wd + "ExecStart=" + unitQuote(bin) + " run pipelines/meeting.yaml --since " + unitQuote(d.since) + "\nTimeoutStopSec=90\n" + hard
	u[unitName+".timer"] = head + fmt.Sprintf(`[Unit]
Description=meetpipe nightly run at %[1]s

[Timer]
OnCalendar=*-*-* %[1]s:00
Persistent=true

[Install]
WantedBy=timers.target
`, d.at)
	return u
}

// verifyUnits runs `systemd-analyze verify` on the units in a scratch folder before any is installed: a
// unit that cannot start is refused, not installed to fail every night.
func (d *deployment) verifyUnits(ctx context.Context, units map[string]string) error {
	if d.analyze == "" {
		return nil
	}
	tool, err := exec.LookPath(d.analyze)
	if err != nil {
		fmt.Fprintf(d.out, "not verified: no %s here\n", d.analyze)
		return nil
	}
	dir, err := os.MkdirTemp("", "meetpipe-units-")
	if err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	defer os.RemoveAll(dir)
	args := []string{"verify"}
	for name, text := range units {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			return fmt.Errorf("deploy: %w", err)
		}
		if !strings.Contains(name, "@.") { // a template is checked through the OnFailure= that names it
			args = append(args, p)
		}
	}
	sort.Strings(args[1:])
	cmd := exec.CommandContext(ctx, tool, args...)
	cmd.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+dir+":") // the trailing colon keeps the system's units
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("deploy: the units do not pass `%s verify`, none installed: %w\n%s", d.analyze, err, strings.ReplaceAll(string(out), dir+"/", ""))
	}
	fmt.Fprintln(d.out, "verified the units with", d.analyze)
	return nil
}

// installUnits writes the units of the chosen mode, removes those of the other mode and any crontab line,
// and enables the timer or the serve service when enable is set (doctor passed).
func (d *deployment) installUnits(ctx context.Context, bin, envFile string, enable bool) error {
	units := d.units(bin, envFile)
	if err := d.verifyUnits(ctx, units); err != nil {
		return err
	}
	active, stale := unitName+".timer", []string{serveUnit}
	if d.serve {
		active, stale = serveUnit, []string{unitName + ".timer", unitName + ".service"}
	}
	if err := d.removeUnits(ctx, stale...); err != nil {
		return err
	}
	if err := d.removeCron(ctx); err != nil {
		return err
	}
	names := make([]string, 0, len(units))
	for n := range units {
		names = append(names, n)
	}
	sort.Strings(names)
	changed := false
	for _, n := range names {
		path := filepath.Join(d.unitDir, n)
		if old, err := os.ReadFile(path); err == nil && string(old) == units[n] {
			fmt.Fprintln(d.out, "unchanged", path)
			continue
		}
		if err := d.write(path, []byte(units[n]), 0o644); err != nil {
			return err
		}
		changed = true
	}
	if changed {
		if err := d.systemctlRun(ctx, "daemon-reload"); err != nil {
			return err
		}
	}
	if !enable {
		fmt.Fprintln(d.out, "not enabled:", active)
		return nil
	}
	if !changed && d.systemctlOK(ctx, "is-enabled", "--quiet", active) {
		return nil
	}
	if d.serve && !changed {
		return d.systemctlRun(ctx, "enable", "--now", active)
	}
	if d.serve {
		// A changed unit of a running service takes effect only on restart.
		if err := d.systemctlRun(ctx, "enable", active); err != nil {
			return err
		}
		return d.systemctlRun(ctx, "restart", active)
	}
	return d.systemctlRun(ctx, "enable", "--now", active)
}

// removeUnits disables and removes the named units where deploy installed them.
func (d *deployment) removeUnits(ctx context.Context, names ...string) error {
	var errs []error
	removed := false
	for _, n := range names {
		path := filepath.Join(d.unitDir, n)
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			errs = append(errs, err)
			continue
		}
		if !bytes.HasPrefix(b, []byte(generatedMark)) {
			fmt.Fprintln(d.out, "kept", path, "(not written by runner deploy)")
			continue
		}
		if strings.HasSuffix(n, ".timer") || n == serveUnit {
			errs = append(errs, d.systemctlRun(ctx, "disable", "--now", n))
		}
		if err := os.Remove(path); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintln(d.out, "removed", path)
		removed = true
	}
	if removed {
		errs = append(errs, d.systemctlRun(ctx, "daemon-reload"))
	}
	return errors.Join(errs...)
}

func (d *deployment) systemctlRun(ctx context.Context, args ...string) error {
	if d.systemctl == "" {
		return nil
	}
	if _, err := exec.LookPath(d.systemctl); err != nil && !d.useSystemd() {
		return nil // a cron host without systemd has no units to stop
	}
	cmd := exec.CommandContext(ctx, d.systemctl, args...)
	cmd.Stdout, cmd.Stderr = d.out, d.out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("deploy: %s %s: %w", d.systemctl, strings.Join(args, " "), err)
	}
	return nil
}

// systemctlOK reports whether a systemctl query succeeds (is-enabled, is-active).
func (d *deployment) systemctlOK(ctx context.Context, args ...string) bool {
	if d.systemctl == "" {
		return false
	}
	return exec.CommandContext(ctx, d.systemctl, args...).Run() == nil
}

// cronLine is the nightly run; the runner reads .env from its working folder itself.
func (d *deployment) cronLine(bin string) string {
	var h, m int
	fmt.Sscanf(d.at, "%d:%d", &h, &m)
	return fmt.Sprintf("%d %d * * * cd %s && %s run pipelines/meeting.yaml --since %s >> logs/cron.log 2>&1 %s",
		m, h, shellQuote(d.prefix), shellQuote(bin), shellQuote(d.since), cronMarker)
}

// installCron removes the systemd units of an earlier deploy and installs the crontab line when enable is
// set (doctor passed).
func (d *deployment) installCron(ctx context.Context, bin string, enable bool) error {
	if err := d.removeUnits(ctx, unitName+".timer", unitName+".service", serveUnit, failureUnit); err != nil {
		return err
	}
	if !enable {
		fmt.Fprintln(d.out, "crontab not changed")
		return nil
	}
	cur, err := d.readCrontab(ctx)
	if err != nil {
		return err
	}
	line := d.cronLine(bin)
	next := withoutCron(cur)
	if next != "" && !strings.HasSuffix(next, "\n") {
		next += "\n"
	}
	next += line + "\n"
	if next == cur {
		fmt.Fprintln(d.out, "unchanged crontab line")
		return nil
	}
	if err := d.writeCrontab(ctx, next); err != nil {
		return err
	}
	fmt.Fprintln(d.out, "installed crontab line:", line)
	return nil
}

// removeCron drops deploy's crontab line, if a crontab exists here.
func (d *deployment) removeCron(ctx context.Context) error {
	if d.crontab == "" {
		return nil
	}
	if _, err := exec.LookPath(d.crontab); err != nil {
		return nil // no cron here, so no line
	}
	cur, err := d.readCrontab(ctx)
	if err != nil {
		return err
	}
	next := withoutCron(cur)
	if next == cur {
		return nil
	}
	if err := d.writeCrontab(ctx, next); err != nil {
		return err
	}
	fmt.Fprintln(d.out, "removed the crontab line")
	return nil
}

// withoutCron drops the line deploy installed.
func withoutCron(tab string) string {
	var keep []string
	for _, l := range strings.SplitAfter(tab, "\n") {
		if l != "" && !strings.Contains(l, cronMarker) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "")
}

func (d *deployment) readCrontab(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, d.crontab, "-l")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		if strings.Contains(errOut.String(), "no crontab") {
			return "", nil
		}
		return "", fmt.Errorf("deploy: %s -l: %w: %s", d.crontab, err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), nil
}

func (d *deployment) writeCrontab(ctx context.Context, tab string) error {
	cmd := exec.CommandContext(ctx, d.crontab, "-")
	cmd.Stdin = strings.NewReader(tab)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("deploy: %s -: %w: %s", d.crontab, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// logrotateSnippet rotates logs/*.log weekly and at 50 MB; copytruncate because a run holds its log open.
func (d *deployment) logrotateSnippet() string {
	su := ""
	if d.useSystemd() {
		if _, err := user.Lookup(d.user); err == nil {
			su = "    su " + d.user + " " + d.user + "\n"
		}
	}
	return generatedMark + "; runner undeploy removes it.\n" +
		`"` + filepath.Join(d.prefix, "logs") + `/*.log" {
    weekly
    maxsize 50M
    rotate 8
    compress
    delaycompress
    missingok
    notifempty
    copytruncate
` + su + "}\n"
}

// installLogrotate writes the snippet where logrotate reads it, if that folder exists here.
func (d *deployment) installLogrotate() {
	if d.logrotateDir == "" {
		return
	}
	if st, err := os.Stat(d.logrotateDir); err != nil || !st.IsDir() {
		fmt.Fprintln(d.out, "no", d.logrotateDir, "here: rotate", filepath.Join(d.prefix, "logs"), "yourself")
		return
	}
	if err := d.write(filepath.Join(d.logrotateDir, unitName), []byte(d.logrotateSnippet()), 0o644); err != nil {
		fmt.Fprintln(d.out, "warning:", err)
	}
}
