package steps

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"meetpipe/runner/step"
	"meetpipe/steps/steptest"
	"meetpipe/steps/store"
	"meetpipe/steps/store/storetest"
	"meetpipe/steps/talk"
	"meetpipe/steps/tencent"

	"github.com/go-sql-driver/mysql"
)

// newTestUpsert builds mysql_upsert from a `with:` block the way the engine does.
func newTestUpsert(t *testing.T, with string) *mysqlUpsert {
	t.Helper()
	impl, cfg := steptest.Build(t, "mysql_upsert", with)
	if c := fmt.Sprintf("%+v", cfg); strings.Contains(c, "pw-") {
		t.Fatalf("the effective configuration shows the password: %s", c)
	}
	s := impl.(*mysqlUpsert)
	t.Cleanup(func() { s.Close() })
	return s
}

// upsertTestPool opens the database of dsn for assertions.
func upsertTestPool(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := store.Open(context.Background(), store.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var upsertStart = time.Date(2026, 11, 2, 2, 0, 0, 0, time.UTC)

// upsertItem is an item as tencent_list, kimi_asr and kimi_classify leave it. Students are "id:seconds";
// ids starting with name: are guests known by their name, ext: guests without a name (known by uuid).
func upsertItem(t *testing.T, id string, day int, phase string, students ...string) *step.Item {
	t.Helper()
	start := upsertStart.Add(time.Duration(day) * 24 * time.Hour)
	parts := []tencent.Participant{{UserID: "teacher_wang", UUID: "WMteacher", Name: "王老师", Role: 3,
		Join: start, Left: start.Add(time.Hour), Seconds: 3600}}
	var ids []string
	for _, s := range students {
		i := strings.LastIndexByte(s, ':')
		sid := s[:i]
		var secs int64
		fmt.Sscan(s[i+1:], &secs)
		p := tencent.Participant{Name: "同学" + sid, Join: start, Left: start.Add(time.Duration(secs) * time.Second), Seconds: secs}
		if uuid, ok := strings.CutPrefix(sid, "ext:"); ok {
			p.UUID, p.Name = uuid, ""
		} else if name, ok := strings.CutPrefix(sid, "name:"); ok {
			p.UUID, p.Name = "WMguest", name
		} else {
			p.UserID, p.UUID = sid, "WM"+sid
		}
		if p.StudentID() != sid {
			t.Fatalf("test participant %+v has id %s, want %s", p, p.StudentID(), sid)
		}
		parts = append(parts, p)
		ids = append(ids, sid)
	}
	it, err := step.NewItem(id, step.Fields{
		"id": id, "meeting_id": "1739626437650178888", "meeting_code": "118280844", "subject": "简历 😀 " + id,
		"host_userid": "teacher_wang", "start": start, "end": start.Add(time.Hour), "duration_min": 60, "state": 3,
		"files":         []tencent.File{{FileID: "f" + id, Start: start, End: start.Add(time.Hour), Size: 1 << 20}},
		"download_urls": map[string]string{"f" + id: "https://cos.example/" + id + ".mp4?sign=SECRETSIGNATURE"},
		"participants":  parts, "teacher_id": "teacher_wang", "student_ids": ids,
		"transcript": map[string]any{"text": "你好，开始吧。", "segments": []map[string]any{{"start": 0, "end": 1.5, "text": "你好"}}},
		"phase":      phase, "summary": "总结 " + id,
		"classification": map[string]any{"model": "moonshot-v1-8k", "rule": "model", "confidence": 0.9,
			"needs_review": false, "answer": map[string]any{"phase": phase}},
		"needs_review": false,
	})
	if err != nil {
		t.Fatal(err)
	}
	return it
}

func TestMysqlUpsertStoresAnItemOnce(t *testing.T) {
	t.Parallel() // its own servers, database and files
	dsn := storetest.DB(t)
	s := newTestUpsert(t, "dsn: "+dsn)
	db := upsertTestPool(t, dsn)
	ctx := context.Background()

	it := upsertItem(t, "1964787070499246080", 0, "简历优化", "alice:1800", "name:李同学:2400")
	out, err := s.Process(ctx, it)
	if err != nil {
		t.Fatal(err)
	}
	st := out["stored"].(store.Stored)
	if st.Action != "inserted" || st.Status != "done" || st.Students != 2 || st.At.IsZero() {
		t.Errorf("stored = %+v", st)
	}
	var files, cls string
	var dl sql.NullString
	var dur int
	if err := db.QueryRow(`SELECT files, classification, download_url, duration_min FROM recordings WHERE id = ?`,
		it.ID()).Scan(&files, &cls, &dl, &dur); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(files, "sign") || strings.Contains(files, "http") || !strings.Contains(files, `"f1964787070499246080"`) || dl.Valid {
		t.Errorf("files %s / download_url %v: signed URLs must not be stored, file ids must", files, dl)
	}
	if !strings.Contains(cls, "moonshot-v1-8k") || dur != 60 {
		t.Errorf("classification %s, duration %d", cls, dur)
	}
	links := storetest.Dump(t, db, "recording_students")
	want := []string{"1964787070499246080\talice\t同学alice\t1800", "1964787070499246080\tname:李同学\t李同学\t2400"}
	if !slices.Equal(links, want) {
		t.Errorf("links %q, want %q (the teacher is not a student)", links, want)
	}

	before := map[string][]string{}
	for _, tb := range []string{"recordings", "recording_students", "student_stats"} {
		before[tb] = storetest.Dump(t, db, tb)
	}
	out, err = s.Process(ctx, it)
	if err != nil {
		t.Fatal(err)
	}
	if a := out["stored"].(store.Stored).Action; a != "unchanged" {
		t.Errorf("second run: action %q, want unchanged", a)
	}
	for tb, rows := range before {
		if after := storetest.Dump(t, db, tb); !slices.Equal(rows, after) {
			t.Errorf("table %s changed on the second run", tb)
		}
	}
	var stats string
	db.QueryRow(`SELECT CONCAT(record_cnt, ' ', total_duration) FROM student_stats WHERE student_id = 'name:李同学'`).Scan(&stats)
	if stats != "1 40" {
		t.Errorf("stats of name:李同学 = %q, want \"1 40\"", stats)
	}
}

func TestMysqlUpsertOptionalFields(t *testing.T) {
	t.Parallel() // its own servers, database and files
	dsn := storetest.DB(t)
	s := newTestUpsert(t, "dsn: "+dsn)
	it, err := step.NewItem("42", step.Fields{"meeting_id": "m42", "start": upsertStart, "student_ids": []string{"bob"},
		"classification": map[string]any{"needs_review": true}, "transcript": nil})
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Process(context.Background(), it)
	if err != nil {
		t.Fatal(err)
	}
	if st := out["stored"].(store.Stored); st.Status != "partial" || st.Students != 1 {
		t.Errorf("stored = %+v, want partial with 1 student", st)
	}
	var review bool
	var phase sql.NullString
	upsertTestPool(t, dsn).QueryRow(`SELECT needs_review, phase FROM recordings WHERE id = '42'`).Scan(&review, &phase)
	if !review || phase.Valid {
		t.Errorf("needs_review %v (want true from classification), phase %v (want NULL)", review, phase)
	}
}

func TestMysqlUpsertErrors(t *testing.T) {
	t.Parallel() // its own servers, database and files
	dsn := storetest.DB(t)
	ctx := context.Background()
	long := upsertItem(t, "7", 0, strings.Repeat("阶段", 50), "alice:60")
	noMeeting, _ := step.NewItem("8", step.Fields{"start": upsertStart})
	badType, _ := step.NewItem("9", step.Fields{"meeting_id": "m", "start": upsertStart, "student_ids": "alice"})

	server, _ := mysql.ParseDSN(dsn)
	host, port, _ := strings.Cut(server.Addr, ":")
	// A user of its own with a password the case does not give: the server checks passwords only when it
	// has grant tables, so the user is made (and dropped) in the case, which skips on a server without.
	wrongPassword := func(t *testing.T) string {
		user := upsertUser(t, server.DBName, "pw-Right7-ok", "ALL PRIVILEGES")
		return fmt.Sprintf("{host: %s, port: %s, user: %s, password: pw-Secret9, database: %s}", host, port, user, server.DBName)
	}
	withoutCreate := func(t *testing.T) string {
		db := strings.Split(strings.Split(storetest.DB(t), "/")[1], "?")[0]
		user := upsertUser(t, db, "pw-Secret9", "SELECT, INSERT, UPDATE, DELETE")
		return fmt.Sprintf("{host: %s, port: %s, user: %s, password: pw-Secret9, database: %s}", host, port, user, db)
	}
	ownUser := map[string]func(*testing.T) string{"wrong password": wrongPassword, "user without CREATE": withoutCreate}
	foreignDSN := storetest.DB(t)
	if _, err := upsertTestPool(t, foreignDSN).ExecContext(ctx, "CREATE TABLE recordings (id INT PRIMARY KEY, title VARCHAR(10))"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		with string
		item *step.Item
		kind step.Kind
		says []string
	}{
		{"value too long", "dsn: " + dsn, long, step.KindPermanent, []string{"recordings.phase", "阶段阶段"}},
		{"missing meeting_id", "dsn: " + dsn, noMeeting, step.KindPermanent, []string{"meeting_id"}},
		{"wrong field type", "dsn: " + dsn, badType, step.KindPermanent, []string{"student_ids"}},
		{"server down", fmt.Sprintf("{host: 127.0.0.1, port: %d, user: app, password: pw-Secret9, database: x, connect_timeout: 2s}",
			upsertClosedPort(t)), long, step.KindTransient, []string{"connection refused"}},
		{"no schema and migrate off", fmt.Sprintf("{dsn: %q, migrate: false}", storetest.DB(t)), upsertItem(t, "10", 0, "其他"),
			step.KindDeferred, []string{"runner migrate"}},
		{"wrong password", "", upsertItem(t, "11", 0, "其他"), step.KindDeferred, []string{"Access denied"}},
		{"user without CREATE", "", upsertItem(t, "12", 0, "其他"), step.KindDeferred, []string{"CREATE command denied"}},
		{"foreign recordings table", "dsn: " + foreignDSN, upsertItem(t, "13", 0, "其他"), step.KindDeferred,
			[]string{"table recordings does not have the shape", "column id is int"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			with := tt.with
			if f := ownUser[tt.name]; f != nil {
				with = f(t)
			}
			s := newTestUpsert(t, with)
			_, err := s.Process(ctx, tt.item)
			if err == nil {
				t.Fatal("Process succeeded")
			}
			if k, _ := step.Classify(err); k != tt.kind {
				t.Errorf("error %v is %v, want %v", err, k, tt.kind)
			}
			// Deferred here means the environment is at fault: the run stops and the item stays pending.
			if tt.kind == step.KindDeferred && !step.IsEnvironmental(err) {
				t.Errorf("error %v is not environmental", err)
			}
			for _, w := range tt.says {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "pw-Secret9") || strings.Contains(err.Error(), "Secret9") {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

func TestMysqlUpsertRecordsRuns(t *testing.T) {
	t.Parallel() // its own servers, database and files
	dsn := storetest.DB(t)
	s := newTestUpsert(t, "dsn: "+dsn)
	ctx := context.Background()
	started := time.Date(2026, 11, 3, 3, 0, 0, 0, time.UTC)
	dry := step.RunInfo{ID: "dry", Pipeline: "meeting", Started: started, DryRun: true}
	if err := s.RunStarted(ctx, dry); err != nil {
		t.Fatal(err)
	}
	s.RunFinished(ctx, dry, step.Summary{Status: "ok"})
	info := step.RunInfo{ID: "20261103T030000-ab12", Pipeline: "meeting", Since: started.Add(-24 * time.Hour),
		Until: started, Started: started}
	if err := s.RunStarted(ctx, info); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Process(ctx, upsertItem(t, "1", 0, "简历优化", "alice:60")); err != nil {
		t.Fatal(err)
	}
	sum := step.Summary{Finished: started.Add(5 * time.Minute), Status: "failed", Items: 3, Done: 1, Failed: 1,
		Pending: 1, Ran: 9, Failures: []step.ItemFailure{{Item: "2", Step: "kimi_asr", Error: "413 too large", Kind: "permanent"}}}
	if err := s.RunFinished(ctx, info, sum); err != nil {
		t.Fatal(err)
	}
	rep, err := store.Status(ctx, upsertTestPool(t, dsn), store.StatusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 1 || rep.Runs[0].ID != info.ID || rep.Runs[0].Status != "failed" || rep.Runs[0].Done != 1 ||
		rep.Runs[0].Host == "" {
		t.Errorf("runs = %+v (the dry run must not be recorded)", rep.Runs)
	}
	if len(rep.Failures) != 1 || rep.Failures[0].Item != "2" || rep.Failures[0].Error != "413 too large" {
		t.Errorf("failures = %+v", rep.Failures)
	}
}

// upsertClosedPort returns a port on 127.0.0.1 where nothing listens.
func upsertClosedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestMysqlUpsertSurvivesServerKill kills the server in the middle of a run of upserts and starts it again.
// Each item, retried as the engine would on transient errors, ends written exactly once, or pending with a
// transient error and a reason; a later run writes the pending ones. Nothing is lost or counted twice.
func TestMysqlUpsertSurvivesServerKill(t *testing.T) {
	if testing.Short() {
		t.Skip("long: a MariaDB of its own, killed and restarted")
	}
	t.Parallel() // its own media, servers and state
	srv := storetest.StartServer(t)
	dsn := srv.NewDatabase(t)
	// The throwaway server ignores passwords, so one in the DSN shows whether errors leak it.
	cfg, _ := mysql.ParseDSN(dsn)
	cfg.Passwd = "pw-KillTest7"
	s := newTestUpsert(t, fmt.Sprintf("{dsn: %q, max_open: 8, connect_timeout: 2s, read_timeout: 10s}", cfg.FormatDSN()))
	ctx := context.Background()

	const items, workers = 48, 8
	pool := []string{"alice", "bob", "carol", "name:wm1", "name:wm2", "dave"}
	want := map[string][]string{} // item → its "student:seconds"
	var queue []*step.Item
	for i := range items {
		var st []string
		for j, p := range pool {
			if (i+j)%3 != 0 {
				st = append(st, fmt.Sprintf("%s:%d", p, 30*(i+1)+j))
			}
		}
		id := fmt.Sprint(5000 + i)
		want[id] = st
		queue = append(queue, upsertItem(t, id, i%7, "项目深挖", st...))
	}

	var stored, failedAfterKill atomic.Int64
	killed, restarted, finished := make(chan struct{}), make(chan struct{}), make(chan struct{})
	// waitFor polls cond until it holds or the workers are done; no assertion depends on timing.
	waitFor := func(cond func() bool) bool {
		for !cond() {
			select {
			case <-finished:
				return false
			case <-time.After(time.Millisecond):
			}
		}
		return true
	}
	go func() { // the fault: kill once some items are in, restart once writes have failed
		defer close(restarted)
		if !waitFor(func() bool { return stored.Load() >= 12 }) {
			return
		}
		srv.Kill()
		close(killed)
		waitFor(func() bool { return failedAfterKill.Load() >= 2*workers })
		srv.Restart()
	}()

	var mu sync.Mutex
	pending := map[string]error{}
	var reasons []string
	work := make(chan *step.Item)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				var err error
				for attempt := 0; attempt < 5; attempt++ { // the engine's retry policy, in small
					if _, err = s.Process(ctx, it); err == nil {
						stored.Add(1)
						break
					}
					select {
					case <-killed:
						failedAfterKill.Add(1)
					default:
					}
					mu.Lock()
					reasons = append(reasons, err.Error())
					mu.Unlock()
					if k, _ := step.Classify(err); k != step.KindTransient {
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
				if err != nil {
					mu.Lock()
					pending[it.ID()] = err
					mu.Unlock()
				}
			}
		}()
	}
	for _, it := range queue {
		work <- it
	}
	close(work)
	wg.Wait()
	close(finished)
	<-restarted
	select {
	case <-killed:
	default:
		t.Fatal("the run ended before the server was killed")
	}

	if len(reasons) == 0 {
		t.Fatal("no write failed: the server was not killed during the run")
	}
	for _, r := range reasons {
		if strings.TrimSpace(r) == "" || strings.Contains(r, "KillTest7") {
			t.Fatalf("error %q is empty or shows the password", r)
		}
	}
	for id, err := range pending {
		if k, _ := step.Classify(err); k != step.KindTransient {
			t.Errorf("item %s failed %v, want transient (pending for the next run): %v", id, k, err)
		}
	}
	t.Logf("%d items stored in the run, %d pending, %d failed attempts; e.g. %q", stored.Load(), len(pending),
		len(reasons), reasons[0])

	// The next run writes what is pending.
	for id := range pending {
		for _, it := range queue {
			if it.ID() == id {
				if _, err := s.Process(ctx, it); err != nil {
					t.Fatalf("next run, item %s: %v", id, err)
				}
			}
		}
	}

	// Exactly once: every item, every link, and statistics computed independently.
	db := upsertTestPool(t, dsn)
	var wantLinks []string
	type agg struct {
		cnt, secs int64
		last      time.Time
	}
	wantStats := map[string]*agg{}
	for i := range items {
		id := fmt.Sprint(5000 + i)
		start := upsertStart.Add(time.Duration(i%7) * 24 * time.Hour)
		for _, st := range want[id] {
			k := strings.LastIndexByte(st, ':')
			var secs int64
			fmt.Sscan(st[k+1:], &secs)
			sid := st[:k]
			name := "同学" + sid
			if n, ok := strings.CutPrefix(sid, "name:"); ok {
				name = n // a guest's name is the id's
			}
			wantLinks = append(wantLinks, fmt.Sprintf("%s\t%s\t%s\t%d", id, sid, name, secs))
			a := wantStats[sid]
			if a == nil {
				a = &agg{}
				wantStats[sid] = a
			}
			a.cnt++
			a.secs += secs
			if start.After(a.last) {
				a.last = start
			}
		}
	}
	slices.Sort(wantLinks)
	if got := storetest.Dump(t, db, "recording_students"); !slices.Equal(got, wantLinks) {
		t.Errorf("recording_students after the kill: %d rows, want %d", len(got), len(wantLinks))
	}
	var n int
	db.QueryRow(`SELECT COUNT(*) FROM recordings`).Scan(&n)
	if n != items {
		t.Errorf("%d recordings, want %d", n, items)
	}
	var wantRows []string
	for sid, a := range wantStats {
		wantRows = append(wantRows, fmt.Sprintf("%s %d %d %s", sid, a.cnt, store.Minutes(a.secs), a.last.Format("2006-01-02 15:04:05.000")))
	}
	slices.Sort(wantRows)
	rows, err := db.Query(`SELECT student_id, record_cnt, total_duration, last_record_at FROM student_stats ORDER BY student_id`)
	if err != nil {
		t.Fatal(err)
	}
	var gotRows []string
	for rows.Next() {
		var sid string
		var cnt, mins int64
		var last time.Time
		rows.Scan(&sid, &cnt, &mins, &last)
		gotRows = append(gotRows, fmt.Sprintf("%s %d %d %s", sid, cnt, mins, last.Format("2006-01-02 15:04:05.000")))
	}
	rows.Close()
	slices.Sort(gotRows)
	if !slices.Equal(gotRows, wantRows) {
		t.Errorf("student_stats after the kill:\n got %q\nwant %q", gotRows, wantRows)
	}
}

// upsertUser creates a user of the test server with only the given privileges on db.
func upsertUser(t *testing.T, db, password, privileges string) string {
	t.Helper()
	root := upsertTestPool(t, storetest.DB(t))
	var rnd [4]byte
	rand.Read(rnd[:])
	name := "mp_" + hex.EncodeToString(rnd[:])
	if _, err := root.Exec(fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", name, password)); err != nil {
		// storetest's own mariadbd runs --skip-grant-tables: it can make no user and checks no password.
		t.Skipf("needs a server with grants (root at 127.0.0.1:3306, or %s): CREATE USER: %v", storetest.EnvDSN, err)
	}
	t.Cleanup(func() { root.Exec(fmt.Sprintf("DROP USER '%s'@'%%'", name)) })
	q := fmt.Sprintf("GRANT %s ON `%s`.* TO '%s'@'%%'", privileges, db, name)
	if _, err := root.Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return name
}

// A roster maps a returning guest's name to a canonical id; a guest it does not know keeps the name id
// and flags the recording; editing the roster moves the stored rows at the next run, with no step re-run.
func TestMysqlUpsertRoster(t *testing.T) {
	t.Parallel() // its own servers, database and files
	dsn := storetest.DB(t)
	dir := t.TempDir()
	ros := filepath.Join(dir, "roster.yaml")
	os.WriteFile(ros, []byte("- id: S001\n  name: 李同学\n  aliases: [小李]\n"), 0o600)
	db := upsertTestPool(t, dsn)
	ctx := context.Background()

	s := newTestUpsert(t, "dsn: "+dsn+"\nroster: "+ros)
	for _, it := range [][]string{{"r1", "name:李同学:1200", "name:路人:60"}, {"r2", "name:小李:600"}} {
		if _, err := s.Process(ctx, upsertItem(t, it[0], 0, "简历优化", it[1:]...)); err != nil {
			t.Fatal(err)
		}
	}
	links := storetest.Dump(t, db, "recording_students")
	want := []string{"r1\tS001\t李同学\t1200", "r1\tname:路人\t路人\t60", "r2\tS001\t小李\t600"}
	if !slices.Equal(links, want) {
		t.Errorf("links %q, want %q", links, want)
	}
	var review bool
	db.QueryRow(`SELECT needs_review FROM recordings WHERE id = 'r1'`).Scan(&review)
	if !review {
		t.Error("r1 has a guest the roster does not know but is not flagged")
	}
	rep, err := store.Status(ctx, db, store.StatusOptions{})
	if err != nil || len(rep.UnmatchedGuests) != 1 || rep.UnmatchedGuests[0].SourceID != "name:路人" {
		t.Errorf("status unmatched guests %+v %v", rep.UnmatchedGuests, err)
	}
	var cnt, mins int
	db.QueryRow(`SELECT record_cnt, total_duration FROM student_stats WHERE student_id = 'S001'`).Scan(&cnt, &mins)
	if cnt != 2 || mins != 30 {
		t.Errorf("S001 stats %d recordings, %d min; want 2 and 30", cnt, mins)
	}
	s.Close()

	// The roster learns the passer-by and renames S001: the next run re-keys, nothing is re-processed.
	os.WriteFile(ros, []byte("- id: S009\n  name: 李同学\n  aliases: [小李]\n- id: S002\n  name: 路人\n"), 0o600)
	s = newTestUpsert(t, "dsn: "+dsn+"\nroster: "+ros)
	defer s.Close()
	if _, err := s.open(ctx); err != nil {
		t.Fatal(err)
	}
	links = storetest.Dump(t, db, "recording_students")
	want = []string{"r1\tS002\t路人\t60", "r1\tS009\t李同学\t1200", "r2\tS009\t小李\t600"}
	if !slices.Equal(links, want) {
		t.Errorf("after the edit links %q, want %q", links, want)
	}
	stats := storetest.Dump(t, db, "student_stats")
	if len(stats) != 2 {
		t.Errorf("stats rows %q, want S002 and S009 only", stats)
	}
	db.QueryRow(`SELECT needs_review FROM recordings WHERE id = 'r1'`).Scan(&review)
	if review {
		t.Error("r1 still flagged after its guest joined the roster")
	}
}

// withTalk is it with a talk field and transcript_source added.
func withTalk(t *testing.T, it *step.Item, rec talk.Record) *step.Item {
	t.Helper()
	fields := step.Fields{}
	for _, k := range it.Names() {
		fields[k] = it.Raw(k)
	}
	fields["talk"], fields["transcript_source"] = rec, rec.Source
	out, err := step.NewItem(it.ID(), fields)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// recording_speakers gets one row per speaker, the student's id through the roster; a second write of the
// same item changes nothing; a roster edit moves the student's row with the links.
func TestMysqlUpsertSpeakers(t *testing.T) {
	t.Parallel() // its own servers, database and files
	dsn := storetest.DB(t)
	ros := filepath.Join(t.TempDir(), "roster.yaml")
	os.WriteFile(ros, []byte("- id: S001\n  name: 李同学\n"), 0o600)
	db := upsertTestPool(t, dsn)
	ctx := context.Background()
	rec := talk.Record{Source: "tencent", Labelled: true, Metrics: talk.Metrics{TeacherShare: 0.3, StudentShare: 0.7,
		Speakers: []talk.SpeakerMetrics{
			{Speaker: talk.Speaker{Key: "teacher_wang", Role: talk.RoleTeacher}, TalkMS: 3000, Share: 0.3, Questions: 2, Turns: 2, LongestMonologueMS: 2000, Chars: 12},
			{Speaker: talk.Speaker{Key: "name:李同学", Role: talk.RoleStudent, StudentID: "name:李同学"}, TalkMS: 7000, Share: 0.7, Turns: 2, LongestMonologueMS: 5000, Chars: 30},
		}}}
	s := newTestUpsert(t, "dsn: "+dsn+"\nroster: "+ros)
	it := withTalk(t, upsertItem(t, "r1", 0, "面试模拟", "name:李同学:1200"), rec)
	for i, want := range []string{"inserted", "unchanged"} {
		out, err := s.Process(ctx, it)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(out["stored"])
		var st struct{ Action string }
		json.Unmarshal(b, &st)
		if st.Action != want {
			t.Errorf("write %d: %s, want %s", i+1, st.Action, want)
		}
	}
	rows := storetest.Dump(t, db, "recording_speakers")
	want := []string{"r1\tname:李同学\tstudent\tS001\ttencent\t7000\t0.7000\t0\t2\t5000\t30",
		"r1\tteacher_wang\tteacher\t\\N\ttencent\t3000\t0.3000\t2\t2\t2000\t12"}
	if !slices.Equal(rows, want) {
		t.Errorf("speakers %q, want %q", rows, want)
	}
	var src string
	db.QueryRow(`SELECT transcript_source FROM recordings WHERE id = 'r1'`).Scan(&src)
	if src != "tencent" {
		t.Errorf("transcript_source %q", src)
	}
	s.Close()
	os.WriteFile(ros, []byte("- id: S007\n  name: 李同学\n"), 0o600)
	s = newTestUpsert(t, "dsn: "+dsn+"\nroster: "+ros)
	defer s.Close()
	if _, err := s.open(ctx); err != nil {
		t.Fatal(err)
	}
	var id string
	db.QueryRow(`SELECT student_id FROM recording_speakers WHERE recording_id = 'r1' AND role = 'student'`).Scan(&id)
	if id != "S007" {
		t.Errorf("after the roster edit the student's speaker row says %q, want S007", id)
	}
}
