package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func upsert(t *testing.T, s *Recordings, r Recording) Result {
	t.Helper()
	res, err := s.Upsert(context.Background(), r)
	if err != nil {
		t.Fatalf("upsert %s: %v", r.ID, err)
	}
	return res
}

func TestUpsertTwiceLeavesIdenticalTables(t *testing.T) {
	t.Parallel() // its own database
	db := openTest(t)
	s := &Recordings{DB: db}
	recs := map[string]Recording{
		"1964787070499246080": rec("1964787070499246080", 0, "简历优化", "alice:1800", "ext:WMabc123:3000"),
		"1964787070499246090": rec("1964787070499246090", 1, "面试模拟", "alice:600", "bob:59"),
		"1964787070499246100": rec("1964787070499246100", 2, "", "ext:WMabc123:30", "ext:wmabc123:90"),
	}
	noStudents := rec("1964787070499246110", 3, "其他")
	recs[noStudents.ID] = noStudents

	for _, id := range []string{"1964787070499246080", "1964787070499246090", "1964787070499246100", "1964787070499246110"} {
		if res := upsert(t, s, recs[id]); res.Action != "inserted" {
			t.Errorf("first upsert of %s: action %q, want inserted", id, res.Action)
		}
	}
	checkExact(t, db, recs)
	first := dumpAll(t, db)

	for _, id := range []string{"1964787070499246100", "1964787070499246080", "1964787070499246110", "1964787070499246090"} {
		if res := upsert(t, s, recs[id]); res.Action != "unchanged" {
			t.Errorf("second upsert of %s: action %q, want unchanged", id, res.Action)
		}
	}
	second := dumpAll(t, db)
	for tb := range first {
		if strings.Join(first[tb], "\n") != strings.Join(second[tb], "\n") {
			t.Errorf("table %s changed on the second upsert:\nfirst  %q\nsecond %q", tb, first[tb], second[tb])
		}
	}
	checkExact(t, db, recs)

	// Case matters in ids (uuids), and Chinese and emoji survive the round trip.
	var subject, name string
	db.QueryRow(`SELECT subject FROM recordings WHERE id = '1964787070499246080'`).Scan(&subject)
	db.QueryRow(`SELECT student_name FROM recording_students WHERE student_id = 'ext:wmabc123'`).Scan(&name)
	if subject != "简历优化 1964787070499246080 😀" || name != "同学ext:wmabc123" {
		t.Errorf("utf8mb4 round trip: subject %q, name %q", subject, name)
	}
	var dl, status, partial string
	db.QueryRow(`SELECT COALESCE(download_url, 'NULL'), status FROM recordings WHERE id = '1964787070499246080'`).Scan(&dl, &status)
	if dl != "NULL" || status != StatusDone {
		t.Errorf("download_url %q (want NULL: signed URLs are not stored), status %q", dl, status)
	}
	noText := rec("1964787070499246120", 4, "其他", "bob:60")
	noText.Transcript = ""
	recs[noText.ID] = noText
	if res := upsert(t, s, noText); res.Status != StatusPartial {
		t.Errorf("a recording without transcript has status %q, want partial", res.Status)
	}
	db.QueryRow(`SELECT status FROM recordings WHERE id = ?`, noText.ID).Scan(&partial)
	if partial != StatusPartial {
		t.Errorf("status column %q, want partial", partial)
	}
	checkExact(t, db, recs)
}

