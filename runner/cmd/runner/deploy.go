package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// deployment is where `runner deploy` installs and how it schedules the nightly run. Every outside
// effect (the systemd unit folder, systemctl, crontab) can be pointed elsewhere, so that tests install
// into temporary folders and never enable a real timer.
type deployment struct {
	prefix    string // /opt/meetpipe
	source    string // the repository: pipelines/, plugins/, .env.example
	systemd   string // auto, yes, no
	unitDir   string // /etc/systemd/system
	systemctl string // systemctl; "" runs nothing
	crontab   string // crontab
	at        string // HH:MM of the nightly run
	since     string // --since of the nightly run
	out       io.Writer
}

const (
	unitName   = "meetpipe"
	cronMarker = "# meetpipe nightly run (runner deploy)"
)

func (d *deployment) register(fs *flag.FlagSet) {
	fs.StringVar(&d.prefix, "prefix", envOr("PREFIX", "/opt/meetpipe"), "install under this folder ($PREFIX)")
	fs.StringVar(&d.source, "source", ".", "the repository to install from (pipelines/, plugins/, .env.example)")
	fs.StringVar(&d.systemd, "systemd", envOr("MEETPIPE_SYSTEMD", "auto"), "schedule with a systemd timer: auto (where systemd runs), yes or no (a crontab line) ($MEETPIPE_SYSTEMD)")
	fs.StringVar(&d.unitDir, "unit-dir", envOr("MEETPIPE_UNIT_DIR", "/etc/systemd/system"), "folder of the systemd units ($MEETPIPE_UNIT_DIR)")
	fs.StringVar(&d.systemctl, "systemctl", envOr("MEETPIPE_SYSTEMCTL", "systemctl"), "systemctl command; empty: write the units only ($MEETPIPE_SYSTEMCTL)")
	fs.StringVar(&d.crontab, "crontab", envOr("MEETPIPE_CRONTAB", "crontab"), "crontab command, used without systemd ($MEETPIPE_CRONTAB)")
	fs.StringVar(&d.at, "at", "03:00", "time of the nightly run (HH:MM, local time)")
	fs.StringVar(&d.since, "since", "26h", "window of the nightly run (overlaps the previous night; the memo makes that free)")
}

func envOr(k, def string) string {
	if v, ok := os.LookupEnv(k); ok {
		return v
	}
	return def
}

func (d *deployment) useSystemd() bool {
	switch d.systemd {
	case "yes", "1", "true":
		return true
	case "no", "0", "false":
		return false
	}
	// sd_booted(3): systemd is the init system when this folder exists.
	st, err := os.Stat("/run/systemd/system")
	return err == nil && st.IsDir()
}

// cmdDeploy installs the binary, plugins, pipeline and an .env template under the prefix, runs doctor and
// migrate, and installs the nightly schedule. Running it again changes nothing that is already right.
func cmdDeploy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := newFlags("deploy", stderr)
	d := &deployment{out: stdout}
	d.register(fl)
	if _, err := parseArgs(fl, args); err != nil {
		return flagError(err)
	}
	if !filepath.IsAbs(d.prefix) {
		return usageError{fmt.Errorf("deploy: --prefix %q must be an absolute path (units and cron run from it)", d.prefix)}
	}
	var h, m int
	if n, _ := fmt.Sscanf(d.at, "%d:%d", &h, &m); n != 2 || h < 0 || h > 23 || m < 0 || m > 59 {
		return usageError{fmt.Errorf("deploy: --at %q: want HH:MM", d.at)}
	}
	if _, err := os.Stat(filepath.Join(d.source, "pipelines", "meeting.yaml")); err != nil {
		return usageError{fmt.Errorf("deploy: run it in the repository, or pass --source: %w", err)}
	}
	for _, dir := range []string{"bin", "plugins", "pipelines", "logs", "var"} {
		if err := os.MkdirAll(filepath.Join(d.prefix, dir), 0o755); err != nil {
			return fmt.Errorf("deploy: %w", err)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("deploy: find this binary: %w", err)
	}
	bin := filepath.Join(d.prefix, "bin", "runner")
	if err := d.install(exe, bin, 0o755); err != nil {
		return err
	}
	if err := d.installPlugins(); err != nil {
		return err
	}
	// An operator edits the installed pipeline (whitelist, rules): a different one is kept, the new one put
	// beside it.
	pipe := filepath.Join(d.prefix, "pipelines", "meeting.yaml")
	if err := d.installKeep(filepath.Join(d.source, "pipelines", "meeting.yaml"), pipe, 0o644); err != nil {
		return err
	}
	envFile := filepath.Join(d.prefix, ".env")
	if err := d.installKeep(filepath.Join(d.source, ".env.example"), envFile, 0o600); err != nil {
		return err
	}

	var failed []string
	fmt.Fprintf(d.out, "== %s doctor\n", bin)
	if err := d.runInPrefix(ctx, bin, "doctor", pipe, "--env-file", envFile); err != nil {
		failed = append(failed, "doctor")
	}
	fmt.Fprintf(d.out, "== %s migrate\n", bin)
	if err := d.runInPrefix(ctx, bin, "migrate", "--env-file", envFile); err != nil {
		failed = append(failed, "migrate")
	}
	if d.useSystemd() {
		err = d.installUnits(ctx, bin)
	} else {
		err = d.installCron(ctx, bin)
	}
	if err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("deploy: installed, but %s failed: fill in %s and run `just deploy` again", strings.Join(failed, " and "), envFile)
	}
	fmt.Fprintln(d.out, "deployed: the pipeline runs every night at", d.at)
	return nil
}

