package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "time/tzdata" // --timezone must work on machines without zoneinfo

	"meetpipe/plugins"
	"meetpipe/runner"
	"meetpipe/runner/atomicfile"
	"meetpipe/runner/internal/report"
	"meetpipe/runner/internal/state"
	"meetpipe/runner/step"
	"meetpipe/steps"
	"meetpipe/steps/kimi"
	"meetpipe/steps/store"
)

// maxReportWindow is the longest window a report covers: a year of sessions is already a long page.
const maxReportWindow = 366 * 24 * time.Hour

// cmdReport writes the coaching team's report: an HTML page (and a workbook), optionally posted as a
// digest to the WeCom robot and mailed. Nothing is sent without --send; --dry-run writes and sends nothing.
func cmdReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("report", stderr)
	var lf loadFlags
	lf.register(fs)
	since := fs.String("since", "30d", "start of the window: a duration back from --until (30d, 7d) or a time")
	until := fs.String("until", "", "end of the window (default now)")
	out := fs.String("out", "report.html", "write the HTML report here (empty: none)")
	xlsx := fs.String("xlsx", "", "also write the tables as an Excel workbook here")
	send := fs.Bool("send", false, "post the digest to the WeCom robot of wecom_notify and/or mail the report (SMTP_* in .env)")
	dry := fs.Bool("dry-run", false, "write nothing, send nothing: print what would be written and sent")
	tz := fs.String("timezone", "Asia/Shanghai", "show dates in this zone")
	title := fs.String("title", "辅导进度报告", "the report's title")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagError(err)
	}
	file := "pipelines/meeting.yaml"
	switch len(pos) {
	case 0:
	case 1:
		file = pos[0]
	default:
		return usageError{errors.New("report: want at most one pipeline file")}
	}
	loc, err := time.LoadLocation(*tz)
	if err != nil {
		return usageError{fmt.Errorf("report: --timezone: %w", err)}
	}
	now := time.Now()
	u, s, err := window(*since, *until, now)
	if err != nil {
		return usageError{fmt.Errorf("report: %w", err)}
	}
	if u.Sub(s) > maxReportWindow {
		return usageError{fmt.Errorf("report: the window %s..%s is longer than %s, the most a report covers; "+
			"narrow --since (the database keeps everything: query it for longer spans)",
			s.Format("2006-01-02"), u.Format("2006-01-02"), "366d")}
	}
	p, env, err := lf.load(file, true, u, stderr)
	if err != nil {
		return err // diagnostics exit 2
	}
	defer p.Close()
	sec := p.Secrets
	dbc, err := dbConfigOf(p, env)
	if err != nil {
		return usageError{fmt.Errorf("report: %w", err)}
	}
	for _, v := range dbc.Secrets() {
		sec.Add(v)
	}
	db, err := store.Open(ctx, dbc)
	if err != nil {
		return fmt.Errorf("report: %s", sec.Scrub(err.Error()))
	}
	defer db.Close()
	data, err := store.LoadReport(ctx, db, store.ReportOptions{Since: s, Until: u})
	if err != nil {
		if store.NoSchema(err) {
			return fmt.Errorf("report: the database %s has no meetpipe tables yet: run `runner migrate %s` "+
				"(or a first `runner run`, which migrates)", sec.Scrub(dbc.Describe()), file)
		}
		return errors.New(sec.Scrub(err.Error())) // store's errors begin with "report:"
	}
	if data.Omitted > 0 {
		fmt.Fprintf(stderr, "report: showing the %d most recent recordings of the window; %d older ones are left out "+
			"to keep the page and mail small (narrow --since to see them)\n", len(data.Recordings), data.Omitted)
	}
	if err := redactData(p.Redactor(), data); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	pend, err := state.ReadPending(p.StateDir)
	if err != nil {
		return fmt.Errorf("report: pending list of %s: %w", p.StateDir, err)
	}
	var pending []report.Pending
	for _, x := range pend {
		pending = append(pending, report.Pending{ID: x.ID, Reason: sec.Scrub(x.Reason), FirstSeen: x.FirstSeen, LastSeen: x.LastSeen})
	}
	// Without a kimi_classify step, its default phases and no prices.
	classify, _ := steps.ClassifyViewOf(p)
	shown := file // as the operator would type it in the commands the report suggests
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, file); err == nil && !strings.HasPrefix(rel, "..") {
			shown = rel
		}
	}
	rep := report.Build(data, pending, report.Options{Title: *title, Location: loc, Now: now, Pipeline: shown,
		Phases: classify.Phases, Prices: pricesOf(classify.Prices)})
	if rep.Coach, err = loadCoaching(ctx, p, db, s, u); err != nil {
		return fmt.Errorf("report: %s", sec.Scrub(err.Error()))
	}

	robot, mailer, err := sendTargets(p, env)
	if err != nil {
		return usageError{fmt.Errorf("report: %w", err)}
	}
	if *send && robot == nil && mailer == nil {
		return usageError{errors.New("report: --send: nothing to send to: set WECOM_WEBHOOK_KEY (the key of wecom_notify) or SMTP_HOST")}
	}

	var html, book bytes.Buffer
	if err := rep.WriteHTML(&html); err != nil {
		return err
	}
	if *xlsx != "" {
		if err := rep.WriteXLSX(&book); err != nil {
			return err
		}
	}
	outputs := []struct {
		path string
		data []byte
	}{{*out, html.Bytes()}, {*xlsx, book.Bytes()}}
	for _, o := range outputs {
		if o.path == "" {
			continue
		}
		if *dry {
			fmt.Fprintf(stdout, "would write %s (%d bytes)\n", o.path, len(o.data))
			continue
		}
		if err := writeFileAtomic(o.path, o.data); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		fmt.Fprintf(stdout, "wrote %s\n", o.path)
	}
	fmt.Fprintf(stdout, "%s – %s: %d sessions, %d students (%d new), %d to review, %d failed, %d pending\n",
		s.In(loc).Format("2006-01-02"), u.In(loc).Format("2006-01-02"), rep.Sessions(), len(rep.Students),
		rep.NewStudents, len(rep.Review), len(rep.Failures), len(rep.Pending))
	if !*send && !*dry {
		return nil
	}
	if robot == nil && mailer == nil {
		fmt.Fprintln(stdout, "nothing configured to send to (WECOM_WEBHOOK_KEY, SMTP_HOST)")
		return nil
	}
	return sendDigest(ctx, p.Secrets, robot, mailer, rep, html.Bytes(), book.Bytes(), *xlsx, *send && !*dry, stdout)
}