func TestPhaseChange(t *testing.T) {
	t.Parallel() // its own database
	db := openTest(t)
	s := &Recordings{DB: db}
	a := rec("100", 0, "简历优化", "alice:1200", "bob:2400")
	b := rec("200", 5, "项目深挖", "alice:600")
	upsert(t, s, a)
	upsert(t, s, b)
	statsBefore := dumpAll(t, db)["student_stats"]

	a.Phase, a.Summary = "面试模拟", "改为模拟面试"
	a.NeedsReview = true
	if res := upsert(t, s, a); res.Action != "updated" {
		t.Errorf("phase change: action %q, want updated", res.Action)
	}
	checkExact(t, db, map[string]Recording{"100": a, "200": b})
	var phase, summary string
	var review bool
	db.QueryRow(`SELECT phase, summary, needs_review FROM recordings WHERE id = '100'`).Scan(&phase, &summary, &review)
	if phase != "面试模拟" || summary != "改为模拟面试" || !review {
		t.Errorf("after a phase change: phase %q, summary %q, needs_review %v", phase, summary, review)
	}
	if after := dumpAll(t, db)["student_stats"]; strings.Join(after, "\n") != strings.Join(statsBefore, "\n") {
		t.Errorf("a phase change altered student_stats:\nbefore %q\nafter  %q", statsBefore, after)
	}

	// A moved start time moves last_record_at, and attendance changes move total_duration.
	a.Start = a.Start.Add(10 * 24 * 60 * 60 * 1e9)
	a.Students[0].Seconds = 3000
	upsert(t, s, a)
	checkExact(t, db, map[string]Recording{"100": a, "200": b})
}

func TestStudentRemoved(t *testing.T) {
	t.Parallel() // its own database
	db := openTest(t)
	s := &Recordings{DB: db}
	a := rec("100", 0, "简历优化", "alice:1200", "bob:2400", "carol:600")
	b := rec("200", 5, "项目深挖", "bob:600")
	upsert(t, s, a)
	upsert(t, s, b)
	checkExact(t, db, map[string]Recording{"100": a, "200": b})

	a.Students = a.Students[:1] // bob and carol were not students of this one after all
	res := upsert(t, s, a)
	if res.Action != "updated" || strings.Join(res.Touched, ",") != "alice,bob,carol" {
		t.Errorf("removal: action %q touched %v; want updated, alice,bob,carol", res.Action, res.Touched)
	}
	checkExact(t, db, map[string]Recording{"100": a, "200": b})
	var n int
	db.QueryRow(`SELECT COUNT(*) FROM student_stats WHERE student_id = 'carol'`).Scan(&n)
	if n != 0 {
		t.Errorf("carol, with no recording left, still has a student_stats row")
	}

	a.Students = nil
	upsert(t, s, a)
	checkExact(t, db, map[string]Recording{"100": a, "200": b})
}

func TestConcurrentUpsertsShareStudents(t *testing.T) {
	t.Parallel() // its own database
	db := openTest(t)
	// The pause between reading and writing makes transactions overlap, so that a missing lock would show.
	s := &Recordings{DB: db, LockRetries: 10, beforeWrite: func() { time.Sleep(2 * time.Millisecond) }}
	pool := []string{"alice", "bob", "carol", "dave", "ext:WM1", "ext:WM2"}
	const workers, perWorker = 8, 6
	// Each recording is written twice by its worker: first with one set of students, then with another
	// (some removed, some added, seconds changed), while the other workers write theirs.
	version := func(i, v int) Recording {
		var st []string
		for j, p := range pool {
			if (i+j+v)%3 != 0 {
				st = append(st, fmt.Sprintf("%s:%d", p, 60*(i+1)+j*7+v*13))
			}
		}
		return rec(fmt.Sprint(1000+i), i%5, []string{"简历优化", "面试模拟"}[v], st...)
	}
	final := map[string]Recording{}
	for i := range workers * perWorker {
		r := version(i, 1)
		final[r.ID] = r
	}

	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker*2)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range perWorker {
				i := w*perWorker + k
				for v := range 2 {
					if _, err := s.Upsert(context.Background(), version(i, v)); err != nil {
						errs <- err
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent upsert: %v", err)
	}
	checkExact(t, db, final)

	// A burst: 8 new recordings of the same students, released at once, so that every transaction's
	// statistics read overlaps the others' writes. Without the locks, the last to commit writes counts
	// that miss the others.
	start := make(chan struct{})
	var wg1 sync.WaitGroup
	for w := range workers {
		r := rec(fmt.Sprint(2000+w), 9, "其他", "alice:60", "ext:WM1:90", fmt.Sprintf("new%d:30", w))
		final[r.ID] = r
		wg1.Add(1)
		go func() {
			defer wg1.Done()
			<-start
			if _, err := s.Upsert(context.Background(), r); err != nil {
				t.Errorf("burst upsert: %v", err)
			}
		}()
	}
	close(start)
	wg1.Wait()
	checkExact(t, db, final)

	// And again, all at once, in the other order: nothing may change.
	before := dumpAll(t, db)
	var wg2 sync.WaitGroup
	ids := slices.Sorted(maps.Keys(final))
	for w := range workers {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			for k := len(ids) - 1 - w; k >= 0; k -= workers {
				if _, err := s.Upsert(context.Background(), final[ids[k]]); err != nil {
					t.Errorf("re-upsert: %v", err)
				}
			}
		}()
	}
	wg2.Wait()
	after := dumpAll(t, db)
	for tb := range before {
		if strings.Join(before[tb], "\n") != strings.Join(after[tb], "\n") {
			t.Errorf("table %s changed when the same recordings were written again", tb)
		}
	}
}

