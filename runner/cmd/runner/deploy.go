package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"meetpipe/runner"
	"meetpipe/runner/step"
)

// deployment is where `runner deploy` installs and how it schedules the nightly run. Every outside
// effect (the systemd unit folder, systemctl, crontab, useradd, logrotate) can be pointed elsewhere, so
// that tests install into temporary folders and never enable a real timer.
type deployment struct {
	prefix       string // /opt/meetpipe
	source       string // the repository: pipelines/, plugins/, .env.example
	systemd      string // auto, yes, no
	unitDir      string // /etc/systemd/system
	systemctl    string // systemctl; "" runs nothing
	crontab      string // crontab
	analyze      string // systemd-analyze, to verify the units; "" or absent skips
	user         string // the dedicated user the units run as
	useradd      string // useradd; "" creates no user
	logrotateDir string // /etc/logrotate.d; "" or absent installs no snippet
	at           string // HH:MM of the nightly run
	since        string // --since of the nightly run
	serve        bool   // a long-running `runner serve` instead of the nightly timer
	listen       string // --listen of runner serve
	out          io.Writer
}

const (
	unitName    = "meetpipe"
	serveUnit   = "meetpipe-serve.service"
	failureUnit = "meetpipe-failure@.service"
	cronMarker  = "# meetpipe nightly run (runner deploy)"
	// manifestName lists, under the prefix, each file deploy installed with the hash of what it wrote:
	// a file that still has that hash is deploy's to replace or remove; any other is the operator's.
	manifestName = ".deployed"
)

