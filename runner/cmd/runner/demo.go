package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"meetpipe/runner"
	"meetpipe/runner/table"
	kimiemu "meetpipe/steps/kimi/emulator"
	"meetpipe/steps/media/mediatest"
	"meetpipe/steps/store"
	tencentemu "meetpipe/steps/tencent/emulator"
)

// The bundled demo: a week of coaching sessions on fixed dates, so that a second run of the demo is the
// same run again and is served from the memo.
var (
	demoSince = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	demoUntil = time.Date(2026, 11, 8, 0, 0, 0, 0, time.UTC)
)

type demoPerson struct {
	userid, uuid, name string
	role               int
	sessions           [][2]time.Duration // join, left after the meeting's start
}

// demoMeeting is one bundled session and what the pipeline should make of it.
type demoMeeting struct {
	record, meetingID, subject, host string
	creator                          string // who scheduled it, when not the host (an assistant)
	day                              int    // days after demoSince, at 10:00 Beijing time
	minutes                          int    // length of the recording at Tencent
	state                            int
	files                            int
	people                           []demoPerson
	phrases                          []string // spoken by espeak-ng into the media
	transcript                       string   // what the ASR emulator answers for it
	// expected outcome
	wantPhase  string // "" when the recording must not be stored
	wantReview bool
}

func student(userid, name string, join, left int) demoPerson {
	return demoPerson{userid: userid, uuid: "WM" + strings.ToUpper(strings.TrimPrefix(userid, "stu_")), name: name,
		sessions: [][2]time.Duration{{time.Duration(join) * time.Minute, time.Duration(left) * time.Minute}}}
}

func teacher(userid, name string, minutes int) demoPerson {
	return demoPerson{userid: userid, uuid: "WT" + userid, name: name, role: 3,
		sessions: [][2]time.Duration{{0, time.Duration(minutes) * time.Minute}}}
}

