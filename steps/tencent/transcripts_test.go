package tencent

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"meetpipe/steps/tencent/emulator"
)

const (
	fileA = "1964787070499246081"
	fileB = "1964787070499246082"
)

func twoVoices(n int) emulator.SmartTranscript {
	var t emulator.SmartTranscript
	for i := range n {
		u := emulator.Utterance{UserID: "teacher_wang", Name: "王老师", MsOpenID: "RIYv", Text: fmt.Sprintf("第%d题你会吗？", i)}
		if i%2 == 1 {
			u = emulator.Utterance{Name: "李同学", MsOpenID: "Q9x7", Text: "我试试。"}
		}
		u.Start, u.End = int64(i*10000), int64(i*10000+6000)
		t.Utterances = append(t.Utterances, u)
	}
	return t
}

func TestTranscriptDetailsPagesAndSpeakers(t *testing.T) {
	s, c := newEnv(t, emulator.Options{RequireSTS: "tok-1"})
	s.SetTranscript(fileA, twoVoices(450)) // three pages of 200
	q := TranscriptQuery{RecordFileID: fileA, MeetingID: "1739626437650178888", Operator: "teacher_wang", STSToken: "tok-1"}
	ft, err := c.TranscriptDetails(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if len(ft.Paragraphs) != 450 || ft.AudioDetect != 1 {
		t.Fatalf("%d paragraphs, audio_detect %d", len(ft.Paragraphs), ft.AudioDetect)
	}
	p := ft.Paragraphs[449]
	if p.PID != "449" || p.Start != 4490000 || p.End != 4496000 || p.Speaker.Name != "李同学" || p.Speaker.UserID != "" ||
		len(p.Sentences) != 1 || p.Sentences[0].Text != "我试试。" {
		t.Errorf("last paragraph %+v", p)
	}
	reqs := s.Requests(emulator.EndpointTranscripts)
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3 pages", len(reqs))
	}
	for i, r := range reqs {
		if r.Header.Get("STS-Token") != "tok-1" {
			t.Errorf("page %d without STS-Token", i+1)
		}
	}
	sp, err := c.SmartSpeakers(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if len(sp) != 2 || sp[0].ID != "teacher_wang" || sp[0].IDType != SpeakerUserID || sp[0].Name != "王老师" ||
		sp[0].TotalMS != 225*6000 || len(sp[0].Spans) != 225 || sp[1].IDType != SpeakerTempID || sp[1].Name != "李同学" ||
		DecodedOpenID(sp[1].MsOpenID) != "Q9x7" || sp[1].Spans[0].Start != 10000 || sp[1].Spans[0].End != 16000 {
		t.Errorf("speakers %+v", sp[:min(len(sp), 2)])
	}
}

func TestTranscriptNoneIsNotAFailure(t *testing.T) {
	s, c := newEnv(t, emulator.Options{})
	s.SetTranscript(fileA, twoVoices(2))
	_, err := c.TranscriptDetails(context.Background(), TranscriptQuery{RecordFileID: fileB, Operator: "teacher_wang"})
	if !errors.Is(err, ErrNoTranscript) {
		t.Fatalf("file without a transcript: %v, want ErrNoTranscript", err)
	}
	if _, err := c.SmartSpeakers(context.Background(), TranscriptQuery{RecordFileID: fileB, Operator: "teacher_wang"}); !errors.Is(err, ErrNoTranscript) {
		t.Fatalf("speakers of a file without a transcript: %v, want ErrNoTranscript", err)
	}
	// A signature error stays what it is.
	_, bad := newEnv(t, emulator.Options{}, func(cfg *Config) { cfg.SecretKey = "wrong" })
	if _, err := bad.TranscriptDetails(context.Background(), TranscriptQuery{RecordFileID: fileA, Operator: "teacher_wang"}); err == nil || errors.Is(err, ErrNoTranscript) {
		t.Fatalf("bad signature: %v", err)
	}
}