func (d *deployment) register(fs *flag.FlagSet) {
	fs.StringVar(&d.prefix, "prefix", envOr("PREFIX", "/opt/meetpipe"), "install under this folder ($PREFIX)")
	fs.StringVar(&d.source, "source", ".", "the repository to install from (pipelines/, plugins/, .env.example)")
	fs.StringVar(&d.systemd, "systemd", envOr("MEETPIPE_SYSTEMD", "auto"), "schedule with a systemd timer: auto "+
		"(where systemd runs), yes or no (a crontab line) ($MEETPIPE_SYSTEMD)")
	fs.StringVar(&d.unitDir, "unit-dir", envOr("MEETPIPE_UNIT_DIR", "/etc/systemd/system"), "folder of the systemd units ($MEETPIPE_UNIT_DIR)")
	fs.StringVar(&d.systemctl, "systemctl", envOr("MEETPIPE_SYSTEMCTL", "systemctl"), "systemctl command; empty: write the units only ($MEETPIPE_SYSTEMCTL)")
	fs.StringVar(&d.crontab, "crontab", envOr("MEETPIPE_CRONTAB", "crontab"), "crontab command ($MEETPIPE_CRONTAB)")
	fs.StringVar(&d.analyze, "systemd-analyze", envOr("MEETPIPE_SYSTEMD_ANALYZE", "systemd-analyze"), "verifies the "+
		"units where it exists; empty: no check ($MEETPIPE_SYSTEMD_ANALYZE)")
	fs.StringVar(&d.user, "user", envOr("MEETPIPE_USER", "meetpipe"), "the dedicated user the systemd units run as ($MEETPIPE_USER)")
	fs.StringVar(&d.useradd, "useradd", envOr("MEETPIPE_USERADD", "useradd"), "command that creates the user when "+
		"missing; empty: create none ($MEETPIPE_USERADD)")
	fs.StringVar(&d.logrotateDir, "logrotate-dir", envOr("MEETPIPE_LOGROTATE_DIR", "/etc/logrotate.d"), "where the "+
		"logrotate snippet for logs/ goes, if the folder exists; empty: none ($MEETPIPE_LOGROTATE_DIR)")
	fs.StringVar(&d.at, "at", "03:00", "time of the nightly run (HH:MM, local time)")
	fs.StringVar(&d.since, "since", "26h", "window of the nightly run (overlaps the previous night; the memo makes that free)")
	fs.BoolVar(&d.serve, "serve", false, "install a long-running 'runner serve' service ("+serveUnit+") instead of the nightly schedule (systemd only)")
	fs.StringVar(&d.listen, "listen", "127.0.0.1:8787", "address of runner serve, with --serve (serve's own default)")
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

// parse reads the flags of deploy and undeploy and checks those that would make a broken schedule.
func (d *deployment) parse(name string, args []string, stderr io.Writer) error {
	fl := newFlags(name, stderr)
	d.register(fl)
	if pos, err := parseArgs(fl, args); err != nil {
		return flagError(err)
	} else if len(pos) > 0 {
		return usageError{fmt.Errorf("%s: unexpected argument %q", name, pos[0])}
	}
	if !filepath.IsAbs(d.prefix) {
		return usageError{fmt.Errorf("%s: --prefix %q must be an absolute path (units and cron run from it)", name, d.prefix)}
	}
	d.prefix = filepath.Clean(d.prefix)
	if strings.ContainsAny(d.prefix, "\n\r") {
		return usageError{fmt.Errorf("%s: --prefix holds a line break", name)}
	}
	var h, m int
	if n, _ := fmt.Sscanf(d.at, "%d:%d", &h, &m); n != 2 || h < 0 || h > 23 || m < 0 || m > 59 {
		return usageError{fmt.Errorf("%s: --at %q: want HH:MM", name, d.at)}
	}
	if _, err := step.ParseDuration(d.since); err != nil {
		return usageError{fmt.Errorf("%s: --since %q: %w", name, d.since, err)}
	}
	if d.serve && !d.useSystemd() {
		return usageError{fmt.Errorf("%s: --serve needs systemd (run `runner serve` under your own supervisor otherwise)", name)}
	}
	if strings.ContainsAny(d.user, " :/\n") || d.user == "" {
		return usageError{fmt.Errorf("%s: --user %q is not a user name", name, d.user)}
	}
	return nil
}

// cmdDeploy installs the binary, plugins, pipeline and an .env template under the prefix, runs doctor and
// migrate, and installs the nightly schedule (or the serve service) only when doctor passes. Running it
// again changes nothing that is already right.
func cmdDeploy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	d := &deployment{out: stdout}
	if err := d.parse("deploy", args, stderr); err != nil {
		return err
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
	man, err := readManifest(d.prefix)
	if err != nil {
		return err
	}
	if err := d.installPlugins(man); err != nil {
		return err
	}
	// An operator edits the installed pipeline (whitelist, rules): an edited one is kept, the new one put
	// beside it; one deploy wrote and nobody changed is upgraded.
	pipe := filepath.Join(d.prefix, "pipelines", "meeting.yaml")
	if err := d.installTracked(man, filepath.Join(d.source, "pipelines", "meeting.yaml"), "pipelines/meeting.yaml", 0o644); err != nil {
		return err
	}
	if err := man.write(d.prefix); err != nil {
		return err
	}
	envFile := filepath.Join(d.prefix, ".env")
	if err := d.installKeep(filepath.Join(d.source, ".env.example"), envFile, 0o600); err != nil {
		return err
	}
	useSystemd := d.useSystemd()
	if useSystemd {
		if err := d.ensureUser(ctx, envFile); err != nil {
			return err
		}
	}

	var failed []string
	holes, err := placeholdersIn(envFile)
	if err != nil {
		return usageError{fmt.Errorf("deploy: %w", err)}
	}
	fmt.Fprintf(d.out, "== %s doctor\n", bin)
	if err := d.runInPrefix(ctx, bin, "doctor", pipe, "--env-file", envFile); err != nil {
		failed = append(failed, "doctor")
	}
	fmt.Fprintf(d.out, "== %s migrate\n", bin)
	if err := d.runInPrefix(ctx, bin, "migrate", "--env-file", envFile); err != nil {
		failed = append(failed, "migrate")
	}
	// A schedule that cannot run fails every night in silence: none is enabled until doctor passes.
	enable := len(failed) == 0 && len(holes) == 0
	if useSystemd {
		err = d.installUnits(ctx, bin, envFile, enable)
	} else {
		err = d.installCron(ctx, bin, enable)
	}
	if err != nil {
		return err
	}
	d.installLogrotate()
	what := "the nightly schedule"
	if d.serve {
		what = serveUnit
	}
	switch {
	case len(holes) > 0:
		return fmt.Errorf("deploy: installed, but %s is not enabled: %s in %s still hold(s) the template's "+
			"placeholder; fill them in and run `runner deploy` again",
			what, strings.Join(holes, ", "), envFile)
	case len(failed) > 0:
		return fmt.Errorf("deploy: installed, but %s failed, so %s is not enabled: fill in %s and run `runner "+
			"deploy` again", strings.Join(failed, " and "), what, envFile)
	}
	if d.serve {
		fmt.Fprintln(d.out, "deployed:", serveUnit, "listens on", d.listen)
	} else {
		fmt.Fprintln(d.out, "deployed: the pipeline runs every night at", d.at)
	}
	return nil
}

// cmdUndeploy removes every schedule deploy may have installed (units, crontab line, logrotate snippet),
// the binary, and the plugin files deploy installed and nobody changed; data (var/, logs/), the pipeline,
// .env and the operator's own plugins stay.
func cmdUndeploy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	d := &deployment{out: stdout}
	if err := d.parse("undeploy", args, stderr); err != nil {
		return err
	}
	var errs []error
	errs = append(errs, d.removeUnits(ctx, unitName+".timer", unitName+".service", serveUnit, failureUnit))
	errs = append(errs, d.removeCron(ctx))
	if d.logrotateDir != "" {
		p := filepath.Join(d.logrotateDir, unitName)
		if b, err := os.ReadFile(p); err == nil && bytes.HasPrefix(b, []byte(generatedMark)) {
			errs = append(errs, d.remove(p))
		}
	}
	errs = append(errs, d.remove(filepath.Join(d.prefix, "bin", "runner")))
	man, err := readManifest(d.prefix)
	if err != nil {
		return err
	}
	for _, rel := range man.paths() {
		if !strings.HasPrefix(rel, "plugins/") {
			continue // the pipeline is the operator's to keep
		}
		p := filepath.Join(d.prefix, filepath.FromSlash(rel))
		if h, err := fileHash(p); err != nil || h != man[rel] {
			if err == nil {
				fmt.Fprintln(d.out, "kept", p, "(changed since deploy)")
			}
			delete(man, rel)
			continue
		}
		errs = append(errs, d.remove(p))
		delete(man, rel)
		removeEmptyDirs(filepath.Dir(p), filepath.Join(d.prefix, "plugins"))
	}
	errs = append(errs, man.write(d.prefix))
	fmt.Fprintf(d.out, "kept %s (.env, pipelines/, var/, logs/, plugins you added or changed)\n", d.prefix)
	return errors.Join(errs...)
}