var demoMeetings = []demoMeeting{
	{record: "1964787070499246101", meetingID: "1739626437650178101", subject: "简历修改 1v1", host: "teacher_001",
		day: 1, minutes: 45, state: 3, files: 1,
		people:     []demoPerson{teacher("teacher_001", "王老师", 45), student("stu_li", "李同学", 1, 44)},
		phrases:    []string{"我们先把你的简历从头过一遍", "这段实习经历要写清楚你负责的部分"},
		transcript: "我们先把你的简历从头过一遍。这段实习经历要写清楚你负责的部分。每条经历用结果说话，数字放在前面。",
		wantPhase:  "简历优化"},
	{record: "1964787070499246102", meetingID: "1739626437650178102", subject: "周三讨论", host: "teacher_001",
		day: 2, minutes: 60, state: 3, files: 1,
		people: []demoPerson{teacher("teacher_001", "王老师", 60),
			// An external student: no enterprise userid; left once and came back.
			{uuid: "WMzhao7", name: "赵同学", sessions: [][2]time.Duration{{2 * time.Minute, 20 * time.Minute}, {22 * time.Minute, 59 * time.Minute}}}},
		phrases:    []string{"说说你做的推荐系统项目", "这个技术方案的难点在哪里", "缓存是怎么设计的"},
		transcript: "说说你做的推荐系统项目。这个技术方案的难点在哪里？缓存是怎么设计的，为什么选这种一致性策略。你在项目里的个人贡献要讲具体。",
		wantPhase:  "项目深挖"},
	// Scheduled by an assistant for the teacher: the listing names the assistant, the participants the host.
	{record: "1964787070499246103", meetingID: "1739626437650178103", subject: "后端模拟面试", host: "teacher_002",
		creator: "assistant_he", day: 3, minutes: 50, state: 3, files: 2,
		people: []demoPerson{teacher("teacher_002", "吴老师", 50), student("stu_wang", "王同学", 0, 50),
			{userid: "assistant_he", uuid: "WTassistant_he", name: "何助教", role: 1, sessions: [][2]time.Duration{{0, 3 * time.Minute}}}},
		phrases:    []string{"现在开始模拟面试", "请先做一个自我介绍", "下面做一道算法题"},
		transcript: "现在开始模拟面试，请先做一个自我介绍。下面做一道算法题，先说思路再写代码。最后我们复盘一下刚才的回答。",
		wantPhase:  "面试模拟"},
	{record: "1964787070499246104", meetingID: "1739626437650178104", subject: "周五沟通", host: "teacher_002",
		day: 4, minutes: 30, state: 3, files: 1,
		people: []demoPerson{teacher("teacher_002", "吴老师", 30), student("stu_li", "李同学", 0, 30),
			// The external student of Wednesday again, as a guest: another uuid in this meeting, her name
			// typed with a full-width space. She is still one student.
			{uuid: "WMzhao9", name: "赵同学　", sessions: [][2]time.Duration{{1 * time.Minute, 29 * time.Minute}}}},
		phrases:    []string{"恭喜你拿到了 offer", "我们聊聊薪资怎么谈"},
		transcript: "恭喜你拿到了 offer。我们聊聊薪资怎么谈，入职前还要准备背调材料。两家公司怎么选也可以再对比一下。",
		wantPhase:  "Offer后续"},
	{record: "1964787070499246105", meetingID: "1739626437650178105", subject: "试听课", host: "teacher_999",
		day: 4, minutes: 40, state: 3, files: 1,
		people:     []demoPerson{teacher("teacher_999", "外部老师", 40), student("stu_chen", "陈同学", 0, 40)},
		phrases:    []string{"欢迎来试听"},
		transcript: "欢迎来试听。",
		wantPhase:  ""}, // teacher_999 is not on the whitelist
	{record: "1964787070499246106", meetingID: "1739626437650178106", subject: "项目复盘", host: "teacher_001",
		day: 5, minutes: 55, state: 2, files: 1, // still transcoding at Tencent
		people:     []demoPerson{teacher("teacher_001", "王老师", 55), student("stu_wang", "王同学", 0, 55)},
		phrases:    []string{"我们复盘一下这个项目"},
		transcript: "我们复盘一下这个项目。",
		wantPhase:  ""},
	{record: "1964787070499246107", meetingID: "1739626437650178107", subject: "快速答疑", host: "teacher_002",
		day: 6, minutes: 8, state: 3, files: 1,
		people:     []demoPerson{teacher("teacher_002", "吴老师", 8), student("stu_zhou", "周同学", 0, 8)},
		phrases:    []string{"简历上的这一行要不要删掉"},
		transcript: "简历上的这一行要不要删掉？可以删，篇幅留给更重要的经历。",
		wantPhase:  "其他", wantReview: true}, // the model says 简历优化; the too-short post rule overrides
}

// demoData is the generated media and the fixtures of the three emulators.
type demoData struct {
	dir     string
	tencent *tencentemu.Fixture
	asr     *kimiemu.ASRFixture
}

// buildDemoData generates the Mandarin recordings (once; the same spec gives the same bytes) and the
// fixtures that describe them.
func buildDemoData(dir string) (*demoData, error) { return buildDemoCopies(dir, 1) }

// copyID gives copy c (up to 8) of a demo id, which all end in 1NN, its own id: copy 0 keeps it, copy 1
// makes it 2NN, and so on.
func copyID(id string, c int) string {
	if c == 0 {
		return id
	}
	return fmt.Sprintf("%s%d%s", id[:len(id)-3], 1+c, id[len(id)-2:])
}

// buildDemoCopies is buildDemoData with every meeting held copies times, an hour apart, by the same people
// over the same media: more items for tests and benchmarks.
func buildDemoCopies(dir string, copies int) (*demoData, error) {
	mediaDir := filepath.Join(dir, "media")
	if err := os.MkdirAll(mediaDir, 0o755); err != nil {
		return nil, err
	}
	fx := &tencentemu.Fixture{Admins: []string{"admin"}}
	asr := &kimiemu.ASRFixture{Tolerance: 0.4}
	for i, m := range demoMeetings {
		files, err := demoMedia(mediaDir, i, m)
		if err != nil {
			return nil, err
		}
		var total float64
		for _, f := range files {
			total += f.Duration
		}
		asr.Entries = append(asr.Entries, kimiemu.ASREntry{Name: m.record, Duration: total, Language: "zh", Text: m.transcript})
		for c := range copies {
			fx.Meetings = append(fx.Meetings, fixtureMeeting(m, copyID(m.record, c), copyID(m.meetingID, c),
				fmt.Sprintf("8%06d%02d", i+1, c), demoStart(m, c), files))
		}
	}
	b, _ := json.MarshalIndent(fx, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "tencent-fixture.json"), b, 0o644); err != nil {
		return nil, err
	}
	return &demoData{dir: dir, tencent: fx, asr: asr}, nil
}

