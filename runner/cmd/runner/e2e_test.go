package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"meetpipe/runner"
	"meetpipe/runner/internal/demo"
	kimiemu "meetpipe/steps/kimi/emulator"
	"meetpipe/steps/store"
	"meetpipe/steps/store/storetest"
	tencentemu "meetpipe/steps/tencent/emulator"
)

// The end-to-end tests run the runner on pipelines/meeting.yaml against the emulators, with real aria2c,
// ffmpeg and MariaDB. A run goes through cli in this process (e.run); where a test must signal or SIGKILL
// a runner process, or a command starts another runner (deploy), the test binary itself is that process
// (TestMain, e2eMainEnv), so no second binary is built.

// e2eMainEnv set to 1 makes the test binary act as the runner: os.Args[1:] are the runner's arguments.
const e2eMainEnv = "MEETPIPE_E2E_MAIN"

var (
	pluginOnce sync.Once
	pluginErr  error
	dataOnce   sync.Once
	shared     *demo.Data
	dataErr    error
)

func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// runnerBinary is the program a test starts as a runner process: this test binary (see TestMain). It
// also builds the Go plugin the pipeline's last step may use, once; deploy installs it from the checkout.
func runnerBinary(t testing.TB) string {
	t.Helper()
	pluginOnce.Do(func() {
		out, err := exec.Command("go", "build", "-o", filepath.Join(repoRoot(t), "plugins/wecom_notify/wecom_notify"), "../../../plugins/wecom_notify").CombinedOutput()
		if err != nil {
			pluginErr = fmt.Errorf("build wecom_notify: %v\n%s", err, out)
		}
	})
	if pluginErr != nil {
		t.Fatal(pluginErr)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// demoFixture returns the demo's data with each meeting held copies times; the media are made once.
func demoFixture(t testing.TB, copies int) *demo.Data {
	t.Helper()
	dataOnce.Do(func() {
		dir, err := os.MkdirTemp("", "meetpipe-e2e-data-")
		if err != nil {
			dataErr = err
			return
		}
		shared, dataErr = demo.Build(dir)
	})
	if dataErr != nil {
		t.Fatal(dataErr)
	}
	if copies == 1 {
		return shared
	}
	d, err := demo.BuildCopies(shared.Dir, copies)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestMain(m *testing.M) {
	if os.Getenv(e2eMainEnv) == "1" {
		os.Exit(cli(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	// Every process the tests start from this binary is a runner, and one built with -race does not
	// sleep a second before it exits.
	os.Setenv(e2eMainEnv, "1")
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	// The end-to-end tests mostly wait (on emulators, rate limits, retries' backoff, the processes they
	// start), so -parallel's default, GOMAXPROCS, leaves a 2-core machine half idle: the package took
	// 128 s at 2, 73 s at 8. A -parallel given on the command line still wins.
	flag.Parse()
	if !flagGiven("test.parallel") {
		flag.Set("test.parallel", strconv.Itoa(max(e2eParallel, runtime.GOMAXPROCS(0))))
	}
	code := m.Run()
	if shared != nil {
		os.RemoveAll(shared.Dir)
	}
	os.Exit(code)
}

// e2eParallel is how many parallel tests run at once unless -parallel says otherwise.
const e2eParallel = 8

// flagGiven reports whether the command line set the flag.
func flagGiven(name string) bool {
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// syncBuffer is a bytes.Buffer safe for the run's goroutines and a test reading it at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type e2e struct {
	t        *testing.T
	root     string
	bin      string
	dir      string
	srv      *demo.Servers
	dsn      string
	envFile  string
	pipeline string
}

// newE2E starts the demo's emulators for t (each meeting held copies times) and writes the env file its
// runs read. Under -short it skips t: the end-to-end runs are the long tier's (`just test`).
func newE2E(t *testing.T, dsn string, copies int, o demo.ServerOptions) *e2e {
	t.Helper()
	if testing.Short() {
		t.Skip("long: runs the pipeline against the demo's emulators")
	}
	e := &e2e{t: t, root: repoRoot(t), bin: runnerBinary(t), dir: t.TempDir(), dsn: dsn}
	srv, err := demo.StartServers(demoFixture(t, copies), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	e.srv = srv
	env := srv.Env(store.Config{DSN: dsn}, filepath.Join(e.dir, "state"))
	env["MEETPIPE_LOG_FILE"] = filepath.Join(e.dir, "runner.log")
	env["LOG_LEVEL"] = "warn"
	e.envFile = filepath.Join(e.dir, "test.env")
	if err := demo.WriteEnvFile(e.envFile, env); err != nil {
		t.Fatal(err)
	}
	e.pipeline = filepath.Join(e.root, "pipelines", "meeting.yaml")
	return e
}

// args are the runner's arguments for a run of the pipeline with args added.
func (e *e2e) args(args ...string) []string {
	return append([]string{"run", e.pipeline, "--env-file", e.envFile, "--plugins", filepath.Join(e.root, "plugins"),
		"--since", demo.Since.Format(time.RFC3339), "--until", demo.Until.Format(time.RFC3339), "--log-format", "json"}, args...)
}

// command prepares a runner process (this test binary, see TestMain) for a run of the pipeline, in the
// repository root: for the tests that signal or kill it.
func (e *e2e) command(ctx context.Context, args ...string) (*exec.Cmd, *syncBuffer, *syncBuffer) {
	cmd := exec.CommandContext(ctx, e.bin, e.args(args...)...)
	cmd.Dir = e.root
	cmd.Env = append(os.Environ(), "LOG_LEVEL=warn", e2eMainEnv+"=1")
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	return cmd, &stdout, &stderr
}

// run runs the pipeline through cli in this process and returns the exit code, stdout and stderr.
func (e *e2e) run(args ...string) (int, string, string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr syncBuffer
	code := cli(ctx, e.args(args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

type counts struct {
	asr, chat int
	bytes     int64
}

func (e *e2e) counts() counts {
	return counts{asr: e.srv.ASR.Counters().Requests, chat: e.srv.Moonshot.Counters().Chat, bytes: e.srv.Tencent.BytesServed()}
}

func openDB(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := store.New(store.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func readDB(t *testing.T, db *sql.DB) demo.Want {
	t.Helper()
	var got demo.Want
	q := func(query string, f func(*sql.Rows) string) []string {
		rows, err := db.Query(query)
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			out = append(out, f(rows))
		}
		sort.Strings(out)
		return out
	}
	got.Recordings = q("SELECT id, teacher_id, phase, needs_review, duration_min FROM recordings", func(r *sql.Rows) string {
		var id, teacher, phase string
		var review bool
		var minutes int
		r.Scan(&id, &teacher, &phase, &review, &minutes)
		return fmt.Sprintf("%s %s %s %v %d", id, teacher, phase, review, minutes)
	})
	got.Links = q("SELECT recording_id, student_id, attended_seconds FROM recording_students", func(r *sql.Rows) string {
		var rec, stu string
		var secs int64
		r.Scan(&rec, &stu, &secs)
		return fmt.Sprintf("%s %s %d", rec, stu, secs)
	})
	got.Stats = q("SELECT student_id, record_cnt, total_duration, last_record_at FROM student_stats", func(r *sql.Rows) string {
		var id string
		var n, minutes int
		var last time.Time
		r.Scan(&id, &n, &minutes, &last)
		return fmt.Sprintf("%s %d %d %s", id, n, minutes, last.UTC().Format(time.RFC3339))
	})
	return got
}

func assertDB(t *testing.T, db *sql.DB, want demo.Want) {
	t.Helper()
	got := readDB(t, db)
	for _, c := range []struct {
		name      string
		got, want []string
	}{{"recordings", got.Recordings, want.Recordings}, {"recording_students", got.Links, want.Links}, {"student_stats", got.Stats, want.Stats}} {
		if strings.Join(c.got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("%s:\ngot\n  %s\nwant\n  %s", c.name, strings.Join(c.got, "\n  "), strings.Join(c.want, "\n  "))
		}
	}
	// Spelled out: the returning guest is one student with two recordings (two uuids at Tencent), and
	// the assistant-created meeting is stored under its host, the assistant counted nowhere.
	stats := strings.Join(got.Stats, "\n")
	guest := 0
	for _, l := range got.Stats {
		if rest, ok := strings.CutPrefix(l, "name:赵同学 "); ok {
			fmt.Sscan(rest, &guest)
		}
	}
	if guest < 2 || strings.Contains(stats, "assistant_he") || strings.Contains(stats, "ext:") {
		t.Errorf("student_stats:\n%s\nwant name:赵同学 with 2 recordings, no assistant, no ext: ids", stats)
	}
	if !slices.ContainsFunc(got.Recordings, func(r string) bool { return strings.HasPrefix(r, "1964787070499246103 teacher_002 ") }) {
		t.Errorf("recordings %q: want the assistant-created meeting under teacher_002", got.Recordings)
	}
}

// explainActions parses --explain --output json into item → step → action.
func explainActions(t *testing.T, out string) map[string]map[string]string {
	t.Helper()
	res := map[string]map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var e struct {
			Item  string `json:"item"`
			Steps []struct{ Step, Action string }
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("explain line %q: %v", line, err)
		}
		if e.Item == "" {
			continue // the final counts object
		}
		res[e.Item] = map[string]string{}
		for _, s := range e.Steps {
			res[e.Item][s.Step] = s.Action
		}
	}
	return res
}

func treeDigest(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		fmt.Fprintf(&b, "%s %d %s\n", path, info.Size(), info.ModTime())
		return nil
	})
	return b.String()
}

func checksum(t *testing.T, db *sql.DB) string {
	t.Helper()
	var b strings.Builder
	for _, table := range []string{"recordings", "recording_students", "student_stats", "pipeline_runs", "item_failures"} {
		var name string
		var sum sql.NullInt64
		if err := db.QueryRow("CHECKSUM TABLE "+table).Scan(&name, &sum); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s=%d ", table, sum.Int64)
	}
	return b.String()
}

func TestEndToEnd(t *testing.T) {
	t.Parallel() // its own database, emulators and state
	dsn := storetest.DB(t)
	e := newE2E(t, dsn, 1, demo.ServerOptions{})
	db := openDB(t, dsn)
	want := demo.Expected(1)

	code, _, stderr := e.run()
	if code != 0 {
		t.Fatalf("first run exited %d:\n%s", code, stderr)
	}
	assertDB(t, db, want)
	first := e.counts()
	if first.asr != 5 || first.chat != 5 || first.bytes == 0 {
		t.Fatalf("first run made %+v calls; want 5 transcriptions and 5 chats", first)
	}
	// What `runner demo` prints after its run: the run's line and one table row per stored recording.
	var shown bytes.Buffer
	if err := demo.PrintResults(context.Background(), db, &shown); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(shown.String(), fmt.Sprintf(": ok · 6 recordings listed · %d stored · 1 filtered out · 0 failed", len(want.Recordings))) {
		t.Errorf("demo results: no line for the run:\n%s", shown.String())
	}
	for _, r := range want.Recordings {
		if id := strings.Fields(r)[0]; !strings.Contains(shown.String(), id) {
			t.Errorf("demo results do not show recording %s:\n%s", id, shown.String())
		}
	}

	t.Run("rerun makes no download, ASR or model call", func(t *testing.T) {
		code, out, stderr := e.run("--explain", "--output", "json")
		if code != 0 {
			t.Fatalf("rerun exited %d:\n%s", code, stderr)
		}
		if c := e.counts(); c != first {
			t.Fatalf("rerun calls: %+v, before %+v", c, first)
		}
		for item, steps := range explainActions(t, out) {
			for step, action := range steps {
				if action == "run" {
					t.Errorf("rerun ran %s on %s", step, item)
				}
			}
		}
		assertDB(t, db, want)
	})

	t.Run("an edited rule re-runs classification only", func(t *testing.T) {
		e.editPipeline(t, "when: duration_min < 10 && phase != \"其他\"", "when: duration_min < 5 && phase != \"其他\"")
		before := e.counts()
		code, out, stderr := e.run("--explain", "--output", "json")
		if code != 0 {
			t.Fatalf("exited %d:\n%s", code, stderr)
		}
		c := e.counts()
		if c.asr != before.asr || c.bytes != before.bytes || c.chat != before.chat+5 {
			t.Fatalf("calls after the edit: %+v, before %+v: want only 5 new chats", c, before)
		}
		for item, steps := range explainActions(t, out) {
			for step, action := range steps {
				// mysql_upsert runs again too: the new classification's usage (cached prompt tokens) differs;
				// talk_metrics (no remote call) measures again where the phase, and so its target, changed.
				if action == "run" && step != "kimi_classify" && step != "mysql_upsert" && step != "talk_metrics" {
					t.Errorf("after a rule edit %s ran on %s", step, item)
				}
			}
		}
		// The short session is now what the model said, with no review flag.
		w := demo.Expected(1)
		for i, r := range w.Recordings {
			if strings.HasPrefix(r, "1964787070499246107 ") {
				w.Recordings[i] = "1964787070499246107 teacher_002 简历优化 false 8"
			}
		}
		assertDB(t, db, w)
	})

	t.Run("a dry run writes nothing anywhere", func(t *testing.T) {
		e.editPipeline(t, "        - name: subject-resume", "        - name: friday\n          when: subject contains \"周五\"\n          phase: 其他\n        - name: subject-resume")
		stateBefore, dbBefore, callsBefore := treeDigest(t, filepath.Join(e.dir, "state")), checksum(t, db), e.counts()
		code, out, stderr := e.run("--dry-run", "--output", "json")
		if code != 0 {
			t.Fatalf("dry run exited %d:\n%s", code, stderr)
		}
		if got := treeDigest(t, filepath.Join(e.dir, "state")); got != stateBefore {
			t.Error("the dry run changed the state directory")
		}
		if got := checksum(t, db); got != dbBefore {
			t.Errorf("the dry run changed the database: %s → %s", dbBefore, got)
		}
		if c := e.counts(); c != callsBefore {
			t.Errorf("the dry run called remote services: %+v → %+v", callsBefore, c)
		}
		acts := explainActions(t, out)
		// The new rule changes kimi_classify's configuration: it would run for every item, ASR for none.
		if acts["1964787070499246104"]["kimi_classify"] != "would-run" || acts["1964787070499246101"]["kimi_asr"] != "memo" {
			t.Errorf("dry run plan: %v", acts)
		}
	})
}

// editPipeline writes a copy of meeting.yaml with one replacement and makes it the pipeline of later runs.
func (e *e2e) editPipeline(t *testing.T, old, new string) string {
	t.Helper()
	b, err := os.ReadFile(e.pipeline)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("pipeline has no %q", old)
	}
	p := filepath.Join(e.dir, fmt.Sprintf("meeting-%d.yaml", rand.IntN(1e6)))
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	e.pipeline = p
	return p
}

// testSeed is the seed of a test's randomness: $MEETPIPE_TEST_SEED to replay a failure, else a new one.
// It is logged either way.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := rand.Uint64()
	if v := os.Getenv("MEETPIPE_TEST_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("MEETPIPE_TEST_SEED=%q: want an unsigned integer", v)
		}
		seed = n
	}
	t.Logf("seed %d (replay with MEETPIPE_TEST_SEED=%d go test -race -run '^%s$' ./runner/cmd/runner)", seed, seed, t.Name())
	return seed
}

// TestFaultsKillsAndRestart injects faults at about 10% into every emulator and one of each kind for
// sure, SIGKILLs the runner twice at random moments, kills and restarts MariaDB while a run is storing
// rows (on its first stored row), then makes a run meet an exhausted model quota; the runs after must
// leave the database exactly as a fault-free run does, every recording stored once. The seed (logged;
// MEETPIPE_TEST_SEED replays it) drives the emulators' faults and the kill moments.
func TestFaultsKillsAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("long: faults, kills and a database restart")
	}
	t.Parallel()
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, ^seed))
	server := storetest.StartServer(t)
	dsn := server.NewDatabase(t)
	const copies = 3
	// Model calls take a moment, as Moonshot's do: the items reach the database one by one, not at once.
	// The random faults leave out two kinds. An exhausted quota stops every model call of its run, so it
	// comes later in a run of its own. Tencent's rate limit makes the client wait the documented minute
	// (steps/tencent/errors.go rateLimitWait), which would prove nothing more here than a minute passing;
	// the tencent tests cover it.
	e := newE2E(t, dsn, copies, demo.ServerOptions{FaultRate: 0.1, Seed: seed, MoonshotLatency: 200 * time.Millisecond,
		TencentFaults: []tencentemu.FaultKind{tencentemu.FaultGateway, tencentemu.FaultReset, tencentemu.FaultTruncate},
		ChatFaults: []kimiemu.Fault{kimiemu.FaultServerError, kimiemu.FaultReset, kimiemu.FaultRateLimit,
			kimiemu.FaultOverloaded, kimiemu.FaultInvalidJSON}})
	// Retries wait a fifth of the shipped backoff: what this test asserts is that they converge on an
	// exact database, not their pace. mysql_upsert keeps its own, which outlasts the MariaDB restart.
	for _, r := range [][2]string{
		{"{ attempts: 4, backoff: 5s,", "{ attempts: 4, backoff: 1s,"},  // tencent_transcript
		{"{ attempts: 4, backoff: 10s,", "{ attempts: 4, backoff: 2s,"}, // aria2_download
		{"{ attempts: 5, backoff: 5s,", "{ attempts: 5, backoff: 1s,"},  // kimi_asr
		{"{ attempts: 6, backoff: 5s,", "{ attempts: 6, backoff: 1s,"},  // kimi_classify
	} {
		e.editPipeline(t, r[0], r[1])
	}
	db := openDB(t, dsn)
	// Besides the random 10%, one of each kind for sure (the quota later).
	e.srv.Moonshot.Inject(kimiemu.FaultRateLimit, kimiemu.FaultOverloaded, kimiemu.FaultInvalidJSON,
		kimiemu.FaultServerError, kimiemu.FaultReset)
	e.srv.ASR.Inject(kimiemu.FaultServerError, kimiemu.FaultReset, kimiemu.FaultRateLimit)
	e.srv.Tencent.FailNext(tencentemu.EndpointMedia, 2, tencentemu.Fault{Kind: tencentemu.FaultTruncate})
	e.srv.Tencent.FailNext(tencentemu.EndpointAddresses, 1, tencentemu.Fault{Kind: tencentemu.FaultGateway})
	e.srv.Tencent.FailNext(tencentemu.EndpointParticipants, 1, tencentemu.Fault{Kind: tencentemu.FaultReset})

	for i := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		cmd, _, _ := e.command(ctx)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		after := time.Duration(800+rng.IntN(3000)) * time.Millisecond
		time.Sleep(after)
		cmd.Process.Kill() // SIGKILL: no chance to save anything
		cmd.Wait()
		cancel()
		t.Logf("runner SIGKILLed %v after its start (%d of 2)", after, i+1)
	}

	// The database dies under a live run: the first row the run stores is the signal.
	var before int
	db.QueryRow("SELECT COUNT(*) FROM recordings").Scan(&before)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	var cmd *exec.Cmd
	var stderr *syncBuffer
	var exited chan struct{}
	start := func() {
		cmd, _, stderr = e.command(ctx)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		c, done := cmd, make(chan struct{})
		go func() { c.Wait(); close(done) }()
		exited = done
	}
	live := func() bool {
		select {
		case <-exited:
			return false
		default:
			return true
		}
	}
	start()
	stored := before
	for tries := 1; stored <= before; {
		if !live() {
			if tries < 3 && listingFailed(stderr.String()) {
				tries++
				t.Logf("the run's listing met two random faults in a row; running again")
				start()
				continue
			}
			t.Fatalf("the run exited (%v) before it stored a row; %d recordings were there before it:\n%s", cmd.ProcessState, before, stderr)
		}
		if ctx.Err() != nil {
			t.Fatal("no row stored in 3 minutes")
		}
		time.Sleep(20 * time.Millisecond)
		db.QueryRow("SELECT COUNT(*) FROM recordings").Scan(&stored)
	}
	server.Kill()
	if !live() {
		t.Fatalf("the run exited before MariaDB was killed")
	}
	t.Logf("the run (pid %d) stored a row (%d → %d recordings): MariaDB killed under it", cmd.Process.Pid, before, stored)
	// Back up once the run has met the dead server: its next database call fails and is retried.
	for failed := ""; failed == ""; time.Sleep(20 * time.Millisecond) {
		if !live() {
			t.Fatalf("the run exited (%v) while MariaDB was down, before a write failed:\n%s", cmd.ProcessState, stderr)
		}
		for _, l := range strings.Split(stderr.String(), "\n") {
			// The write of mysql_upsert, or kimi_classify's read of the homework ledger (the same database),
			// whichever of the two meets the dead server first.
			if strings.Contains(l, "retrying") && (strings.Contains(l, `"step":"mysql_upsert"`) || strings.Contains(l, "ledger_dsn")) {
				failed = l
				t.Logf("the run's database call met the dead server: %.300s", l)
				break
			}
		}
	}
	if err := server.Restart(); err != nil {
		t.Fatal(err)
	}
	if !live() {
		t.Fatalf("the run exited (%v) while MariaDB was down; the restart did not happen during it:\n%s", cmd.ProcessState, stderr)
	}
	t.Logf("MariaDB restarted; the run (pid %d) is still live", cmd.Process.Pid)
	<-exited
	cancel()
	var n int
	db.QueryRow("SELECT COUNT(*) FROM recordings").Scan(&n)
	t.Logf("the run during the restart exited %d; %d recordings stored, %d of them after the restart", cmd.ProcessState.ExitCode(), n, n-stored)

	// An exhausted quota in a later run: --force makes the run ask the model again, the first call meets
	// the quota and the run stops its model calls; the items stay pending.
	e.srv.Moonshot.Inject(kimiemu.FaultQuota)
	quota := e.srv.Moonshot.Counters().QuotaExceeded
	code, _, errOut := e.run("--force", "kimi_classify")
	for tries := 1; tries < 3 && e.srv.Moonshot.Counters().QuotaExceeded == quota && listingFailed(errOut); tries++ {
		t.Logf("the quota run's listing met two random faults in a row; running again")
		code, _, errOut = e.run("--force", "kimi_classify")
	}
	if code != 1 || !strings.Contains(errOut, "quota exhausted") || e.srv.Moonshot.Counters().QuotaExceeded != quota+1 {
		t.Fatalf("the quota run exited %d, %d quota answers:\n%s", code, e.srv.Moonshot.Counters().QuotaExceeded-quota, errOut)
	}
	t.Logf("the quota run exited %d: Moonshot quota exhausted, items pending", code)

	clean, last := false, ""
	for i := range 8 {
		code, _, errOut := e.run()
		last = errOut
		if code == 0 {
			clean = true
			t.Logf("clean after %d more runs", i+1)
			break
		}
		if code != 1 {
			t.Fatalf("run exited %d:\n%s", code, errOut)
		}
	}
	if !clean {
		t.Fatalf("no clean run after 8 tries; the last said:\n%s", last)
	}
	assertDB(t, db, demo.Expected(copies))
	var dup int
	db.QueryRow("SELECT COUNT(*) - COUNT(DISTINCT meeting_id) FROM recordings").Scan(&dup)
	if dup != 0 {
		t.Fatalf("%d duplicate recordings", dup)
	}
	asr, chat := e.srv.ASR.Counters(), e.srv.Moonshot.Counters()
	tencentErrs := 0
	for _, ep := range []string{"records", "corp_records", "addresses", "participants", "meeting", "media"} {
		tencentErrs += e.srv.Tencent.Errors(ep)
	}
	if asr.Faults == 0 || chat.ServerErrors+chat.Resets+chat.RateLimited+chat.Overloaded+chat.QuotaExceeded+chat.InvalidJSON == 0 {
		t.Fatalf("no faults were injected: asr %+v chat %+v", asr, chat)
	}
	t.Logf("faults: tencent %d, asr %d, moonshot %+v", tencentErrs, asr.Faults, chat)
}