func TestUpsertRefusesBadValues(t *testing.T) {
	t.Parallel() // its own database
	db := openTest(t)
	s := &Recordings{DB: db}
	tests := []struct {
		name       string
		edit       func(r *Recording)
		col, value string
	}{
		{"subject too long", func(r *Recording) { r.Subject = strings.Repeat("长", 300) }, "recordings.subject", "长长长"},
		{"name too long", func(r *Recording) { r.Students[0].Name = strings.Repeat("n", 300) }, "recording_students.student_name", "nnn"},
		{"phase too long", func(r *Recording) { r.Phase = strings.Repeat("阶段", 40) }, "recordings.phase", "阶段阶段"},
		{"classification not JSON", func(r *Recording) { r.Classification = []byte(`{"model":`) }, "recordings.classification", `{\"model\":`},
		{"student id too long", func(r *Recording) { r.Students[0].StudentID = "ext:" + strings.Repeat("u", 200) }, "student_stats", "ext:uuu"},
		{"no meeting id", func(r *Recording) { r.MeetingID = "" }, "recordings.meeting_id", "empty"},
		{"student twice", func(r *Recording) { r.Students = append(r.Students, r.Students[0]) }, "recording_students.student_id", "alice"},
		{"negative seconds", func(r *Recording) { r.Students[0].Seconds = -5 }, "recording_students.attended_seconds", "-5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rec("300", 0, "简历优化", "alice:60")
			tt.edit(&r)
			_, err := s.Upsert(context.Background(), r)
			var ve *ValueError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v (%T), want a *ValueError", err, err)
			}
			if Temporary(err) {
				t.Errorf("%v counts as temporary", err)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.col) || !strings.Contains(msg, tt.value) {
				t.Errorf("error %q does not name %s and the value %s", msg, tt.col, tt.value)
			}
			if len(err.Error()) > 400 {
				t.Errorf("error message is %d bytes long: values must be shortened", len(err.Error()))
			}
		})
	}
	// Nothing of the failed transactions is left behind.
	checkExact(t, db, map[string]Recording{})
}

func TestColumnOf(t *testing.T) {
	tests := []struct{ msg, want string }{
		{"Data too long for column 'summary' at row 1", "summary"},
		{"Incorrect string value: '\\xF0\\x9F\\x98\\x80' for column `mp`.`recordings`.`subject` at row 1", "subject"},
		{"Incorrect string value: '\\xF0\\x9F' for column 'subject' at row 1", "subject"},
		{"Column 'meeting_id' cannot be null", "meeting_id"},
		{"CONSTRAINT `recordings.files` failed for `mp`.`recordings`", "files"},
		{"Invalid JSON text: \"Invalid value.\" at position 0 in value for column 'recordings.files'.", "files"},
		{"Out of range value for column 'duration_min' at row 1", "duration_min"},
		{"Deadlock found when trying to get lock", ""},
	}
	for _, tt := range tests {
		if got := columnOf(tt.msg); got != tt.want {
			t.Errorf("columnOf(%q) = %q, want %q", tt.msg, got, tt.want)
		}
	}
}