// demoStart is when copy c of m starts: 10:00 Beijing time on its day, an hour later for each copy.
func demoStart(m demoMeeting, c int) time.Time {
	return demoSince.Add(time.Duration(m.day)*24*time.Hour + time.Duration(2+c)*time.Hour)
}

// fixtureMeeting is m as the Tencent emulator holds it, under the given ids and start.
func fixtureMeeting(m demoMeeting, record, meetingID, code string, start time.Time, files []mediatest.Meeting) tencentemu.Meeting {
	end := start.Add(time.Duration(m.minutes) * time.Minute)
	rec := tencentemu.Record{ID: record, Start: start, State: m.state}
	for f, gen := range files {
		fs := start.Add(time.Duration(f) * time.Duration(m.minutes) * time.Minute / time.Duration(m.files))
		fe := start.Add(time.Duration(f+1) * time.Duration(m.minutes) * time.Minute / time.Duration(m.files))
		file := tencentemu.File{ID: fmt.Sprintf("%s-f%d", rec.ID, f+1), Start: fs, End: fe, Path: gen.Path}
		if a := audioPath(gen.Path); fileExists(a) {
			file.AudioPath = a // served as audio_address: the pipeline downloads it instead of the MP4
		}
		rec.Files = append(rec.Files, file)
	}
	meeting := tencentemu.Meeting{MeetingID: meetingID, MeetingCode: code, Subject: m.subject,
		Host: m.host, Creator: m.creator, Start: start, End: end, Records: []tencentemu.Record{rec}}
	for _, p := range m.people {
		person := tencentemu.Person{UserID: p.userid, UUID: p.uuid, Name: p.name, Role: p.role, InstanceID: 1}
		for _, s := range p.sessions {
			person.Sessions = append(person.Sessions, tencentemu.Session{Join: start.Add(s[0]), Left: start.Add(s[1])})
		}
		meeting.Participants = append(meeting.Participants, person)
	}
	return meeting
}

// demoMedia generates (or finds from an earlier demo) the MP4 files of meeting i.
func demoMedia(mediaDir string, i int, m demoMeeting) ([]mediatest.Meeting, error) {
	var out []mediatest.Meeting
	for f := 0; f < m.files; f++ {
		// Each meeting's audio gets its own length (a tail of silence) so the ASR emulator, which tells
		// chunks apart by duration, answers each with its own transcript.
		phrases := m.phrases
		if m.files > 1 {
			phrases = phrases[f*len(phrases)/m.files : (f+1)*len(phrases)/m.files]
		}
		spec := mediatest.MeetingSpec{Phrases: phrases, Silences: make([]time.Duration, len(phrases)-1),
			Lead: 500 * time.Millisecond, Tail: time.Duration(1000+1500*i) * time.Millisecond,
			Name: fmt.Sprintf("%s-%d.mp4", m.record, f+1)}
		for k := range spec.Silences {
			spec.Silences[k] = 1500 * time.Millisecond
		}
		path := filepath.Join(mediaDir, spec.Name)
		meta := path + ".json"
		var gen mediatest.Meeting
		if b, err := os.ReadFile(meta); err == nil && fileExists(path) && fileExists(audioPath(path)) && json.Unmarshal(b, &gen) == nil {
			out = append(out, gen) // generated by an earlier demo
			continue
		}
		gen, err := mediatest.Generate(mediaDir, spec)
		if err != nil {
			return nil, fmt.Errorf("generate demo media: %w", err)
		}
		// Tencent offers an audio-only m4a beside each MP4 (audio_address); the same AAC track, copied.
		if out, err := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", gen.Path, "-vn", "-c:a", "copy",
			"-map_metadata", "-1", "-fflags", "+bitexact", audioPath(gen.Path)).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("demo audio rendition of %s: %v: %s", gen.Path, err, out)
		}
		b, _ := json.Marshal(gen)
		if err := os.WriteFile(meta, b, 0o644); err != nil {
			return nil, err
		}
		out = append(out, gen)
	}
	return out, nil
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// audioPath is where the audio-only rendition of an MP4 is kept.
func audioPath(mp4 string) string { return strings.TrimSuffix(mp4, filepath.Ext(mp4)) + ".m4a" }