// listingFailed reports whether a run's log says its listing failed. A listing request is tried twice
// (tencent_list retries: 1), so the fault test's random 10% end about one run in fifty before any item
// is processed; the steps that test is about never ran, so it runs again.
func listingFailed(stderr string) bool { return strings.Contains(stderr, `"msg":"listing failed"`) }

// TestKeepMediaFalseRewinds: with media deleted after use, a changed ASR model needs audio that is gone;
// the engine finds the memoized audio and video missing and downloads again, and nothing else re-runs.
func TestKeepMediaFalseRewinds(t *testing.T) {
	if testing.Short() {
		t.Skip("long: two full runs with media deleted between")
	}
	t.Parallel() // its own database, emulators and state
	dsn := storetest.DB(t)
	e := newE2E(t, dsn, 1, demo.ServerOptions{})
	e.setEnv(t, "KEEP_MEDIA", "false")
	if code, _, stderr := e.run(); code != 0 {
		t.Fatalf("first run exited %d:\n%s", code, stderr)
	}
	var left []string
	filepath.Walk(filepath.Join(e.dir, "state", "media"), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			left = append(left, p)
		}
		return nil
	})
	if len(left) != 0 {
		t.Fatalf("keep_media false left %v", left)
	}
	before := e.counts()
	e.setEnv(t, "ASR_MODEL", "whisper-large-v3")
	// Only kimi_asr's memo key matters here; the preflight would stop on a model the emulator does not list.
	code, out, stderr := e.run("--explain", "--output", "json", "--no-preflight")
	if code != 0 {
		t.Fatalf("rerun exited %d:\n%s", code, stderr)
	}
	c := e.counts()
	if c.asr != before.asr+5 || c.bytes <= before.bytes || c.chat != before.chat {
		t.Fatalf("calls %+v, before %+v: want 5 transcriptions, downloads again, no chat", c, before)
	}
	acts := explainActions(t, out)
	if a := acts["1964787070499246101"]; a["aria2_download"] != "run" || a["kimi_asr"] != "run" || a["kimi_classify"] != "memo" {
		t.Fatalf("actions %v", a)
	}
	assertDB(t, openDB(t, dsn), demo.Expected(1))
}