// sendTargets are the robot of wecom_notify (when it has a key) and the SMTP server (when SMTP_HOST is
// set); their secrets join the pipeline's, so nothing printed holds them.
func sendTargets(p *runner.Pipeline, env map[string]string) (*report.WeCom, *report.SMTP, error) {
	var robot *report.WeCom
	if w, ok := plugins.SettingsOf(p, "wecom_notify"); ok {
		key, err := w.String("key")
		if err != nil {
			return nil, nil, err
		}
		base, err := w.String("base_url")
		if err != nil {
			return nil, nil, err
		}
		if key != "" {
			robot = &report.WeCom{Key: key, BaseURL: base}
			p.Secrets.Add(key)
		}
	}
	if env["SMTP_HOST"] == "" {
		return robot, nil, nil
	}
	m, err := smtpOf(env)
	if err != nil {
		return nil, nil, err
	}
	p.Secrets.Add(m.Pass)
	return robot, &m, nil
}

// sendDigest posts the digest to the robot and mails the report, or (dry run) says what it would send.
func sendDigest(ctx context.Context, sec *step.Secrets, robot *report.WeCom, m *report.SMTP, rep *report.Report,
	html, book []byte, xlsxPath string, really bool, stdout io.Writer) error {
	digest := rep.Digest()
	var errs []error
	if robot != nil {
		where := robot.BaseURL
		if where == "" {
			where = "https://qyapi.weixin.qq.com"
		}
		if !really {
			fmt.Fprintf(stdout, "would post to the WeCom robot at %s (%d bytes):\n%s\n", where, len(digest), sec.Scrub(digest))
		} else if err := robot.Send(ctx, digest); err != nil {
			errs = append(errs, errors.New(sec.Scrub(err.Error())))
		} else {
			fmt.Fprintf(stdout, "posted the digest to the WeCom robot at %s\n", where)
		}
	}
	if m != nil {
		subject := fmt.Sprintf("%s %s – %s", rep.Title, rep.Since.In(rep.Loc).Format("2006-01-02"), rep.UntilIncl().Format("2006-01-02"))
		files := []report.Attachment{{Name: "report.html", Data: html}}
		if xlsxPath != "" {
			files = append(files, report.Attachment{Name: filepath.Base(xlsxPath), Data: book})
		}
		if !really {
			fmt.Fprintf(stdout, "would mail %q from %s to %s via %s:%d (STARTTLS %s), attaching %d file(s):\n%s\n",
				subject, m.From, strings.Join(m.To, ", "), m.Host, m.Port, m.StartTLS, len(files), sec.Scrub(digest))
		} else if err := m.Mail(ctx, subject, digest, files...); err != nil {
			errs = append(errs, errors.New(sec.Scrub(err.Error())))
		} else {
			fmt.Fprintf(stdout, "mailed the report to %s\n", strings.Join(m.To, ", "))
		}
	}
	return errors.Join(errs...)
}

// dbConfigOf takes the database from mysql_upsert's settings, else from DB_* as `runner status` does.
func dbConfigOf(p *runner.Pipeline, env map[string]string) (store.Config, error) {
	if c, ok := steps.StoreConfigOf(p); ok {
		return c, nil
	}
	return store.ConfigFromEnv(func(k string) string { return env[k] })
}

func smtpOf(env map[string]string) (report.SMTP, error) {
	m := report.SMTP{Host: env["SMTP_HOST"], User: env["SMTP_USER"], Pass: env["SMTP_PASS"], From: env["SMTP_FROM"],
		StartTLS: env["STARTTLS"], Port: 587}
	if m.StartTLS == "" {
		m.StartTLS = "true"
	}
	if v := env["SMTP_PORT"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > 65535 {
			return m, fmt.Errorf("SMTP_PORT %q is not a port number", v)
		}
		m.Port = n
	}
	for _, t := range strings.Split(env["SMTP_TO"], ",") {
		if t = strings.TrimSpace(t); t != "" {
			m.To = append(m.To, t)
		}
	}
	if m.From == "" || len(m.To) == 0 {
		return m, errors.New("SMTP_HOST is set: SMTP_FROM and SMTP_TO are required too")
	}
	return m, nil
}

// pricesOf is kimi_classify's prices as the report shows them: none unless one is configured (0, the
// step's default, means unknown there too), and 元 for the currency of api.moonshot.cn.
func pricesOf(k kimi.Prices) report.Prices {
	if !k.Known() {
		return report.Prices{}
	}
	p := report.Prices{Known: true, Input: k.Input, Output: k.Output, CachedInput: k.Cached, Currency: k.Currency}
	switch p.Currency {
	case "", "CNY", "RMB":
		p.Currency = "元"
	}
	return p
}

func writeFileAtomic(path string, data []byte) error { return atomicfile.WriteMode(path, data, 0o644) }