// cmdUndeploy removes the schedule, the binary and the plugins; data (var/, logs/), the pipeline and .env
// stay.
func cmdUndeploy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := newFlags("undeploy", stderr)
	d := &deployment{out: stdout}
	d.register(fl)
	if _, err := parseArgs(fl, args); err != nil {
		return flagError(err)
	}
	if !filepath.IsAbs(d.prefix) {
		return usageError{fmt.Errorf("undeploy: --prefix %q must be an absolute path", d.prefix)}
	}
	var errs []error
	if d.useSystemd() {
		service, timer := filepath.Join(d.unitDir, unitName+".service"), filepath.Join(d.unitDir, unitName+".timer")
		if _, err := os.Stat(timer); err == nil {
			errs = append(errs, d.systemctlRun(ctx, "disable", "--now", unitName+".timer"))
		}
		removed := false
		for _, f := range []string{timer, service} {
			if err := os.Remove(f); err == nil {
				fmt.Fprintln(d.out, "removed", f)
				removed = true
			} else if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		if removed {
			errs = append(errs, d.systemctlRun(ctx, "daemon-reload"))
		}
	} else {
		cur, err := d.readCrontab(ctx)
		if err != nil {
			return err
		}
		if next := withoutCron(cur); next != cur {
			if err := d.writeCrontab(ctx, next); err != nil {
				return err
			}
			fmt.Fprintln(d.out, "removed the crontab line")
		}
	}
	for _, p := range []string{filepath.Join(d.prefix, "bin", "runner"), filepath.Join(d.prefix, "plugins")} {
		if _, err := os.Stat(p); err == nil {
			if err := os.RemoveAll(p); err != nil {
				errs = append(errs, err)
			} else {
				fmt.Fprintln(d.out, "removed", p)
			}
		}
	}
	fmt.Fprintf(d.out, "kept %s (.env, pipelines/, var/, logs/)\n", d.prefix)
	return errors.Join(errs...)
}

// install copies src to dst unless dst already has the same content.
func (d *deployment) install(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	return d.write(dst, b, mode)
}

// installKeep copies src to dst when dst does not exist; a different dst is kept and src written beside
// it as dst.new.
func (d *deployment) installKeep(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	old, err := os.ReadFile(dst)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return d.write(dst, b, mode)
	case err != nil:
		return fmt.Errorf("deploy: %w", err)
	case bytes.Equal(old, b):
		fmt.Fprintln(d.out, "unchanged", dst)
		return nil
	}
	fmt.Fprintln(d.out, "kept", dst, "(yours)")
	if strings.HasSuffix(dst, ".env") {
		return nil // a template beside real secrets helps nobody
	}
	return d.write(dst+".new", b, mode)
}