func (d *deployment) remove(p string) error {
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("undeploy: %w", err)
	}
	fmt.Fprintln(d.out, "removed", p)
	return nil
}

// removeEmptyDirs removes dir and its parents up to (not including) stop while they are empty.
func removeEmptyDirs(dir, stop string) {
	for dir != stop && strings.HasPrefix(dir, stop+string(filepath.Separator)) {
		if os.Remove(dir) != nil {
			return
		}
		dir = filepath.Dir(dir)
	}
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

// installTracked installs src at rel under the prefix as installKeep does, except that a file the
// manifest says deploy wrote, unchanged since, is replaced (an upgrade, not an edit).
func (d *deployment) installTracked(man manifest, src, rel string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	dst := filepath.Join(d.prefix, filepath.FromSlash(rel))
	sum := hashOf(b)
	cur, err := fileHash(dst)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("deploy: %w", err)
	case cur == sum:
		man[rel] = sum
		if st, err := os.Stat(dst); err == nil && st.Mode().Perm() != mode {
			return d.write(dst, b, mode)
		}
		fmt.Fprintln(d.out, "unchanged", dst)
		return nil
	case man[rel] != cur: // not what deploy wrote: the operator's edit, or a file deploy never owned
		fmt.Fprintln(d.out, "kept", dst, "(yours; the shipped one is", dst+".new)")
		return d.write(dst+".new", b, mode)
	}
	man[rel] = sum
	return d.write(dst, b, mode)
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

// installPlugins copies every plugin folder (one with a manifest) without its Go sources and tests; an
// edited plugin file is kept and the shipped one written beside it as .new, as the pipeline is.
func (d *deployment) installPlugins(man manifest) error {
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
			return d.installTracked(man, p, "plugins/"+filepath.ToSlash(rel), st.Mode().Perm())
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

// manifest maps a path under the prefix (slash-separated) to the sha256 of what deploy wrote there.
type manifest map[string]string

func readManifest(prefix string) (manifest, error) {
	m := manifest{}
	f, err := os.Open(filepath.Join(prefix, manifestName))
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	} else if err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		sum, rel, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != 64 || rel == "" {
			return nil, usageError{fmt.Errorf("deploy: %s:%d: want `sha256  path` (remove the file to start afresh)", f.Name(), n)}
		}
		m[rel] = sum
	}
	return m, sc.Err()
}

