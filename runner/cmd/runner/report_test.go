package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	wecomemu "meetpipe/plugins/wecom_notify/emulator"
	"meetpipe/runner"
	"meetpipe/runner/internal/demo"
	"meetpipe/steps"
	"meetpipe/steps/kimi"
	"meetpipe/steps/store/storetest"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/xuri/excelize/v2"
)

// TestReport runs the demo pipeline into a fresh database, then `runner report` on it: the page is
// checked in a real headless Chromium as a person would look at it, the workbook is read back, and the
// digest is sent only with --send.
func TestReport(t *testing.T) {
	if testing.Short() {
		t.Skip("long: a full run, then the report in headless Chromium")
	}
	t.Parallel() // its own database, emulators and state
	e := newE2E(t, storetest.DB(t), 1, demo.ServerOptions{})
	code, _, errOut := e.run()
	if code != 0 {
		t.Fatalf("demo run exited %d:\n%s", code, errOut)
	}
	runPending := -1 // the run line's pending count: it must be the report's 待处理
	for _, l := range strings.Split(errOut, "\n") {
		var v struct {
			Msg     string `json:"msg"`
			Pending *int   `json:"pending"`
		}
		if json.Unmarshal([]byte(l), &v) == nil && v.Msg == "run finished" && v.Pending != nil {
			runPending = *v.Pending
		}
	}
	report := func(t *testing.T, args ...string) (int, string, string) {
		t.Helper()
		full := append([]string{"report", e.pipeline, "--env-file", e.envFile, "--plugins", filepath.Join(e.root, "plugins"),
			"--since", demo.Since.Format(time.RFC3339), "--until", demo.Until.Format(time.RFC3339)}, args...)
		cmd := exec.Command(e.bin, full...)
		cmd.Dir = e.root
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, stdout.String(), stderr.String()
	}
	page := filepath.Join(e.dir, "out", "report.html")
	book := filepath.Join(e.dir, "out", "report.xlsx")
	if code, out, errOut := report(t, "--out", page, "--xlsx", book); code != 0 {
		t.Fatalf("report exited %d:\n%s\n%s", code, out, errOut)
	} else if !strings.Contains(out, "5 sessions, 4 students (4 new), 1 to review, 0 failed, 1 pending") {
		t.Errorf("summary line:\n%s", out)
	}
	if runPending != 1 {
		t.Errorf("the run line says %d pending, the report 1", runPending)
	}

	// One journey dot per student at a session: as many as the links the demo stored.
	var dots int
	if err := openDB(t, e.dsn).QueryRow("SELECT COUNT(*) FROM recording_students").Scan(&dots); err != nil || dots < 5 {
		t.Fatalf("recording_students: %d rows, %v", dots, err)
	}
	t.Run("browser", func(t *testing.T) { checkInBrowser(t, page, dots) })
	t.Run("board", func(t *testing.T) { checkBoardInBrowser(t, page, openDB(t, e.dsn)) })
	t.Run("coach sheets", func(t *testing.T) { checkCoachSheets(t, book) })

	t.Run("xlsx", func(t *testing.T) {
		f, err := excelize.OpenFile(book)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		rows, err := f.GetRows("待复核")
		if err != nil || len(rows) != 2 || rows[1][0] != "1964787070499246107" {
			t.Fatalf("review sheet: %q %v", rows, err)
		}
		recs, _ := f.GetRows("录制")
		if len(recs) != 6 || recs[1][1] != "2026-11-02 10:00" {
			t.Errorf("recordings sheet: %d rows, first start %q (Beijing time)", len(recs), recs[1][1])
		}
	})

	// The dry run explains in words what the filter and the if: decided.
	t.Run("explanations", func(t *testing.T) {
		code, out, errOut := e.run("--dry-run")
		if code != 0 {
			t.Fatalf("dry run exited %d:\n%s", code, errOut)
		}
		if !strings.Contains(out, `filter of step tencent_list: teacher_id "teacher_999" not in teachers`) {
			t.Errorf("the filtered recording's reason does not name the clause and its value:\n%s", out)
		}
		if strings.Contains(out, "teacher_id in teachers || needs_review) &&") {
			t.Errorf("the reason is the whole expression:\n%s", out)
		}
		previews := 0
		for _, line := range strings.Split(out, "\n") {
			if !strings.Contains(line, "wecom_notify") {
				continue
			}
			previews++
			if !strings.Contains(line, `skip      if false: env.WECOM_WEBHOOK_KEY == ""`) {
				t.Errorf("wecom_notify's if: is false without a key; the dry run shows %q", line)
			}
		}
		if previews != 5 { // the five stored recordings
			t.Errorf("wecom_notify previewed for %d recordings, want 5:\n%s", previews, out)
		}
	})

	t.Run("send", func(t *testing.T) {
		const key = "robot-key-report-7f3a"
		robot, err := wecomemu.Start(wecomemu.Options{Key: key})
		if err != nil {
			t.Fatal(err)
		}
		defer robot.Close()
		e.setEnv(t, "WECOM_WEBHOOK_KEY", key)
		e.setEnv(t, "WECOM_BASE_URL", robot.URL())
		e.setEnv(t, "SMTP_HOST", "127.0.0.1")
		e.setEnv(t, "SMTP_PORT", "1") // nothing listens: a dry run must not even connect
		e.setEnv(t, "SMTP_FROM", "reports@example.com")
		e.setEnv(t, "SMTP_TO", "jiaowu@example.com")
		e.setEnv(t, "SMTP_PASS", "smtp-pass-9d2c")

		quiet := filepath.Join(e.dir, "quiet.html")
		if code, out, errOut := report(t, "--out", quiet); code != 0 || len(robot.Messages()) != 0 {
			t.Fatalf("without --send: exit %d, %d messages\n%s%s", code, len(robot.Messages()), out, errOut)
		}
		dry := filepath.Join(e.dir, "dry.html")
		code, out, errOut := report(t, "--out", dry, "--send", "--dry-run")
		if code != 0 || len(robot.Messages()) != 0 {
			t.Fatalf("--dry-run --send: exit %d, %d messages\n%s%s", code, len(robot.Messages()), out, errOut)
		}
		if _, err := os.Stat(dry); err == nil {
			t.Errorf("a dry run wrote %s", dry)
		}
		for _, want := range []string{"would write " + dry, "would post to the WeCom robot at " + robot.URL(), "待复核",
			`would mail "辅导进度报告 2026-11-01 – 2026-11-08" from reports@example.com to jiaowu@example.com via 127.0.0.1:1 (STARTTLS true)`} {
			if !strings.Contains(out, want) {
				t.Errorf("dry run output lacks %q:\n%s", want, out)
			}
		}
		for _, secret := range []string{key, "smtp-pass-9d2c"} {
			if strings.Contains(out+errOut, secret) {
				t.Errorf("a secret is in the output:\n%s%s", out, errOut)
			}
		}

		// --send: the robot gets the digest; the mail fails (nothing listens) and the command says so.
		code, out, errOut = report(t, "--out", quiet, "--send")
		if msgs := robot.Messages(); len(msgs) != 1 || !strings.Contains(msgs[0].Content, "会话 **5** 次") ||
			!strings.Contains(msgs[0].Content, "1964787070499246107") {
			t.Fatalf("the robot got %+v\n%s%s", msgs, out, errOut)
		}
		if code != 1 || !strings.Contains(errOut, "smtp: send to 127.0.0.1:1") {
			t.Errorf("a failed mail must exit 1 with the cause: exit %d\n%s", code, errOut)
		}
		if strings.Contains(out+errOut, key) || strings.Contains(out+errOut, "smtp-pass-9d2c") {
			t.Errorf("a secret is in the output:\n%s%s", out, errOut)
		}
	})
}

