package store

import (
	"context"
	"testing"
	"time"
)

func TestLoadReport(t *testing.T) {
	t.Parallel() // its own database
	ctx := context.Background()
	db := openTest(t)
	s := &Recordings{DB: db}
	old := rec("0", -30, "简历优化", "alice:1200") // before the window: counts in all-time statistics only
	upsert(t, s, old)
	upsert(t, s, rec("1", 0, "简历优化", "alice:1800", "bob:600"))
	r2 := rec("2", 1, "项目深挖", "alice:2700")
	r2.Classification = []byte(`{"model":"kimi-k2","rule":"model","usage":{"prompt_tokens":1200,"completion_tokens":300,"reasoning_tokens":50,"cached_tokens":1000}}`)
	upsert(t, s, r2)
	r3 := rec("3", 2, "其他", "bob:480")
	r3.NeedsReview = true
	r3.Classification = []byte(`{"model":"moonshot-v1-8k","rule":"too-short","needs_review":true,"prompt_tokens":800,"completion_tokens":90,"tokens":890}`)
	upsert(t, s, r3)
	r4 := rec("4", 3, "面试模拟", "carol:3000")
	r4.NeedsReview = true
	r4.Classification = []byte(`{"rule":"fallback","needs_review":true,"reason":"回答不是 JSON"}`)
	upsert(t, s, r4)
	upsert(t, s, rec("5", 9, "Offer后续", "alice:60")) // after the window

	d, err := LoadReport(ctx, db, ReportOptions{Since: t0.Add(-time.Hour), Until: t0.Add(5 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range d.Recordings {
		ids = append(ids, r.ID)
	}
	if len(ids) != 4 || ids[0] != "1" || ids[3] != "4" {
		t.Fatalf("recordings of the window = %v, want 1..4 by start", ids)
	}
	if r := d.Recordings[0]; len(r.Students) != 2 || r.Students[0].ID != "alice" || r.Students[0].Minutes != 30 || r.Students[0].Name != "同学alice" {
		t.Errorf("recording 1 students = %+v", r.Students)
	}
	if u := d.Recordings[1].Usage; !u.Known || u.Prompt != 1200 || u.Completion != 300 || u.Reasoning != 50 || u.Cached != 1000 || u.Total != 1500 || u.Model != "kimi-k2" {
		t.Errorf("usage{} not read: %+v", u)
	}
	if u := d.Recordings[2].Usage; !u.Known || u.Prompt != 800 || u.Total != 890 {
		t.Errorf("older prompt_tokens not read: %+v", u)
	}
	if u := d.Recordings[3].Usage; u.Known {
		t.Errorf("no token figures must read as unknown: %+v", u)
	}
	if r := d.Recordings[2]; !r.NeedsReview || r.ReviewReason != "too-short" {
		t.Errorf("review reason of 3 = %q (want the rule when no reason)", r.ReviewReason)
	}
	if r := d.Recordings[3]; r.ReviewReason != "回答不是 JSON" {
		t.Errorf("review reason of 4 = %q", r.ReviewReason)
	}
	if len(d.Students) != 3 {
		t.Fatalf("students = %+v", d.Students)
	}
	a := d.Students[0]
	if a.ID != "alice" || a.WindowSessions != 2 || a.WindowMinutes != 75 || a.AllSessions != 4 ||
		a.FirstSession == nil || !a.FirstSession.Equal(old.Start) || a.LastSession == nil || !a.LastSession.Equal(t0.Add(9*24*time.Hour)) {
		t.Errorf("alice = %+v", a)
	}
	if len(a.WindowRecordings) != 2 || a.WindowRecordings[0] != "1" || a.WindowRecordings[1] != "2" {
		t.Errorf("alice's recordings = %v", a.WindowRecordings)
	}
}

// The report names a teacher as teacher_names has it (filled from the host participant); a teacher
// without a row keeps the userid alone.
func TestLoadReportTeacherNames(t *testing.T) {
	t.Parallel() // its own database
	ctx := context.Background()
	db := openTest(t)
	s := &Recordings{DB: db}
	upsert(t, s, rec("1", 0, "简历优化", "alice:1800"))
	other := rec("2", 1, "项目深挖", "bob:600")
	other.TeacherID = "teacher_li"
	upsert(t, s, other)
	if err := SaveTeacherName(ctx, db, "teacher_wang", "王老师"); err != nil {
		t.Fatal(err)
	}
	d, err := LoadReport(ctx, db, ReportOptions{Since: t0.Add(-time.Hour), Until: t0.Add(5 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Recordings) != 2 {
		t.Fatalf("recordings %+v", d.Recordings)
	}
	if r := d.Recordings[0]; r.Teacher != "teacher_wang" || r.TeacherName != "王老师" {
		t.Errorf("recording 1 teacher %q name %q", r.Teacher, r.TeacherName)
	}
	if r := d.Recordings[1]; r.Teacher != "teacher_li" || r.TeacherName != "" {
		t.Errorf("recording 2 teacher %q name %q (want no name)", r.Teacher, r.TeacherName)
	}
}
