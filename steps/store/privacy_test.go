package store

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"testing"
	"time"

	"meetpipe/steps/store/storetest"
)

func upsertAll(t *testing.T, db *sql.DB, recs ...Recording) {
	t.Helper()
	for _, r := range recs {
		if _, err := (&Recordings{DB: db}).Upsert(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
}

func without(r Recording, id string) Recording {
	r.Students = slices.DeleteFunc(slices.Clone(r.Students), func(a Attendance) bool { return a.StudentID == id })
	return r
}

// Forgetting a student in a shared and a solo recording leaves the others' rows and statistics exact, reaches
// a table it knows only by its columns, and a later upsert of the same recordings does not bring them back.
func TestForgetSharedAndSolo(t *testing.T) {
	t.Parallel() // its own database
	ctx := context.Background()
	db := openTest(t)
	// A table no migration adds: forget does not know it by name; its student_id column says it names students.
	if _, err := db.Exec(`CREATE TABLE foreign_notes (id INT AUTO_INCREMENT PRIMARY KEY,
		recording_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, student_id VARCHAR(128) NULL, text TEXT,
		FOREIGN KEY (recording_id) REFERENCES recordings (id))`); err != nil {
		t.Fatal(err)
	}
	shared := rec("r1", 0, "简历优化", "stu_li:1800", "stu_wang:2400")
	solo := rec("r2", 1, "项目深挖", "stu_li:600")
	other := rec("r3", 2, "面试模拟", "stu_wang:1200")
	solo.Redactions = Redactions{"transcript": {"mobile": 1}}
	upsertAll(t, db, shared, solo, other)
	for _, q := range []string{
		`INSERT INTO foreign_notes (recording_id, student_id, text) VALUES ('r1', 'stu_li', '改简历'), ('r1', 'stu_wang', '刷题'), ('r2', 'stu_li', '准备项目'), ('r2', NULL, '共同')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	tables := []string{"recordings", "recording_students", "student_stats", "foreign_notes", "recording_redactions", "student_tombstones", "erasure_log"}
	dump := func() map[string][]string {
		m := map[string][]string{}
		for _, tb := range tables {
			m[tb] = storetest.Dump(t, db, tb)
		}
		return m
	}
	before := dump()
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	dry, err := Forget(ctx, db, "stu_li", "ops@host", at, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := dump(); !mapsEqual(got, before) {
		t.Fatalf("a dry run changed the database:\n%v\n%v", before, got)
	}
	res, err := Forget(ctx, db, "stu_li", "ops@host", at, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Recordings != 1 || res.Shared != 1 || dry.Recordings != 1 || dry.Shared != 1 {
		t.Fatalf("result %+v, dry %+v", res, dry)
	}
	if res.Rows["foreign_notes"] != 3 || dry.Rows["foreign_notes"] != 3 || res.Rows["recording_redactions"] != 1 {
		t.Fatalf("rows %v (dry %v): want foreign_notes 3 (li's two and r2's shared one), recording_redactions 1", res.Rows, dry.Rows)
	}
	want := map[string]Recording{"r1": without(shared, "stu_li"), "r3": other}
	checkExact(t, db, want)
	if got := storetest.Dump(t, db, "foreign_notes"); len(got) != 1 || !strings.Contains(got[0], "stu_wang") {
		t.Fatalf("foreign_notes: %q", got)
	}
	var ids string
	db.QueryRow(`SELECT student_ids FROM recordings WHERE id = 'r1'`).Scan(&ids)
	if ids != `["stu_wang"]` {
		t.Fatalf("student_ids of the shared recording: %s", ids)
	}
	for _, tb := range []string{"student_tombstones", "erasure_log"} {
		rows := strings.Join(storetest.Dump(t, db, tb), "\n")
		if strings.Contains(rows, "stu_li") || strings.Contains(rows, "同学") || rows == "" {
			t.Fatalf("%s holds %q", tb, rows)
		}
	}
	if log := storetest.Dump(t, db, "erasure_log"); len(log) != 1 || !strings.Contains(log[0], "ops@host\tstudent\t") {
		t.Fatalf("erasure_log: %q", log)
	}

	// A rerun of the window: both recordings come again with the student.
	for _, r := range []Recording{shared, solo} {
		r := r
		n, err := DropTombstoned(ctx, db, &r)
		if err != nil || n != 1 {
			t.Fatalf("%s: dropped %d, %v", r.ID, n, err)
		}
		if len(r.Students) > 0 {
			upsertAll(t, db, r)
		} else if r.ID != "r2" {
			t.Fatalf("%s lost every student", r.ID)
		}
	}
	checkExact(t, db, want)
}

// A guest is known by name: the tombstone of the normalised name keeps them out under a new uuid or a
// differently spaced name, but a student with a userid who shares the name is kept.
func TestTombstoneOfAGuestName(t *testing.T) {
	t.Parallel() // its own database
	ctx := context.Background()
	db := openTest(t)
	r := rec("g1", 0, "其他")
	r.Sources = []Source{{SourceID: "name:赵同学", StudentID: "name:赵同学", Name: "赵同学", Seconds: 600},
		{SourceID: "stu_wang", StudentID: "stu_wang", Name: "王同学", Seconds: 300}}
	r.Students = Merge(r.Sources)
	upsertAll(t, db, r)
	if _, err := Forget(ctx, db, "name:赵同学", "ops", time.Now(), false); err != nil {
		t.Fatal(err)
	}
	next := rec("g2", 1, "其他")
	next.Sources = []Source{{SourceID: "ext:WMzhao9", StudentID: "ext:WMzhao9", Name: "赵同学　", Seconds: 100},
		{SourceID: "stu_zhao", StudentID: "stu_zhao", Name: "赵同学", Seconds: 100}}
	next.Students = Merge(next.Sources)
	n, err := DropTombstoned(ctx, db, &next)
	if err != nil || n != 1 || len(next.Students) != 1 || next.Students[0].StudentID != "stu_zhao" {
		t.Fatalf("dropped %d (%v): %+v", n, err, next.Students)
	}
}

// Retention with a fixed clock: transcripts of recordings started before the cut are blanked, older run
// history deleted, each kind logged; a dry run counts the same and changes nothing.
func TestRetainFixedClock(t *testing.T) {
	t.Parallel() // its own database
	ctx := context.Background()
	db := openTest(t)
	upsertAll(t, db, rec("a", 0, "x", "s1:60"), rec("b", 10, "x", "s1:60"), rec("c", 20, "x", "s2:60"))
	for i, d := range []int{0, 5, 30} {
		if err := StartRun(ctx, db, Run{ID: "run" + string(rune('0'+i)), Pipeline: "p", Started: t0.Add(time.Duration(d) * 24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	cutT, cutR := t0.Add(15*24*time.Hour), t0.Add(10*24*time.Hour)
	before := storetest.Dump(t, db, "recordings")
	dry, err := Retain(ctx, db, cutT, cutR, "retention", true)
	if err != nil || dry != (RetainResult{Transcripts: 2, Runs: 2}) {
		t.Fatalf("dry: %+v %v", dry, err)
	}
	if !slices.Equal(before, storetest.Dump(t, db, "recordings")) {
		t.Fatal("a dry run changed recordings")
	}
	res, err := Retain(ctx, db, cutT, cutR, "retention", false)
	if err != nil || res != dry {
		t.Fatalf("%+v %v", res, err)
	}
	rows, _ := db.Query(`SELECT id, transcript IS NULL, transcript_segments IS NULL, summary IS NULL FROM recordings ORDER BY id`)
	var got []string
	for rows.Next() {
		var id string
		var a, b, c bool
		rows.Scan(&id, &a, &b, &c)
		got = append(got, id+map[bool]string{true: " blank", false: " kept"}[a && b]+map[bool]string{true: " nosummary", false: ""}[c])
	}
	rows.Close()
	if strings.Join(got, ",") != "a blank,b blank,c kept" {
		t.Fatalf("recordings: %v", got)
	}
	var runs int
	db.QueryRow(`SELECT COUNT(*) FROM pipeline_runs`).Scan(&runs)
	if runs != 1 {
		t.Fatalf("%d runs left", runs)
	}
	if log := storetest.Dump(t, db, "erasure_log"); len(log) != 2 {
		t.Fatalf("erasure_log: %q", log)
	}
	if again, _ := Retain(ctx, db, cutT, cutR, "retention", false); again != (RetainResult{}) {
		t.Fatalf("second pass: %+v", again)
	}
}

func mapsEqual(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}