// chromium finds Debian's chromium (or another Chrome); the test skips only when there is none.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium on PATH: apt-get install -y chromium (`just deps` installs it)")
	return ""
}

// browser starts headless Chromium for one test, at a laptop's window size; it closes when the test ends.
func browser(t *testing.T) context.Context {
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium(t)), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1100, 1400))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancel(); cancelTab(); cancelAlloc() })
	return ctx
}

func checkInBrowser(t *testing.T, page string, dots int) {
	ctx := browser(t)

	// The page must open with no network: record every request that is not the file itself.
	var mu sync.Mutex
	var requests []string
	if err := chromedp.Listen(ctx, func(ev any) {
		if r, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requests = append(requests, r.Request.URL)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	type view struct {
		Title        string   `json:"title"`
		Circles      int      `json:"circles"`
		Bars         int      `json:"bars"`
		ChartW       float64  `json:"chartW"`
		ChartH       float64  `json:"chartH"`
		LiPhases     []string `json:"liPhases"`
		LiRow        string   `json:"liRow"`
		Review       []string `json:"review"`
		ReviewCard   string   `json:"reviewCard"`
		HanWidth     float64  `json:"hanWidth"`
		LatinWidth   float64  `json:"latinWidth"`
		PendingTable string   `json:"pending"`
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("chromium: network.enable: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+page), chromedp.WaitVisible("#journey-chart")); err != nil {
		t.Fatalf("chromium: open %s: %v", page, err)
	}
	seen, err := chromedp.Run(ctx, chromedp.Evaluate[view](`(() => {
			const q = s => document.querySelector(s), qa = s => Array.from(document.querySelectorAll(s));
			const chart = q('#journey-chart').getBoundingClientRect();
			const li = qa('#journey-chart g.journey[data-student="stu_li"] circle.session')
				.sort((a, b) => a.cx.baseVal.value - b.cx.baseVal.value).map(c => c.dataset.phase);
			const measure = s => { const e = document.createElement('span'); e.style.fontSize = '20px'; e.textContent = s;
				document.body.appendChild(e); const w = e.getBoundingClientRect().width; e.remove(); return w; };
			return {
				title: q('h1').innerText,
				circles: qa('#journey-chart circle.session').length,
				bars: qa('#weeks-chart rect.bar').length,
				chartW: chart.width, chartH: chart.height,
				liPhases: li,
				liRow: q('#students-table tr[data-student="stu_li"]').innerText,
				review: qa('#review-table tbody tr[data-recording]').map(r => r.innerText),
				reviewCard: q('#card-review').innerText,
				hanWidth: measure('简历优化'), latinWidth: measure('abcd'),
				pending: q('#pending-table').innerText,
			};
		})()`))
	if err != nil {
		t.Fatalf("chromium: read the page: %v", err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("chromium: screenshot: %v", err)
	}
	shotPath := filepath.Join(t.TempDir(), "report.png")
	if err := os.WriteFile(shotPath, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", shotPath, len(shot))
	if dst := os.Getenv("MEETPIPE_REPORT_SCREENSHOT"); dst != "" {
		os.WriteFile(dst, shot, 0o644) // how docs/report.png is refreshed
	}

	if seen.Title != "辅导进度报告" {
		t.Errorf("title = %q", seen.Title)
	}
	if seen.Circles != dots || seen.Bars != 5 || seen.ChartW < 500 || seen.ChartH < 80 {
		t.Errorf("charts: %d journey dots (want %d), %d week bars, journey chart %.0f×%.0f px", seen.Circles, dots, seen.Bars, seen.ChartW, seen.ChartH)
	}
	if strings.Join(seen.LiPhases, " → ") != "简历优化 → Offer后续" {
		t.Errorf("李同学's journey = %v, want 简历优化 then Offer后续", seen.LiPhases)
	}
	if !strings.Contains(seen.LiRow, "李同学") || !strings.Contains(seen.LiRow, "简历优化 → Offer后续") {
		t.Errorf("李同学's row reads %q", seen.LiRow)
	}
	if len(seen.Review) != 1 || !strings.Contains(seen.Review[0], "1964787070499246107") ||
		!strings.Contains(seen.Review[0], "too-short") || !strings.Contains(seen.Review[0], "teacher_002") ||
		!strings.Contains(seen.Review[0], "周同学") {
		t.Errorf("review queue = %q", seen.Review)
	}
	if !strings.Contains(seen.ReviewCard, "1") {
		t.Errorf("review card = %q", seen.ReviewCard)
	}
	if !strings.Contains(seen.PendingTable, "1964787070499246106") {
		t.Errorf("pending table lacks the recording still transcoding:\n%s", seen.PendingTable)
	}
	// Chinese is drawn with a CJK font: four Han characters are about twice as wide as four Latin ones.
	if seen.HanWidth < 1.5*seen.LatinWidth {
		t.Errorf("Chinese text is %.0f px for 4 characters vs %.0f px Latin: no CJK font? (apt-get install fonts-wqy-microhei)", seen.HanWidth, seen.LatinWidth)
	}
	checkOnPhone(ctx, t)
	mu.Lock()
	defer mu.Unlock()
	for _, u := range requests {
		if !strings.HasPrefix(u, "file://") && !strings.HasPrefix(u, "data:") {
			t.Errorf("the page asked the network for %s", u)
		}
	}
}

// checkOnPhone looks at the page as a 390 px phone does: no sideways scroll of the page, no visible text
// rendered under 9 px (SVG text counted at its scaled size), table headers and phase pills on one line.
func checkOnPhone(ctx context.Context, t *testing.T) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3), chromedp.EmulateMobile)); err != nil {
		t.Fatalf("chromium: 390 px viewport: %v", err)
	}
	type phone struct {
		ClientWidth float64  `json:"clientWidth"`
		ScrollWidth float64  `json:"scrollWidth"`
		MinFont     float64  `json:"minFont"`
		MinFontText string   `json:"minFontText"`
		Texts       int      `json:"texts"`
		Wrapped     []string `json:"wrapped"`
		ScrollBoxes int      `json:"scrollBoxes"`
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[phone](`(() => {
		const html = document.documentElement;
		let minFont = 1e9, minText = '', texts = 0;
		const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
		for (let n = walk.nextNode(); n; n = walk.nextNode()) {
			const s = n.textContent.trim(), el = n.parentElement;
			if (!s || !el || el.closest('title, style, script')) continue;
			const cs = getComputedStyle(el);
			if (cs.display === 'none' || cs.visibility === 'hidden' || el.getClientRects().length === 0) continue;
			let size = parseFloat(cs.fontSize);
			if (el instanceof SVGElement) { const m = el.getScreenCTM(); if (m) size *= Math.hypot(m.a, m.b); }
			texts++;
			if (size < minFont) { minFont = size; minText = s.slice(0, 30); }
		}
		const wrapped = [];
		for (const el of document.querySelectorAll('th, .phase')) {
			const r = document.createRange(); r.selectNodeContents(el);
			const lines = new Set(Array.from(r.getClientRects()).map(q => Math.round(q.top)));
			if (lines.size > 1) wrapped.push(el.textContent);
		}
		const boxes = Array.from(document.querySelectorAll('table, .chart-box')).filter(b => b.scrollWidth > b.clientWidth + 1).length;
		return {clientWidth: html.clientWidth, scrollWidth: html.scrollWidth, minFont, minFontText: minText, texts, wrapped, scrollBoxes: boxes};
	})()`))
	if err != nil {
		t.Fatalf("chromium: read the page at 390 px: %v", err)
	}
	if got.ClientWidth > 400 || got.ScrollWidth > got.ClientWidth {
		t.Errorf("at 390 px the page is %.0f px wide in a %.0f px window: it scrolls sideways", got.ScrollWidth, got.ClientWidth)
	}
	if got.Texts < 50 || got.MinFont < 9 {
		t.Errorf("smallest visible text at 390 px: %.1f px (%q) over %d texts; want at least 9 px", got.MinFont, got.MinFontText, got.Texts)
	}
	if len(got.Wrapped) > 0 {
		t.Errorf("headers or phase pills wrap at 390 px: %q", got.Wrapped)
	}
	if got.ScrollBoxes == 0 {
		t.Error("no table or chart scrolls in its own box at 390 px: wide content must go somewhere")
	}
	if shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		p := filepath.Join(t.TempDir(), "report-390.png")
		os.WriteFile(p, shot, 0o644)
		t.Logf("390 px screenshot: %s", p)
	}
}

