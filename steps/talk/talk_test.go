package talk

import "testing"

func TestComputeHandWorked(t *testing.T) {
	// Teacher 0-10 s asks, student answers after 2 s for 6 s, says "嗯" (300 ms) inside the teacher's next
	// stretch, teacher talks over the end of the answer by 500 ms.
	utts := []Utterance{
		{Speaker: "T", Start: 0, End: 10000, Text: "我们开始。你先介绍一下？"},
		{Speaker: "S", Start: 12000, End: 18000, Text: "好的我叫李明。"},
		{Speaker: "T", Start: 17500, End: 25000, Text: "很好。"},
		{Speaker: "S", Start: 26000, End: 26300, Text: "嗯"},
		{Speaker: "T", Start: 27000, End: 40000, Text: "那说说项目？"},
	}
	sp := []Speaker{{Key: "T", Role: RoleTeacher}, {Key: "S", Role: RoleStudent, StudentID: "name:李明"}}
	m := Compute(utts, sp, Options{InterjectionMS: 1000})
	if len(m.Speakers) != 2 {
		t.Fatalf("speakers = %+v", m.Speakers)
	}
	tm, sm := m.Speakers[0], m.Speakers[1]
	check := func(name string, got, want int64) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	check("teacher talk", tm.TalkMS, 10000+7500+13000)
	check("student talk", sm.TalkMS, 6000+300)
	check("teacher questions", int64(tm.Questions), 2)
	check("student questions", int64(sm.Questions), 0)
	check("teacher turns", int64(tm.Turns), 3)
	check("student turns", int64(sm.Turns), 2)
	// The 300 ms "嗯" does not end the teacher's 17.5–40 s monologue; the 6 s answer ends the first.
	check("teacher monologue", tm.LongestMonologueMS, 40000-17500)
	check("student monologue", sm.LongestMonologueMS, 6000)
	check("span", m.SpanMS, 40000)
	check("speech", m.SpeechMS, 10000+(25000-12000)+300+13000)
	check("silence", m.SilenceMS, 2000+1000+700)
	check("overlap", m.OverlapMS, 500)
	// Only the first question was answered by the other side (the last one ends the session).
	check("answered", int64(m.TeacherQuestions), 1)
	check("wait", m.WaitAfterQuestionMS, 2000)
	if want := 0.8288; tm.Share != want { // 30500 / 36800
		t.Errorf("teacher share = %v, want %v", tm.Share, want)
	}
	if m.StudentShare != 0.1712 || m.TeacherShare != 0.8288 {
		t.Errorf("shares = %v / %v", m.TeacherShare, m.StudentShare)
	}
	if sm.Chars != 7 || sm.CharsPerMin != 66.7 { // 好的我叫李明 + 嗯 over 6.3 s
		t.Errorf("student chars = %d, per min %v", sm.Chars, sm.CharsPerMin)
	}
	f := Flags(m, "面试模拟", []Target{{Phase: "面试模拟", Role: RoleStudent, Min: 0.6}, {Phase: "其他", Role: RoleTeacher, Max: 0.5}})
	if len(f) != 1 || f[0].Met || f[0].Share != m.StudentShare {
		t.Errorf("flags = %+v", f)
	}
}

func TestMapLabels(t *testing.T) {
	utts := []Utterance{{Speaker: "B", Start: 0, End: 1000}, {Speaker: "A", Start: 1000, End: 9000}, {Speaker: "B", Start: 9000, End: 9500}}
	for _, tc := range []struct {
		rule, teacher string
		students      []string
		other         Speaker
	}{
		{"first", "B", []string{"stu"}, Speaker{Key: "A", Role: RoleStudent, StudentID: "stu"}},
		{"most", "A", []string{"stu"}, Speaker{Key: "B", Role: RoleStudent, StudentID: "stu"}},
		{"label:A", "A", []string{"s1", "s2"}, Speaker{Key: "B", Role: RoleUnknown}},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			got := MapLabels(utts, tc.rule, tc.students)
			for _, s := range got {
				if s.Key == tc.teacher {
					if s.Role != RoleTeacher || s.StudentID != "" {
						t.Errorf("teacher %+v", s)
					}
				} else if s != tc.other {
					t.Errorf("other = %+v, want %+v", s, tc.other)
				}
			}
		})
	}
	if CheckLabelRule("loudest") == nil || CheckLabelRule("label:") == nil || CheckLabelRule("label:说话人1") != nil {
		t.Error("CheckLabelRule")
	}
}
