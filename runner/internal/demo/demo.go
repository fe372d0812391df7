// Package demo is the bundled demo: a week of coaching sessions as generated Mandarin media and emulator
// fixtures, the emulators that serve them, what the pipeline must make of them, and the tables it prints.
// `runner demo`, the end-to-end tests and the benchmarks share it.
package demo

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"meetpipe/runner/table"
	kimiemu "meetpipe/steps/kimi/emulator"
	"meetpipe/steps/media/mediatest"
	"meetpipe/steps/store"
	tencentemu "meetpipe/steps/tencent/emulator"
)

// The bundled demo: a week of coaching sessions on fixed dates, so that a second run of the demo is the
// same run again and is served from the memo.
var (
	Since = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	Until = time.Date(2026, 11, 8, 0, 0, 0, 0, time.UTC)
)

// Person is one participant of a demo meeting.
type Person struct {
	UserID, UUID, Name string
	Role               int
	Sessions           [][2]time.Duration // join, left after the meeting's start
}

// Meeting is one bundled session and what the pipeline should make of it.
type Meeting struct {
	Record, MeetingID, Subject, Host string
	Creator                          string // who scheduled it, when not the host (an assistant)
	Day                              int    // days after Since, at 10:00 Beijing time
	Minutes                          int    // length of the recording at Tencent
	State                            int
	Files                            int
	People                           []Person
	Phrases                          []string // spoken by espeak-ng into the media
	Transcript                       string   // what the ASR emulator answers for it
	// expected outcome
	WantPhase  string // "" when the recording must not be stored
	WantReview bool
}

func student(userid, name string, join, left int) Person {
	return Person{UserID: userid, UUID: "WM" + strings.ToUpper(strings.TrimPrefix(userid, "stu_")), Name: name,
		Sessions: [][2]time.Duration{{time.Duration(join) * time.Minute, time.Duration(left) * time.Minute}}}
}

func teacher(userid, name string, minutes int) Person {
	return Person{UserID: userid, UUID: "WT" + userid, Name: name, Role: 3,
		Sessions: [][2]time.Duration{{0, time.Duration(minutes) * time.Minute}}}
}

