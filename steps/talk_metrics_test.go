package steps

import (
	"testing"
	"time"

	"meetpipe/steps/kimi"
	"meetpipe/steps/talk"
)

// A session the ASR took in two requests: labels are per request, so each chunk is mapped by the rule on
// its own, and the teacher (and the one student) found in both chunks is one speaker.
func TestTalkOfChunkedLabels(t *testing.T) {
	tr := kimi.Transcript{Segments: []kimi.Segment{
		{Start: 0, End: 10, Text: "今天练什么？", Speaker: "c1/A"},
		{Start: 11, End: 15, Text: "项目。", Speaker: "c1/B"},
		{Start: 600, End: 604, Text: "继续说？", Speaker: "c2/B"}, // chunk 2: the teacher is now "B"
		{Start: 605, End: 625, Text: "好的。", Speaker: "c2/A"},
		{Start: 626, End: 627, Text: "", Speaker: ""}, // unlabelled: not measured
	}}
	rec := TalkOf(tr, "asr", nil, []string{"name:李同学"}, "面试模拟", talk.TeacherFirst, time.Second,
		[]talk.Target{{Phase: "面试模拟", Role: talk.RoleStudent, Min: 0.6}})
	if !rec.Labelled || len(rec.Speakers) != 2 {
		t.Fatalf("record %+v", rec)
	}
	te, st := rec.Speakers[0], rec.Speakers[1]
	if te.Key != "c1/A" || te.Role != talk.RoleTeacher || te.TalkMS != 14000 || te.Questions != 2 || te.Turns != 2 {
		t.Errorf("teacher %+v", te)
	}
	if st.Key != "c1/B" || st.StudentID != "name:李同学" || st.TalkMS != 24000 || st.Turns != 2 || st.LongestMonologueMS != 20000 {
		t.Errorf("student %+v", st)
	}
	if rec.StudentShare != 0.6316 || rec.OffTarget || len(rec.Flags) != 1 || !rec.Flags[0].Met {
		t.Errorf("share %v, flags %+v", rec.StudentShare, rec.Flags)
	}
	if plain := TalkOf(kimi.Transcript{Segments: []kimi.Segment{{Start: 0, End: 1, Text: "x"}}}, "asr", nil, nil, "", "first", time.Second, nil); plain.Labelled {
		t.Errorf("a transcript without labels was measured: %+v", plain)
	}
}