// demoServers are the three emulators on loopback.
type demoServers struct {
	tencent  *tencentemu.Server
	asr      *kimiemu.ASRServer
	moonshot *kimiemu.MoonshotServer
}

const (
	demoASRKey  = "asr-demo-key-0001"
	demoKimiKey = "sk-demo-kimi-key-0001"
)

// serverOptions tune the emulators for tests and benchmarks; the zero value is the demo's.
type serverOptions struct {
	FaultRate                                   float64 // on every endpoint of every emulator
	TencentLatency, ASRLatency, MoonshotLatency time.Duration
	Throttle                                    int64 // media bytes/s per connection
	Seed                                        uint64
}

func startDemoServers(d *demoData, o serverOptions) (*demoServers, error) {
	t, err := tencentemu.Start(tencentemu.Options{Fixture: d.tencent, FaultRate: o.FaultRate, Latency: o.TencentLatency,
		Throttle: o.Throttle, Seed: o.Seed,
		FaultKinds: []tencentemu.FaultKind{tencentemu.FaultGateway, tencentemu.FaultRateLimit, tencentemu.FaultReset, tencentemu.FaultTruncate}})
	if err != nil {
		return nil, fmt.Errorf("start tencent emulator: %w", err)
	}
	a, err := kimiemu.StartASR(kimiemu.ASROptions{Fixture: d.asr, APIKey: demoASRKey, FaultRate: o.FaultRate,
		Latency: o.ASRLatency, Seed: o.Seed,
		Models: []string{"moonshotai/Kimi-Audio-7B-Instruct"}}) // listed like vLLM's, for runner doctor
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("start asr emulator: %w", err)
	}
	// Every kind of 429 (with its wait), 5xx, resets and invalid JSON.
	chatFaults := []kimiemu.Fault{kimiemu.FaultServerError, kimiemu.FaultReset, kimiemu.FaultRateLimit,
		kimiemu.FaultOverloaded, kimiemu.FaultQuota, kimiemu.FaultInvalidJSON}
	m, err := kimiemu.StartMoonshot(kimiemu.MoonshotOptions{APIKey: demoKimiKey, FaultRate: o.FaultRate, Faults: chatFaults,
		Latency: o.MoonshotLatency, Seed: o.Seed})
	if err != nil {
		t.Close()
		a.Close()
		return nil, fmt.Errorf("start moonshot emulator: %w", err)
	}
	return &demoServers{tencent: t, asr: a, moonshot: m}, nil
}

func (s *demoServers) Close() {
	s.tencent.Close()
	s.asr.Close()
	s.moonshot.Close()
}

// env is the .env a user of the real services would write, pointing at the emulators instead.
func (s *demoServers) env(db store.Config, stateDir string) map[string]string {
	return map[string]string{
		"TQM_SECRET_ID":      tencentemu.DefaultSecretID,
		"TQM_SECRET_KEY":     tencentemu.DefaultSecretKey,
		"ENTERPRISE_ID":      tencentemu.DefaultAppID,
		"APP_ID":             "",
		"TQM_BASE_URL":       s.tencent.URL(),
		"TQM_MODE":           "corp",
		"TQM_OPERATOR_ID":    "admin",
		"TQM_TEACHERS":       "", // list everyone; the whitelist filter decides, visibly
		"TEACHER_WHITELIST":  `["teacher_001","teacher_002"]`,
		"ASR_BASE_URL":       s.asr.URL(),
		"ASR_API_KEY":        demoASRKey,
		"ASR_MODEL":          "moonshotai/Kimi-Audio-7B-Instruct",
		"KIMI_BASE_URL":      s.moonshot.URL() + "/v1",
		"KIMI_API_KEY":       demoKimiKey,
		"KIMI_RPM":           "600", // the emulator has no entry-tier limit unless asked
		"KIMI_CONCURRENCY":   "2",
		"DB_DSN":             db.DSN,
		"DB_HOST":            db.Host,
		"DB_PORT":            portString(db.Port),
		"DB_USER":            db.User,
		"DB_PASS":            db.Password,
		"DB_NAME":            db.Database,
		"KEEP_MEDIA":         "true",
		"MEETPIPE_STATE_DIR": stateDir,
		"MEETPIPE_LOG_FILE":  filepath.Join(filepath.Dir(stateDir), "logs", "record_worker.log"),
		"LOG_LEVEL":          "info",
	}
}

