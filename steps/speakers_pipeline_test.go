package steps

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"meetpipe/runner"
	"meetpipe/runner/step"
	kemu "meetpipe/steps/kimi/emulator"
	"meetpipe/steps/media/mediatest"
	"meetpipe/steps/store"
	"meetpipe/steps/store/storetest"
	"meetpipe/steps/tencent"
	"meetpipe/steps/tencent/emulator"
)

// The two-voice script of the generated sessions: the teacher's male voice, the student's female one,
// with a short teacher "嗯" inside the student's answer (it must not end the student's monologue).
var dialogueLines = []mediatest.Line{
	{Speaker: "teacher", Text: "大家好 今天我们来做一次模拟面试", After: 700 * time.Millisecond},
	{Speaker: "teacher", Text: "请先简单介绍一下你自己？", After: 1500 * time.Millisecond},
	{Speaker: "student", Voice: mediatest.StudentVoice, Text: "好的 我在上一个项目里负责后端", After: 400 * time.Millisecond},
	{Speaker: "student", Voice: mediatest.StudentVoice, Text: "这个系统每天处理一百万请求", After: 900 * time.Millisecond},
	{Speaker: "teacher", Text: "嗯", After: 300 * time.Millisecond},
	{Speaker: "student", Voice: mediatest.StudentVoice, Text: "我们用了缓存和消息队列", After: 1200 * time.Millisecond},
	{Speaker: "teacher", Text: "为什么选择消息队列？", After: 2000 * time.Millisecond},
	{Speaker: "student", Voice: mediatest.StudentVoice, Text: "因为要削峰填谷"},
}

// expectedRows computes the metrics of a generated dialogue by hand, from its spans and this script's
// shape (no overlap; runs [T T] [S S] [T] [S] [T] [S]), independently of steps/talk.
func expectedRows(t *testing.T, d mediatest.Dialogue, teacherKey, studentKey string) map[string]store.SpeakerRow {
	t.Helper()
	l := d.Lines
	dur := func(i int) int64 { return l[i].End - l[i].Start }
	if dur(4) >= 1000 {
		t.Fatalf("precondition: the teacher's 嗯 lasts %d ms, not under the 1 s interjection threshold", dur(4))
	}
	for _, i := range []int{2, 3, 5, 7} {
		if dur(i) < 1000 {
			t.Fatalf("precondition: student line %d lasts only %d ms", i, dur(i))
		}
	}
	tt := dur(0) + dur(1) + dur(4) + dur(6)
	st := dur(2) + dur(3) + dur(5) + dur(7)
	share := func(x int64) float64 { return float64(int64(float64(x)/float64(tt+st)*10000+0.5)) / 10000 }
	return map[string]store.SpeakerRow{
		teacherKey: {Key: teacherKey, Role: "teacher", TalkMS: tt, Share: share(tt), Questions: 2, Turns: 3,
			LongestMonologueMS: max(l[1].End-l[0].Start, dur(6)), Chars: 15 + 11 + 1 + 9},
		studentKey: {Key: studentKey, Role: "student", StudentID: "name:李同学", TalkMS: st, Share: share(st), Questions: 0, Turns: 3,
			LongestMonologueMS: max(l[5].End-l[2].Start, dur(7)), Chars: 14 + 13 + 11 + 7},
	}
}