var Meetings = []Meeting{
	{Record: "1964787070499246101", MeetingID: "1739626437650178101", Subject: "简历修改 1v1", Host: "teacher_001",
		Day: 1, Minutes: 45, State: 3, Files: 1,
		People:     []Person{teacher("teacher_001", "王老师", 45), student("stu_li", "李同学", 1, 44)},
		Phrases:    []string{"我们先把你的简历从头过一遍", "这段实习经历要写清楚你负责的部分"},
		Transcript: "我们先把你的简历从头过一遍。这段实习经历要写清楚你负责的部分。每条经历用结果说话，数字放在前面。",
		WantPhase:  "简历优化"},
	{Record: "1964787070499246102", MeetingID: "1739626437650178102", Subject: "周三讨论", Host: "teacher_001",
		Day: 2, Minutes: 60, State: 3, Files: 1,
		People: []Person{teacher("teacher_001", "王老师", 60),
			// An external student: no enterprise userid; left once and came back.
			{UUID: "WMzhao7", Name: "赵同学", Sessions: [][2]time.Duration{{2 * time.Minute, 20 * time.Minute}, {22 * time.Minute, 59 * time.Minute}}}},
		Phrases:    []string{"说说你做的推荐系统项目", "这个技术方案的难点在哪里", "缓存是怎么设计的"},
		Transcript: "说说你做的推荐系统项目。这个技术方案的难点在哪里？缓存是怎么设计的，为什么选这种一致性策略。你在项目里的个人贡献要讲具体。",
		WantPhase:  "项目深挖"},
	// Scheduled by an assistant for the teacher: the listing names the assistant, the participants the host.
	{Record: "1964787070499246103", MeetingID: "1739626437650178103", Subject: "后端模拟面试", Host: "teacher_002",
		Creator: "assistant_he", Day: 3, Minutes: 50, State: 3, Files: 2,
		People: []Person{teacher("teacher_002", "吴老师", 50), student("stu_wang", "王同学", 0, 50),
			{UserID: "assistant_he", UUID: "WTassistant_he", Name: "何助教", Role: 1, Sessions: [][2]time.Duration{{0, 3 * time.Minute}}}},
		Phrases:    []string{"现在开始模拟面试", "请先做一个自我介绍", "下面做一道算法题"},
		Transcript: "现在开始模拟面试，请先做一个自我介绍。下面做一道算法题，先说思路再写代码。最后我们复盘一下刚才的回答。",
		WantPhase:  "面试模拟"},
	{Record: "1964787070499246104", MeetingID: "1739626437650178104", Subject: "周五沟通", Host: "teacher_002",
		Day: 4, Minutes: 30, State: 3, Files: 1,
		People: []Person{teacher("teacher_002", "吴老师", 30), student("stu_li", "李同学", 0, 30),
			// The external student of Wednesday again, as a guest: another uuid in this meeting, her name
			// typed with a full-width space. She is still one student.
			{UUID: "WMzhao9", Name: "赵同学　", Sessions: [][2]time.Duration{{1 * time.Minute, 29 * time.Minute}}}},
		// Personal numbers read out for the background check: redaction replaces them before anything sees
		// the transcript (TestPrivacyEndToEnd).
		Phrases: []string{"恭喜你拿到了 offer", "我们聊聊薪资怎么谈", "背调留我的电话 138 0013 8000",
			"身份证号 110101199001010015"},
		Transcript: "恭喜你拿到了 offer。我们聊聊薪资怎么谈，入职前还要准备背调材料，背调留我的电话138 0013 8000，" +
			"身份证号110101199001010015。两家公司怎么选也可以再对比一下。",
		WantPhase: "Offer后续"},
	{Record: "1964787070499246105", MeetingID: "1739626437650178105", Subject: "试听课", Host: "teacher_999",
		Day: 4, Minutes: 40, State: 3, Files: 1,
		People:     []Person{teacher("teacher_999", "外部老师", 40), student("stu_chen", "陈同学", 0, 40)},
		Phrases:    []string{"欢迎来试听"},
		Transcript: "欢迎来试听。",
		WantPhase:  ""}, // teacher_999 is not on the whitelist
	{Record: "1964787070499246106", MeetingID: "1739626437650178106", Subject: "项目复盘", Host: "teacher_001",
		Day: 5, Minutes: 55, State: 2, Files: 1, // still transcoding at Tencent
		People:     []Person{teacher("teacher_001", "王老师", 55), student("stu_wang", "王同学", 0, 55)},
		Phrases:    []string{"我们复盘一下这个项目"},
		Transcript: "我们复盘一下这个项目。",
		WantPhase:  ""},
	{Record: "1964787070499246107", MeetingID: "1739626437650178107", Subject: "快速答疑", Host: "teacher_002",
		Day: 6, Minutes: 8, State: 3, Files: 1,
		People:     []Person{teacher("teacher_002", "吴老师", 8), student("stu_zhou", "周同学", 0, 8)},
		Phrases:    []string{"简历上的这一行要不要删掉"},
		Transcript: "简历上的这一行要不要删掉？可以删，篇幅留给更重要的经历。",
		WantPhase:  "其他", WantReview: true}, // the model says 简历优化; the too-short post rule overrides
}

// Data is the generated media and the fixtures of the three emulators.
type Data struct {
	Dir     string
	Tencent *tencentemu.Fixture
	ASR     *kimiemu.ASRFixture
}

// Build generates the Mandarin recordings (once; the same spec gives the same bytes) and the
// fixtures that describe them.
func Build(dir string) (*Data, error) { return BuildCopies(dir, 1) }

