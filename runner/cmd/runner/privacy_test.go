package main

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meetpipe/runner"
	"meetpipe/runner/internal/demo"
	"meetpipe/steps/store"
	"meetpipe/steps/store/storetest"
)

// runner status prints stored text through the pipeline's redact: patterns: a failure stored before
// redaction was on must not print its phone number.
func TestStatusPrintsRedactedText(t *testing.T) {
	t.Parallel() // its own database and state
	dsn := storetest.DB(t)
	db := openDB(t, dsn)
	ctx := context.Background()
	if _, err := store.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if _, err := db.Exec(`INSERT INTO item_failures (item_id, run_id, step, kind, error, first_failed_at, last_failed_at)
		VALUES ('1964787070499246104', 'r1', 'kimi_classify', 'permanent', 'bad answer: 学生电话 138-0013-8000', ?, ?)`, now, now); err != nil {
		t.Fatal(err)
	}
	pipeline := filepath.Join(repoRoot(t), "pipelines", "meeting.yaml")
	// An empty env file: a named one must exist, and the status must not read this checkout's .env.
	envFile := filepath.Join(t.TempDir(), "empty.env")
	if err := os.WriteFile(envFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"text", "json"} {
		var out, errOut bytes.Buffer
		code := cli(ctx, []string{"status", "--dsn", dsn, "--env-file", envFile,
			"--state-dir", t.TempDir(), "--pipeline", pipeline, "--output", format}, &out, &errOut)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", format, code, errOut.String())
		}
		if strings.Contains(out.String(), "0013") || !strings.Contains(out.String(), "[手机号]") {
			t.Fatalf("%s output:\n%s", format, out.String())
		}
		if !strings.Contains(out.String(), "1964787070499246104") {
			t.Fatalf("%s: the item id was redacted too:\n%s", format, out.String())
		}
	}
}

// The report's data passes through redaction whole, its other values intact.
func TestReportDataRedacted(t *testing.T) {
	red, err := runner.LoadRedactor(filepath.Join(repoRoot(t), "pipelines", "meeting.yaml"))
	if err != nil || red == nil {
		t.Fatal(red, err)
	}
	start := time.Date(2026, 11, 5, 2, 0, 0, 0, time.UTC)
	data := &store.ReportData{Recordings: []store.ReportRecording{{ID: "1964787070499246104", Start: start, Minutes: 30,
		Summary: "学生留了身份证 110101199001010015 和邮箱 li@example.com", Students: []store.ReportAttendee{{ID: "stu_li", Name: "李同学", Minutes: 30}}}}}
	if err := redactData(red, data); err != nil {
		t.Fatal(err)
	}
	r := data.Recordings[0]
	if r.Summary != "学生留了身份证 [身份证号] 和邮箱 [邮箱]" || !r.Start.Equal(start) || r.ID != "1964787070499246104" || r.Students[0].Name != "李同学" {
		t.Fatalf("%+v", r)
	}
}

// The forms in which the demo's spoken phone and id numbers (meeting …104) could leak.
var leaks = []string{"13800138000", "138 0013 8000", "0013 8000", "110101199001010015", "1101011990"}

// tables the pipeline writes, dumped whole for the leak check and the forget comparison.
var privacyTables = []string{"recordings", "recording_students", "recording_sources", "student_stats",
	"recording_redactions", "student_tombstones", "erasure_log", "pipeline_runs", "item_failures"}

func dumpTables(t *testing.T, db *sql.DB) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, tb := range privacyTables {
		out[tb] = storetest.Dump(t, db, tb)
	}
	return out
}

func noLeak(t *testing.T, where, text string) {
	t.Helper()
	for _, l := range leaks {
		if strings.Contains(text, l) {
			i := strings.Index(text, l)
			t.Errorf("%s holds %q: …%s…", where, l, text[max(0, i-60):min(len(text), i+60)])
		}
	}
}

// forget runs `runner forget` on the e2e's pipeline.
func (e *e2e) forget(args ...string) (int, string, string) {
	e.t.Helper()
	full := append([]string{"forget", e.pipeline, "--env-file", e.envFile, "--plugins", filepath.Join(e.root, "plugins")}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, full...)
	cmd.Dir = e.root
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	code := 0
	if err := cmd.Run(); err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			e.t.Fatal(err)
		}
		code = ee.ExitCode()
	}
	return code, stdout.String(), stderr.String()
}