// TestTwoSourcesSameTalk runs two generated two-voice sessions through the whole pipeline: Tencent has a
// transcript for the first only, so only the second is downloaded, extracted and transcribed (diarized);
// both give exactly the expected metrics; a rerun calls nothing.
func TestTwoSourcesSameTalk(t *testing.T) {
	t.Parallel() // its own servers, database and files
	dir := t.TempDir()
	var ds [2]mediatest.Dialogue
	for i := range ds {
		d, err := mediatest.GenerateDialogue(dir, mediatest.DialogueSpec{Lines: dialogueLines, Lead: time.Duration(1+2*i) * time.Second,
			Name: fmt.Sprintf("session-%d.mp4", i+1)})
		if err != nil {
			t.Fatal(err)
		}
		ds[i] = d
	}
	base := time.Date(2026, 11, 2, 2, 0, 0, 0, time.UTC)
	var meetings []emulator.Meeting
	for i, d := range ds {
		n := fmt.Sprint(i + 1)
		end := base.Add(time.Duration(d.Duration * float64(time.Second)))
		meetings = append(meetings, emulator.Meeting{
			MeetingID: "1739626437650170" + n, MeetingCode: "11828000" + n, Subject: "模拟面试 " + n, Host: "teacher_001",
			Start: base, End: end,
			Participants: []emulator.Person{
				{UserID: "teacher_001", UUID: "u-t" + n, Name: "周老师", Role: 3, Sessions: []emulator.Session{{Join: base, Left: end}}},
				{UUID: "u-s" + n, Name: "李同学", Role: 0, Sessions: []emulator.Session{{Join: base, Left: end}}},
			},
			Records: []emulator.Record{{ID: "rec-" + n, Start: base, State: 3, Files: []emulator.File{
				{ID: "file-" + n, Start: base, End: end, Path: d.Path}}}},
		})
	}
	tq := emulator.New(emulator.Options{Fixture: &emulator.Fixture{Admins: []string{"admin"}, Meetings: meetings},
		SecretID: "AKID_x", SecretKey: "SK_x", AppID: "corp-1", RequireSTS: "sts-1"})
	t.Cleanup(tq.Close)
	var utts []emulator.Utterance
	for _, l := range ds[0].Lines {
		u := emulator.Utterance{Start: l.Start, End: l.End, Text: l.Text, Name: "李同学", MsOpenID: "open-s"}
		if l.Speaker == "teacher" {
			u.UserID, u.Name, u.MsOpenID = "teacher_001", "周老师", "open-t"
		}
		utts = append(utts, u)
	}
	tq.SetTranscript("file-1", emulator.SmartTranscript{Utterances: utts})

	var segs []kemu.FixtureSegment
	for _, l := range ds[1].Lines {
		label := map[string]string{"teacher": "A", "student": "B"}[l.Speaker]
		segs = append(segs, kemu.FixtureSegment{Start: float64(l.Start) / 1000, End: float64(l.End) / 1000, Text: l.Text, Speaker: label})
	}
	asrSrv := asrServer(t, kemu.ASROptions{Fixture: &kemu.ASRFixture{Entries: []kemu.ASREntry{{Duration: ds[1].Duration, Segments: segs}}}})
	chat := moonshotServer(t, kemu.MoonshotOptions{})

	state := t.TempDir()
	if err := tencent.NewSTSStore(state).Save(tencent.STSToken{Token: "sts-1", ExpireAt: time.Now().Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	dsn := storetest.DB(t)
	src := fmt.Sprintf(`name: speakers
state_dir: %[1]s
limiters:
  moonshot: {concurrency: 1, rpm: 0}
steps:
  - uses: tencent_list
    with: {secret_id: AKID_x, secret_key: SK_x, enterprise_id: corp-1, base_url: "%[2]s", operator_id: admin, backoff: 1ms,
           requests_per_second: 1000, corp_records_per_minute: 10000}
  - uses: tencent_transcript
    with: {secret_id: AKID_x, secret_key: SK_x, enterprise_id: corp-1, base_url: "%[2]s", requests_per_second: 1000, teachers: teacher_001}
  - uses: aria2_download
    if: transcript_source != "tencent"
    with: {connections: 1}
  - uses: ffmpeg_audio
    if: transcript_source != "tencent"
  - uses: kimi_asr
    if: transcript_source != "tencent"
    with: {base_url: "%[3]s", model: gpt-4o-transcribe-diarize}
  - uses: kimi_classify
    limiter: moonshot
    with:
      base_url: "%[4]s"
      api_key: sk-kimi
      pre_rules:
        - {name: mock, when: 'subject contains "模拟面试"', phase: 面试模拟}
  - uses: talk_metrics
    with:
      targets:
        - {phase: 面试模拟, role: student, min_share: 0.6}
  - uses: mysql_upsert
    with: {dsn: "%[5]s"}
`, state, tq.URL(), asrSrv.URL(), chat.URL(), dsn)
	run := func() *step.Summary {
		t.Helper()
		p, err := runner.LoadBytes("speakers.yaml", []byte(src), runner.LoadOptions{Env: map[string]string{}})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		var rep strings.Builder
		sum, err := p.Run(context.Background(), runner.RunOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Since: base.Add(-time.Hour), Until: base.Add(time.Hour), Explain: true, Report: &rep})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Failed != 0 || sum.Done != 2 {
			t.Fatalf("summary %+v\n%s", sum, rep.String())
		}
		return sum
	}
	run()
	if n := tq.Count(emulator.EndpointAddresses); n != 1 {
		t.Errorf("%d address calls, want 1 (only the recording without Tencent's transcript is downloaded)", n)
	}
	for _, r := range tq.Requests(emulator.EndpointMedia) {
		if strings.Contains(r.URI, "file-1") {
			t.Errorf("the recording with Tencent's transcript was downloaded: %s", r.URI)
		}
	}
	if c := asrSrv.Counters(); c.Transcribed != 1 || c.ByFormat["diarized_json"] != 1 {
		t.Errorf("ASR %+v, want one diarized transcription (the second session only)", c)
	}
	for _, r := range tq.Requests(emulator.EndpointTranscripts) {
		if r.Header.Get("STS-Token") != "sts-1" {
			t.Errorf("transcript request without the STS token: %s", r.URI)
		}
	}

	db := upsertTestPool(t, dsn)
	for id, keys := range map[string][2]string{"rec-1": {"teacher_001", "name:李同学"}, "rec-2": {"A", "B"}} {
		d := ds[0]
		source := "tencent"
		if id == "rec-2" {
			d, source = ds[1], "asr"
		}
		want := expectedRows(t, d, keys[0], keys[1])
		got, err := store.ReadSpeakers(context.Background(), db, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("%s: speakers %+v", id, got)
		}
		for _, g := range got {
			w := want[g.Key]
			w.Source = source
			if g != w {
				t.Errorf("%s speaker %s:\n got %+v\nwant %+v", id, g.Key, g, w)
			}
		}
		var ts string
		var off bool
		if err := db.QueryRow(`SELECT transcript_source, talk_off_target FROM recordings WHERE id = ?`, id).Scan(&ts, &off); err != nil {
			t.Fatal(err)
		}
		if ts != source || off != (want[keys[1]].Share < 0.6) {
			t.Errorf("%s: transcript_source %s, off target %v", id, ts, off)
		}
	}

	// The report's query reads both sessions back with their shares (runner/internal/report draws them).
	data, err := store.LoadReport(context.Background(), db, store.ReportOptions{Since: base.Add(-time.Hour), Until: base.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(data.Talk) != 2 {
		t.Fatalf("the report reads %d measured sessions, want 2", len(data.Talk))
	}
	wantShare := expectedRows(t, ds[0], "t", "s")["s"].Share
	if got := data.Talk[0]; got.RecordingID != "rec-1" || fmt.Sprintf("%.2f", got.StudentShare) != fmt.Sprintf("%.2f", wantShare) {
		t.Errorf("report row %+v, want rec-1 with the student's share %.2f", got, wantShare)
	}

	tq.Reset()
	before := asrSrv.Counters().Requests
	sum := run()
	if sum.Ran != 0 {
		t.Errorf("rerun ran %d steps, want none", sum.Ran)
	}
	if n := tq.Count(emulator.EndpointTranscripts) + tq.Count(emulator.EndpointSpeakers) + tq.Count(emulator.EndpointAddresses); n != 0 || asrSrv.Counters().Requests != before {
		t.Errorf("rerun called Tencent's transcripts %d times, the ASR %d times", n, asrSrv.Counters().Requests-before)
	}
}