// `runner report` on a database never migrated says what to run, once; a window longer than a report
// covers is refused with exit 2, naming the bound.
func TestReportWithoutTablesAndOverlongWindow(t *testing.T) {
	e := newE2E(t, storetest.DB(t), 1, demo.ServerOptions{})
	report := func(args ...string) (int, string) {
		full := append([]string{"report", e.pipeline, "--env-file", e.envFile, "--plugins", filepath.Join(e.root, "plugins"),
			"--out", filepath.Join(e.dir, "r.html")}, args...)
		cmd := exec.Command(e.bin, full...)
		cmd.Dir = e.root
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, string(out)
	}
	code, out := report()
	if code != 1 || strings.Count(out, "runner migrate") != 1 || strings.Contains(out, "report: report:") ||
		strings.Contains(out, "Error 1146") || !strings.Contains(out, "has no meetpipe tables yet") {
		t.Errorf("report without tables: exit %d:\n%s", code, out)
	}
	code, out = report("--since", "400d")
	if code != 2 || !strings.Contains(out, "longer than 366d") {
		t.Errorf("report over 400 days: exit %d:\n%s", code, out)
	}
}

// Prices are kimi_classify's; 0, its default, means none were configured, and CNY is shown as 元.
func TestPricesOf(t *testing.T) {
	tests := []struct {
		name   string
		prices kimi.Prices
		want   string // Known, input, output, cached, currency
	}{
		{"unset", kimi.Prices{}, "false 0 0 0 "},
		{"zero as shipped", kimi.Prices{Currency: "CNY"}, "false 0 0 0 "},
		{"priced", kimi.Prices{Input: 4, Output: 16, Cached: 1, Currency: "CNY"}, "true 4 16 1 元"},
		{"dollars", kimi.Prices{Input: 0.6, Output: 2.5, Currency: "USD"}, "true 0.6 2.5 0 USD"},
	}
	for _, tt := range tests {
		p := pricesOf(tt.prices)
		if got := fmt.Sprintf("%v %v %v %v %s", p.Known, p.Input, p.Output, p.CachedInput, p.Currency); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

// What the report reads of the shipped pipeline (prices, phases, the database, the robot) comes from the
// steps' own decoded settings: were one of them renamed in its step or manifest, the pipeline's key would
// be refused at load or the view would fail here, instead of a column going silently empty.
func TestReportReadsThePipelinesSettings(t *testing.T) {
	root := repoRoot(t)
	pipeline := filepath.Join(root, "pipelines", "meeting.yaml")
	env, err := runner.ReadDotEnv(filepath.Join(root, ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"KIMI_PRICE_INPUT": "4", "KIMI_PRICE_OUTPUT": "16", "KIMI_PRICE_CACHED": "1",
		"KIMI_CURRENCY": "USD", "DB_PASS": "pw-report-77", "WECOM_WEBHOOK_KEY": "robot-key-77"} {
		env[k] = v
	}
	reg, err := registry("", pipeline)
	if err != nil {
		t.Fatal(err)
	}
	p, err := runner.Load(pipeline, runner.LoadOptions{Registry: reg, Env: env, DryRun: true, Now: time.Now(), StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	view, ok := steps.ClassifyViewOf(p)
	pr := pricesOf(view.Prices)
	if got := fmt.Sprintf("%v %v %v %v %s", pr.Known, pr.Input, pr.Output, pr.CachedInput, pr.Currency); !ok || got != "true 4 16 1 USD" {
		t.Errorf("prices = %s (step found: %v), want true 4 16 1 USD", got, ok)
	}
	if got := strings.Join(view.Phases, ","); got != "简历优化,项目深挖,面试模拟,Offer后续,其他" {
		t.Errorf("phases = %s", got)
	}
	db, err := dbConfigOf(p, nil)
	if err != nil || db.Database != env["DB_NAME"] || db.User != env["DB_USER"] || db.Password != "pw-report-77" || db.Port != 3306 {
		t.Errorf("database = %s %s port %d (password given: %v), %v", db.Database, db.User, db.Port, db.Password == "pw-report-77", err)
	}
	robot, _, err := sendTargets(p, map[string]string{})
	if err != nil || robot == nil || robot.Key != "robot-key-77" || robot.BaseURL == "" {
		t.Errorf("robot = %+v, %v; want wecom_notify's key and base_url", robot, err)
	}
}

// checkBoardInBrowser opens the report in headless Chromium and reads the student board as a person
// sees it: it is the first section of the page, one row per student of the database with the current
// phase, and the scored mock interview shows its criteria.
func checkBoardInBrowser(t *testing.T, page string, db *sql.DB) {
	ctx := browser(t)
	type board struct {
		First    string   `json:"first"`
		Heading  string   `json:"heading"`
		Rows     []string `json:"rows"`
		Li       string   `json:"li"`
		Visible  bool     `json:"visible"`
		Homework bool     `json:"homework"`
		Scores   []string `json:"scores"`
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+page), chromedp.WaitVisible("#board-table")); err != nil {
		t.Fatalf("chromium: open %s: %v", page, err)
	}
	seen, err := chromedp.Run(ctx, chromedp.Evaluate[board](`(() => {
			const q = s => document.querySelector(s), qa = s => Array.from(document.querySelectorAll(s));
			const r = q('#board').getBoundingClientRect();
			return {
				first: q('main > section').id,
				heading: q('#board h2').innerText,
				rows: qa('#board-table tbody tr[data-student]').map(r => r.dataset.student),
				li: (q('#board-table tr[data-student="stu_li"]') || {innerText: ''}).innerText,
				visible: r.width > 500 && r.height > 60,
				homework: !!q('#homework-table'),
				scores: qa('#board-table tbody tr[data-student]').map(r => r.cells[8].innerText),
			};
		})()`))
	if err != nil {
		t.Fatalf("chromium: read the board: %v", err)
	}
	var students int
	if err := db.QueryRow(`SELECT COUNT(DISTINCT student_id) FROM recording_students`).Scan(&students); err != nil {
		t.Fatal(err)
	}
	if seen.First != "board" || seen.Heading != "学员看板" || !seen.Visible {
		t.Errorf("the page opens with section %q (%q, visible %v), want the student board", seen.First, seen.Heading, seen.Visible)
	}
	if len(seen.Rows) != students {
		t.Errorf("board rows %q, want one per student (%d)", seen.Rows, students)
	}
	if !strings.Contains(seen.Li, "李同学") || !strings.Contains(seen.Li, "Offer后续") {
		t.Errorf("李同学's board row reads %q, want the current phase Offer后续", seen.Li)
	}
	var scored bool
	for _, s := range seen.Scores {
		scored = scored || strings.Contains(s, "自我介绍")
	}
	if !scored || !seen.Homework {
		t.Errorf("board scores %q (want the mock interview's criteria), homework table %v", seen.Scores, seen.Homework)
	}
}

// checkCoachSheets reads the workbook's coaching sheets back: 作业, 评分 (the scored mock interview's
// trend) and 预警, each with its header.
func checkCoachSheets(t *testing.T, book string) {
	f, err := excelize.OpenFile(book)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, c := range []struct{ sheet, head string }{{"作业", "作业"}, {"评分", "均分走势"}, {"预警", "预警"}} {
		rows, err := f.GetRows(c.sheet)
		if err != nil || len(rows) == 0 || !slices.Contains(rows[0], c.head) {
			t.Errorf("sheet %s: %q %v", c.sheet, rows, err)
		}
	}
	rows, _ := f.GetRows("评分")
	if !slices.ContainsFunc(rows, func(r []string) bool { return len(r) > 1 && r[1] == "面试模拟" }) {
		t.Errorf("评分 sheet: %q, want the mock interview's trend", rows)
	}
}