func portString(p int) string {
	if p == 0 {
		return ""
	}
	return fmt.Sprint(p)
}

func writeEnvFile(path string, env map[string]string) error {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# written by `runner demo`: the real pipeline's settings, pointed at local emulators\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s='%s'\n", k, env[k])
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// cmdDemo runs pipelines/meeting.yaml, unchanged, on the bundled meetings: it starts the emulators, writes
// an env file that points the pipeline at them, runs this very binary on it, and prints what MySQL holds.
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	dir := fs.String("dir", "var/demo", "folder for the demo's media, fixtures, state and logs")
	pipeline := fs.String("pipeline", "pipelines/meeting.yaml", "the pipeline to run")
	explain := fs.Bool("explain", false, "print, per recording, why each step ran (default: a short summary)")
	var df dbFlags
	df.register(fs)
	if _, err := parseArgs(fs, args); err != nil {
		return flagError(err)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	dot, err := runner.ReadDotEnv(df.envFile)
	if err != nil {
		return usageError{err}
	}
	penv := runner.Environ(dot)
	dbc, err := store.ConfigFromEnv(func(k string) string { return penv[k] })
	if err != nil {
		return usageError{err}
	}
	if df.dsn != "" {
		dbc.DSN = df.dsn
	}
	if dbc.DSN == "" && dbc.Database == "" {
		dbc.Database = "meetpipe_demo"
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	if err := ensureDatabase(ctx, dbc); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "== generating the demo meetings (espeak-ng Mandarin, muxed to MP4 by ffmpeg) …")
	data, err := buildDemoData(abs)
	if err != nil {
		return err
	}
	srv, err := startDemoServers(data, serverOptions{})
	if err != nil {
		return err
	}
	defer srv.Close()
	env := srv.env(dbc, filepath.Join(abs, "state"))
	envFile := filepath.Join(abs, "demo.env")
	if err := writeEnvFile(envFile, env); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "== emulators: tencent %s · asr %s · moonshot %s\n", srv.tencent.URL(), srv.asr.URL(), srv.moonshot.URL())
	runArgs := []string{"run", *pipeline, "--env-file", envFile, "--since", demoSince.Format(time.RFC3339),
		"--until", demoUntil.Format(time.RFC3339)}
	if *explain {
		runArgs = append(runArgs, "--explain")
	}

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "== runner doctor %s --env-file %s\n", *pipeline, envFile)
	doctor := exec.CommandContext(ctx, exe, "doctor", *pipeline, "--env-file", envFile)
	doctor.Stdout, doctor.Stderr = stdout, stderr
	_ = doctor.Run() // a failure is printed; the run's preflight stops on it
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "== running: runner %s\n\n", strings.Join(runArgs, " "))

	cmd := exec.CommandContext(ctx, exe, runArgs...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	runErr := cmd.Run()
	var exit *exec.ExitError
	if runErr != nil && !errors.As(runErr, &exit) {
		return fmt.Errorf("run the pipeline: %w", runErr)
	}

	db, err := store.Open(ctx, dbc)
	if err != nil {
		return fmt.Errorf("open the demo database: %w", err)
	}
	defer db.Close()
	if err := printDemoSummary(ctx, db, stdout); err != nil {
		return err
	}
	if err := printDemoTables(ctx, db, stdout); err != nil {
		return err
	}
	c := srv.asr.Counters()
	mc := srv.moonshot.Counters()
	fmt.Fprintf(stdout, "\nremote calls in this run: tencent API %d · asr %d · moonshot %d · media bytes %d\n",
		len(srv.tencent.Requests("")), c.Requests, mc.Chat, srv.tencent.BytesServed())
	fmt.Fprintln(stdout, "run `just demo` again: every step is then served from the memo (no download, ASR or model call).")
	fmt.Fprintf(stdout, "draw it for the coaching team: %s report %s --env-file %s --since %s --until %s --out %s\n",
		exe, *pipeline, envFile, demoSince.Format(time.RFC3339), demoUntil.Format(time.RFC3339), filepath.Join(abs, "report.html"))
	if runErr != nil {
		return fmt.Errorf("the pipeline run reported failures (%v)", runErr)
	}
	return nil
}