// write puts b at path atomically, or says it is unchanged.
func (d *deployment) write(path string, b []byte, mode os.FileMode) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
		if st, err := os.Stat(path); err == nil && st.Mode().Perm() == mode {
			fmt.Fprintln(d.out, "unchanged", path)
			return nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	if err := os.Chmod(tmp, mode); err != nil { // WriteFile's mode is masked by the umask
		return fmt.Errorf("deploy: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("deploy: %w", err)
	}
	fmt.Fprintln(d.out, "installed", path)
	return nil
}

// installPlugins copies every plugin folder (one with a manifest) without its Go sources and tests.
func (d *deployment) installPlugins() error {
	src := filepath.Join(d.source, "plugins")
	entries, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	for _, e := range entries {
		dir := filepath.Join(src, e.Name())
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "manifest.yaml")); err != nil {
			continue
		}
		err := filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if de.IsDir() {
				if p != dir && de.Name() == "emulator" {
					return filepath.SkipDir // test tools, not the plugin
				}
				return nil
			}
			if strings.HasSuffix(p, ".go") || !de.Type().IsRegular() {
				return nil
			}
			st, err := de.Info()
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(src, p)
			return d.install(p, filepath.Join(d.prefix, "plugins", rel), st.Mode().Perm())
		})
		if err != nil {
			return fmt.Errorf("deploy plugin %s: %w", e.Name(), err)
		}
	}
	return nil
}

func (d *deployment) runInPrefix(ctx context.Context, bin string, args ...string) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = d.prefix
	cmd.Stdout, cmd.Stderr = d.out, d.out
	return cmd.Run()
}

func (d *deployment) units(bin string) (service, timer string) {
	service = fmt.Sprintf(`# Installed by runner deploy; runner undeploy removes it.
[Unit]
Description=meetpipe nightly run (Tencent Meeting recordings to MySQL)
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
# The runner reads .env from its working folder (systemd's EnvironmentFile parses quotes differently).
WorkingDirectory=%[1]s
ExecStart=%[2]s run pipelines/meeting.yaml --since %[3]s
TimeoutStopSec=90
`, d.prefix, bin, d.since)
	timer = fmt.Sprintf(`# Installed by runner deploy; runner undeploy removes it.
[Unit]
Description=meetpipe nightly run at %[1]s

[Timer]
OnCalendar=*-*-* %[1]s:00
Persistent=true

[Install]
WantedBy=timers.target
`, d.at)
	return service, timer
}

func (d *deployment) installUnits(ctx context.Context, bin string) error {
	service, timer := d.units(bin)
	changed := false
	for _, u := range []struct{ name, text string }{{unitName + ".service", service}, {unitName + ".timer", timer}} {
		path := filepath.Join(d.unitDir, u.name)
		if old, err := os.ReadFile(path); err == nil && string(old) == u.text {
			fmt.Fprintln(d.out, "unchanged", path)
			continue
		}
		if err := d.write(path, []byte(u.text), 0o644); err != nil {
			return err
		}
		changed = true
	}
	if !changed {
		return nil
	}
	if err := d.systemctlRun(ctx, "daemon-reload"); err != nil {
		return err
	}
	return d.systemctlRun(ctx, "enable", "--now", unitName+".timer")
}

func (d *deployment) systemctlRun(ctx context.Context, args ...string) error {
	if d.systemctl == "" {
		return nil
	}
	cmd := exec.CommandContext(ctx, d.systemctl, args...)
	cmd.Stdout, cmd.Stderr = d.out, d.out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("deploy: %s %s: %w", d.systemctl, strings.Join(args, " "), err)
	}
	return nil
}

// cronLine is the nightly run; the runner reads .env from its working folder itself.
func (d *deployment) cronLine(bin string) string {
	var h, m int
	fmt.Sscanf(d.at, "%d:%d", &h, &m)
	return fmt.Sprintf("%d %d * * * cd %s && %s run pipelines/meeting.yaml --since %s >> logs/cron.log 2>&1 %s",
		m, h, d.prefix, bin, d.since, cronMarker)
}

func (d *deployment) installCron(ctx context.Context, bin string) error {
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
