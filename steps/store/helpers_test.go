package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"meetpipe/steps/store/storetest"
)

// openTest returns a pool on a fresh, migrated database of t.
func openTest(t *testing.T) *sql.DB {
	t.Helper()
	db := openEmpty(t)
	if _, err := Migrate(context.Background(), db); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return db
}

// openEmpty returns a pool on a fresh database of t without any table.
func openEmpty(t *testing.T) *sql.DB {
	t.Helper()
	db, err := Open(context.Background(), Config{DSN: storetest.DB(t), MaxOpen: 16})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var t0 = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

// rec builds a recording that starts day days after t0 with students given as "id:seconds".
func rec(id string, day int, phase string, students ...string) Recording {
	r := Recording{
		ID: id, MeetingID: "m" + id, MeetingCode: "118280844", Subject: "简历优化 " + id + " 😀",
		TeacherID: "teacher_wang", Start: t0.Add(time.Duration(day) * 24 * time.Hour),
		Phase: phase, Summary: "总结 " + id, Transcript: "你好，我们开始吧。",
		Segments:       []byte(`[{"start":0,"end":1.5,"text":"你好"}]`),
		Classification: []byte(`{"model":"moonshot-v1-8k","needs_review":false}`),
		Files:          []byte(`[{"file_id":"f` + id + `","size":1024}]`),
	}
	r.End = r.Start.Add(time.Hour)
	d := 60
	r.DurationMin = &d
	for _, s := range students {
		i := strings.LastIndexByte(s, ':')
		id := s[:i]
		var n int64
		fmt.Sscan(s[i+1:], &n)
		r.Students = append(r.Students, Attendance{StudentID: id, Name: "同学" + id, Seconds: n})
	}
	return r
}

type stat struct {
	cnt, minutes int64
	last         time.Time
}

// wantStats computes student_stats from recordings independently of the SQL.
func wantStats(recs map[string]Recording) map[string]stat {
	secs := map[string]int64{}
	out := map[string]stat{}
	for _, r := range recs {
		for _, a := range r.Students {
			s := out[a.StudentID]
			s.cnt++
			secs[a.StudentID] += a.Seconds
			if r.Start.After(s.last) {
				s.last = r.Start
			}
			out[a.StudentID] = s
		}
	}
	for id, s := range out {
		s.minutes = (secs[id] + 30) / 60
		out[id] = s
	}
	return out
}

// checkExact asserts that recordings, recording_students and student_stats hold exactly recs.
func checkExact(t *testing.T, db *sql.DB, recs map[string]Recording) {
	t.Helper()
	ctx := context.Background()
	got := map[string]stat{}
	rows, err := db.QueryContext(ctx, `SELECT student_id, record_cnt, total_duration, last_record_at FROM student_stats`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var s stat
		if err := rows.Scan(&id, &s.cnt, &s.minutes, &s.last); err != nil {
			t.Fatal(err)
		}
		got[id] = s
	}
	rows.Close()
	want := wantStats(recs)
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			t.Errorf("student_stats has no row for %s; want %+v", id, w)
			continue
		}
		if g.cnt != w.cnt || g.minutes != w.minutes || !g.last.Equal(w.last) {
			t.Errorf("student_stats[%s] = cnt %d, minutes %d, last %v; want cnt %d, minutes %d, last %v",
				id, g.cnt, g.minutes, g.last, w.cnt, w.minutes, w.last)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("student_stats has a row for %s, who has no recording", id)
		}
	}

	var wantLinks []string
	for _, r := range recs {
		for _, a := range r.Students {
			wantLinks = append(wantLinks, fmt.Sprintf("%s\t%s\t%s\t%d", r.ID, a.StudentID, a.Name, a.Seconds))
		}
	}
	slices.Sort(wantLinks)
	if gotLinks := storetest.Dump(t, db, "recording_students"); !slices.Equal(gotLinks, wantLinks) {
		t.Errorf("recording_students:\n got %q\nwant %q", gotLinks, wantLinks)
	}

	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM recordings`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(recs) {
		t.Errorf("recordings has %d rows, want %d", n, len(recs))
	}
	for id, r := range recs {
		var phase sql.NullString
		if err := db.QueryRowContext(ctx, `SELECT phase FROM recordings WHERE id = ?`, id).Scan(&phase); err != nil {
			t.Errorf("recording %s: %v", id, err)
			continue
		}
		if phase.String != r.Phase {
			t.Errorf("recording %s phase = %q, want %q", id, phase.String, r.Phase)
		}
	}
}

// dumpAll returns the content of every table the upsert writes.
func dumpAll(t *testing.T, db *sql.DB) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, tb := range []string{"recordings", "recording_students", "student_stats", "item_failures"} {
		out[tb] = storetest.Dump(t, db, tb)
	}
	return out
}
