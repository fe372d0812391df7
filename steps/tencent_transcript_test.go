package steps

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"meetpipe/runner/step"
	"meetpipe/steps/steptest"
	"meetpipe/steps/talk"
	"meetpipe/steps/tencent"
	"meetpipe/steps/tencent/emulator"
)

func ttItem(t *testing.T) *step.Item {
	t.Helper()
	f := tencentFixture().Meetings[0]
	it, err := step.NewItem("rec-00001", step.Fields{"meeting_id": f.MeetingID, "creator_userid": "teacher_001",
		"host_userid": "teacher_001", "start": f.Start,
		"files": []tencent.File{{FileID: "file-00001-a", Start: f.Start}, {FileID: "file-00001-b", Start: f.Start.Add(30 * time.Minute)}}})
	if err != nil {
		t.Fatal(err)
	}
	return it
}

// Modes and the STS token: auto without a token says so once and leaves the recording to the ASR; tencent
// waits (deferred) while one file lacks Tencent's transcript; with every file transcribed the second
// file's offsets count from the recording's start.
func TestTencentTranscriptModes(t *testing.T) {
	s := emulator.New(emulator.Options{Fixture: tencentFixture(), SecretID: "AKID_x", SecretKey: "SK_x", AppID: "corp-1", RequireSTS: "tok"})
	t.Cleanup(s.Close)
	with := func(mode string) string {
		return fmt.Sprintf("{transcript: %s, secret_id: AKID_x, secret_key: SK_x, enterprise_id: corp-1, base_url: %q, requests_per_second: 1000}", mode, s.URL())
	}
	var logs bytes.Buffer
	ctx := step.WithRunScope(step.WithLogger(context.Background(), slog.New(slog.NewTextHandler(&logs, nil))))
	process := func(t *testing.T, mode, state string) (step.Fields, error) {
		t.Helper()
		impl, _ := steptest.BuildWith(t, "tencent_transcript", with(mode), steptest.Options{StateDir: state})
		return impl.(step.Step).Process(ctx, ttItem(t))
	}
	state := t.TempDir()
	st := steptest.As[*tencentTranscript](t, "tencent_transcript", with("auto"))
	st.sts = tencent.NewSTSStore(state)
	for range 2 {
		out, err := st.Process(ctx, ttItem(t))
		if err != nil || out["transcript_source"] != "asr" || out["transcript"] != nil {
			t.Fatalf("auto without a token: %v %v", out, err)
		}
	}
	if n := strings.Count(logs.String(), "no valid STS token"); n != 1 {
		t.Errorf("said %d times that there is no token, want once per run:\n%s", n, logs.String())
	}
	// The next run says it again: the notice is the run's, not the step's.
	if _, err := st.Process(step.WithRunScope(ctx), ttItem(t)); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "no valid STS token"); n != 2 {
		t.Errorf("said %d times over two runs, want once in each", n)
	}
	if s.Count(emulator.EndpointTranscripts) != 0 {
		t.Error("auto without a token asked Tencent")
	}
	if err := tencent.NewSTSStore(state).Save(tencent.STSToken{Token: "tok", ExpireAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	s.SetTranscript("file-00001-a", emulator.SmartTranscript{Utterances: []emulator.Utterance{
		{UserID: "teacher_001", Name: "周老师", Start: 1000, End: 3000, Text: "开始吧？"}}})
	if _, err := process(t, "tencent", state); err == nil || kindOf(err) != step.KindDeferred {
		t.Fatalf("tencent mode with one file untranscribed: %v, want deferred", err)
	}
	if out, err := process(t, "auto", state); err != nil || out["transcript_source"] != "asr" {
		t.Fatalf("auto with one file untranscribed: %v %v", out, err)
	}
	s.SetTranscript("file-00001-b", emulator.SmartTranscript{Utterances: []emulator.Utterance{
		{Name: "外部同学", Start: 500, End: 2500, Text: "好的。"}}})
	out, err := process(t, "tencent", state)
	if err != nil || out["transcript_source"] != "tencent" {
		t.Fatalf("every file transcribed: %v %v", out, err)
	}
	it, _ := step.NewItem("x", out)
	var tr struct {
		Segments []struct {
			Start, End float64
			Speaker    string
		}
	}
	var sp []talk.Speaker
	it.Get("transcript", &tr)
	it.Get("speakers", &sp)
	if len(tr.Segments) != 2 || tr.Segments[1].Start != 1800.5 || tr.Segments[1].Speaker != "name:外部同学" ||
		len(sp) != 2 || sp[0].Role != "teacher" || sp[1].Role != "student" || sp[1].StudentID != "name:外部同学" {
		t.Errorf("transcript %+v speakers %+v", tr, sp)
	}
}

func kindOf(err error) step.Kind { k, _ := step.Classify(err); return k }
