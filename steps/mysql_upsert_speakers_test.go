package steps

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"meetpipe/runner/step"
	"meetpipe/steps/store/storetest"
	"meetpipe/steps/talk"
)

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