// ensureDatabase creates the demo's database when the server lacks it.
func ensureDatabase(ctx context.Context, c store.Config) error {
	if c.DSN != "" {
		return nil // a DSN names a database the operator made
	}
	server := c
	server.Database = "information_schema" // always there; the demo database may not be yet
	db, err := store.Open(ctx, server)
	if err != nil {
		return fmt.Errorf("demo database: %w (is MariaDB running? `just demo` starts one)", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS `"+strings.ReplaceAll(c.Database, "`", "")+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		return fmt.Errorf("create the demo database: %w", err)
	}
	return nil
}

// printDemoSummary says in one line what the last run did (its row in pipeline_runs).
func printDemoSummary(ctx context.Context, db *sql.DB, w io.Writer) error {
	var id, status string
	var items, done, skipped, failed, pending, ran, memo int
	err := db.QueryRowContext(ctx, `SELECT id, status, items, done, skipped, failed, pending, ran, memo
		FROM pipeline_runs ORDER BY started_at DESC, id DESC LIMIT 1`).Scan(&id, &status, &items, &done, &skipped, &failed, &pending, &ran, &memo)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read pipeline_runs: %w", err)
	}
	fmt.Fprintf(w, "\n== run %s: %s · %d recordings listed · %d stored · %d filtered out · %d failed · %d left for later · %d steps run, %d from the memo\n",
		id, status, items, done, skipped, failed, pending, ran, memo)
	return nil
}

func printDemoTables(ctx context.Context, db *sql.DB, w io.Writer) error {
	rows, err := db.QueryContext(ctx, `SELECT id, teacher_id, COALESCE(CAST(student_ids AS CHAR), ''), start_ts, duration_min, phase,
		needs_review, COALESCE(summary, '') FROM recordings ORDER BY start_ts`)
	if err != nil {
		return fmt.Errorf("read recordings: %w", err)
	}
	defer rows.Close()
	table := [][]string{{"recording", "teacher", "students", "start (UTC)", "min", "phase", "review", "summary"}}
	for rows.Next() {
		var id, teacher, students, phase, summary string
		var start time.Time
		var minutes int
		var review bool
		if err := rows.Scan(&id, &teacher, &students, &start, &minutes, &phase, &review, &summary); err != nil {
			return err
		}
		r := ""
		if review {
			r = "yes"
		}
		table = append(table, []string{id, teacher, students, start.Format("2006-01-02 15:04"), fmt.Sprint(minutes), phase, r, clip(summary, 48)})
	}
	if err := rows.Err(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\n== recordings")
	writeTable(w, table)

	rows2, err := db.QueryContext(ctx, `SELECT student_id, record_cnt, total_duration, last_record_at FROM student_stats ORDER BY student_id`)
	if err != nil {
		return fmt.Errorf("read student_stats: %w", err)
	}
	defer rows2.Close()
	table = [][]string{{"student", "recordings", "minutes", "last recording (UTC)"}}
	for rows2.Next() {
		var id string
		var cnt, minutes int
		var last time.Time
		if err := rows2.Scan(&id, &cnt, &minutes, &last); err != nil {
			return err
		}
		table = append(table, []string{id, fmt.Sprint(cnt), fmt.Sprint(minutes), last.Format("2006-01-02 15:04")})
	}
	fmt.Fprintln(w, "\n== student_stats")
	writeTable(w, table)
	return rows2.Err()
}

// clip cuts s to n display cells.
func clip(s string, n int) string { return table.Truncate(strings.Join(strings.Fields(s), " "), n) }

// writeTable aligns columns in display cells (CJK characters take two).
func writeTable(w io.Writer, rows [][]string) {
	table.Write(w, "", rows[0], rows[1:])
}