// TestPrivacyEndToEnd: a session (espeak-ng Mandarin media, the ASR emulator's transcript of it) reads out
// a phone number and an id number. Neither reaches the model, the database, the state directory or the
// logs. Then `runner forget` erases a student of a solo and a shared session: the other student's rows and
// statistics stay exact, and a rerun of the window does not bring the student back.
func TestPrivacyEndToEnd(t *testing.T) {
	t.Parallel() // its own database, emulators and state
	dsn := storetest.DB(t)
	e := newE2E(t, dsn, 1, demo.ServerOptions{})
	db := openDB(t, dsn)
	code, stdout, stderr := e.run()
	if code != 0 {
		t.Fatalf("run exited %d:\n%s", code, stderr)
	}
	assertDB(t, db, demo.Expected(1))

	// The model emulator's recorded requests.
	reqs := e.srv.Moonshot.Requests()
	if len(reqs) == 0 {
		t.Fatal("the model was never asked")
	}
	var all strings.Builder
	for _, r := range reqs {
		all.Write(r)
	}
	noLeak(t, "a request to the model", all.String())
	if !strings.Contains(all.String(), "[手机号]") || !strings.Contains(all.String(), "[身份证号]") {
		t.Errorf("the model was not given the redacted transcript")
	}
	// The database, every table.
	tables := dumpTables(t, db)
	for tb, rows := range tables {
		noLeak(t, "table "+tb, strings.Join(rows, "\n"))
	}
	var counts []string
	for _, r := range tables["recording_redactions"] {
		counts = append(counts, r)
	}
	// Replacements made: once in the transcript's text, once in its timed segment.
	if strings.Join(counts, "\n") != "1964787070499246104\ttranscript\tcn_id\t2\n1964787070499246104\ttranscript\tmobile\t2" {
		t.Errorf("recording_redactions:\n%s", strings.Join(counts, "\n"))
	}
	// The state directory (memo, pending, runs, listing cache; the media are audio) and the logs.
	filepath.Walk(e.dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || strings.HasSuffix(p, ".mp4") || strings.HasSuffix(p, ".m4a") || strings.HasSuffix(p, ".flac") {
			return err
		}
		b, _ := os.ReadFile(p)
		noLeak(t, p, string(b))
		return nil
	})
	noLeak(t, "stdout", stdout)
	noLeak(t, "stderr", stderr)

	// runner forget stu_li: 李同学 is alone in …101 and shares …104 with the guest 赵同学.
	guestStats := func() string {
		var s string
		for _, r := range dumpTables(t, db)["student_stats"] {
			if strings.HasPrefix(r, "name:赵同学\t") {
				s = r[:strings.LastIndex(r, "\t")] // without updated_at
			}
		}
		return s
	}
	keep := guestStats()
	otherLinks := func() []string {
		var out []string
		for _, r := range dumpTables(t, db)["recording_students"] {
			if !strings.Contains(r, "stu_li") {
				out = append(out, r)
			}
		}
		return out
	}
	links := otherLinks()
	before := dumpTables(t, db)
	code, out, errOut := e.forget("stu_li", "--dry-run")
	if code != 0 || !strings.Contains(out, "1 recording(s) deleted (theirs alone), 1 kept without them") {
		t.Fatalf("forget --dry-run exited %d:\n%s\n%s", code, out, errOut)
	}
	if after := dumpTables(t, db); strings.Join(after["recording_students"], "\n") != strings.Join(before["recording_students"], "\n") ||
		len(after["erasure_log"]) != 0 {
		t.Fatal("a dry run changed the database")
	}
	if code, out, errOut = e.forget("stu_li"); code != 0 {
		t.Fatalf("forget exited %d:\n%s\n%s", code, out, errOut)
	}
	noLeak(t, "forget output", out+errOut)
	if strings.Contains(out+errOut, "李同学") {
		t.Errorf("forget printed the student's name:\n%s", out)
	}
	check := func(when string, state bool) {
		t.Helper()
		now := dumpTables(t, db)
		for _, tb := range []string{"recordings", "recording_students", "recording_sources", "student_stats"} {
			if s := strings.Join(now[tb], "\n"); strings.Contains(s, "stu_li") || strings.Contains(s, "李同学") {
				t.Errorf("%s: %s still names the student:\n%s", when, tb, s)
			}
		}
		if strings.Contains(strings.Join(now["recordings"], "\n"), "1964787070499246101") {
			t.Errorf("%s: the solo recording is still stored", when)
		}
		if !strings.Contains(strings.Join(now["recordings"], "\n"), "1964787070499246104") {
			t.Errorf("%s: the shared recording is gone", when)
		}
		if g := guestStats(); g != keep {
			t.Errorf("%s: the other student's statistics changed: %q, before %q", when, g, keep)
		}
		if l := otherLinks(); strings.Join(l, "\n") != strings.Join(links, "\n") {
			t.Errorf("%s: the other students' links changed:\n%q\nbefore\n%q", when, l, links)
		}
		if !state {
			return // a rerun lists the student at Tencent again; the listing's memo names them, the database not
		}
		filepath.Walk(filepath.Join(e.dir, "state"), func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() || strings.Contains(p, string(filepath.Separator)+"media"+string(filepath.Separator)) ||
				strings.Contains(p, string(filepath.Separator)+"audio"+string(filepath.Separator)) {
				return err
			}
			if b, _ := os.ReadFile(p); strings.Contains(string(b), "stu_li") || strings.Contains(string(b), "李同学") {
				t.Errorf("%s: state file %s names the student", when, p)
			}
			return nil
		})
	}
	check("after forget", true)
	if b, _ := os.ReadFile(filepath.Join(e.dir, "runner.log")); strings.Contains(string(b), "stu_li") || strings.Contains(string(b), "李同学") {
		t.Error("the log file still names the student")
	}
	if log := dumpTables(t, db)["erasure_log"]; len(log) != 1 || strings.Contains(log[0], "stu_li") {
		t.Errorf("erasure_log: %q", log)
	}

	// The window again: Tencent still lists the student in both sessions. The solo session is refused as
	// soon as it is listed: not transcribed or sent to the model again.
	asked := func() (n int) {
		for _, r := range e.srv.ASR.Requests() {
			if r.Entry == "1964787070499246101" {
				n++
			}
		}
		return n
	}
	asr := asked()
	if asr == 0 {
		t.Fatal("no transcription of the solo session was recorded")
	}
	if code, _, stderr := e.run(); code != 0 {
		t.Fatalf("rerun exited %d:\n%s", code, stderr)
	}
	check("after a rerun", false)
	if n := asked(); n != asr {
		t.Errorf("the erased student's solo session was transcribed again (%d requests, before %d)", n, asr)
	}
}