// CopyID gives copy c (up to 8) of a demo id, which all end in 1NN, its own id: copy 0 keeps it, copy 1
// makes it 2NN, and so on.
func CopyID(id string, c int) string {
	if c == 0 {
		return id
	}
	return fmt.Sprintf("%s%d%s", id[:len(id)-3], 1+c, id[len(id)-2:])
}

// BuildCopies is Build with every meeting held copies times, an hour apart, by the same people
// over the same media: more items for tests and benchmarks.
func BuildCopies(dir string, copies int) (*Data, error) {
	mediaDir := filepath.Join(dir, "media")
	if err := os.MkdirAll(mediaDir, 0o755); err != nil {
		return nil, err
	}
	fx := &tencentemu.Fixture{Admins: []string{"admin"}}
	asr := &kimiemu.ASRFixture{Tolerance: 0.4}
	for i, m := range Meetings {
		files, err := Media(mediaDir, i, m)
		if err != nil {
			return nil, err
		}
		var total float64
		for _, f := range files {
			total += f.Duration
		}
		asr.Entries = append(asr.Entries, kimiemu.ASREntry{Name: m.Record, Duration: total, Language: "zh", Text: m.Transcript})
		for c := range copies {
			fx.Meetings = append(fx.Meetings, FixtureMeeting(m, CopyID(m.Record, c), CopyID(m.MeetingID, c),
				fmt.Sprintf("8%06d%02d", i+1, c), Start(m, c), files))
		}
	}
	b, _ := json.MarshalIndent(fx, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "tencent-fixture.json"), b, 0o644); err != nil {
		return nil, err
	}
	return &Data{Dir: dir, Tencent: fx, ASR: asr}, nil
}

// Start is when copy c of m starts: 10:00 Beijing time on its day, an hour later for each copy.
func Start(m Meeting, c int) time.Time {
	return Since.Add(time.Duration(m.Day)*24*time.Hour + time.Duration(2+c)*time.Hour)
}

// FixtureMeeting is m as the Tencent emulator holds it, under the given ids and start.
func FixtureMeeting(m Meeting, record, meetingID, code string, start time.Time, files []mediatest.Meeting) tencentemu.Meeting {
	end := start.Add(time.Duration(m.Minutes) * time.Minute)
	rec := tencentemu.Record{ID: record, Start: start, State: m.State}
	for f, gen := range files {
		fs := start.Add(time.Duration(f) * time.Duration(m.Minutes) * time.Minute / time.Duration(m.Files))
		fe := start.Add(time.Duration(f+1) * time.Duration(m.Minutes) * time.Minute / time.Duration(m.Files))
		file := tencentemu.File{ID: fmt.Sprintf("%s-f%d", rec.ID, f+1), Start: fs, End: fe, Path: gen.Path}
		if a := audioPath(gen.Path); fileExists(a) {
			file.AudioPath = a // served as audio_address: the pipeline downloads it instead of the MP4
		}
		rec.Files = append(rec.Files, file)
	}
	meeting := tencentemu.Meeting{MeetingID: meetingID, MeetingCode: code, Subject: m.Subject,
		Host: m.Host, Creator: m.Creator, Start: start, End: end, Records: []tencentemu.Record{rec}}
	for _, p := range m.People {
		person := tencentemu.Person{UserID: p.UserID, UUID: p.UUID, Name: p.Name, Role: p.Role, InstanceID: 1}
		for _, s := range p.Sessions {
			person.Sessions = append(person.Sessions, tencentemu.Session{Join: start.Add(s[0]), Left: start.Add(s[1])})
		}
		meeting.Participants = append(meeting.Participants, person)
	}
	return meeting
}