// TestCLIBehaviour: exit codes, the state lock and a graceful stop, through the binary.
func TestCLIBehaviour(t *testing.T) {
	if testing.Short() {
		t.Skip("long: runs signalled while the ASR emulator is slow")
	}
	t.Parallel() // its own database, emulators and state
	dsn := storetest.DB(t)
	e := newE2E(t, dsn, 1, demo.ServerOptions{ASRLatency: time.Second}) // slow enough to still be running when signalled

	t.Run("validate reports every problem with its place and exits 2", func(t *testing.T) {
		bad := e.editPipeline(t, "filter: (teacher_id in teachers", "filter: (teacher_id in teacherz")
		defer func() { e.pipeline = filepath.Join(e.root, "pipelines", "meeting.yaml") }()
		cmd := exec.Command(e.bin, "validate", bad, "--env-file", e.envFile, "--plugins", filepath.Join(e.root, "plugins"))
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
			t.Fatalf("exit %v:\n%s", err, out)
		}
		if !strings.Contains(string(out), bad+":") || !strings.Contains(string(out), "unknown name teacherz") || !strings.Contains(string(out), "^") {
			t.Fatalf("diagnostic:\n%s", out)
		}
		if strings.Contains(string(out), demo.KimiKey) || strings.Contains(string(out), tencentemu.DefaultSecretKey) {
			t.Fatalf("a secret in the output:\n%s", out)
		}
	})

	t.Run("a second run at once exits at once; SIGTERM leaves items pending", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		first, _, stderr := e.command(ctx, "--grace", "100ms")
		if err := first.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait until the first run holds the lock and is transcribing.
		for deadline := time.Now().Add(30 * time.Second); e.srv.ASR.Counters().Requests == 0; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the first run never reached ASR:\n%s", stderr)
			}
		}
		start := time.Now()
		code, _, errOut := e.run()
		if code != 1 || !strings.Contains(errOut, "locked by another run") || time.Since(start) > 20*time.Second {
			t.Fatalf("second run: exit %d after %v:\n%s", code, time.Since(start), errOut)
		}
		first.Process.Signal(syscall.SIGTERM)
		err := first.Wait()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("stopped run: %v\n%s", err, stderr)
		}
		b, _ := os.ReadFile(filepath.Join(e.dir, "state", "pending.json"))
		if !strings.Contains(string(b), `"id"`) {
			t.Fatalf("no pending items after a stop: %s", b)
		}
		// The next run finishes what was left.
		if code, _, errOut := e.run(); code != 0 {
			t.Fatalf("run after the stop exited %d:\n%s", code, errOut)
		}
		assertDB(t, openDB(t, dsn), demo.Expected(1))
	})
}

// setEnv changes one variable of the env file later runs read.
func (e *e2e) setEnv(t *testing.T, k, v string) {
	t.Helper()
	env, err := runner.ReadDotEnv(e.envFile)
	if err != nil {
		t.Fatal(err)
	}
	env[k] = v
	if err := demo.WriteEnvFile(e.envFile, env); err != nil {
		t.Fatal(err)
	}
}