func (m manifest) paths() []string {
	var ps []string
	for p := range m {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}

func (m manifest) write(prefix string) error {
	var b strings.Builder
	for _, p := range m.paths() {
		fmt.Fprintf(&b, "%s  %s\n", m[p], p)
	}
	path := filepath.Join(prefix, manifestName)
	if old, err := os.ReadFile(path); err == nil && string(old) == b.String() {
		return nil
	}
	if err := os.WriteFile(path+".tmp", []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	return nil
}

func hashOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func fileHash(p string) (string, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	return hashOf(b), nil
}

// ensureUser creates the dedicated user when missing and gives it var/ and logs/ (the only folders the
// hardened unit may write) and read access to .env.
func (d *deployment) ensureUser(ctx context.Context, envFile string) error {
	u, err := user.Lookup(d.user)
	if err != nil && d.useradd != "" {
		cmd := exec.CommandContext(ctx, d.useradd, "--system", "--user-group", "--home-dir", d.prefix, "--no-create-home",
			"--shell", "/usr/sbin/nologin", d.user)
		cmd.Stdout, cmd.Stderr = d.out, d.out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("deploy: create the user %s: %s: %w", d.user, d.useradd, err)
		}
		fmt.Fprintln(d.out, "created the system user", d.user)
		u, err = user.Lookup(d.user)
	}
	if err != nil {
		fmt.Fprintf(d.out, "warning: no user %s here: var/ and logs/ keep their owner; create it before the first run\n", d.user)
		return nil
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, dir := range []string{"var", "logs"} {
		root := filepath.Join(d.prefix, dir)
		err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, uid, gid)
		})
		if err != nil {
			return fmt.Errorf("deploy: give %s to %s: %w", root, d.user, err)
		}
	}
	// root owns .env (the service cannot change its own settings); the user's group reads it.
	if err := os.Chown(envFile, os.Getuid(), gid); err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	if st, err := os.Stat(envFile); err == nil && st.Mode().Perm() != 0o640 && uid != os.Getuid() {
		return os.Chmod(envFile, 0o640)
	}
	return nil
}

// isPlaceholder tells a value .env.example ships for the operator to replace (your_secret_id,
// http://your-asr-host:8000/v1) from a real one.
func isPlaceholder(v string) bool {
	return strings.HasPrefix(v, "your_") || strings.HasPrefix(v, "your-") || strings.Contains(v, "://your-")
}

// placeholdersIn lists, sorted, the keys of an env file that still hold the template's placeholders.
func placeholdersIn(envFile string) ([]string, error) {
	dot, err := runner.ReadDotEnv(envFile)
	if err != nil {
		return nil, err
	}
	var keys []string
	for k, v := range dot {
		if isPlaceholder(v) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys, nil
}