// Media generates (or finds from an earlier demo) the MP4 files of meeting i.
func Media(mediaDir string, i int, m Meeting) ([]mediatest.Meeting, error) {
	var out []mediatest.Meeting
	for f := 0; f < m.Files; f++ {
		// Each meeting's audio gets its own length (a tail of silence) so the ASR emulator, which tells
		// chunks apart by duration, answers each with its own transcript.
		phrases := m.Phrases
		if m.Files > 1 {
			phrases = phrases[f*len(phrases)/m.Files : (f+1)*len(phrases)/m.Files]
		}
		spec := mediatest.MeetingSpec{Phrases: phrases, Silences: make([]time.Duration, len(phrases)-1),
			Lead: 500 * time.Millisecond, Tail: time.Duration(1000+1500*i) * time.Millisecond,
			Name: fmt.Sprintf("%s-%d.mp4", m.Record, f+1)}
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

// Servers are the three emulators on loopback.
type Servers struct {
	Tencent  *tencentemu.Server
	ASR      *kimiemu.ASRServer
	Moonshot *kimiemu.MoonshotServer
}

const (
	ASRKey  = "asr-demo-key-0001"
	KimiKey = "sk-demo-kimi-key-0001"
)

// ServerOptions tune the emulators for tests and benchmarks; the zero value is the demo's.
type ServerOptions struct {
	FaultRate                                   float64 // on every endpoint of every emulator
	TencentLatency, ASRLatency, MoonshotLatency time.Duration
	Throttle                                    int64 // media bytes/s per connection
	Seed                                        uint64
	// The kinds the random faults are drawn from; nil: every kind below.
	TencentFaults []tencentemu.FaultKind
	ChatFaults    []kimiemu.Fault
	Push          tencentemu.PushOptions // where the Tencent emulator pushes events
}

func StartServers(d *Data, o ServerOptions) (*Servers, error) {
	tencentFaults := o.TencentFaults
	if tencentFaults == nil {
		tencentFaults = []tencentemu.FaultKind{tencentemu.FaultGateway, tencentemu.FaultRateLimit, tencentemu.FaultReset, tencentemu.FaultTruncate}
	}
	t, err := tencentemu.Start(tencentemu.Options{Fixture: d.Tencent, FaultRate: o.FaultRate, Latency: o.TencentLatency,
		Throttle: o.Throttle, Seed: o.Seed, Push: o.Push, FaultKinds: tencentFaults})
	if err != nil {
		return nil, fmt.Errorf("start tencent emulator: %w", err)
	}
	a, err := kimiemu.StartASR(kimiemu.ASROptions{Fixture: d.ASR, APIKey: ASRKey, FaultRate: o.FaultRate,
		Latency: o.ASRLatency, Seed: o.Seed,
		Models: []string{"moonshotai/Kimi-Audio-7B-Instruct"}}) // listed like vLLM's, for runner doctor
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("start asr emulator: %w", err)
	}
	// Every kind of 429 (with its wait), 5xx, resets and invalid JSON.
	chatFaults := o.ChatFaults
	if chatFaults == nil {
		chatFaults = []kimiemu.Fault{kimiemu.FaultServerError, kimiemu.FaultReset, kimiemu.FaultRateLimit,
			kimiemu.FaultOverloaded, kimiemu.FaultQuota, kimiemu.FaultInvalidJSON}
	}
	// InventItem: the demo's model invents one action item, so that the quote check is seen dropping it.
	m, err := kimiemu.StartMoonshot(kimiemu.MoonshotOptions{APIKey: KimiKey, FaultRate: o.FaultRate, Faults: chatFaults,
		Latency: o.MoonshotLatency, Seed: o.Seed, InventItem: true})
	if err != nil {
		t.Close()
		a.Close()
		return nil, fmt.Errorf("start moonshot emulator: %w", err)
	}
	return &Servers{Tencent: t, ASR: a, Moonshot: m}, nil
}

func (s *Servers) Close() {
	s.Tencent.Close()
	s.ASR.Close()
	s.Moonshot.Close()
}

// Env is the .env a user of the real services would write, pointing at the emulators instead.
func (s *Servers) Env(db store.Config, stateDir string) map[string]string {
	return map[string]string{
		"TQM_SECRET_ID":      tencentemu.DefaultSecretID,
		"TQM_SECRET_KEY":     tencentemu.DefaultSecretKey,
		"ENTERPRISE_ID":      tencentemu.DefaultAppID,
		"APP_ID":             "",
		"TQM_BASE_URL":       s.Tencent.URL(),
		"TQM_MODE":           "corp",
		"TQM_OPERATOR_ID":    "admin",
		"TQM_TEACHERS":       "", // list everyone; the whitelist filter decides, visibly
		"TEACHER_WHITELIST":  `["teacher_001","teacher_002"]`,
		"ASR_BASE_URL":       s.ASR.URL(),
		"ASR_API_KEY":        ASRKey,
		"ASR_MODEL":          "moonshotai/Kimi-Audio-7B-Instruct",
		"KIMI_BASE_URL":      s.Moonshot.URL() + "/v1",
		"KIMI_API_KEY":       KimiKey,
		"KIMI_RPM":           "600", // the emulator has no entry-tier limit unless asked
		"KIMI_CONCURRENCY":   "2",
		"DB_DSN":             db.DSN,
		"DB_HOST":            db.Host,
		"DB_PORT":            portString(db.Port),
		"DB_USER":            db.User,
		"DB_PASS":            db.Password,
		"DB_NAME":            db.Database,
		"KEEP_MEDIA":         "true",
		"RETAIN_MEDIA":       "keep", // what KEEP_MEDIA keeps, retention keeps too
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

func WriteEnvFile(path string, env map[string]string) error {
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

// EnsureDatabase creates the demo's database when the server lacks it.
func EnsureDatabase(ctx context.Context, c store.Config) error {
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
	if _, err := db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS `"+strings.ReplaceAll(c.Database, "`", "")+"` "+
		"CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		return fmt.Errorf("create the demo database: %w", err)
	}
	return nil
}

// PrintResults says what the last run did (its row in pipeline_runs) and shows the week's recordings and
// their students' statistics, read through steps/store as `runner report` reads them.
func PrintResults(ctx context.Context, db *sql.DB, w io.Writer) error {
	d, err := store.LoadReport(ctx, db, store.ReportOptions{Since: Since, Until: Until, Runs: 1})
	if err != nil {
		return fmt.Errorf("read the demo's results: %w", err)
	}
	if len(d.Runs) > 0 {
		r := d.Runs[0]
		fmt.Fprintf(w, "\n== run %s: %s · %d recordings listed · %d stored · %d filtered out · %d failed · %d left "+
			"for later · %d steps run, %d from the memo\n",
			r.ID, r.Status, r.Items, r.Done, r.Skipped, r.Failed, r.Pending, r.Ran, r.Memo)
	}
	rows := [][]string{{"recording", "teacher", "students", "start (UTC)", "min", "phase", "review", "summary"}}
	for _, r := range d.Recordings {
		var students []string
		for _, a := range r.Students {
			students = append(students, a.ID)
		}
		review := ""
		if r.NeedsReview {
			review = "yes"
		}
		rows = append(rows, []string{r.ID, r.Teacher, strings.Join(students, ","), r.Start.Format("2006-01-02 15:04"),
			fmt.Sprint(r.Minutes), r.Phase, review, clip(r.Summary, 48)})
	}
	fmt.Fprintln(w, "\n== recordings")
	writeTable(w, rows)

	rows = [][]string{{"student", "recordings", "minutes", "last recording (UTC)"}}
	for _, st := range d.Students {
		last := ""
		if st.LastSession != nil {
			last = st.LastSession.UTC().Format("2006-01-02 15:04")
		}
		rows = append(rows, []string{st.ID, fmt.Sprint(st.AllSessions), fmt.Sprint(st.AllMinutes), last})
	}
	fmt.Fprintln(w, "\n== student_stats")
	writeTable(w, rows)
	return nil
}

// clip cuts s to n display cells.
func clip(s string, n int) string { return table.Truncate(strings.Join(strings.Fields(s), " "), n) }

// writeTable aligns columns in display cells (CJK characters take two).
func writeTable(w io.Writer, rows [][]string) {
	table.Write(w, "", rows[0], rows[1:])
}
